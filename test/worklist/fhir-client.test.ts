import type { Patient } from 'fhir/r4.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type DocumentPush,
  FhirClient,
  FhirPushError,
  INTEGRATION_REQUEST_SYSTEM,
  PATIENT_CACHE_REGION,
  PatientEnricher,
} from '../../src/modules/worklist/fhir/client.ts';
import {
  type FhirDevServer,
  type FhirDevServerOptions,
  startFhirDevServer,
} from '../../src/modules/worklist/fhir/dev-server.ts';
import { type CacheRegion, HotpathCache } from '../../src/platform/cache/cache.ts';
import { freePort } from '../../src/platform/free-port.ts';
import { externalRequestsTotal } from '../../src/platform/metrics/registry.ts';
import { RequestLedger, withLedger } from '../../src/platform/request-ledger.ts';

const client = new FhirClient({ timeoutMs: 5_000 });
const servers: FhirDevServer[] = [];
let cache: HotpathCache;
let patientCache: CacheRegion<Patient | null>;

async function devServer(
  options: FhirDevServerOptions = { synthesizePatients: true },
): Promise<FhirDevServer> {
  const server = await startFhirDevServer(options);
  servers.push(server);
  return server;
}

const enricher = () => new PatientEnricher(client, patientCache);

async function fhirRequestsCounted(): Promise<number> {
  const metric = await externalRequestsTotal.get();
  return metric.values.find((value) => value.labels.service === 'fhir')?.value ?? 0;
}

