import path from 'node:path';
import { sql } from 'kysely';
import { loadConfig } from '../../src/config.ts';
import { startFhirDevServer } from '../../src/modules/worklist/fhir/dev-server.ts';
import { generateWorklistDataset } from '../../src/modules/worklist/operations/dataset.ts';
import { worklistPage } from '../../src/modules/worklist/queries.ts';
import { TokenAuthority } from '../../src/platform/auth/tokens.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { migrateToLatest } from '../../src/platform/db/migrations.ts';
import { parseServerTiming } from '../../src/platform/http/server-timing.ts';
import { explainStatements } from '../../test/support/plans.ts';
import { benchDatabase } from '../support/database.ts';
import { type LoadResult, load } from '../support/load.ts';
import { counterTotal, startServer } from '../support/server.ts';

export interface WorklistBenchOptions {
  durationSeconds: number;
  connections: number[];
  fhirLatencyMs: number;
  facilities: number;
  requests: number;
  log: (line: string) => void;
}

export interface PlanReport {
  label: string;
  executionMs: number | undefined;
  planText: string;
}

export interface WorklistReport {
  fhirLatencyMs: number;
  dataset: { facilities: number; patients: number; requests: number; attachments: number; seconds: number };
  facility: { id: string; requests: number };
  statementsPerPage: Array<{
    design: 'v2' | 'v1';
    limit: number;
    queries: number;
    external: number;
    bytes: number;
  }>;
  plans: PlanReport[];
  detail: {
    cold: { queries: number; external: number };
    warm: { queries: number; external: number; cache: string };
  };
  load: Array<
    LoadResult & {
      design: string;
      connections: number;
      queriesPerRequest: number;
      externalPerRequest: number;
    }
  >;
}

const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';

/**
 * The worklist benchmark: 800 facilities and a million requests, the write-up's V1 (an N+1 per row and
 * a synchronous FHIR read per row) and hotpath's V2 side by side on the same data, the FHIR server
 * answering after a stated delay.
 */
