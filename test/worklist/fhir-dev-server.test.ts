import type { Bundle, Patient } from 'fhir/r4.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type FhirDevServer,
  type FhirDevServerOptions,
  startFhirDevServer,
} from '../../src/modules/worklist/fhir/dev-server.ts';

const servers: FhirDevServer[] = [];
async function devServer(options: FhirDevServerOptions = {}): Promise<FhirDevServer> {
  const server = await startFhirDevServer(options);
  servers.push(server);
  return server;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const fhirJson = { 'content-type': 'application/fhir+json' };
const bodyOf = async <T = Bundle>(response: Response | Promise<Response>) =>
  (await (await response).json()) as T;

describe('FHIR dev server', () => {
  it('makes up the same Patient for the same id, and only when asked to', async () => {
    const synthesizing = await devServer({ synthesizePatients: true });
    const read = (id: string) => bodyOf<Patient>(fetch(`${synthesizing.baseUrl}/Patient/${id}`));
    const patient = await read('p-42');
    expect(patient).toMatchObject({
      resourceType: 'Patient',
      id: 'p-42',
      name: [{ family: expect.any(String), given: [expect.any(String)] }],
      birthDate: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      gender: expect.stringMatching(/^(female|male)$/),
      telecom: [{ system: 'phone', value: expect.any(String) }],
      generalPractitioner: [{ display: expect.stringMatching(/^Dr /) }],
      meta: { lastUpdated: expect.any(String) },
    });
    expect(await read('p-42')).toEqual(patient);
    expect(await read('p-43')).not.toEqual({ ...patient, id: 'p-43' });

    const strict = await devServer();
    const missing = await fetch(`${strict.baseUrl}/Patient/p-42`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/fhir+json');
    expect(await missing.json()).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ code: 'not-found' }],
    });
  });

  it('stores Patients with PUT, versioned, and finds them by search', async () => {
    const fhir = await devServer();
    const put = (family: string) =>
      fetch(`${fhir.baseUrl}/Patient/local-1`, {
        method: 'PUT',
        headers: fhirJson,
        body: JSON.stringify({ resourceType: 'Patient', id: 'local-1', name: [{ family }] }),
      });
    expect((await put('LEROY')).status).toBe(201);
    const updated = await put('LEROY-MOREAU');
    expect(updated.status).toBe(200);
    expect(await updated.json()).toMatchObject({ meta: { versionId: '2' } });

    const bundle = await bodyOf<Bundle<Patient>>(fetch(`${fhir.baseUrl}/Patient?_id=local-1,nobody`));
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
    expect(bundle.entry?.[0]?.resource?.name).toEqual([{ family: 'LEROY-MOREAU' }]);
    expect(bundle.link?.map((link) => link.relation)).toEqual(['self']);

    const mismatched = await fetch(`${fhir.baseUrl}/Patient/local-2`, {
      method: 'PUT',
      headers: fhirJson,
      body: JSON.stringify({ resourceType: 'Patient', id: 'local-1' }),
    });
    expect(mismatched.status).toBe(400);
  });

  it('creates a DocumentReference once per identifier and finds it by identifier', async () => {
    const fhir = await devServer();
    const create = (prefer: string) =>
      fetch(`${fhir.baseUrl}/DocumentReference`, {
        method: 'POST',
        headers: { ...fhirJson, prefer, 'if-none-exist': 'identifier=urn:example|1' },
        body: JSON.stringify({
          resourceType: 'DocumentReference',
          status: 'current',
          identifier: [{ system: 'urn:example', value: '1' }],
          content: [{ attachment: { url: 'Binary/b-1' } }],
        }),
      });
    const first = await create('return=minimal');
    expect(first.status).toBe(201);
    expect(await first.text()).toBe('');
    const location = first.headers.get('location');
    expect(location).toMatch(/\/fhir\/DocumentReference\/[\w-]+\/_history\/1$/);

    const second = await create('return=representation');
    expect(second.status).toBe(200);
    expect(location).toContain((await bodyOf<{ id: string }>(second)).id);

    const found = await bodyOf(fetch(`${fhir.baseUrl}/DocumentReference?identifier=urn:example|1`));
    expect(found.total).toBe(1);
    const none = await bodyOf(fetch(`${fhir.baseUrl}/DocumentReference?identifier=urn:other|1`));
    expect(none.total).toBe(0);
  });

  it('describes itself', async () => {
    const fhir = await devServer();
    const capabilities = await bodyOf<unknown>(fetch(`${fhir.baseUrl}/metadata`));
    expect(capabilities).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1' });
    expect(fhir.stats().requests.metadata).toBe(1);
  });

  it('injects faults and latency, and reports its stats, over HTTP', async () => {
    const fhir = await devServer({ synthesizePatients: true });
    const origin = new URL(fhir.baseUrl).origin;
    const control = (path: string, body: unknown) =>
      fetch(`${origin}/_dev/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    expect((await control('faults', { failNext: 2, status: 502 })).status).toBe(200);
    const statuses = [];
    for (let n = 0; n < 3; n++) statuses.push((await fetch(`${fhir.baseUrl}/Patient/p-1`)).status);
    expect(statuses).toEqual([502, 502, 200]);
    expect((await control('faults', { failNext: 1, status: 200 })).status).toBe(400);

    expect((await control('latency', { ms: 0 })).status).toBe(200);
    expect((await control('latency', { ms: -1 })).status).toBe(400);

    const stats = await bodyOf<unknown>(fetch(`${origin}/_dev/stats`));
    expect(stats).toMatchObject({
      faults: 2,
      waiting: 0,
      requests: { 'patient-read': 3, 'patient-search': 0 },
    });
  });
});
