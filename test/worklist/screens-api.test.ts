import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentId, oruMessage } from '../../src/modules/worklist/operations/sample-messages.ts';
import { statusCounts } from '../../src/modules/worklist/queries.ts';
import { STATUSES } from '../../src/modules/worklist/schemas.ts';
import { onePagePdf } from '../../src/platform/pdf.ts';
import { seededRandom } from '../../src/platform/seeded-random.ts';
import { costOf, createTestContext, type TestContext } from '../support/harness.ts';
import { createFacility, receive } from '../support/worklist.ts';

/**
 * What the worklist screens ask of the API beyond a page of one facility: every facility a token
 * sees, counts per status, the document beside the patient trait by trait, files shown in the page.
 */
let context: TestContext;
let camilleId: number;
const CAMILLE = {
  ipp: 'S-1',
  ins: '279035121518989',
  birthLastName: 'Dupont',
  birthFirstNames: 'Camille Marie',
  birthDate: '1979-03-12',
  sex: 'F' as const,
};
const bothFacilities = () => context.auth('reader', 'nurse-ab', { facilities: ['FAC-S', 'FAC-T'] });
const approver = () => context.auth('approver', 'dr-s', { facilities: ['FAC-S'] });
const get = (url: string, headers = bothFacilities()) => context.app.inject({ method: 'GET', url, headers });

interface ModelRow {
  id: number;
  facility: string;
  status: string;
  received: number;
}
const model: ModelRow[] = [];

beforeAll(async () => {
  context = await createTestContext();
  [camilleId] = (await createFacility(context, 'FAC-S', { patients: [CAMILLE] })) as [number];
  await createFacility(context, 'FAC-T');
  await createFacility(context, 'FAC-U');
  // 300 requests over three facilities and 30 instants: ties across facilities too.
  const random = seededRandom(11);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T;
  const base = Date.parse('2026-09-01T08:00:00Z');
  const db = context.runtime.database.db;
  for (let n = 0; n < 300; n++) {
    const row = {
      facility: pick(['FAC-S', 'FAC-S', 'FAC-T', 'FAC-U']),
      status: pick(['pending_verification', 'verified', 'integrated', 'rejected', 'error']),
      received: base + Math.floor(random() * 30) * 60_000,
    };
    const { rows } = await sql<{ request_id: number }>`
      INSERT INTO integration_requests (facility_id, source, status, title, received_at, search_text)
      VALUES (${row.facility}, 'lab', ${row.status}, 'Bilan', ${new Date(row.received)}, identity_key('Bilan'))
      RETURNING request_id`.execute(db);
    model.push({ ...row, id: rows[0]!.request_id });
  }
});
afterAll(async () => {
  await context.close();
});

