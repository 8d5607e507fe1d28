import path from 'node:path';
import { sql } from 'kysely';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FhirDevServer, startFhirDevServer } from '../../src/modules/worklist/fhir/dev-server.ts';
import { startIntegrationWorker } from '../../src/modules/worklist/integration/worker.ts';
import { documentId, oruMessage } from '../../src/modules/worklist/operations/sample-messages.ts';
import { onePagePdf } from '../../src/platform/pdf.ts';
import { BrowserSession, SCREENS, screenshot, scrollsSideways } from '../support/browser.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';
import { createFacility, receive } from '../support/worklist.ts';

/**
 * The worklist's screens in Debian's Chromium: the list beside a request (a screen of its own on a
 * phone), filters in the address, counts per status, older pages, the document beside the patient,
 * the confirmation before verifying despite differences, the PDF in the page, and a walk from sign-in
 * to the record by keyboard alone. Every screen: axe-core (no serious or critical violation), nothing
 * wider than a 390 px phone, nothing refused by the Content-Security-Policy; screenshots at 1440×900 and
 * 390×844 in test-results/screens/ (git-ignored).
 */

let context: TestContext;
let fhir: FhirDevServer;
let session: BrowserSession;
let camilleId: number;
let leoId: number;
let mismatchId: number;
let lettreId: number;

const CAMILLE = {
  ipp: 'E-1',
  ins: '279035121518989',
  birthLastName: 'Dupont',
  birthFirstNames: 'Camille Marie',
  birthDate: '1979-03-12',
  sex: 'F' as const,
  fhirId: 'pat-e1',
};
const LEO = {
  ipp: 'E-2',
  birthLastName: 'Lefèvre',
  birthFirstNames: 'Léo',
  birthDate: '1990-07-01',
  sex: 'M' as const,
  fhirId: 'pat-e2',
};
const approver = () =>
  context.runtime.tokens.issue({ subject: 'dr-e2e', role: 'approver', facilities: ['FAC-E', 'FAC-F'] });

