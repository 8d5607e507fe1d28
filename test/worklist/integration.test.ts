import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type FhirDevServer, startFhirDevServer } from '../../src/modules/worklist/fhir/dev-server.ts';
import { startIntegrationWorker } from '../../src/modules/worklist/integration/worker.ts';
import { costOf, createTestContext, type TestContext } from '../support/harness.ts';
import { createFacility, labReportFor, receive } from '../support/worklist.ts';

let context: TestContext;
let fhir: FhirDevServer;
const PATIENT = {
  ipp: 'I-1',
  ins: '279035121518989',
  birthLastName: 'Dupont',
  birthFirstNames: 'Camille',
  birthDate: '1979-03-12',
  sex: 'F' as const,
  fhirId: 'pat-camille',
};
const approver = () => context.auth('approver', 'dr-i', { facilities: ['FAC-I', 'FAC-OFF'] });

beforeAll(async () => {
  fhir = await startFhirDevServer({ synthesizePatients: true });
  context = await createTestContext({
    env: {
      HOTPATH_INTEGRATION_RETRY_LIMIT: '2',
      HOTPATH_INTEGRATION_RETRY_DELAY_SECONDS: '1',
      HOTPATH_FHIR_TIMEOUT_MS: '2000',
    },
  });
  await createFacility(context, 'FAC-I', {
    fhirBaseUrl: fhir.baseUrl,
    ehrEnabled: true,
    patients: [PATIENT],
  });
  await createFacility(context, 'FAC-OFF', {
    fhirBaseUrl: null,
    ehrEnabled: false,
    patients: [{ ...PATIENT, ipp: 'O-1' }],
  });
  await startIntegrationWorker({
    db: context.runtime.database.db,
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

async function verifiedRequest(facilityId = 'FAC-I', content = `report for ${facilityId} ${Math.random()}`) {
  const response = await receive(context, {
    metadata: labReportFor(facilityId),
    files: [{ name: 'report.pdf', type: 'application/pdf', content }],
  });
  expect(response.json()).toMatchObject({ status: 'verified' });
  return { id: response.json().id as number, content };
}

const integrate = (id: number) =>
  context.app.inject({ method: 'POST', url: `/v2/worklist/${id}/integrate`, headers: approver() });
const detail = async (id: number) =>
  (await context.app.inject({ method: 'GET', url: `/v2/worklist/${id}`, headers: approver() })).json();
const documentReferencesFor = (id: number) =>
  [...fhir.documentReferences.values()].filter((reference) =>
    reference.identifier?.some((identifier) => identifier.value === String(id)),
  );
const settled = (id: number) =>
  vi.waitFor(
    async () => {
      const current = await detail(id);
      expect(['integrated', 'error']).toContain(current.status);
      return current;
    },
    { timeout: 180_000, interval: 200 },
  );

describe('integration into the EHR', () => {
  it('pushes a DocumentReference with the file as a Binary, once', async () => {
    const { id, content } = await verifiedRequest();
    const queued = await integrate(id);
    expect(queued.statusCode).toBe(202);
    expect(queued.json()).toMatchObject({ status: 'verified', integrationState: 'queued' });
    expect(costOf(queued.headers).queries).toBeLessThanOrEqual(6);

    const done = await settled(id);
    expect(done).toMatchObject({
      status: 'integrated',
      integration: { state: 'done', attempts: 1, error: null },
    });
    const [reference, ...others] = documentReferencesFor(id);
    expect(others).toEqual([]);
    expect(reference?.subject?.reference).toBe('Patient/pat-camille');
    expect(done.integration.ehrDocumentReference).toBe(reference?.id);
    const binaryId = reference?.content[0]?.attachment.url?.replace('Binary/', '') ?? '';
    expect(fhir.binaries.get(binaryId)?.data.toString()).toBe(content);

    const again = await integrate(id);
    expect(again.statusCode).toBe(409);
  });

  it('answers concurrent requests to integrate with one job and one DocumentReference', async () => {
    const { id } = await verifiedRequest();
    const answers = await Promise.all(Array.from({ length: 6 }, () => integrate(id)));
    expect(
      answers.map((answer) => answer.statusCode).every((status) => status === 202 || status === 409),
    ).toBe(true);
    expect(answers.filter((answer) => answer.statusCode === 202).length).toBeGreaterThanOrEqual(1);
    await settled(id);
    const { rows } = await sql<{ jobs: number }>`
      SELECT count(*)::int AS jobs FROM pgboss.job WHERE name = 'worklist-integration' AND data->>'requestId' = ${String(id)}`.execute(
      context.runtime.database.db,
    );
    expect(rows[0]?.jobs).toBe(1);
    expect(documentReferencesFor(id)).toHaveLength(1);
  });

  it('retries with backoff while the EHR fails, then integrates', async () => {
    const { id } = await verifiedRequest();
    fhir.failNext(2, 503);
    await integrate(id);
    const done = await settled(id);
    expect(done).toMatchObject({ status: 'integrated', integration: { state: 'done', error: null } });
    expect(done.integration.attempts).toBe(3);
    expect(documentReferencesFor(id)).toHaveLength(1);
  });

  it('marks the request and the facility in error once retries run out, and integrates when asked again', async () => {
    const { id } = await verifiedRequest();
    fhir.failNext(3, 503);
    await integrate(id);
    const failed = await settled(id);
    expect(failed).toMatchObject({ status: 'error', integration: { state: 'failed', attempts: 3 } });
    expect(failed.integration.error).toContain('503');
    const facilities = (
      await context.app.inject({ method: 'GET', url: '/v2/facilities', headers: approver() })
    ).json();
    expect(
      facilities.facilities.find((facility: { id: string }) => facility.id === 'FAC-I').ehr.lastError,
    ).toContain('503');

    expect((await integrate(id)).statusCode).toBe(202);
    expect(await settled(id)).toMatchObject({ status: 'integrated' });
    expect(documentReferencesFor(id)).toHaveLength(1);
    const after = (
      await context.app.inject({ method: 'GET', url: '/v2/facilities', headers: approver() })
    ).json();
    expect(
      after.facilities.find((facility: { id: string }) => facility.id === 'FAC-I').ehr.lastError,
    ).toBeNull();
  });

  it('does not retry what retrying cannot fix: a facility without an EHR connector', async () => {
    const { id } = await verifiedRequest('FAC-OFF');
    await integrate(id);
    const failed = await settled(id);
    expect(failed).toMatchObject({ status: 'error', integration: { state: 'failed', attempts: 1 } });
    expect(failed.integration.error).toContain('no enabled EHR connector');
  });
});

describe('FHIR enrichment on the detail page', () => {
  it('reads the patient from the FHIR server once, then from the cache', async () => {
    await context.runtime.cache.region('fhir-patient', { ttl: 1 }).clear();
    const { id } = await verifiedRequest();
    const first = await context.app.inject({ method: 'GET', url: `/v2/worklist/${id}`, headers: approver() });
    expect(first.json().enrichment).toEqual({ status: 'ok', reason: null });
    expect(first.json().patient.fhir).toMatchObject({ id: 'pat-camille' });
    expect(costOf(first.headers).ext).toBe(1);
    const second = await context.app.inject({
      method: 'GET',
      url: `/v2/worklist/${id}`,
      headers: approver(),
    });
    expect(costOf(second.headers).ext).toBe(0);
    expect(second.headers['server-timing']).toContain('cache;desc="hit"');
    expect(second.json().patient.fhir).toEqual(first.json().patient.fhir);
  });

  it('still answers from local data when the FHIR server is slow, saying enrichment is unavailable', async () => {
    await context.runtime.cache.region('fhir-patient', { ttl: 1 }).clear();
    const { id } = await verifiedRequest();
    fhir.setLatency(6_000);
    try {
      const response = await context.app.inject({
        method: 'GET',
        url: `/v2/worklist/${id}`,
        headers: approver(),
      });
      expect(response.statusCode).toBe(200);
      expect(response.json().enrichment.status).toBe('unavailable');
      expect(response.json().enrichment.reason).toBeTruthy();
      expect(response.json().patient).toMatchObject({ birthLastName: 'Dupont', fhir: null });
    } finally {
      fhir.setLatency(0);
    }
  });
});
