import type { DocumentReference } from 'fhir/r4.js';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  FhirClient,
  FhirPushError,
  INTEGRATION_REQUEST_SYSTEM,
} from '../../src/modules/worklist/fhir/client.ts';
import {
  type FhirDevServer,
  type FhirInteraction,
  startFhirDevServer,
} from '../../src/modules/worklist/fhir/dev-server.ts';
import {
  handleIntegrationJob,
  startIntegrationWorker,
} from '../../src/modules/worklist/integration/worker.ts';
import { detachedFromLedger, RequestLedger, withLedger } from '../../src/platform/request-ledger.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';
import { createFacility, labReportFor, receive } from '../support/worklist.ts';

let context: TestContext;
let fhir: FhirDevServer;
const PATIENT = {
  ipp: 'R-1',
  ins: '279035121518989',
  birthLastName: 'Dupont',
  birthFirstNames: 'Camille',
  birthDate: '1979-03-12',
  sex: 'F' as const,
  fhirId: 'pat-camille',
};
const approver = () => context.auth('approver', 'dr-r', { facilities: ['FAC-R'] });
const db = () => context.runtime.database.db;
const client = new FhirClient({ timeoutMs: 5_000 });

beforeAll(async () => {
  fhir = await startFhirDevServer({ synthesizePatients: true });
  context = await createTestContext({
    env: {
      HOTPATH_INTEGRATION_RETRY_LIMIT: '2',
      HOTPATH_INTEGRATION_RETRY_DELAY_SECONDS: '1',
      HOTPATH_FHIR_TIMEOUT_MS: '2000',
    },
  });
  await createFacility(context, 'FAC-R', {
    fhirBaseUrl: fhir.baseUrl,
    ehrEnabled: true,
    patients: [PATIENT],
  });
  await startIntegrationWorker({
    db: db(),
    store: context.runtime.store,
    queue: context.runtime.integrationQueue,
    fhir: context.runtime.fhir,
    pollingIntervalSeconds: 0.5,
  });
});
afterAll(async () => {
  await context.close();
  await fhir.close();
});

interface Row {
  status: string;
  integration_state: string | null;
  integration_error: string | null;
  ehr_document_reference: string | null;
}
const row = async (id: number): Promise<Row> => {
  const { rows } = await sql<Row>`SELECT status, integration_state, integration_error, ehr_document_reference
    FROM integration_requests WHERE request_id = ${id}`.execute(db());
  return rows[0] as Row;
};
const until = (id: number, check: (current: Row) => void) =>
  vi.waitFor(
    async () => {
      const current = await row(id);
      check(current);
      return current;
    },
    { timeout: 120_000, interval: 100 },
  );

async function verifiedRequest(): Promise<number> {
  const response = await receive(context, {
    metadata: labReportFor('FAC-R'),
    files: [{ name: 'report.pdf', type: 'application/pdf', content: `report ${Math.random()}` }],
  });
  expect(response.json()).toMatchObject({ status: 'verified' });
  return response.json().id as number;
}
const action = (id: number, name: 'verify' | 'reject' | 'integrate', payload?: object) =>
  context.app.inject({
    method: 'POST',
    url: `/v2/worklist/${id}/${name}`,
    headers: approver(),
    ...(payload ? { payload } : {}),
  });

/** A verified request integrated by the worker: its DocumentReference id. */
async function integratedRequest(): Promise<{ id: number; reference: string }> {
  const id = await verifiedRequest();
  expect((await action(id, 'integrate')).statusCode).toBe(202);
  const done = await until(id, (current) => expect(current.status).toBe('integrated'));
  return { id, reference: done.ehr_document_reference as string };
}

/** A new verified request replacing `replaced`, as ingestion records a replacement of an integrated one. */
async function replacementOf(replaced: number): Promise<number> {
  const id = await verifiedRequest();
  await sql`UPDATE integration_requests SET replaces_request_id = ${replaced} WHERE request_id = ${id}`.execute(
    db(),
  );
  return id;
}

