import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/platform/seeded-random.ts';
import { expectConstantStatements } from '../support/budgets.ts';
import { costOf, createTestContext, type TestContext } from '../support/harness.ts';
import { createFacility, receive } from '../support/worklist.ts';

let context: TestContext;
const CAMILLE = {
  ipp: 'IPP-1',
  ins: '279035121518989',
  birthLastName: 'Dupont',
  birthFirstNames: 'Camille Marie',
  birthDate: '1979-03-12',
  sex: 'F' as const,
  fhirId: 'pat-camille',
};
const LEO = {
  ipp: 'IPP-2',
  ins: null,
  birthLastName: 'Lefèvre',
  usedLastName: 'Martin',
  birthFirstNames: 'Léo',
  birthDate: '1990-07-01',
  sex: 'M' as const,
};
const LEA = {
  ipp: 'IPP-3',
  ins: null,
  birthLastName: 'Lefevre',
  birthFirstNames: 'Léa',
  birthDate: '1990-07-01',
  sex: 'F' as const,
};
let camilleId: number;
let leoId: number;

const metadata = (overrides: Record<string, unknown> = {}) => ({
  facilityId: 'FAC-A',
  source: 'lab',
  title: 'Laboratory report of 2026-11-19',
  documentType: { code: '11502-2', label: 'Laboratory report' },
  procedureDate: '2026-11-19',
  ...overrides,
});
const reader = () => context.auth('reader', 'nurse-a', { facilities: ['FAC-A'] });
const approver = () => context.auth('approver', 'dr-a', { facilities: ['FAC-A'] });

beforeAll(async () => {
  context = await createTestContext();
  [camilleId, leoId] = (await createFacility(context, 'FAC-A', { patients: [CAMILLE, LEO, LEA] })) as [
    number,
    number,
  ];
  await createFacility(context, 'FAC-B', { patients: [{ ...CAMILLE, ipp: 'B-1', fhirId: null }] });
});
afterAll(async () => {
  await context.close();
});