beforeAll(async () => {
  fhir = await startFhirDevServer({ synthesizePatients: true });
  context = await createTestContext({ listen: true });
  const db = context.runtime.database.db;
  [camilleId, leoId] = (await createFacility(context, 'FAC-E', {
    fhirBaseUrl: fhir.baseUrl,
    ehrEnabled: true,
    patients: [CAMILLE, LEO],
  })) as [number, number];
  await createFacility(context, 'FAC-F', { patients: [{ ...CAMILLE, ipp: 'F-1', fhirId: null }] });
  await sql`UPDATE facilities SET name = CASE facility_id WHEN 'FAC-E' THEN 'Hôpital Saint-Éloi' ELSE 'Clinique des Fleurs' END`.execute(
    db,
  );

  // Older documents, a day each, to page through and to filter: 40 in FAC-E, 8 in FAC-F.
  await sql`
    INSERT INTO integration_requests (facility_id, source, status, document_type_code, document_type_label, title,
                                      received_at, identity_check, patient_id, search_text)
    SELECT CASE WHEN n % 6 = 0 THEN 'FAC-F' ELSE 'FAC-E' END,
           (ARRAY['lab', 'imaging', 'mssante', 'paper'])[1 + n % 4],
           (ARRAY['integrated', 'verified', 'rejected', 'integrated', 'error'])[1 + n % 5],
           (ARRAY['11502-2', '18748-4', '11490-0', '57833-6'])[1 + n % 4],
           (ARRAY['Laboratory report', 'Imaging report', 'Discharge letter', 'Prescription'])[1 + n % 4],
           (ARRAY['Bilan biologique', 'Scanner thoracique', 'Lettre de liaison', 'Ordonnance'])[1 + n % 4] || ' n° ' || n,
           now() - n * interval '1 day' - interval '2 hours', 'ok',
           CASE WHEN n % 6 = 0 THEN NULL ELSE ${leoId}::bigint END,
           identity_key((ARRAY['Bilan biologique', 'Scanner thoracique', 'Lettre de liaison', 'Ordonnance'])[1 + n % 4] || ' Léo Lefèvre')
    FROM generate_series(1, 48) AS n`.execute(db);

  // Today: a verified laboratory report for Camille, matched by INS, with its PDF.
  const matched = await receive(context, {
    metadata: {
      facilityId: 'FAC-E',
      source: 'lab',
      title: 'Bilan sanguin',
      documentType: { code: '11502-2', label: 'Laboratory report' },
      procedureDate: '2026-11-19',
      extracted: {
        extractor: 'cda',
        ins: CAMILLE.ins,
        birthLastName: 'Dupont',
        birthDate: '1979-03-12',
        sex: 'F',
      },
    },
    files: [
      { name: 'Bilan sanguin — Dupont.pdf', type: 'application/pdf', content: onePagePdf('Bilan sanguin') },
    ],
  });
  expect(matched.json().status).toBe('verified');
  // A scanned letter naming someone like Léo: pending, with candidates.
  const letter = await receive(context, {
    metadata: {
      facilityId: 'FAC-E',
      source: 'paper',
      title: 'Courrier scanné',
      documentType: { code: '11490-0', label: 'Discharge letter' },
      extracted: {
        extractor: 'ocr',
        birthLastName: 'Lefebvre',
        firstNames: 'Leo',
        birthDate: '1990-07-01',
        sex: 'M',
      },
    },
    files: [{ name: 'courrier.pdf', type: 'application/pdf', content: onePagePdf('Courrier') }],
  });
  lettreId = letter.json().id;
  // An HL7 result with Camille's INS and another birth name: the identity differs.
  const sent = await context.app.inject({
    method: 'POST',
    url: '/v2/inbox?facilityId=FAC-E',
    headers: {
      authorization: `Bearer ${context.runtime.tokens.issue({ subject: 'lab', role: 'author', facilities: ['FAC-E'] })}`,
      'content-type': 'application/hl7-v2',
    },
    payload: oruMessage({
      controlId: 'E2E-1',
      sendingFacility: 'LABO_BIO',
      receivingFacility: 'FAC-E',
      patient: {
        ins: CAMILLE.ins,
        ipp: 'E-1',
        birthLastName: 'DURAND',
        givenNames: ['CAMILLE'],
        birthDate: CAMILLE.birthDate,
        sex: 'F',
      },
      document: {
        id: documentId('E2E-1'),
        typeCode: '11502-2',
        title: 'Numération formule sanguine',
        procedureDate: '2026-11-20',
        pdf: onePagePdf('Numération formule sanguine'),
      },
    }),
  });
  expect(sent.statusCode, sent.body).toBe(202);
  mismatchId = sent.json().requestIds[0];

  await startIntegrationWorker({
    db,
    store: context.runtime.store,
    queue: context.runtime.integrationQueue,
    fhir: context.runtime.fhir,
    pollingIntervalSeconds: 0.5,
  });
  session = await BrowserSession.launch('worklist-axe.json');
});
afterAll(async () => {
  await session?.close();
  await context?.close();
  await fhir?.close();
});

/** A fresh window, signed in as a tab is after sign-in unless told (the page's own frame only: a PDF viewer's has no storage). */
function open(size: 'desktop' | 'phone', signedIn = true): Promise<Page> {
  if (!signedIn) return session.open(size);
  const token = approver();
  return session.open(size, async (window) => {
    await window.addInitScript(
      `if (window === window.top) sessionStorage.setItem('hotpath.token', ${JSON.stringify(token)})`,
    );
  });
}

async function check(page: Page, name: string, size: 'desktop' | 'phone') {
  expect(await session.axeViolations(page, `${name}-${size}`), `${name} at ${size}`).toEqual([]);
  if (size === 'phone')
    expect(await scrollsSideways(page), `${name} scrolls sideways on a phone`).toBe(false);
  await screenshot(page, `${name}-${size}`, { firstScreen: true });
}

const rowTitles = (page: Page) => page.locator('tbody a[data-row-link]').allTextContents();
const focusedText = (page: Page) =>
  page.evaluate<string>("document.activeElement?.textContent?.trim() ?? ''");

