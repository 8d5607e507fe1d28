import { sql } from 'kysely';
import { generateWorklistDataset } from '../../src/modules/worklist/operations/dataset.ts';
import { worklistPage } from '../../src/modules/worklist/queries.ts';
import type { AnyKysely } from '../../src/platform/db/database.ts';
import { parseServerTiming, serverTimingCount } from '../../src/platform/http/server-timing.ts';
import { phasedProgress } from '../../src/platform/progress.ts';
import { explainStatements } from '../../testkit/plans.ts';
import type { NetworkProfile } from '../support/network.ts';
import {
  adminQuery,
  type BenchPostgres,
  type DatasetOptions,
  openBenchDatabase,
  reusableDataset,
} from '../support/postgres.ts';
import {
  hotpathCounters,
  type LoadSettings,
  measureScenario,
  type ScenarioResult,
} from '../support/scenario.ts';
import { benchAuthorization, startBenchServer } from '../support/servers.ts';

export interface WorklistSizes {
  facilities: number;
  patientsPerFacility: number;
  requests: number;
}

export interface WorklistDataset {
  facilityIds: string[];
  patients: number;
  requests: number;
  attachments: number;
  seconds: number;
  busiest: { id: string; requests: number };
}

/** Replaced by each profile's FHIR address before it runs: the data set outlives any one server's port. */
const UNSET_FHIR = 'http://127.0.0.1:9/fhir';

export function prepareWorklist(postgres: BenchPostgres, sizes: WorklistSizes, options: DatasetOptions) {
  return reusableDataset<WorklistDataset>(
    postgres,
    'worklist',
    sizes,
    async (url) => {
      const db = await openBenchDatabase(url, { migrate: true });
      try {
        const generated = await generateWorklistDataset(db.db, {
          ...sizes,
          days: 365,
          seed: 1,
          fhirBaseUrl: UNSET_FHIR,
          parallelism: 2,
          onProgress: phasedProgress('worklist: generating'),
        });
        const { rows } = await sql<{ facility_id: string; requests: number }>`
          SELECT facility_id, count(*)::int AS requests FROM integration_requests
          GROUP BY facility_id ORDER BY count(*) DESC, facility_id LIMIT 1`.execute(db.db);
        return {
          facilityIds: generated.facilityIds,
          patients: generated.patients,
          requests: generated.requests,
          attachments: generated.attachments,
          seconds: generated.seconds,
          busiest: { id: rows[0]!.facility_id, requests: rows[0]!.requests },
        };
      } finally {
        await db.close();
      }
    },
    options,
  );
}

/** FHIR requests counted where they arrive, so both designs are measured the same way. */
export function fhirRequestCount(fhirBaseUrl: string): () => Promise<number> {
  const stats = new URL('/_dev/stats', fhirBaseUrl).toString();
  return async () => {
    const { requests } = (await (await fetch(stats)).json()) as { requests: Record<string, number> };
    return Object.values(requests).reduce((sum, count) => sum + count, 0);
  };
}

/**
 * A page of 20 under load, every facility in turn: hotpath's /v2/worklist, then the write-up's V1
 * (bench/baselines/worklist.ts) on the same data, facilities' FHIR connectors pointing at this
 * profile's FHIR address.
 */
export async function measureWorklist(input: {
  dataset: WorklistDataset & { url: string };
  network: NetworkProfile;
  fhirDirect: string;
  settings: { hotpath: LoadSettings[]; before: LoadSettings[] };
  log: (line: string) => void;
}): Promise<ScenarioResult[]> {
  const { dataset, network } = input;
  await adminQuery(dataset.url, 'UPDATE facilities SET fhir_base_url = $1', [network.fhirBaseUrl]);
  const server = await startBenchServer(
    'worklist',
    { DATABASE_URL: network.databaseUrl(dataset.url) },
    'baselines',
  );
  try {
    const headers = benchAuthorization('admin');
    const external = fhirRequestCount(input.fhirDirect);
    const results: ScenarioResult[] = [];
    for (const [role, design, route, pathOf, settings] of [
      ['hotpath', 'hotpath: /v2/worklist', '/v2/worklist', v2Page, input.settings.hotpath],
      ['before', 'before: V1 (N+1, FHIR per row)', '/bench/v1/worklist', v1Page, input.settings.before],
    ] as const) {
      results.push(
        ...(await measureScenario({
          scenario: {
            comparison: 'worklist',
            role,
            design,
            route,
            ...(role === 'hotpath' ? { budget: 1 } : {}),
          },
          profile: network.name,
          baseUrl: server.baseUrl,
          paths: dataset.facilityIds.map((id) => pathOf(id, 20)),
          headers,
          counters: hotpathCounters(server.baseUrl, route, external),
          settings,
          log: input.log,
        })),
      );
    }
    return results;
  } finally {
    await server.stop();
  }
}