describe('receiving a document and matching its patient', () => {
  it('matches by INS when the strict traits agree', async () => {
    const response = await receive(context, {
      metadata: metadata({
        extracted: {
          extractor: 'cda',
          ins: CAMILLE.ins,
          birthLastName: 'DUPONT',
          firstNames: 'Camille',
          birthDate: '1979-03-12',
          sex: 'F',
        },
      }),
    });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({
      status: 'verified',
      identityCheck: 'ok',
      patientId: camilleId,
      attachments: 1,
      match: 'matched by INS',
    });
    expect(costOf(response.headers).queries).toBeLessThanOrEqual(3);
  });

  it('flags an INS whose traits disagree as a mismatch, left for a person', async () => {
    const response = await receive(context, {
      metadata: metadata({
        extracted: {
          extractor: 'ocr',
          ins: CAMILLE.ins,
          birthLastName: 'Durand',
          birthDate: '1979-03-12',
          sex: 'F',
        },
      }),
    });
    expect(response.json()).toMatchObject({
      status: 'pending_verification',
      identityCheck: 'mismatch',
      patientId: null,
    });
    expect(response.json().match).toContain('birth name');
  });

  it('matches by strict traits, accents and case ignored, when there is no INS', async () => {
    const response = await receive(context, {
      metadata: metadata({
        extracted: {
          extractor: 'hl7',
          birthLastName: 'LEFÈVRE',
          firstNames: 'leo',
          birthDate: '1990-07-01',
          sex: 'M',
        },
      }),
    });
    expect(response.json()).toMatchObject({
      status: 'verified',
      identityCheck: 'ok',
      patientId: leoId,
      match: 'matched by strict traits',
    });
  });

  it('leaves near-misses pending, with ranked candidates on the detail page', async () => {
    const response = await receive(context, {
      metadata: metadata({
        extracted: {
          extractor: 'ocr',
          birthLastName: 'Lefebvre',
          firstNames: 'Leo',
          birthDate: '1990-07-01',
          sex: 'M',
        },
      }),
    });
    expect(response.json()).toMatchObject({
      status: 'pending_verification',
      identityCheck: 'pending',
      patientId: null,
    });
    const detail = await context.app.inject({
      method: 'GET',
      url: `/v2/worklist/${response.json().id}`,
      headers: reader(),
    });
    expect(detail.statusCode).toBe(200);
    const candidates = detail.json().candidates as Array<{ id: number; reasons: string[]; score: number }>;
    expect(candidates.length).toBeGreaterThanOrEqual(2);
    expect(candidates[0]?.id).toBe(leoId);
    expect(candidates[0]?.reasons).toEqual(expect.arrayContaining(['same birth date', 'same sex']));
    expect(candidates[0]!.score).toBeGreaterThanOrEqual(candidates[1]!.score);
    expect(costOf(detail.headers).queries).toBe(2);
  });

  it('does not match a patient of another facility, nor guess between homonyms', async () => {
    const otherFacility = await receive(context, {
      metadata: metadata({
        facilityId: 'FAC-B',
        extracted: {
          extractor: 'cda',
          ins: '279035121518989',
          birthLastName: 'Dupont',
          birthDate: '1979-03-12',
          sex: 'F',
        },
      }),
    });
    expect(otherFacility.json()).toMatchObject({ status: 'verified', identityCheck: 'ok' });
    expect(otherFacility.json().patientId).not.toBe(camilleId);

    const ambiguous = await receive(context, {
      metadata: metadata({
        extracted: { extractor: 'ocr', birthLastName: 'Lefevre', birthDate: '1990-07-01' },
      }),
    });
    expect(ambiguous.json()).toMatchObject({ identityCheck: 'pending', patientId: null });
  });

  it('records a document without identity as received, and stores every file with its digest', async () => {
    const response = await receive(context, {
      metadata: metadata({ source: 'paper', title: 'Scanned letter' }),
      files: [
        {
          name: 'page-1.pdf',
          type: 'application/pdf',
          content: '%PDF-1.4 1 0 obj << /Type /Page >> 2 0 obj << /Type /Page >> /Type /Pages',
        },
        { name: 'photo.jpg', type: 'image/jpeg', content: Buffer.from([0xff, 0xd8, 0xff]) },
      ],
    });
    expect(response.json()).toMatchObject({ status: 'received', identityCheck: 'pending', attachments: 2 });
    const detail = (
      await context.app.inject({
        method: 'GET',
        url: `/v2/worklist/${response.json().id}`,
        headers: reader(),
      })
    ).json();
    expect(detail.attachments).toMatchObject([
      { fileName: 'page-1.pdf', contentType: 'application/pdf', pages: 2 },
      { fileName: 'photo.jpg', contentType: 'image/jpeg', sizeBytes: 3, pages: null },
    ]);
    const url = new URL(detail.attachments[1].downloadUrl);
    const download = await context.app.inject({ method: 'GET', url: url.pathname + url.search });
    expect(download.rawPayload).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
  });
});

describe('verify, reject, integrate', () => {
  it('verifies to a patient of the facility only, and refuses illegal transitions with 409', async () => {
    const pending = (
      await receive(context, {
        metadata: metadata({
          extracted: { extractor: 'ocr', birthLastName: 'Nobody', birthDate: '2001-01-01' },
        }),
      })
    ).json();
    const foreign = await context.app.inject({
      method: 'POST',
      url: `/v2/worklist/${pending.id}/verify`,
      headers: approver(),
      payload: { patientId: 999_999 },
    });
    expect(foreign.statusCode, foreign.body).toBe(400);
    const verified = await context.app.inject({
      method: 'POST',
      url: `/v2/worklist/${pending.id}/verify`,
      headers: approver(),
      payload: { patientId: leoId },
    });
    expect(verified.json()).toMatchObject({ status: 'verified', identityCheck: 'ok', patientId: leoId });
    const page = await context.app.inject({ method: 'GET', url: '/v2/worklist?q=martin', headers: reader() });
    expect(page.json().items.map((item: { id: number }) => item.id)).toContain(pending.id);

    const rejected = await context.app.inject({
      method: 'POST',
      url: `/v2/worklist/${pending.id}/reject`,
      headers: approver(),
      payload: { reason: 'duplicate of an earlier report' },
    });
    expect(rejected.json()).toMatchObject({ status: 'rejected' });
    for (const [action, payload] of [
      ['reject', { reason: 'again' }],
      ['verify', { patientId: leoId }],
      ['integrate', undefined],
    ] as const) {
      const refused = await context.app.inject({
        method: 'POST',
        url: `/v2/worklist/${pending.id}/${action}`,
        headers: approver(),
        ...(payload ? { payload } : {}),
      });
      expect(refused.statusCode, action).toBe(409);
      expect(refused.headers['content-type']).toContain('application/problem+json');
    }
    const detail = (
      await context.app.inject({ method: 'GET', url: `/v2/worklist/${pending.id}`, headers: reader() })
    ).json();
    expect(detail.rejection).toMatchObject({ by: 'dr-a', reason: 'duplicate of an earlier report' });
    expect(detail.verifications[0]).toMatchObject({
      kind: 'identity',
      outcome: 'ok',
      verifiedBy: 'dr-a',
      patientId: leoId,
    });
  });
});