/** Presses Tab until the focused element satisfies `is` (a keyboard user's way there), at most `limit` times. */
async function tabTo(page: Page, is: string, limit = 60) {
  for (let n = 0; n < limit; n++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(`Boolean(document.activeElement?.matches(${JSON.stringify(is)}))`)) return;
  }
  throw new Error(`Tab never reached ${is}`);
}

describe('the worklist in a browser', () => {
  it('lists every facility the token sees, newest first, with counts, and pages to older documents', async () => {
    for (const size of ['desktop', 'phone'] as const) {
      const page = await open(size);
      await page.goto(`${context.baseUrl}/worklist`);
      await page.getByRole('heading', { level: 1, name: 'Worklist' }).waitFor();
      await page.locator('tbody a[data-row-link]').first().waitFor();
      const titles = await rowTitles(page);
      expect(titles.slice(0, 3)).toEqual(['Numération formule sanguine', 'Courrier scanné', 'Bilan sanguin']);
      expect(titles).toHaveLength(25);
      expect(await page.locator('.list-summary').textContent()).toContain('1 SQL query');
      // Counts per status, in words.
      const toVerify = page.getByRole('radio', { name: /To verify/ });
      await expect.poll(() => toVerify.textContent()).toBe('To verify2');
      // Words, not codes.
      const text = await page.getByRole('main').textContent();
      expect(text).not.toMatch(/pending_verification|mssante\b/);
      await check(page, 'worklist', size);
      if (size === 'desktop') {
        await page.getByRole('button', { name: 'Show older documents' }).click();
        await expect.poll(() => rowTitles(page).then((rows) => rows.length)).toBe(50);
        await page.getByRole('button', { name: 'Show older documents' }).click();
        await expect.poll(() => rowTitles(page).then((rows) => rows.length)).toBe(51);
        expect(await page.getByText('That is everything that matches.').isVisible()).toBe(true);
      }
      await page.close();
    }
  });

  it('filters by facility, status, source, type, dates and text, in the address; the back button undoes', async () => {
    const page = await open('desktop');
    await page.goto(`${context.baseUrl}/worklist`);
    await page.locator('tbody a[data-row-link]').first().waitFor();

    await page.getByLabel('Facility').selectOption('FAC-F');
    await page.waitForURL(/facility=FAC-F/);
    await expect.poll(() => rowTitles(page).then((rows) => rows.length)).toBe(8);
    expect(await page.locator('.worklist-scope').textContent()).toBe('Clinique des Fleurs');

    await page.goBack();
    await page.waitForURL((url) => !url.search.includes('facility'));
    await expect.poll(() => rowTitles(page).then((rows) => rows.length)).toBe(25);

    await page.getByRole('radio', { name: /To verify/ }).click();
    await page.waitForURL(/status=pending_verification/);
    await expect.poll(() => rowTitles(page)).toEqual(['Numération formule sanguine', 'Courrier scanné']);

    await page.getByRole('radio', { name: /^All/ }).click();
    await page.getByLabel('Document type').selectOption('57833-6');
    await page.waitForURL(/type=57833-6/);
    await expect
      .poll(() => rowTitles(page).then((rows) => rows.every((row) => row.startsWith('Ordonnance'))))
      .toBe(true);
    await page.getByLabel('Source').selectOption('mssante');
    await page.waitForURL(/source=mssante/);
    await expect.poll(() => page.getByText('No document matches these filters.').isVisible()).toBe(true);
    await check(page, 'worklist-empty', 'desktop');
    await page.getByRole('button', { name: 'Clear the filters' }).first().click();
    await page.waitForURL((url) => url.search === '');

    // Dates: the last three days, inclusive.
    const day = (offset: number) => {
      const at = new Date(Date.now() - offset * 86_400_000);
      return `${at.getFullYear()}-${String(at.getMonth() + 1).padStart(2, '0')}-${String(at.getDate()).padStart(2, '0')}`;
    };
    await page.getByLabel('from', { exact: true }).fill(day(2));
    await page.waitForURL(/from=/);
    await expect.poll(() => rowTitles(page).then((rows) => rows.length)).toBeLessThanOrEqual(6);
    await page.getByLabel('from', { exact: true }).fill('');
    await page.waitForURL((url) => !url.search.includes('from='));

    // Two letters are not searched, and the screen says so; three are, as typing pauses.
    const box = page.getByLabel('Search a patient or a title');
    await box.fill('du');
    await expect.poll(() => page.getByText(/at least 3 characters/).isVisible()).toBe(true);
    await page.waitForURL(/q=du/);
    await expect.poll(() => rowTitles(page).then((rows) => rows.length)).toBe(25);
    await box.fill('dupont');
    await page.waitForURL(/q=dupont/);
    await expect.poll(() => rowTitles(page)).toEqual(['Bilan sanguin']);

    // Shared: the same address in another window shows the same.
    const other = await open('desktop');
    await other.goto(page.url());
    await expect.poll(() => rowTitles(other)).toEqual(['Bilan sanguin']);
    expect(await other.getByLabel('Search a patient or a title').inputValue()).toBe('dupont');
    await other.close();
    await page.close();
  });

  it('shows a request beside the list, the document beside the record, and the PDF in the page', async () => {
    const page = await open('desktop');
    await page.goto(`${context.baseUrl}/worklist/${lettreId}`);
    const pane = page.locator('.request-pane');
    await pane.getByRole('heading', { level: 2, name: 'Courrier scanné' }).waitFor();
    // The list stays beside it, with the row marked.
    expect(await page.locator('tr.row-selected a').textContent()).toBe('Courrier scanné');
    const candidate = pane.locator('.candidate').first();
    expect(await candidate.locator('h4').textContent()).toContain('LEFÈVRE Léo');
    const birthName = candidate.locator('tr', { hasText: 'Birth name' });
    expect(await birthName.textContent()).toContain('Differs');
    expect(await birthName.textContent()).toContain('Lefebvre');
    expect(await candidate.locator('tr', { hasText: 'Birth date' }).textContent()).toContain('Same');

    // The PDF, inline under its file name, in the browser's viewer.
    const frame = pane.locator('iframe.preview-frame');
    await frame.waitFor();
    const src = (await frame.getAttribute('src')) ?? '';
    expect(src).toContain('disposition=inline');
    const served = await page.request.get(src);
    expect(served.status()).toBe(200);
    expect(served.headers()['content-type']).toBe('application/pdf');
    expect(served.headers()['content-disposition']).toBe(
      `inline; filename="courrier.pdf"; filename*=UTF-8''courrier.pdf`,
    );
    await expect.poll(() => page.frames().some((one) => one.url() === src)).toBe(true);
    await page
      .frames()
      .find((one) => one.url() === src)
      ?.waitForLoadState('load');
    await check(page, 'worklist-detail', 'desktop');
    await frame.scrollIntoViewIfNeeded();
    await frame.screenshot({ path: path.join(SCREENS, 'worklist-pdf-desktop.png') });
    await page.close();

    // On a phone, the request is a screen of its own; back returns to the list.
    const phone = await open('phone');
    await phone.goto(`${context.baseUrl}/worklist`);
    await phone.getByRole('link', { name: 'Courrier scanné' }).click();
    await phone.getByRole('heading', { level: 2, name: 'Courrier scanné' }).waitFor();
    expect(await phone.locator('.worklist-list').isVisible()).toBe(false);
    await phone.locator('iframe.preview-frame').waitFor();
    await check(phone, 'worklist-detail', 'phone');
    await phone.goBack();
    await phone.locator('tbody a[data-row-link]').first().waitFor();
    expect(await phone.locator('.worklist-list').isVisible()).toBe(true);
    await phone.close();
  });

  it('by keyboard alone: signs in, opens the differing request, confirms naming the differences, verifies, sends to the record', async () => {
    const page = await open('desktop', false);
    await page.goto(`${context.baseUrl}/sign-in?redirect=/worklist`);
    await tabTo(page, 'input');
    await page.keyboard.type(approver());
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/worklist$/);
    await page.locator('tbody a[data-row-link]').first().waitFor();

    // Into the list: one Tab stop for all its rows; arrows move, Enter opens.
    await tabTo(page, 'a[data-row-link]');
    expect(await focusedText(page)).toBe('Numération formule sanguine');
    await page.keyboard.press('ArrowDown');
    expect(await focusedText(page)).toBe('Courrier scanné');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`/worklist/${mismatchId}$`));
    const pane = page.locator('.request-pane');
    await pane.getByRole('heading', { level: 2, name: 'Numération formule sanguine' }).waitFor();
    expect(await focusedText(page)).toBe('Numération formule sanguine');
    expect(await pane.locator('.request-checks').textContent()).toContain('Check before verifying');

    // Escape closes it and gives the row the focus back; Enter opens it again.
    await page.keyboard.press('Escape');
    await page.waitForURL(/\/worklist$/);
    expect(await focusedText(page)).toBe('Numération formule sanguine');
    await page.keyboard.press('Enter');
    await pane.getByRole('heading', { level: 2, name: 'Numération formule sanguine' }).waitFor();

    // The candidate the INS names differs in birth name: the confirmation says so.
    await tabTo(page, '.candidate button');
    expect(await focusedText(page)).toBe('This is the patient…');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    expect(await dialog.getByRole('heading').textContent()).toBe(
      'Verify as DUPONT Camille despite a difference?',
    );
    expect(await dialog.textContent()).toContain(
      'Birth name: the document says DURAND, the record says Dupont',
    );
    // Cancel has the focus: Enter there changes nothing.
    expect(await focusedText(page)).toBe('Cancel');
    await check(page, 'worklist-confirm', 'desktop');
    await page.keyboard.press('Tab');
    expect(await focusedText(page)).toBe('Verify despite the differences');
    await page.keyboard.press('Enter');
    await pane.getByText('Verified: this document is DUPONT Camille’s.').waitFor();
    await pane.getByRole('heading', { level: 3, name: 'Patient: DUPONT Camille' }).waitFor();

    const history = await context.app.inject({
      method: 'GET',
      url: `/v2/worklist/${mismatchId}`,
      headers: { authorization: `Bearer ${approver()}` },
    });
    expect(history.json().verifications[0]).toMatchObject({
      verifiedBy: 'dr-e2e',
      patientId: camilleId,
      note: expect.stringContaining('Birth name: the document says DURAND, the record says Dupont'),
    });

    await tabTo(page, 'button.button-primary');
    expect(await focusedText(page)).toBe('Send to the record');
    await page.keyboard.press('Enter');
    await expect
      .poll(() => pane.getByRole('region', { name: 'The hospital’s record' }).textContent(), {
        timeout: 60_000,
      })
      .toContain('In the hospital’s record');
    await expect.poll(() => pane.locator('.badges').textContent()).toContain('In the record');
    // The list and the counts follow.
    await expect
      .poll(() => page.locator('tr.row-selected .cell-status').textContent())
      .toContain('In the record');
    await expect.poll(() => page.getByRole('radio', { name: /To verify/ }).textContent()).toBe('To verify1');
    await check(page, 'worklist-integrated', 'desktop');
    await page.close();
    expect(fhir.documentReferences.size).toBeGreaterThan(0);
  });

  it('says when the list cannot be loaded, with a way to try again', async () => {
    const page = await open('desktop');
    let fail = true;
    await page.route('**/v2/worklist?**', (route) =>
      fail
        ? route.fulfill({
            status: 503,
            contentType: 'application/problem+json',
            body: JSON.stringify({
              title: 'Service Unavailable',
              status: 503,
              detail: 'the database is unreachable',
            }),
          })
        : route.continue(),
    );
    await page.goto(`${context.baseUrl}/worklist`);
    await page.getByText('The list could not be loaded.').waitFor({ timeout: 30_000 });
    await check(page, 'worklist-error', 'desktop');
    fail = false;
    await page.getByRole('button', { name: 'Try again' }).click();
    await page.locator('tbody a[data-row-link]').first().waitFor();
    await page.close();
    // The browser reported the 503 it was given: not a refusal of ours.
    session.refusals.splice(
      0,
      session.refusals.length,
      ...session.refusals.filter((line) => !line.includes('503')),
    );
  });

  it('was refused nothing by the Content-Security-Policy and threw nothing, on any screen', () => {
    expect(session.refusals).toEqual([]);
  });
});