describe('every facility the token sees', () => {
  const window = 'receivedFrom=2026-09-01T00:00:00Z&receivedTo=2026-09-02T00:00:00Z';
  const expected = (keep: (row: ModelRow) => boolean) =>
    model
      .filter(keep)
      .sort((a, b) => b.received - a.received || b.id - a.id)
      .map((row) => row.id);

  async function allPages(query: string, limit: number) {
    const ids: number[] = [];
    let cursor: string | null = null;
    do {
      const response = await get(`/v2/worklist?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(response.statusCode, response.body).toBe(200);
      expect(costOf(response.headers)).toMatchObject({ queries: 1, ext: 0 });
      ids.push(...response.json().items.map((item: { id: number }) => item.id));
      cursor = response.json().nextCursor;
    } while (cursor);
    return ids;
  }

  it('pages across them newest first, never repeating or skipping a row, and never another facility', async () => {
    const seen = (row: ModelRow) => row.facility === 'FAC-S' || row.facility === 'FAC-T';
    for (const limit of [1, 9, 20, 100]) {
      expect(await allPages(window, limit), `limit ${limit}`).toEqual(expected(seen));
    }
    expect(await allPages(`${window}&status=error`, 7)).toEqual(
      expected((row) => seen(row) && row.status === 'error'),
    );
    const page = (await get(`/v2/worklist?${window}&limit=100`)).json();
    expect(new Set(page.items.map((item: { facilityId: string }) => item.facilityId))).toEqual(
      new Set(['FAC-S', 'FAC-T']),
    );
  });

  it('still takes one facility by name, and refuses one the token does not see', async () => {
    expect(await allPages(`${window}&facilityId=FAC-T`, 13)).toEqual(
      expected((row) => row.facility === 'FAC-T'),
    );
    expect((await get('/v2/worklist?facilityId=FAC-U')).statusCode).toBe(403);
  });
});

describe('counts per status', () => {
  const modelCounts = (facilities: string[]) =>
    STATUSES.map((status) => ({
      status,
      count: model.filter((row) => facilities.includes(row.facility) && row.status === status).length,
      capped: false,
    }));

  it("answers every status for one facility, for all the token's, and for an admin's all, in one statement", async () => {
    const one = await get('/v2/worklist/counts?facilityId=FAC-S');
    expect(one.statusCode, one.body).toBe(200);
    expect(one.json()).toEqual({ cap: 1000, counts: modelCounts(['FAC-S']) });
    expect(costOf(one.headers)).toMatchObject({ queries: 1, ext: 0 });

    const several = await get('/v2/worklist/counts');
    expect(several.json().counts).toEqual(modelCounts(['FAC-S', 'FAC-T']));
    expect(costOf(several.headers).queries).toBe(1);

    const all = await get('/v2/worklist/counts', context.auth('admin'));
    expect(all.json().counts).toEqual(modelCounts(['FAC-S', 'FAC-T', 'FAC-U']));
    expect(costOf(all.headers).queries).toBe(1);

    expect((await get('/v2/worklist/counts?facilityId=FAC-U')).statusCode).toBe(403);
    expect((await get('/v2/worklist/counts?facilityId=no%20such')).statusCode).toBe(400);
    expect((await context.app.inject({ method: 'GET', url: '/v2/worklist/counts' })).statusCode).toBe(401);
  });

  it('stops counting at the cap', async () => {
    const db = context.runtime.database.db;
    const counts = await statusCounts(db, { kind: 'some', facilities: ['FAC-S'] }, 5);
    for (const { status, count } of counts) {
      const exact = model.filter((row) => row.facility === 'FAC-S' && row.status === status).length;
      expect(count, status).toBe(Math.min(exact, 6));
    }
  });
});

describe('the detail: the document beside the patient', () => {
  it('compares each trait as the matcher does, with where the document value was read', async () => {
    // An HL7 message with Camille's INS but another birth name: a mismatch, left for a person.
    const message = oruMessage({
      controlId: 'SCREEN-1',
      sendingFacility: 'LABO',
      receivingFacility: 'FAC-S',
      patient: {
        ins: CAMILLE.ins,
        ipp: 'S-1',
        birthLastName: 'DURAND',
        givenNames: ['CAMILLE'],
        birthDate: CAMILLE.birthDate,
        sex: 'F',
      },
      document: {
        id: documentId('SCREEN-1'),
        typeCode: '11502-2',
        title: 'Biologie',
        procedureDate: '2026-10-30',
        pdf: onePagePdf('Biologie'),
      },
    });
    const sent = await context.app.inject({
      method: 'POST',
      url: '/v2/inbox?facilityId=FAC-S',
      headers: {
        ...context.auth('author', 'lab', { facilities: ['FAC-S'] }),
        'content-type': 'application/hl7-v2',
      },
      payload: message,
    });
    expect(sent.statusCode, sent.body).toBe(202);
    const requestId = sent.json().requestIds[0] as number;
    const detail = await get(
      `/v2/worklist/${requestId}`,
      context.auth('reader', 'n', { facilities: ['FAC-S'] }),
    );
    expect(detail.statusCode, detail.body).toBe(200);
    expect(costOf(detail.headers).queries).toBe(2);
    const body = detail.json();
    expect(body.identityCheck).toBe('mismatch');
    expect(body.patient).toBeNull();
    const candidate = body.candidates.find((c: { id: number }) => c.id === camilleId);
    expect(candidate).toBeDefined();
    const byTrait = Object.fromEntries(
      candidate.traits.map((trait: { trait: string }) => [trait.trait, trait]),
    ) as Record<string, Record<string, unknown>>;
    expect(byTrait.ins).toMatchObject({
      agrees: true,
      strict: true,
      document: CAMILLE.ins,
      hospital: CAMILLE.ins,
    });
    expect(byTrait.ins?.source).toMatch(/^PID-3/);
    expect(byTrait.ins?.confidence).toBe(1);
    expect(byTrait.birthLastName).toMatchObject({ agrees: false, document: 'DURAND', hospital: 'Dupont' });
    // Names as the matcher compares them: accents and case ignored.
    expect(byTrait.firstBirthGivenName).toMatchObject({
      agrees: true,
      document: 'CAMILLE',
      hospital: 'Camille',
    });
    expect(byTrait.birthDate).toMatchObject({ agrees: true });
    expect(byTrait.sex).toMatchObject({ agrees: true });
    expect(byTrait.ipp).toMatchObject({ agrees: true, strict: false });

    // Confirmed despite the difference: the history says what the person accepted.
    const verified = await context.app.inject({
      method: 'POST',
      url: `/v2/worklist/${requestId}/verify`,
      headers: approver(),
      payload: { patientId: camilleId, acknowledgedDifferences: ['birth name: DURAND / Dupont'] },
    });
    expect(verified.statusCode, verified.body).toBe(200);
    expect(costOf(verified.headers).queries).toBeLessThanOrEqual(4);
    const after = (
      await get(`/v2/worklist/${requestId}`, context.auth('reader', 'n', { facilities: ['FAC-S'] }))
    ).json();
    expect(after.verifications[0]).toMatchObject({
      verifiedBy: 'dr-s',
      outcome: 'ok',
      note: 'verified by a person, who confirmed despite: birth name: DURAND / Dupont',
    });
    // Now matched: the patient record carries the same comparison.
    const patientTraits = Object.fromEntries(
      after.patient.traits.map((trait: { trait: string; agrees: boolean | null }) => [
        trait.trait,
        trait.agrees,
      ]),
    );
    expect(patientTraits).toMatchObject({ ins: true, birthLastName: false, birthDate: true, sex: true });

    // Queued for the EHR: the detail says so, with how often a failure is retried.
    const queued = await context.app.inject({
      method: 'POST',
      url: `/v2/worklist/${requestId}/integrate`,
      headers: approver(),
    });
    expect(queued.statusCode, queued.body).toBe(202);
    const integrating = (await get(`/v2/worklist/${requestId}`, context.auth('admin'))).json();
    expect(integrating.integration).toMatchObject({
      state: 'queued',
      attempts: 0,
      error: null,
      retryLimit: context.config.integration.retryLimit,
    });
  });

  it('has no comparison where the document says nothing of the patient', async () => {
    const response = await receive(context, {
      metadata: { facilityId: 'FAC-S', source: 'paper', title: 'Courrier' },
    });
    const detail = (await get(`/v2/worklist/${response.json().id}`, context.auth('admin'))).json();
    expect(detail.candidates).toEqual([]);
    expect(detail.extracted).toBeNull();
  });
});

describe('files shown in the page', () => {
  it('serves a PDF inline under its own name, and saves it under the same name', async () => {
    const response = await receive(context, {
      metadata: { facilityId: 'FAC-S', source: 'mssante', title: 'Compte rendu' },
      files: [
        { name: 'Compte rendu d’échographie.pdf', type: 'application/pdf', content: onePagePdf('Echo') },
        { name: 'page.html', type: 'text/html', content: '<script>alert(1)</script>' },
      ],
    });
    const detail = (await get(`/v2/worklist/${response.json().id}`, context.auth('admin'))).json();
    const [pdf, html] = detail.attachments;
    const name = "filename*=UTF-8''Compte%20rendu%20d%E2%80%99%C3%A9chographie.pdf";

    const view = new URL(pdf.viewUrl);
    const shown = await context.app.inject({ method: 'GET', url: view.pathname + view.search });
    expect(shown.statusCode).toBe(200);
    expect(shown.headers['content-type']).toBe('application/pdf');
    expect(shown.headers['content-disposition']).toBe(
      `inline; filename="Compte rendu d_echographie.pdf"; ${name}`,
    );
    expect(shown.headers['x-content-type-options']).toBe('nosniff');
    expect(shown.headers['content-security-policy']).toBe("frame-ancestors 'self'");
    expect(shown.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');

    const download = new URL(pdf.downloadUrl);
    const saved = await context.app.inject({ method: 'GET', url: download.pathname + download.search });
    expect(saved.headers['content-disposition']).toBe(
      `attachment; filename="Compte rendu d_echographie.pdf"; ${name}`,
    );

    // Neither the disposition nor the name can be changed in the URL.
    for (const [param, value] of [
      ['disposition', 'attachment'],
      ['filename', 'other.pdf'],
    ] as const) {
      const changed = new URL(pdf.viewUrl);
      changed.searchParams.set(param, value);
      const refused = await context.app.inject({ method: 'GET', url: changed.pathname + changed.search });
      expect(refused.statusCode, param).toBe(403);
    }
    const dropped = new URL(pdf.viewUrl);
    dropped.searchParams.delete('filename');
    expect(
      (await context.app.inject({ method: 'GET', url: dropped.pathname + dropped.search })).statusCode,
    ).toBe(403);

    // HTML is never shown from this origin: only saved.
    expect(html.viewUrl).toBeNull();
    const htmlUrl = new URL(html.downloadUrl);
    const htmlSaved = await context.app.inject({ method: 'GET', url: htmlUrl.pathname + htmlUrl.search });
    expect(htmlSaved.headers['content-disposition']).toMatch(/^attachment; filename="page.html"/);
  });
});