describe('facility isolation', () => {
  it('refuses another facility in the list, the detail, the actions and the download URLs', async () => {
    const other = (await receive(context, { metadata: metadata({ facilityId: 'FAC-B' }) })).json();
    const list = await context.app.inject({
      method: 'GET',
      url: '/v2/worklist?facilityId=FAC-B',
      headers: reader(),
    });
    expect(list.statusCode).toBe(403);
    const own = await context.app.inject({ method: 'GET', url: '/v2/worklist', headers: reader() });
    expect(own.json().items.every((item: { id: number }) => item.id !== other.id)).toBe(true);
    const detail = await context.app.inject({
      method: 'GET',
      url: `/v2/worklist/${other.id}`,
      headers: reader(),
    });
    expect(detail.statusCode).toBe(404);
    for (const action of ['verify', 'reject', 'integrate']) {
      const response = await context.app.inject({
        method: 'POST',
        url: `/v2/worklist/${other.id}/${action}`,
        headers: approver(),
        payload: action === 'verify' ? { patientId: camilleId } : action === 'reject' ? { reason: 'x' } : {},
      });
      expect(response.statusCode, action).toBe(404);
    }
    const sending = await receive(
      context,
      { metadata: metadata({ facilityId: 'FAC-B' }) },
      context.auth('author', 'lab-a', { facilities: ['FAC-A'] }),
    );
    expect(sending.statusCode).toBe(404);
    const facilities = await context.app.inject({ method: 'GET', url: '/v2/facilities', headers: reader() });
    expect(facilities.json().facilities.map((facility: { id: string }) => facility.id)).toEqual(['FAC-A']);
    const all = await context.app.inject({
      method: 'GET',
      url: '/v2/facilities',
      headers: context.auth('admin'),
    });
    expect(all.json().facilities.map((facility: { id: string }) => facility.id)).toEqual(['FAC-A', 'FAC-B']);
    // A token that sees several facilities and names none sees all of them, and nothing else.
    const several = await context.app.inject({
      method: 'GET',
      url: '/v2/worklist?limit=100',
      headers: context.auth('reader', 'both', { facilities: ['FAC-A', 'FAC-B'] }),
    });
    expect(several.statusCode).toBe(200);
    const seen = new Set(several.json().items.map((item: { facilityId: string }) => item.facilityId));
    expect([...seen].sort()).toEqual(['FAC-A', 'FAC-B']);
    const none = await context.app.inject({
      method: 'GET',
      url: '/v2/worklist',
      headers: context.auth('reader', 'nobody'),
    });
    expect(none.statusCode).toBe(403);
  });
});