/** What ingestion's deletion does: cancelled, and queued with a job when it is in the EHR. */
async function cancel(id: number, options: { queue: boolean }): Promise<void> {
  await detachedFromLedger(async () => {
    await sql`UPDATE integration_requests
      SET status = 'cancelled', cancelled_at = now(), cancellation_reason = 'deleted by its sender (TXA-12)',
          integration_state = CASE WHEN ${options.queue} THEN 'queued' ELSE integration_state END
      WHERE request_id = ${id}`.execute(db());
    if (options.queue) await context.runtime.integrationQueue.enqueue(db(), id);
  });
}

const referencesOf = (id: number) =>
  [...fhir.documentReferences.values()].filter((reference) =>
    reference.identifier?.some(
      (identifier) => identifier.system === INTEGRATION_REQUEST_SYSTEM && identifier.value === String(id),
    ),
  );
const requestsSince = (before: Record<FhirInteraction, number>) => {
  const now = fhir.stats().requests;
  return Object.fromEntries(
    Object.entries(now).flatMap(([name, count]) =>
      count > before[name as FhirInteraction] ? [[name, count - before[name as FhirInteraction]]] : [],
    ),
  );
};

/** One attempt of the job, run here under a ledger: its statements and EHR requests counted. */
async function runJob(id: number, fhirClient: FhirClient = context.runtime.fhir) {
  const ledger = new RequestLedger(false);
  await withLedger(ledger, () =>
    handleIntegrationJob(
      { db: db(), store: context.runtime.store, fhir: fhirClient },
      { requestId: id },
      { retryCount: 0, retryLimit: 2 },
    ),
  );
  return { statements: ledger.db.count, ehr: ledger.ext.count };
}
/** Queued without a job: only `runJob` takes it. */
const queueWithoutJob = (id: number) =>
  sql`UPDATE integration_requests SET integration_state = 'queued' WHERE request_id = ${id}`.execute(db());