export async function worklistBenchmark(options: WorklistBenchOptions): Promise<WorklistReport> {
  const { log } = options;
  const database = await benchDatabase();
  const fhir = await startFhirDevServer({ synthesizePatients: true, latencyMs: options.fhirLatencyMs });
  const db = await openDatabase(loadConfig({ DATABASE_URL: database.url }), {
    applicationName: 'hotpath-bench',
  });
  try {
    await migrateToLatest(db.db);
    log(`generating ${options.facilities} facilities and ${options.requests} requests`);
    let lastLine = 0;
    const generated = await generateWorklistDataset(db.db, {
      facilities: options.facilities,
      patientsPerFacility: 2_000,
      requests: options.requests,
      days: 365,
      seed: 1,
      fhirBaseUrl: fhir.baseUrl,
      onProgress: (done, total, unit) => {
        if (Date.now() - lastLine > 10_000 || done === total) {
          lastLine = Date.now();
          log(`  ${done}/${total} ${unit}`);
        }
      },
    });
    const { rows: busiest } = await sql<{ facility_id: string; requests: number }>`
      SELECT facility_id, count(*)::int AS requests FROM integration_requests
      GROUP BY facility_id ORDER BY count(*) DESC LIMIT 1`.execute(db.db);
    const facility = { id: busiest[0]!.facility_id, requests: busiest[0]!.requests };

    log('worklist query plans (EXPLAIN ANALYZE)');
    const plans = await worklistPlans(db.db, facility.id);

    const server = await startServer(
      {
        DATABASE_URL: database.url,
        HOTPATH_TOKEN_SECRET: SECRET,
        DB_POOL_MAX: '20',
        LOG_LEVEL: 'error',
        HOTPATH_INTEGRATION_WORKER: 'false',
      },
      ['--import', 'tsx', path.resolve('bench/worklist/server.ts')],
    );
    try {
      const token = new TokenAuthority(SECRET).issue({
        subject: 'bench',
        role: 'reader',
        facilities: [facility.id],
      });
      const headers = { authorization: `Bearer ${token}` };
      const v2 = (limit: number) => `/v2/worklist?facilityId=${facility.id}&limit=${limit}`;
      const v1 = (limit: number) => `/bench/v1/worklist?facilityId=${facility.id}&perPage=${limit}`;

      // FHIR requests counted where they arrive, so both designs are measured the same way.
      const fhirRequests = () => Object.values(fhir.stats().requests).reduce((sum, count) => sum + count, 0);
      const statementsPerPage: WorklistReport['statementsPerPage'] = [];
      for (const [design, url] of [
        ['v2', v2],
        ['v1', v1],
      ] as const) {
        for (const limit of [1, 20, 100]) {
          const fhirBefore = fhirRequests();
          const response = await fetch(`${server.baseUrl}${url(limit)}`, { headers });
          const body = await response.arrayBuffer();
          const external = fhirRequests() - fhirBefore;
          if (response.status !== 200) throw new Error(`${design} ${url(limit)} answered ${response.status}`);
          const timing = parseServerTiming(response.headers.get('server-timing') ?? '');
          const count = (name: string) => Number(/^\d+/.exec(timing[name]?.desc ?? '')?.[0] ?? Number.NaN);
          statementsPerPage.push({ design, limit, queries: count('db'), external, bytes: body.byteLength });
        }
      }

      const detail = await detailCosts(db.db, server.baseUrl, headers, facility.id);

      const loads: WorklistReport['load'] = [];
      for (const [design, url, route] of [
        ['v2', v2(20), '/v2/worklist'],
        ['v1', v1(20), '/bench/v1/worklist'],
      ] as const) {
        for (const connections of options.connections) {
          log(
            `GET ${design} worklist page of 20: ${connections} connections for ${options.durationSeconds} s`,
          );
          const queriesBefore = await counterTotal(server.baseUrl, 'hotpath_db_queries_total', { route });
          const externalBefore = fhirRequests();
          const result = await load({
            label: `${design} page of 20`,
            url: `${server.baseUrl}${url}`,
            headers,
            connections,
            durationSeconds: options.durationSeconds,
          });
          const queries =
            (await counterTotal(server.baseUrl, 'hotpath_db_queries_total', { route })) - queriesBefore;
          const external = fhirRequests() - externalBefore;
          loads.push({
            ...result,
            design,
            connections,
            queriesPerRequest: queries / Math.max(result.requests, 1),
            externalPerRequest: external / Math.max(result.requests, 1),
          });
        }
      }
      return {
        fhirLatencyMs: options.fhirLatencyMs,
        dataset: {
          facilities: generated.facilityIds.length,
          patients: generated.patients,
          requests: generated.requests,
          attachments: generated.attachments,
          seconds: generated.seconds,
        },
        facility,
        statementsPerPage,
        plans,
        detail,
        load: loads,
      };
    } finally {
      await server.stop();
    }
  } finally {
    await db.close();
    await fhir.close();
    await database.drop();
  }
}

/** The worklist statement's plan and time for the busiest facility: first page, a deep page, filters. */
async function worklistPlans(db: import('../../src/platform/db/database.ts').AnyKysely, facilityId: string) {
  const base = { facilityId, limit: 20 } as const;
  const deep = await (async () => {
    let cursor: string | undefined;
    for (let page = 0; page < 50; page++) {
      const next = (await worklistPage(db, { ...base, ...(cursor ? { cursor } : {}) })).nextCursor;
      if (!next) break;
      cursor = next;
    }
    return cursor;
  })();
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
  db: import('../../src/platform/db/database.ts').AnyKysely,
  baseUrl: string,
  headers: Record<string, string>,
  facilityId: string,
): Promise<WorklistReport['detail']> {
  const { rows } = await sql<{ request_id: number }>`
    SELECT request_id FROM integration_requests
    WHERE facility_id = ${facilityId} AND patient_id IS NULL AND status = 'pending_verification'
    ORDER BY received_at DESC LIMIT 1`.execute(db);
  const id = rows[0]?.request_id;
  const cost = async () => {
    const response = await fetch(`${baseUrl}/v2/worklist/${id}`, { headers });
    await response.arrayBuffer();
    const timing = parseServerTiming(response.headers.get('server-timing') ?? '');
    const count = (name: string) => Number(/^\d+/.exec(timing[name]?.desc ?? '')?.[0] ?? Number.NaN);
    return { queries: count('db'), external: count('ext'), cache: timing.cache?.desc ?? 'none' };
  };
  const cold = await cost();
  const warm = await cost();
  return { cold: { queries: cold.queries, external: cold.external }, warm };
}