describe('the worklist page', () => {
  interface ModelRow {
    id: number;
    facility: string;
    status: string;
    source: string;
    type: string;
    received: number;
    title: string;
  }
  const model: ModelRow[] = [];

  beforeAll(async () => {
    // 400 requests over 40 distinct instants: many ties on received_at, which the cursor must not repeat or skip.
    const random = seededRandom(7);
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T;
    const base = Date.parse('2026-10-01T08:00:00Z');
    const db = context.runtime.database.db;
    for (let n = 0; n < 400; n++) {
      const row = {
        facility: pick(['FAC-A', 'FAC-A', 'FAC-B']),
        status: pick(['pending_verification', 'verified', 'integrated', 'rejected']),
        source: pick(['lab', 'imaging', 'mssante', 'paper']),
        type: pick(['11502-2', '18748-4', '18842-5']),
        received: base + Math.floor(random() * 40) * 60_000,
        title: pick(['Laboratory report', 'Imaging study', 'Discharge summary', 'Résumé de séjour']),
      };
      const { rows } = await sql<{ request_id: number }>`
        INSERT INTO integration_requests (facility_id, source, status, document_type_code, document_type_label, title,
                                          received_at, search_text)
        VALUES (${row.facility}, ${row.source}, ${row.status}, ${row.type}, 'type', ${row.title},
                ${new Date(row.received)}, identity_key(${row.title}))
        RETURNING request_id`.execute(db);
      model.push({ ...row, id: rows[0]!.request_id });
    }
  });

  const expected = (keep: (row: ModelRow) => boolean) =>
    model
      .filter(keep)
      .sort((a, b) => b.received - a.received || b.id - a.id)
      .map((row) => row.id);

  async function allPages(query: string, limit: number, headers = context.auth('admin')) {
    const ids: number[] = [];
    let cursor: string | null = null;
    do {
      const response: Awaited<ReturnType<TestContext['app']['inject']>> = await context.app.inject({
        method: 'GET',
        url: `/v2/worklist?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
        headers,
      });
      expect(response.statusCode, response.body).toBe(200);
      expect(costOf(response.headers)).toMatchObject({ queries: 1, ext: 0 });
      ids.push(...response.json().items.map((item: { id: number }) => item.id));
      cursor = response.json().nextCursor;
    } while (cursor);
    return ids;
  }

  const window = 'receivedFrom=2026-10-01T00:00:00Z&receivedTo=2026-10-02T00:00:00Z';

  it('pages newest first without repeating or skipping a row, whatever the page size', async () => {
    for (const limit of [1, 7, 20, 100]) {
      expect(await allPages(`facilityId=FAC-A&${window}`, limit)).toEqual(
        expected((row) => row.facility === 'FAC-A'),
      );
    }
  });

  it('filters by status, source, document type and time, alone and together, as the model does', async () => {
    const from = Date.parse('2026-10-01T08:10:00Z');
    const to = Date.parse('2026-10-01T08:25:00Z');
    const cases: Array<[string, (row: ModelRow) => boolean]> = [
      ['status=verified', (row) => row.status === 'verified'],
      ['source=imaging', (row) => row.source === 'imaging'],
      ['documentType=18842-5', (row) => row.type === '18842-5'],
      [
        `status=pending_verification&source=lab&receivedFrom=${new Date(from).toISOString()}&receivedTo=${new Date(to).toISOString()}`,
        (row) =>
          row.status === 'pending_verification' &&
          row.source === 'lab' &&
          row.received >= from &&
          row.received < to,
      ],
    ];
    for (const [filter, keep] of cases) {
      const query = filter.includes('receivedFrom')
        ? `facilityId=FAC-A&${filter}`
        : `facilityId=FAC-A&${window}&${filter}`;
      expect(await allPages(query, 13), filter).toEqual(
        expected((row) => row.facility === 'FAC-A' && keep(row)),
      );
    }
    expect(await allPages(`${window}&status=integrated`, 50)).toEqual(
      expected((row) => row.status === 'integrated'),
    );
  });

  it('searches titles with q, accents and case ignored', async () => {
    expect(await allPages(`facilityId=FAC-A&${window}&q=RESUME de`, 50)).toEqual(
      expected((row) => row.facility === 'FAC-A' && row.title === 'Résumé de séjour'),
    );
  });

  it('issues the same single statement for a page of 1, 20 and 100, and no external request', async () => {
    const queries = await expectConstantStatements(
      'GET /v2/worklist',
      [1, 20, 100].map((limit) => ({
        size: limit,
        send: () =>
          context.app.inject({
            method: 'GET',
            url: `/v2/worklist?facilityId=FAC-A&limit=${limit}`,
            headers: reader(),
          }),
      })),
    );
    expect(queries).toBe(1);
  });

  it('carries only what the page shows', async () => {
    const page = (
      await context.app.inject({ method: 'GET', url: '/v2/worklist?limit=5', headers: reader() })
    ).json();
    for (const item of page.items) {
      expect(Object.keys(item).sort()).toEqual(
        [
          'attachmentCount',
          'documentType',
          'facilityId',
          'id',
          'identityCheck',
          'patient',
          'procedureDate',
          'receivedAt',
          'source',
          'status',
          'title',
        ].sort(),
      );
      if (item.patient)
        expect(Object.keys(item.patient).sort()).toEqual(['birthDate', 'firstName', 'id', 'lastName']);
    }
  });
});

describe('bad input answers problem+json', () => {
  const problem = (
    response: {
      statusCode: number;
      headers: Record<string, unknown>;
      json(): { status: number; detail: string };
    },
    status: number,
  ) => {
    expect(response.statusCode).toBe(status);
    expect(String(response.headers['content-type'])).toContain('application/problem+json');
    expect(response.json().status).toBe(status);
    return response.json().detail;
  };

  it('in the list', async () => {
    const get = (query: string) =>
      context.app.inject({ method: 'GET', url: `/v2/worklist?${query}`, headers: reader() });
    expect(problem(await get('limit=0'), 400)).toContain('limit');
    expect(problem(await get('limit=101'), 400)).toContain('limit');
    expect(problem(await get('status=lost'), 400)).toContain('status');
    expect(problem(await get('q=ab'), 400)).toContain('q');
    expect(problem(await get('cursor=not-a-cursor-at-all'), 400)).toContain('cursor');
    expect(problem(await get('receivedFrom=yesterday'), 400)).toContain('receivedFrom');
    problem(await context.app.inject({ method: 'GET', url: '/v2/worklist' }), 401);
  });

  it('in receiving', async () => {
    expect(problem(await receive(context, { metadata: { ...metadata(), source: 'fax' } }), 400)).toContain(
      'metadata.source',
    );
    expect(problem(await receive(context, { metadata: { ...metadata(), colour: 'red' } }), 400)).toContain(
      'metadata',
    );
    expect(
      problem(
        await receive(context, { metadata: metadata({ facilityId: 'FAC-Z' }) }, context.auth('admin')),
        404,
      ),
    ).toContain('FAC-Z');
    expect(problem(await receive(context, { metadata: metadata(), files: [] }), 400)).toContain('no file');
    problem(
      await receive(
        context,
        { metadata: metadata() },
        context.auth('reader', 'r', { facilities: ['FAC-A'] }),
      ),
      403,
    );
    const notMultipart = await context.app.inject({
      method: 'POST',
      url: '/v2/worklist',
      headers: {
        ...context.auth('author', 'lab', { facilities: ['FAC-A'] }),
        'content-type': 'application/json',
      },
      payload: { facilityId: 'FAC-A' },
    });
    expect(notMultipart.statusCode).toBeGreaterThanOrEqual(400);
    expect(notMultipart.statusCode).toBeLessThan(500);
  });

  it('in the detail and the actions', async () => {
    problem(await context.app.inject({ method: 'GET', url: '/v2/worklist/abc', headers: reader() }), 400);
    problem(await context.app.inject({ method: 'GET', url: '/v2/worklist/987654', headers: reader() }), 404);
    problem(
      await context.app.inject({
        method: 'POST',
        url: '/v2/worklist/1/verify',
        headers: approver(),
        payload: {},
      }),
      400,
    );
    problem(
      await context.app.inject({
        method: 'POST',
        url: '/v2/worklist/1/reject',
        headers: approver(),
        payload: { reason: '' },
      }),
      400,
    );
    problem(
      await context.app.inject({
        method: 'POST',
        url: '/v2/worklist/1/verify',
        headers: reader(),
        payload: { patientId: 1 },
      }),
      403,
    );
  });
});