describe('a replacement of an integrated document', () => {
  it('says it replaces the old DocumentReference, which becomes superseded; the old request stays integrated', async () => {
    const old = await integratedRequest();
    const id = await replacementOf(old.id);
    const before = fhir.stats().requests;
    expect((await action(id, 'integrate')).statusCode).toBe(202);
    const done = await until(id, (current) => expect(current.status).toBe('integrated'));

    const [pushed, ...others] = referencesOf(id);
    expect(others).toEqual([]);
    expect(done).toMatchObject({ integration_state: 'done', ehr_document_reference: pushed?.id });
    expect(pushed).toMatchObject({
      status: 'current',
      relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${old.reference}` } }],
    });
    expect(fhir.documentReferences.get(old.reference)).toMatchObject({
      status: 'superseded',
      meta: { versionId: '2' },
    });
    expect(requestsSince(before)).toEqual({
      'binary-create': 1,
      'documentreference-create': 1,
      'documentreference-read': 1,
      'documentreference-update': 1,
    });
    expect(await row(old.id)).toMatchObject({
      status: 'integrated',
      integration_state: 'done',
      ehr_document_reference: old.reference,
    });
    expect(referencesOf(old.id)).toHaveLength(1);
  });

  it('takes one claim and one finishing statement, and a retry after a failed supersede pushes nothing new', async () => {
    const old = await integratedRequest();
    const id = await replacementOf(old.id);
    await queueWithoutJob(id);
    // The EHR takes the new version, then fails the old one's update: two current documents, not none.
    const failingUpdates = new FhirClient({
      timeoutMs: 5_000,
      fetch: async (input, init) =>
        init?.method === 'PUT'
          ? new Response(
              JSON.stringify({
                resourceType: 'OperationOutcome',
                issue: [{ severity: 'error', code: 'transient' }],
              }),
              { status: 503, headers: { 'content-type': 'application/fhir+json' } },
            )
          : fetch(input, init),
    });
    const failed = await runJob(id, failingUpdates).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(FhirPushError);
    expect(failed).toMatchObject({ retryable: true, status: 503 });
    expect(await row(id)).toMatchObject({ status: 'verified', integration_state: 'queued' });
    expect((await row(id)).integration_error).toContain('503');
    expect(referencesOf(id).map((reference) => reference.status)).toEqual(['current']);
    expect(fhir.documentReferences.get(old.reference)?.status).toBe('current');

    const retried = await runJob(id);
    expect(retried).toEqual({ statements: 2, ehr: 4 });
    expect(referencesOf(id)).toHaveLength(1);
    expect(fhir.documentReferences.get(old.reference)?.status).toBe('superseded');
    expect(await row(id)).toMatchObject({
      status: 'integrated',
      integration_state: 'done',
      integration_error: null,
      ehr_document_reference: referencesOf(id)[0]?.id,
    });

    // Run once more as a lost answer would have it: the same DocumentReference, the old one left as it is.
    await queueWithoutJob(id);
    expect(await runJob(id)).toEqual({ statements: 2, ehr: 3 });
    expect(referencesOf(id)).toHaveLength(1);
    expect(fhir.documentReferences.get(old.reference)?.meta?.versionId).toBe('2');

    // Done: a duplicate job claims nothing and asks the EHR nothing.
    expect(await runJob(id)).toEqual({ statements: 1, ehr: 0 });
  });

  it('pushes a plain first version when the replaced request never reached the EHR', async () => {
    const notIntegrated = await verifiedRequest();
    await cancel(notIntegrated, { queue: false });
    const id = await replacementOf(notIntegrated);
    await queueWithoutJob(id);
    expect(await runJob(id)).toEqual({ statements: 2, ehr: 2 });
    expect(referencesOf(id)[0]).not.toHaveProperty('relatesTo');
    expect(await row(id)).toMatchObject({ status: 'integrated', integration_state: 'done' });
  });
});

describe('a cancelled request', () => {
  it('already in the EHR is withdrawn there as entered-in-error, and stays cancelled', async () => {
    const { id, reference } = await integratedRequest();
    const before = fhir.stats().requests;
    await cancel(id, { queue: true });
    const done = await until(id, (current) => expect(current.integration_state).toBe('done'));
    expect(done).toMatchObject({
      status: 'cancelled',
      ehr_document_reference: reference,
      integration_error: null,
    });
    expect(fhir.documentReferences.get(reference)).toMatchObject({
      status: 'entered-in-error',
      meta: { versionId: '2' },
    });
    expect(referencesOf(id)).toHaveLength(1);
    expect(requestsSince(before)).toEqual({ 'documentreference-read': 1, 'documentreference-update': 1 });
  });

  it('withdrawn with one claim and one finishing statement, and a second run writes nothing', async () => {
    const { id, reference } = await integratedRequest();
    await sql`UPDATE integration_requests SET status = 'cancelled', integration_state = 'queued'
      WHERE request_id = ${id}`.execute(db());
    expect(await runJob(id)).toEqual({ statements: 2, ehr: 2 });
    await queueWithoutJob(id);
    expect(await runJob(id)).toEqual({ statements: 2, ehr: 1 });
    expect(fhir.documentReferences.get(reference)?.meta?.versionId).toBe('2');
    expect(await row(id)).toMatchObject({ status: 'cancelled', integration_state: 'done' });
  });

  it('not in the EHR leaves the queue without any request to the EHR', async () => {
    const id = await verifiedRequest();
    const before = fhir.stats().requests;
    // A deletion that arrived while the document was queued for integration.
    await sql`UPDATE integration_requests SET integration_state = 'queued' WHERE request_id = ${id}`.execute(
      db(),
    );
    await cancel(id, { queue: true });
    const done = await until(id, (current) => expect(current.integration_state).toBeNull());
    expect(done).toMatchObject({ status: 'cancelled', ehr_document_reference: null });
    expect(referencesOf(id)).toEqual([]);
    expect(requestsSince(before)).toEqual({});

    // Claimed again, after an attempt that might have pushed: the EHR is searched (nothing), not written.
    await queueWithoutJob(id);
    const searchedBefore = fhir.stats().requests;
    expect(await runJob(id)).toEqual({ statements: 2, ehr: 1 });
    expect(requestsSince(searchedBefore)).toEqual({ 'documentreference-search': 1 });
    expect(await row(id)).toMatchObject({ status: 'cancelled', integration_state: null });
  });

  it('cancelled while its push ran is withdrawn right after: integrated in the EHR for no longer than that', async () => {
    const id = await verifiedRequest();
    await queueWithoutJob(id);
    const cancellingDuringPush = new FhirClient({
      timeoutMs: 5_000,
      fetch: async (input, init) => {
        const answer = await fetch(input, init);
        if (init?.method === 'POST' && String(input).endsWith('/DocumentReference'))
          await cancel(id, { queue: false });
        return answer;
      },
    });
    expect(await runJob(id, cancellingDuringPush)).toEqual({ statements: 3, ehr: 4 });
    const [reference] = referencesOf(id);
    expect(reference?.status).toBe('entered-in-error');
    expect(await row(id)).toMatchObject({
      status: 'cancelled',
      integration_state: 'done',
      ehr_document_reference: reference?.id,
    });
  });

  it('whose earlier attempt may have pushed unrecorded is looked up in the EHR and withdrawn', async () => {
    const id = await verifiedRequest();
    // An attempt that pushed, then lost the answer before recording it.
    const lost = await client.pushDocument(fhir.baseUrl, {
      requestId: id,
      patientFhirId: PATIENT.fhirId,
      documentType: null,
      title: 'lost answer',
      date: null,
      contentType: 'application/pdf',
      data: Buffer.from('%PDF'),
    });
    await sql`UPDATE integration_requests SET integration_attempts = 1, status = 'cancelled',
      integration_state = 'queued' WHERE request_id = ${id}`.execute(db());
    expect(await runJob(id)).toEqual({ statements: 2, ehr: 3 });
    expect(fhir.documentReferences.get(lost.documentReferenceId)?.status).toBe('entered-in-error');
    expect(await row(id)).toMatchObject({
      status: 'cancelled',
      integration_state: 'done',
      ehr_document_reference: lost.documentReferenceId,
    });
  });

  it('is refused verification, rejection and integration with 409', async () => {
    const id = await verifiedRequest();
    await cancel(id, { queue: false });
    const { rows } = await sql<{ patient_id: number }>`SELECT patient_id FROM integration_requests
      WHERE request_id = ${id}`.execute(db());
    for (const [name, payload] of [
      ['verify', { patientId: rows[0]?.patient_id }],
      ['reject', { reason: 'not ours' }],
      ['integrate', undefined],
    ] as const) {
      const refused = await action(id, name, payload);
      expect(refused.statusCode, name).toBe(409);
      expect(refused.json().detail, name).toBe(
        `request ${id} was cancelled: deleted by its sender (TXA-12); it can no longer be ${{ verify: 'verified', reject: 'rejected', integrate: 'integrated' }[name]}`,
      );
    }
    // Even while queued for its withdrawal from the EHR, integrating it again is refused, not "already queued".
    const withdrawing = await integratedRequest();
    await sql`UPDATE integration_requests SET status = 'cancelled', integration_state = 'queued'
      WHERE request_id = ${withdrawing.id}`.execute(db());
    expect((await action(withdrawing.id, 'integrate')).statusCode).toBe(409);
    expect(await row(id)).toMatchObject({ status: 'cancelled' });
  });
});

describe('setDocumentStatus', () => {
  const push = (requestId: number) =>
    client.pushDocument(fhir.baseUrl, {
      requestId,
      patientFhirId: 'pat-camille',
      documentType: null,
      title: 'status test',
      date: null,
      contentType: 'application/pdf',
      data: Buffer.from('%PDF-1.7'),
    });
  const billed = async <T>(work: () => Promise<T>) => {
    const ledger = new RequestLedger(false);
    const result = await withLedger(ledger, work);
    return { result, ehr: ledger.ext.count };
  };

  it('writes once, conditional on the version read, and is idempotent', async () => {
    const { documentReferenceId: id } = await push(900_001);
    const before = fhir.stats().requests;
    expect(await billed(() => client.setDocumentStatus(fhir.baseUrl, id, 'superseded'))).toEqual({
      result: 'updated',
      ehr: 2,
    });
    expect(await billed(() => client.setDocumentStatus(fhir.baseUrl, id, 'superseded'))).toEqual({
      result: 'unchanged',
      ehr: 1,
    });
    expect(await client.setDocumentStatus(fhir.baseUrl, id, 'entered-in-error')).toBe('updated');
    // A withdrawn document is not brought back as a mere older version.
    expect(await client.setDocumentStatus(fhir.baseUrl, id, 'superseded')).toBe('unchanged');
    expect(fhir.documentReferences.get(id)).toMatchObject({
      status: 'entered-in-error',
      meta: { versionId: '3' },
      identifier: [{ system: INTEGRATION_REQUEST_SYSTEM, value: '900001' }],
    });
    expect(requestsSince(before)).toEqual({ 'documentreference-read': 4, 'documentreference-update': 2 });
  });

  it('treats a DocumentReference the EHR does not have (404) as done', async () => {
    expect(await client.setDocumentStatus(fhir.baseUrl, 'no-such-document', 'entered-in-error')).toBe('gone');
    const { documentReferenceId: id } = await push(900_002);
    // Deleted on the server between the read and the write.
    const deletingAfterRead = new FhirClient({
      timeoutMs: 5_000,
      fetch: async (input, init) => {
        const answer = await fetch(input, init);
        if (!init?.method) fhir.documentReferences.delete(id);
        return answer;
      },
    });
    expect(await deletingAfterRead.setDocumentStatus(fhir.baseUrl, id, 'superseded')).toBe('gone');
  });

  it('retries a write that lost to a concurrent change (412), and fails as FhirPushError elsewhere', async () => {
    const { documentReferenceId: id } = await push(900_003);
    const changingAfterRead = new FhirClient({
      timeoutMs: 5_000,
      fetch: async (input, init) => {
        const answer = await fetch(input, init);
        const current = fhir.documentReferences.get(id) as DocumentReference;
        if (!init?.method) fhir.documentReferences.set(id, { ...current, meta: { versionId: '7' } });
        return answer;
      },
    });
    const conflict = await changingAfterRead
      .setDocumentStatus(fhir.baseUrl, id, 'superseded')
      .catch((e) => e);
    expect(conflict).toBeInstanceOf(FhirPushError);
    expect(conflict).toMatchObject({ status: 412, retryable: true });
    expect(await client.setDocumentStatus(fhir.baseUrl, id, 'superseded')).toBe('updated');

    fhir.failNext(1, 503);
    const down = await client.setDocumentStatus(fhir.baseUrl, id, 'entered-in-error').catch((e) => e);
    expect(down).toMatchObject({ name: 'FhirPushError', status: 503, retryable: true });
    const bad = await client.setDocumentStatus(fhir.baseUrl, 'not a FHIR id', 'superseded').catch((e) => e);
    expect(bad).toMatchObject({ name: 'FhirPushError', retryable: false });
  });
});

describe('FHIR dev server: DocumentReference read and update', () => {
  it('reads with an ETag, updates with a new version, refuses unknown ids and stale If-Match', async () => {
    const { documentReferenceId: id } = await client.pushDocument(fhir.baseUrl, {
      requestId: 900_010,
      patientFhirId: 'pat-camille',
      documentType: null,
      title: 'dev server',
      date: null,
      contentType: 'application/pdf',
      data: Buffer.from('%PDF'),
    });
    const url = `${fhir.baseUrl}/DocumentReference/${id}`;
    const read = await fetch(url);
    expect(read.headers.get('etag')).toBe('W/"1"');
    const resource = (await read.json()) as DocumentReference;
    const put = (body: unknown, ifMatch?: string) =>
      fetch(url, {
        method: 'PUT',
        headers: { 'content-type': 'application/fhir+json', ...(ifMatch ? { 'if-match': ifMatch } : {}) },
        body: JSON.stringify(body),
      });
    const updated = await put({ ...resource, status: 'superseded' }, 'W/"1"');
    expect(updated.status).toBe(200);
    expect(updated.headers.get('etag')).toBe('W/"2"');
    const stored = (await updated.json()) as DocumentReference;
    expect(stored).toMatchObject({ id, status: 'superseded', meta: { versionId: '2' } });
    expect(stored.meta?.lastUpdated).toEqual(expect.any(String));
    expect(fhir.documentReferences.get(id)).toEqual(stored);

    expect((await put({ ...resource, status: 'current' }, 'W/"1"')).status).toBe(412);
    expect(fhir.documentReferences.get(id)?.status).toBe('superseded');
    expect((await put({ ...resource, id: undefined, status: 'current' })).status).toBe(200);
    expect((await put({ ...resource, id: 'other' })).status).toBe(400);
    const unknown = await fetch(`${fhir.baseUrl}/DocumentReference/unknown-id`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ ...resource, id: 'unknown-id' }),
    });
    expect(unknown.status).toBe(404);
    expect((await fetch(`${fhir.baseUrl}/DocumentReference/unknown-id`)).status).toBe(404);
  });
});
