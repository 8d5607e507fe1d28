import { createHash } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateWorklistDataset,
  type WorklistDatasetOptions,
  type WorklistDatasetResult,
} from '../../src/modules/worklist/operations/dataset.ts';
import { DEMO_FACILITIES, loadWorklistDemo } from '../../src/modules/worklist/operations/demo.ts';
import {
  generateLargeWorklist,
  WorklistNotEmptyError,
} from '../../src/modules/worklist/operations/generate.ts';
import type { AnyKysely } from '../../src/platform/db/database.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

const END_AT = new Date('2025-06-02T10:30:00Z');
const SHAPE: WorklistDatasetOptions = {
  facilities: 5,
  patientsPerFacility: 400,
  requests: 3_000,
  days: 30,
  seed: 7,
  fhirBaseUrl: 'http://fhir.test/fhir',
  endAt: END_AT,
};
const TABLES = [
  { table: 'facilities', key: 'facility_id' },
  { table: 'providers', key: 'provider_id' },
  { table: 'patients', key: 'patient_id' },
  { table: 'integration_requests', key: 'request_id' },
  { table: 'attachments', key: 'attachment_id' },
  { table: 'extracted_metadata', key: 'request_id' },
  { table: 'verifications', key: 'verification_id' },
] as const;

async function count(db: AnyKysely, query: ReturnType<typeof sql>): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM (${query}) q`.execute(db);
  return rows[0]!.n;
}

/** Every invariant the worklist's projections and identities promise, checked with SQL. */
async function expectConsistent(db: AnyKysely): Promise<void> {
  const violations = {
    attachmentCount: await count(
      db,
      sql`SELECT 1 FROM integration_requests r
          WHERE attachment_count <> (SELECT count(*) FROM attachments a WHERE a.request_id = r.request_id)`,
    ),
    identityCheck: await count(
      db,
      sql`SELECT 1 FROM integration_requests r
          WHERE identity_check <> coalesce((SELECT outcome FROM verifications v
                                            WHERE v.request_id = r.request_id AND v.kind = 'identity'
                                            ORDER BY verified_at DESC, verification_id DESC LIMIT 1), 'pending')`,
    ),
    matchedWithoutPatient: await count(
      db,
      sql`SELECT 1 FROM integration_requests WHERE (patient_id IS NOT NULL) <> (identity_check = 'ok')`,
    ),
    patientOfAnotherFacility: await count(
      db,
      sql`SELECT 1 FROM integration_requests r JOIN patients p ON p.patient_id = r.patient_id
          WHERE p.facility_id <> r.facility_id
          UNION ALL
          SELECT 1 FROM verifications v JOIN integration_requests r USING (request_id)
          JOIN patients p ON p.patient_id = v.patient_id WHERE p.facility_id <> r.facility_id`,
    ),
    searchText: await count(
      db,
      sql`SELECT 1 FROM integration_requests r LEFT JOIN patients p ON p.patient_id = r.patient_id
          WHERE search_text <> CASE WHEN r.patient_id IS NULL THEN identity_key(r.title)
            ELSE identity_key(r.title || ' ' || p.first_name || ' ' || coalesce(p.used_last_name, p.birth_last_name)
                              || ' ' || p.birth_last_name) END`,
    ),
    statusAndIdentity: await count(
      db,
      sql`SELECT 1 FROM integration_requests
          WHERE (status IN ('verified', 'integrated', 'error') AND identity_check <> 'ok')
             OR (status = 'received' AND identity_check <> 'pending')
             OR (status = 'integrated' AND (integration_state <> 'done' OR integrated_at IS NULL))
             OR (status = 'error' AND (integration_state <> 'failed' OR integration_error IS NULL))
             OR (status = 'rejected' AND (rejected_by IS NULL OR rejected_at IS NULL))`,
    ),
    metadataRows: await count(
      db,
      sql`SELECT 1 FROM integration_requests r FULL JOIN extracted_metadata m USING (request_id)
          WHERE r.request_id IS NULL OR m.request_id IS NULL`,
    ),
    // A mismatch is the INS holder's, with a strict trait that disagrees with what was read.
    mismatchAgreeing: await count(
      db,
      sql`SELECT 1 FROM integration_requests r
          JOIN extracted_metadata m USING (request_id)
          JOIN LATERAL (SELECT patient_id FROM verifications v WHERE v.request_id = r.request_id
                        AND v.kind = 'identity' ORDER BY verified_at DESC, verification_id DESC LIMIT 1) v ON true
          JOIN patients p ON p.patient_id = v.patient_id
          WHERE r.identity_check = 'mismatch'
            AND (m.ins IS DISTINCT FROM p.ins
                 OR (identity_key(m.birth_last_name) = p.birth_last_name_key
                     AND m.birth_date = p.birth_date AND m.sex = p.sex))`,
    ),
    // What the matcher matched on arrival was read exactly as the patient's record has it.
    autoMatchDisagreeing: await count(
      db,
      sql`SELECT 1 FROM verifications v JOIN extracted_metadata m USING (request_id)
          JOIN patients p ON p.patient_id = v.patient_id
          WHERE v.kind = 'identity' AND v.outcome = 'ok' AND v.verified_by = 'matcher'
            AND (identity_key(m.birth_last_name) <> p.birth_last_name_key
                 OR identity_key(split_part(m.first_names, ' ', 1)) <> p.first_given_name_key
                 OR m.birth_date <> p.birth_date OR m.sex <> p.sex)`,
    ),
    duplicateIpp: await count(db, sql`SELECT 1 FROM patients GROUP BY facility_id, ipp HAVING count(*) > 1`),
    invalidIns: await count(
      db,
      sql`SELECT 1 FROM patients WHERE ins IS NOT NULL
          AND (ins !~ '^[12][0-9]{14}$' OR 97 - left(ins, 13)::bigint % 97 <> right(ins, 2)::int)`,
    ),
    insAndStatus: await count(
      db,
      sql`SELECT 1 FROM patients
          WHERE (ins IS NOT NULL) <> (identity_status IN ('qualified', 'recovered'))`,
    ),
    procedureAfterReceipt: await count(
      db,
      sql`SELECT 1 FROM integration_requests WHERE procedure_date > received_at::date`,
    ),
    storageKey: await count(
      db,
      sql`SELECT 1 FROM attachments a JOIN integration_requests r USING (request_id)
          WHERE a.storage_key !~ ('^worklist/' || r.facility_id || '/' || r.request_id || '/[1-3]\\.pdf$')`,
    ),
  };
  expect(violations).toEqual(Object.fromEntries(Object.keys(violations).map((name) => [name, 0])));

  // Same-second arrivals at one facility, which the worklist's keyset order must break by id.
  expect(
    await count(
      db,
      sql`SELECT 1 FROM integration_requests GROUP BY facility_id, received_at HAVING count(*) > 1`,
    ),
  ).toBeGreaterThan(0);
  const { rows: mix } = await sql<{ statuses: string[]; sources: string[]; checks: string[] }>`
    SELECT array_agg(DISTINCT status ORDER BY status) AS statuses, array_agg(DISTINCT source ORDER BY source) AS sources,
           array_agg(DISTINCT identity_check ORDER BY identity_check) AS checks
    FROM integration_requests`.execute(db);
  expect(mix[0]).toEqual({
    statuses: ['error', 'integrated', 'pending_verification', 'received', 'rejected', 'verified'],
    sources: ['device', 'imaging', 'lab', 'mssante', 'paper'],
    checks: ['mismatch', 'ok', 'pending'],
  });
  // The detail page reads the whole identity record: the columns every patient has are filled.
  expect(
    await count(
      db,
      sql`SELECT 1 FROM patients WHERE address_line1 IS NULL OR postal_code IS NULL OR city IS NULL
          OR country_code IS NULL OR birthplace_code IS NULL OR insurance_fund_code IS NULL OR fhir_id IS NULL`,
    ),
  ).toBe(0);
}

type TableCounts = Record<(typeof TABLES)[number]['table'], number>;

async function tableCounts(db: AnyKysely): Promise<TableCounts> {
  const counts = {} as TableCounts;
  for (const { table } of TABLES) counts[table] = await count(db, sql`SELECT 1 FROM ${sql.table(table)}`);
  return counts;
}

describe('worklist dataset', () => {
  let context: TestContext;
  let result: WorklistDatasetResult;

  beforeAll(async () => {
    context = await createTestContext();
    result = await generateWorklistDataset(context.runtime.database.db, SHAPE);
  });
  afterAll(() => context?.close());

  it('writes the shape it was asked for', async () => {
    const db = context.runtime.database.db;
    expect(result.facilityIds).toEqual(['FAC-0001', 'FAC-0002', 'FAC-0003', 'FAC-0004', 'FAC-0005']);
    expect(result).toMatchObject({ patients: 2_000, requests: 3_000 });
    const counts = await tableCounts(db);
    expect(counts).toMatchObject({
      facilities: 5,
      providers: result.providers,
      patients: 2_000,
      integration_requests: 3_000,
      attachments: result.attachments,
      extracted_metadata: 3_000,
      verifications: result.verifications,
    });
    expect(result.attachments).toBeGreaterThanOrEqual(3_000);
    expect(result.attachments).toBeLessThanOrEqual(9_000);
    const { rows } = await sql<{ oldest: Date; newest: Date; connected: number }>`
      SELECT min(received_at) AS oldest, max(received_at) AS newest,
             (SELECT count(*)::int FROM facilities WHERE ehr_enabled AND fhir_base_url = ${SHAPE.fhirBaseUrl}) AS connected
      FROM integration_requests`.execute(db);
    expect(rows[0]!.newest.getTime()).toBeLessThanOrEqual(END_AT.getTime());
    expect(rows[0]!.oldest.getTime()).toBeGreaterThanOrEqual(END_AT.getTime() - SHAPE.days * 86_400_000);
    expect(rows[0]!.connected).toBe(5);
  });

  it('keeps every projection and identity consistent with the rows behind it', async () => {
    await expectConsistent(context.runtime.database.db);
  });

  it('replays exactly from the same seed and end time', async () => {
    const replay = await createTestContext();
    try {
      const again = await generateWorklistDataset(replay.runtime.database.db, SHAPE);
      expect({ ...again, seconds: 0 }).toEqual({ ...result, seconds: 0 });
      expect(await tableCounts(replay.runtime.database.db)).toEqual(
        await tableCounts(context.runtime.database.db),
      );
      for (const { table, key } of TABLES) {
        const firstRows = (db: AnyKysely) =>
          sql`SELECT * FROM ${sql.table(table)} ORDER BY ${sql.ref(key)} LIMIT 25`
            .execute(db)
            .then((r) => r.rows);
        expect(await firstRows(replay.runtime.database.db), table).toEqual(
          await firstRows(context.runtime.database.db),
        );
        const digest = (db: AnyKysely) =>
          sql<{
            digest: string;
          }>`SELECT md5(string_agg(t::text, '|' ORDER BY ${sql.ref(`t.${key}`)})) AS digest
            FROM ${sql.table(table)} t`
            .execute(db)
            .then((r) => r.rows[0]!.digest);
        expect(await digest(replay.runtime.database.db), table).toBe(
          await digest(context.runtime.database.db),
        );
      }
    } finally {
      await replay.close();
    }
  });
});

describe('worklist demo', () => {
  let context: TestContext;
  let db: AnyKysely;

  beforeAll(async () => {
    context = await createTestContext();
    db = context.runtime.database.db;
  });
  afterAll(() => context?.close());

  it('loads three facilities, patients and requests, with real files behind the newest requests', async () => {
    const loaded = await loadWorklistDemo(
      { db, store: context.runtime.store },
      { onlyIfAbsent: true, fhirBaseUrl: 'http://fhir.test/fhir' },
    );
    expect(loaded).toBeDefined();
    expect(loaded!.facilityIds).toEqual(DEMO_FACILITIES);
    expect(loaded).toMatchObject({ patients: 1_500, requests: 3_000 });
    expect(loaded!.requestsWithFiles).toHaveLength(200);

    // The requests it wrote files for are the 200 newest.
    const { rows: newest } = await sql<{ request_id: number }>`
      SELECT request_id FROM integration_requests ORDER BY received_at DESC, request_id DESC LIMIT 200`.execute(
      db,
    );
    expect([...loaded!.requestsWithFiles].sort((a, b) => a - b)).toEqual(
      newest.map((row) => row.request_id).sort((a, b) => a - b),
    );

    // Each of their attachments is in the store, a PDF whose size and hash are the row's.
    const { rows: attachments } = await sql<{
      storage_key: string;
      size_bytes: number;
      sha256: string;
      title: string;
    }>`
      SELECT a.storage_key, a.size_bytes, a.sha256, r.title
      FROM attachments a JOIN integration_requests r USING (request_id)
      WHERE a.request_id = ANY(${loaded!.requestsWithFiles}::bigint[])`.execute(db);
    expect(attachments).toHaveLength(loaded!.objects);
    for (const attachment of attachments) {
      const object = await context.runtime.store.get(attachment.storage_key);
      expect(object, attachment.storage_key).toBeDefined();
      const bytes = await buffer(object!.body);
      expect(bytes.length).toBe(attachment.size_bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(attachment.sha256);
      expect(bytes.subarray(0, 8).toString('latin1')).toBe('%PDF-1.4');
      expect(bytes.toString('latin1')).toContain(attachment.title.replace(/[()\\]/g, (c) => `\\${c}`));
    }
    await expectConsistent(db);
  });

  it('does nothing when asked to load only if absent and it is there', async () => {
    const before = await tableCounts(db);
    const again = await loadWorklistDemo(
      { db, store: context.runtime.store },
      { onlyIfAbsent: true, fhirBaseUrl: 'http://fhir.test/fhir' },
    );
    expect(again).toBeUndefined();
    expect(await tableCounts(db)).toEqual(before);
  });

  it('refuses to generate into a worklist that has data, unless told to append', async () => {
    const large = {
      facilities: 2,
      requests: 500,
      patientsPerFacility: 50,
      days: 10,
      seed: 3,
      showProgress: false,
    };
    await expect(generateLargeWorklist(db, { ...large, append: false })).rejects.toThrow(
      WorklistNotEmptyError,
    );
    const before = await tableCounts(db);
    const appended = await generateLargeWorklist(db, { ...large, append: true });
    expect(appended.facilityIds).toEqual(['FAC-0004', 'FAC-0005']);
    const after = await tableCounts(db);
    expect(after.integration_requests - before.integration_requests).toBe(500);
    expect(after.patients - before.patients).toBe(100);
    await expectConsistent(db);
  });
});
