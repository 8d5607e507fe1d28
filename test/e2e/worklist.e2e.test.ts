import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FhirDevServer, startFhirDevServer } from '../../src/modules/worklist/fhir/dev-server.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';
import { createFacility, receive } from '../support/worklist.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let context: TestContext;
let fhir: FhirDevServer;
let browser: Browser;
let page: Page;
let leoId: number;

beforeAll(async () => {
  fhir = await startFhirDevServer({ synthesizePatients: true });
  context = await createTestContext({ listen: true });
  const ids = await createFacility(context, 'FAC-E', {
    fhirBaseUrl: fhir.baseUrl,
    ehrEnabled: true,
    patients: [
      {
        ipp: 'E-1',
        ins: '279035121518989',
        birthLastName: 'Dupont',
        birthFirstNames: 'Camille',
        birthDate: '1979-03-12',
        sex: 'F',
        fhirId: 'pat-e1',
      },
      {
        ipp: 'E-2',
        birthLastName: 'Lefèvre',
        birthFirstNames: 'Léo',
        birthDate: '1990-07-01',
        sex: 'M',
        fhirId: 'pat-e2',
      },
    ],
  });
  leoId = ids[1] as number;
  await receive(context, {
    metadata: {
      facilityId: 'FAC-E',
      source: 'lab',
      title: 'Bilan sanguin',
      documentType: { code: '11502-2', label: 'Laboratory report' },
      extracted: {
        extractor: 'cda',
        ins: '279035121518989',
        birthLastName: 'Dupont',
        birthDate: '1979-03-12',
        sex: 'F',
      },
    },
  });
  await receive(context, {
    metadata: {
      facilityId: 'FAC-E',
      source: 'paper',
      title: 'Courrier scanné',
      extracted: {
        extractor: 'ocr',
        birthLastName: 'Lefebvre',
        firstNames: 'Leo',
        birthDate: '1990-07-01',
        sex: 'M',
      },
    },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage();
});
afterAll(async () => {
  await browser?.close();
  await context?.close();
  await fhir?.close();
});

describe('the worklist page in a browser', () => {
  it('lists the facility documents, opens one, and verifies a patient from its candidates', async () => {
    const token = context.runtime.tokens.issue({
      subject: 'dr-e2e',
      role: 'approver',
      facilities: ['FAC-E'],
    });
    await page.goto(`${context.baseUrl}/worklist#token=${token}`);
    await page.waitForSelector('#rows tr');
    // The token left the address bar once read, and is kept for this tab only.
    expect(new URL(page.url()).hash).toBe('');
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length])).toEqual([1, 0]);
    const titles = await page.locator('#rows tr td:nth-child(2)').allTextContents();
    expect(titles.map((title) => title.split(' · ')[0])).toEqual(['Courrier scanné', 'Bilan sanguin']);
    expect(await page.locator('#timing').textContent()).toContain('1 query');

    await page.locator('#rows tr', { hasText: 'Courrier scanné' }).click();
    await page.waitForSelector('#detail h2:text("Candidates")');
    const firstCandidate = page.locator('#detail ol li').first();
    expect(await firstCandidate.textContent()).toContain('LEFÈVRE Léo');
    await firstCandidate.locator('button').click();
    await page.waitForSelector('#rows tr:has-text("Courrier scanné") .badge.ok');
    const row = await page.locator('#rows tr', { hasText: 'Courrier scanné' }).textContent();
    expect(row).toContain('LEFÈVRE Léo');
    expect(row).toContain('verified');

    const verified = await context.app.inject({
      method: 'GET',
      url: `/v2/worklist?facilityId=FAC-E&q=lefevre`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(verified.json().items[0].patient.id).toBe(leoId);
  });
});