const v2Page = (facilityId: string, limit: number) => `/v2/worklist?facilityId=${facilityId}&limit=${limit}`;
const v1Page = (facilityId: string, limit: number) =>
  `/bench/v1/worklist?facilityId=${facilityId}&perPage=${limit}`;

export interface PlanReport {
  label: string;
  executionMs: number | undefined;
  planText: string;
}

export interface WorklistDetails {
  statementsPerPage: Array<{
    design: 'hotpath' | 'before';
    limit: number;
    queries: number;
    external: number;
    bytes: number;
  }>;
  detail: {
    cold: { queries: number; external: number };
    warm: { queries: number; external: number; cache: string };
  };
  plans: PlanReport[];
}

/**
 * Per-page costs for the busiest facility at limits 1, 20 and 100 (statements, FHIR requests, body
 * bytes), the detail page cold and warm, and the worklist statement's plans at this scale.
 */
export async function worklistDetails(input: {
  dataset: WorklistDataset & { url: string };
  fhirDirect: string;
}): Promise<WorklistDetails> {
  const { dataset } = input;
  await adminQuery(dataset.url, 'UPDATE facilities SET fhir_base_url = $1', [input.fhirDirect]);
  const db = await openBenchDatabase(dataset.url, { migrate: false });
  const server = await startBenchServer('worklist details', { DATABASE_URL: dataset.url }, 'baselines');
  try {
    const headers = benchAuthorization('admin');
    const external = fhirRequestCount(input.fhirDirect);
    const statementsPerPage: WorklistDetails['statementsPerPage'] = [];
    for (const [design, pathOf] of [
      ['hotpath', v2Page],
      ['before', v1Page],
    ] as const) {
      for (const limit of [1, 20, 100]) {
        const externalBefore = await external();
        const response = await fetch(`${server.baseUrl}${pathOf(dataset.busiest.id, limit)}`, { headers });
        const body = await response.arrayBuffer();
        if (response.status !== 200)
          throw new Error(`${design} page of ${limit} answered ${response.status}`);
        statementsPerPage.push({
          design,
          limit,
          queries: serverTimingCount(timingOf(response), 'db'),
          external: (await external()) - externalBefore,
          bytes: body.byteLength,
        });
      }
    }
    return {
      statementsPerPage,
      detail: await detailCosts(db.db, server.baseUrl, headers, dataset.busiest.id),
      plans: await worklistPlans(db.db, dataset.busiest.id),
    };
  } finally {
    await server.stop();
    await db.close();
  }
}

const timingOf = (response: Response) => parseServerTiming(response.headers.get('server-timing') ?? '');

/** The worklist statement's plan and time for the busiest facility: first page, a deep page, filters. */
async function worklistPlans(db: AnyKysely, facilityId: string): Promise<PlanReport[]> {
  const base = { facilityId, limit: 20 } as const;
  let deep: string | undefined;
  for (let page = 0; page < 50; page++) {
    const next = (await worklistPage(db, { ...base, ...(deep ? { cursor: deep } : {}) })).nextCursor;
    if (!next) break;
    deep = next;
  }
  const cases: Array<[string, Parameters<typeof worklistPage>[1]]> = [
    ['first page of the busiest facility', base],
    ['page 51 (keyset cursor)', { ...base, ...(deep ? { cursor: deep } : {}) }],
    ['status = pending_verification', { ...base, status: 'pending_verification' }],
    ["q = 'martin' (trigram)", { ...base, q: 'martin' }],
    ['every facility (admin)', { limit: 20, facilityId: undefined }],
  ];
  const plans: PlanReport[] = [];
  for (const [label, filter] of cases) {
    const [explained] = await explainStatements(db, () => worklistPage(db, filter), { analyze: true });
    plans.push({ label, executionMs: explained?.executionMs, planText: explained?.planText ?? '' });
  }
  return plans;
}

/** The detail page's cost: statements and FHIR reads for an unmatched request, then again from the cache. */
async function detailCosts(
  db: AnyKysely,
  baseUrl: string,
  headers: Record<string, string>,
  facilityId: string,
): Promise<WorklistDetails['detail']> {
  const { rows } = await sql<{ request_id: number }>`
    SELECT request_id FROM integration_requests
    WHERE facility_id = ${facilityId} AND patient_id IS NULL AND status = 'pending_verification'
    ORDER BY received_at DESC LIMIT 1`.execute(db);
  const cost = async () => {
    const response = await fetch(`${baseUrl}/v2/worklist/${rows[0]?.request_id}`, { headers });
    await response.arrayBuffer();
    const timing = timingOf(response);
    return {
      queries: serverTimingCount(timing, 'db'),
      external: serverTimingCount(timing, 'ext'),
      cache: timing.cache?.desc ?? 'none',
    };
  };
  const cold = await cost();
  const warm = await cost();
  return { cold: { queries: cold.queries, external: cold.external }, warm };
}
