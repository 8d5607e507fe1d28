import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestionDepsOf } from '../../src/app.ts';
import { receive } from '../../src/modules/worklist/ingestion/inbox.ts';
import { generateWorklistDataset } from '../../src/modules/worklist/operations/dataset.ts';
import { documentId, oruMessage } from '../../src/modules/worklist/operations/sample-messages.ts';
import {
  candidatePatients,
  requestDetail,
  statusCounts,
  worklistPage,
} from '../../src/modules/worklist/queries.ts';
import { onePagePdf } from '../../src/platform/pdf.ts';
import { type PlanSummary, plansOf } from '../../testkit/plans.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

/**
 * The worklist's statements planned over 60 facilities, 120,000 patients and 150,000 requests: every
 * one must find its rows through an index, never by reading a growing table end to end. (`npm run
 * bench` measures the same statements at 800 facilities and a million requests.)
 */
let context: TestContext;
let facilityId: string;
let smallestFacilityId: string;
const GROWING = [
  'integration_requests',
  'patients',
  'attachments',
  'verifications',
  'extracted_metadata',
  'inbound_messages',
];
const scansOfGrowingTables = (plan: PlanSummary | undefined) =>
  (plan?.seqScans ?? []).filter((table) => GROWING.includes(table));

beforeAll(async () => {
  context = await createTestContext();
  await generateWorklistDataset(context.runtime.database.db, {
    facilities: 60,
    patientsPerFacility: 2_000,
    requests: 150_000,
    days: 365,
    seed: 3,
    fhirBaseUrl: null,
    endAt: new Date('2026-11-01T00:00:00Z'),
  });
  const { rows } = await sql<{ facility_id: string }>`
    SELECT facility_id FROM integration_requests GROUP BY facility_id ORDER BY count(*) DESC LIMIT 1`.execute(
    context.runtime.database.db,
  );
  facilityId = rows[0]!.facility_id;
  const { rows: smallest } = await sql<{ facility_id: string }>`
    SELECT facility_id FROM integration_requests GROUP BY facility_id ORDER BY count(*) LIMIT 1`.execute(
    context.runtime.database.db,
  );
  smallestFacilityId = smallest[0]!.facility_id;
});
afterAll(async () => {
  await context.close();
});

const planOfPage = async (filter: Parameters<typeof worklistPage>[1]) => {
  const db = context.runtime.database.db;
  const [plan] = await plansOf(db, () => worklistPage(db, filter));
  return plan;
};