/** A port nothing listens on: taken, then released. */
async function closedBaseUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}/fhir`;
}

beforeEach(() => {
  cache = new HotpathCache({ redisUrl: undefined });
  patientCache = cache.region<Patient | null>(PATIENT_CACHE_REGION, { ttl: '5m' });
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
  await cache.close();
});

describe('PatientEnricher batching', () => {
  it('asks the ids requested in the same tick in one search, each once', async () => {
    const fhir = await devServer();
    const patients = enricher();
    const [first, second] = await Promise.all([
      patients.enrich(fhir.baseUrl, ['p-1', 'p-2', 'p-1']),
      patients.enrich(fhir.baseUrl, ['p-3', 'p-2']),
    ]);
    expect(first.status).toBe('ok');
    expect([...first.patients.keys()]).toEqual(['p-1', 'p-2']);
    expect([...second.patients.keys()]).toEqual(['p-3', 'p-2']);
    expect(second.patients.get('p-3')).toMatchObject({ resourceType: 'Patient', id: 'p-3' });

    const { patientSearches, requests } = fhir.stats();
    expect(requests['patient-search']).toBe(1);
    expect(patientSearches[0]?.ids.sort()).toEqual(['p-1', 'p-2', 'p-3']);
  });

  it('follows next links: 120 ids in pages of 50 are three requests of one search', async () => {
    const fhir = await devServer();
    const ids = Array.from({ length: 120 }, (_, n) => `patient-${n}`);
    const paged = new PatientEnricher(new FhirClient({ timeoutMs: 5_000, pageSize: 50 }), patientCache);
    const result = await paged.enrich(fhir.baseUrl, [...ids, ...ids.slice(0, 30)]);
    expect(result.status).toBe('ok');
    expect([...result.patients.keys()]).toEqual(ids);

    const { patientSearches, requests } = fhir.stats();
    expect(requests['patient-search']).toBe(3);
    expect(patientSearches.map((search) => search.offset)).toEqual([0, 50, 100]);
    for (const search of patientSearches) expect(search.ids.sort()).toEqual([...ids].sort());
  });
});

describe('PatientEnricher caching', () => {
  it('answers a second request from the cache, "not found" included, and asks only for the misses', async () => {
    const fhir = await devServer({ synthesizePatients: false });
    fhir.patients.set('known', { resourceType: 'Patient', id: 'known', name: [{ family: 'DURAND' }] });

    const first = await enricher().enrich(fhir.baseUrl, ['known', 'unknown']);
    expect(first.status).toBe('ok');
    expect([...first.patients.keys()]).toEqual(['known']);

    const ledger = new RequestLedger(false);
    const second = await withLedger(ledger, () => enricher().enrich(fhir.baseUrl, ['unknown', 'known']));
    expect(second.status).toBe('ok');
    expect(second.patients.get('known')).toMatchObject({ name: [{ family: 'DURAND' }] });
    expect(second.patients.has('unknown')).toBe(false);
    expect(ledger.ext.count).toBe(0);
    expect(ledger.cache).toBe('hit');
    expect(fhir.stats().requests['patient-search']).toBe(1);

    await enricher().enrich(fhir.baseUrl, ['known', 'unknown', 'another']);
    expect(fhir.stats().patientSearches).toEqual([
      { ids: ['known', 'unknown'], offset: 0 },
      { ids: ['another'], offset: 0 },
    ]);
  });

  it('lets concurrent requests for the same ids share one search', async () => {
    const fhir = await devServer();
    const [one, other] = await Promise.all([
      enricher().enrich(fhir.baseUrl, ['p-1', 'p-2']),
      enricher().enrich(fhir.baseUrl, ['p-2', 'p-1']),
    ]);
    expect([...one.patients.keys()]).toEqual(['p-1', 'p-2']);
    expect([...other.patients.keys()]).toEqual(['p-2', 'p-1']);
    expect(fhir.stats().requests['patient-search']).toBe(1);
  });

  it('does not cache a failure: the next request asks again', async () => {
    const fhir = await devServer();
    fhir.failNext(1, 500);
    const failed = await enricher().enrich(fhir.baseUrl, ['p-1']);
    expect(failed).toEqual({ status: 'unavailable', patients: new Map(), reason: 'HTTP 500' });
    const retried = await enricher().enrich(fhir.baseUrl, ['p-1']);
    expect(retried.status).toBe('ok');
    expect(retried.patients.get('p-1')?.id).toBe('p-1');
    expect(fhir.stats().requests['patient-search']).toBe(2);
  });
});

describe('billing', () => {
  it('bills each FHIR request to the current request and counts it by service', async () => {
    const fhir = await devServer();
    const before = await fhirRequestsCounted();
    const ledger = new RequestLedger(true);
    const paged = new PatientEnricher(new FhirClient({ timeoutMs: 5_000, pageSize: 2 }), patientCache);
    await withLedger(ledger, () => paged.enrich(fhir.baseUrl, ['p-1', 'p-2', 'p-3']));
    expect(ledger.ext.count).toBe(2);
    expect(ledger.db.count).toBe(0);
    expect((await fhirRequestsCounted()) - before).toBe(2);

    const pushLedger = new RequestLedger(false);
    await withLedger(pushLedger, () => client.pushDocument(fhir.baseUrl, documentPush(7)));
    expect(pushLedger.ext.count).toBe(2);
    expect((await fhirRequestsCounted()) - before).toBe(4);
  });
});

describe('when enrichment is unavailable', () => {
  it('gives up at the timeout instead of waiting for a slow server', async () => {
    const fhir = await devServer({ synthesizePatients: true, latencyMs: 60_000 });
    const impatient = new PatientEnricher(new FhirClient({ timeoutMs: 200 }), patientCache);
    const result = await impatient.enrich(fhir.baseUrl, ['p-1', 'p-2']);
    expect(result).toEqual({ status: 'unavailable', patients: new Map(), reason: 'timeout after 200 ms' });
    // The server is still holding the request: the answer came from giving up, not from the server.
    expect(fhir.stats().waiting).toBe(1);
  });

  it('says so when the server is down', async () => {
    const result = await enricher().enrich(await closedBaseUrl(), ['p-1']);
    expect(result).toEqual({ status: 'unavailable', patients: new Map(), reason: 'connection refused' });
  });

  it('says so when the server answers something other than a Bundle', async () => {
    const confused = new FhirClient({
      timeoutMs: 5_000,
      fetch: async () => new Response('<html>maintenance</html>', { status: 200 }),
    });
    const result = await new PatientEnricher(confused, patientCache).enrich('http://ehr.invalid/fhir', [
      'p-1',
    ]);
    expect(result).toMatchObject({ status: 'unavailable', reason: 'bad response' });
  });

  it('keeps what the cache knew while the server is unavailable', async () => {
    const fhir = await devServer();
    await enricher().enrich(fhir.baseUrl, ['p-1']);
    fhir.failNext(1, 503);
    const result = await enricher().enrich(fhir.baseUrl, ['p-1', 'p-2']);
    expect(result.status).toBe('unavailable');
    expect([...result.patients.keys()]).toEqual(['p-1']);
  });

  it('is not configured without a base URL, and asks nobody', async () => {
    const ledger = new RequestLedger(false);
    const result = await withLedger(ledger, () => enricher().enrich(null, ['p-1']));
    expect(result).toEqual({ status: 'not-configured', patients: new Map() });
    expect(ledger.ext.count).toBe(0);
  });
});

function documentPush(requestId: number, overrides: Partial<DocumentPush> = {}): DocumentPush {
  return {
    requestId,
    patientFhirId: 'p-7',
    documentType: { code: '11490-0', label: 'Lettre de sortie' },
    title: 'Compte rendu de sortie',
    date: '2024-03-01',
    contentType: 'application/pdf',
    data: Buffer.from('%PDF-1.7 a discharge letter'),
    ...overrides,
  };
}

describe('pushDocument', () => {
  it('creates one Binary and one DocumentReference, and pushing the same request again creates none', async () => {
    const fhir = await devServer();
    const push = documentPush(42);
    const pushed = await client.pushDocument(fhir.baseUrl, push);

    expect(fhir.binaries.get(pushed.binaryId)).toEqual({
      id: pushed.binaryId,
      contentType: 'application/pdf',
      data: push.data,
    });
    expect(fhir.documentReferences.size).toBe(1);
    expect(fhir.documentReferences.get(pushed.documentReferenceId)).toMatchObject({
      resourceType: 'DocumentReference',
      status: 'current',
      identifier: [{ system: INTEGRATION_REQUEST_SYSTEM, value: '42' }],
      subject: { reference: 'Patient/p-7' },
      type: { coding: [{ system: 'http://loinc.org', code: '11490-0', display: 'Lettre de sortie' }] },
      description: 'Compte rendu de sortie',
      context: { period: { start: '2024-03-01' } },
      content: [
        {
          attachment: {
            url: `Binary/${pushed.binaryId}`,
            contentType: 'application/pdf',
            size: push.data.length,
          },
        },
      ],
    });

    const again = await client.pushDocument(fhir.baseUrl, push);
    expect(again).toEqual(pushed);
    expect(fhir.documentReferences.size).toBe(1);
    expect(fhir.stats().requests['documentreference-create']).toBe(2);

    await client.pushDocument(fhir.baseUrl, documentPush(43, { documentType: null, date: null }));
    expect(fhir.documentReferences.size).toBe(2);
  });

  it('throws a retryable error on a 5xx or 429, and the retry still makes one DocumentReference', async () => {
    const fhir = await devServer();
    for (const status of [503, 429]) {
      fhir.failNext(1, status);
      const error = await client.pushDocument(fhir.baseUrl, documentPush(50)).catch((caught) => caught);
      expect(error).toBeInstanceOf(FhirPushError);
      expect(error).toMatchObject({ status, retryable: true, reason: `HTTP ${status}` });
    }
    await client.pushDocument(fhir.baseUrl, documentPush(50));
    await client.pushDocument(fhir.baseUrl, documentPush(50));
    expect(fhir.documentReferences.size).toBe(1);
  });

  it('throws a non-retryable error on a 400', async () => {
    const fhir = await devServer();
    const error = await client
      .pushDocument(fhir.baseUrl, documentPush(60, { patientFhirId: 'not a FHIR id' }))
      .catch((caught) => caught);
    expect(error).toBeInstanceOf(FhirPushError);
    expect(error).toMatchObject({ status: 400, retryable: false, reason: 'HTTP 400' });
    expect(error.message).toContain('subject must reference Patient/{id}');
    expect(fhir.documentReferences.size).toBe(0);
  });

  it('throws a retryable error when the server is down or too slow', async () => {
    const down = await client.pushDocument(await closedBaseUrl(), documentPush(70)).catch((caught) => caught);
    expect(down).toMatchObject({ name: 'FhirPushError', retryable: true, reason: 'connection refused' });

    const fhir = await devServer({ latencyMs: 60_000 });
    const impatient = new FhirClient({ timeoutMs: 200 });
    const slow = await impatient.pushDocument(fhir.baseUrl, documentPush(70)).catch((caught) => caught);
    expect(slow).toMatchObject({ name: 'FhirPushError', status: undefined, retryable: true });
    expect(slow.reason).toBe('timeout after 200 ms');
  });
});