describe('worklist plans at 150,000 requests', () => {
  it('reads a facility page from the facility index, in order, without sorting', async () => {
    const plan = await planOfPage({ facilityId: smallestFacilityId, limit: 20 });
    expect(plan?.indexes).toContain('integration_requests_facility_received_idx');
    expect(plan?.nodes).not.toContain('Sort');
    expect(scansOfGrowingTables(plan)).toEqual([]);
  });

  it("reads the busiest facility's page in order from an index too", async () => {
    // With one facility's rows a large share of the table, walking the arrival-time index and skipping
    // other facilities' rows is as good: heap order follows arrival. Either way, no sort and no scan.
    const plan = await planOfPage({ facilityId, limit: 20 });
    expect(
      plan?.indexes.some((index) =>
        ['integration_requests_facility_received_idx', 'integration_requests_received_idx'].includes(index),
      ),
    ).toBe(true);
    expect(plan?.nodes).not.toContain('Sort');
    expect(scansOfGrowingTables(plan)).toEqual([]);
  });

  it('continues from a cursor on the same index', async () => {
    const db = context.runtime.database.db;
    const first = await worklistPage(db, { facilityId: smallestFacilityId, limit: 100 });
    const plan = await planOfPage({ facilityId: smallestFacilityId, limit: 20, cursor: first.nextCursor! });
    expect(plan?.indexes).toContain('integration_requests_facility_received_idx');
    expect(plan?.nodes).not.toContain('Sort');
  });

  it('reads a status filter from the facility-and-status index', async () => {
    const plan = await planOfPage({ facilityId, limit: 20, status: 'pending_verification' });
    expect(plan?.indexes).toContain('integration_requests_facility_status_received_idx');
    expect(scansOfGrowingTables(plan)).toEqual([]);
  });

  it('answers every facility (admin) from the arrival-time index', async () => {
    const plan = await planOfPage({ facilityId: undefined, limit: 20 });
    expect(plan?.indexes).toContain('integration_requests_received_idx');
    expect(scansOfGrowingTables(plan)).toEqual([]);
  });

  it('searches with q through an index', async () => {
    const plan = await planOfPage({ facilityId, limit: 20, q: 'zzqx' });
    expect(plan?.indexes.some((index) => index.startsWith('integration_requests_'))).toBe(true);
    expect(scansOfGrowingTables(plan)).toEqual([]);
  });

  it("reads every facility a token sees as one probe per facility's index, merged", async () => {
    const db = context.runtime.database.db;
    const { rows } = await sql<{ facility_id: string }>`
      SELECT facility_id FROM facilities ORDER BY facility_id LIMIT 10`.execute(db);
    const facilities = [...new Set([facilityId, smallestFacilityId, ...rows.map((row) => row.facility_id)])];
    const scope = { kind: 'some' as const, facilities };
    const plan = await planOfPage({ facilityId: undefined, facilities: scope, limit: 20 });
    expect(plan?.indexes).toContain('integration_requests_facility_received_idx');
    expect(scansOfGrowingTables(plan)).toEqual([]);

    const first = await worklistPage(db, { facilityId: undefined, facilities: scope, limit: 20 });
    const next = await planOfPage({
      facilityId: undefined,
      facilities: scope,
      limit: 20,
      cursor: first.nextCursor!,
      status: 'pending_verification',
    });
    expect(next?.indexes).toContain('integration_requests_facility_status_received_idx');
    expect(scansOfGrowingTables(next)).toEqual([]);
  });

  it('reads a document type, even a rare one, from the facility-and-type index, in order', async () => {
    const plan = await planOfPage({ facilityId, limit: 20, documentType: '57833-6' });
    expect(plan?.indexes).toContain('integration_requests_facility_type_received_idx');
    expect(plan?.nodes).not.toContain('Sort');
    expect(scansOfGrowingTables(plan)).toEqual([]);
  });

  it("reads a received-date range within the facility's index", async () => {
    const plan = await planOfPage({
      facilityId,
      limit: 20,
      receivedFrom: '2026-06-01T00:00:00Z',
      receivedTo: '2026-06-08T00:00:00Z',
    });
    expect(
      plan?.indexes.some((index) =>
        [
          'integration_requests_facility_received_idx',
          'integration_requests_facility_status_received_idx',
        ].includes(index),
      ),
    ).toBe(true);
    expect(plan?.text).toContain('received_at >=');
    expect(scansOfGrowingTables(plan)).toEqual([]);
  });

  it('counts per status from the facility-and-status index, for one facility, several and all', async () => {
    const db = context.runtime.database.db;
    for (const scope of [
      { kind: 'some' as const, facilities: [facilityId] },
      { kind: 'some' as const, facilities: [facilityId, smallestFacilityId] },
      { kind: 'all' as const },
    ]) {
      const plans = await plansOf(db, () => statusCounts(db, scope));
      expect(plans).toHaveLength(1);
      expect(plans[0]?.indexes, scope.kind).toContain('integration_requests_facility_status_received_idx');
      expect(scansOfGrowingTables(plans[0]), scope.kind).toEqual([]);
    }
    // Bounded: the busiest facility's commonest status stops at the cap.
    const counts = await statusCounts(db, { kind: 'all' });
    expect(Math.max(...counts.map((count) => count.count))).toBe(1001);
  });

  it('reads a request in full and ranks candidates through indexes', async () => {
    const db = context.runtime.database.db;
    const { rows } = await sql<{ request_id: number }>`
      SELECT request_id FROM integration_requests WHERE facility_id = ${facilityId} ORDER BY request_id DESC LIMIT 1`.execute(
      db,
    );
    const plans = await plansOf(db, async () => {
      await requestDetail(db, rows[0]!.request_id);
      await candidatePatients(db, {
        facilityId,
        ins: '279035121518989',
        birthLastName: 'Martin',
        birthDate: '1979-03-12',
        sex: 'F',
      });
    });
    expect(plans).toHaveLength(2);
    for (const plan of plans) expect(scansOfGrowingTables(plan), plan.text.slice(0, 60)).toEqual([]);
    expect(plans[1]?.indexes).toEqual(
      expect.arrayContaining([
        'patients_facility_ins_idx',
        'patients_facility_traits_idx',
        'patients_facility_name_trgm_idx',
      ]),
    );
  });

  it('ingests an HL7 message through indexes: the facility, resends, documents and candidates, then the record', async () => {
    const db = context.runtime.database.db;
    const { rows } = await sql<{
      ins: string;
      ipp: string;
      birth_last_name: string;
      birth_first_names: string;
      birth_date: string;
      sex: 'F' | 'M';
    }>`
      SELECT ins, ipp, birth_last_name, birth_first_names, birth_date::text AS birth_date, sex FROM patients
      WHERE facility_id = ${facilityId} AND ins IS NOT NULL LIMIT 1`.execute(db);
    const patient = rows[0]!;
    const message = oruMessage({
      controlId: 'PLAN-1',
      sendingFacility: 'LABO',
      receivingFacility: facilityId,
      patient: {
        ins: patient.ins,
        ipp: patient.ipp,
        birthLastName: patient.birth_last_name,
        givenNames: patient.birth_first_names.split(' '),
        birthDate: patient.birth_date,
        sex: patient.sex,
      },
      document: {
        id: documentId('PLAN-1'),
        typeCode: '11502-2',
        title: 'Biologie',
        procedureDate: '2026-10-30',
        pdf: onePagePdf('x'),
      },
    });
    const plans = await plansOf(db, () =>
      receive(
        ingestionDepsOf(context.runtime),
        { listener: 'mllp', facilityId: undefined, sender: 'x', source: undefined },
        'hl7v2',
        message,
      ),
    );
    expect(plans).toHaveLength(2);
    for (const plan of plans) expect(scansOfGrowingTables(plan), plan.text.slice(0, 60)).toEqual([]);
    expect(plans[0]?.indexes).toEqual(
      expect.arrayContaining([
        'inbound_messages_control_id_idx',
        'patients_facility_ins_idx',
        'patients_facility_traits_idx',
      ]),
    );
  });
});
