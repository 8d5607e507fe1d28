import { sql } from 'kysely';
import { generateDashboardDataset } from '../../src/modules/dashboard/operations/dataset.ts';
import type { AnyKysely } from '../../src/platform/db/database.ts';
import { parseServerTiming, serverTimingCount } from '../../src/platform/http/server-timing.ts';
import { phasedProgress } from '../../src/platform/progress.ts';
import type { NetworkProfile } from '../support/network.ts';
import {
  type BenchPostgres,
  type DatasetOptions,
  openBenchDatabase,
  reusableDataset,
} from '../support/postgres.ts';
import {
  hotpathCounters,
  type LoadSettings,
  measureScenario,
  nothingCounted,
  type ScenarioResult,
} from '../support/scenario.ts';
import { benchAuthorization, startBenchServer } from '../support/servers.ts';

export interface DashboardSizes {
  merchants: number;
  productsPerMerchant: number;
  customersPerMerchant: number;
  ordersPerMerchant: number;
  itemsPerOrder: number;
  reviewsPerMerchant: number;
  /** The first merchant has this many times the history: its dashboard must cost the same. */
  bigMerchantMultiplier: number;
}

interface MerchantSize {
  id: string;
  orders: number;
  customers: number;
  orderItems: number;
  reviews: number;
}

export interface DashboardDataset {
  merchants: number;
  products: number;
  customers: number;
  orders: number;
  orderItems: number;
  reviews: number;
  seconds: number;
  typicalIds: string[];
  typical: MerchantSize;
  big: MerchantSize;
}

export function prepareDashboard(postgres: BenchPostgres, sizes: DashboardSizes, options: DatasetOptions) {
  return reusableDataset<DashboardDataset>(
    postgres,
    'dashboard',
    sizes,
    async (url) => {
      const db = await openBenchDatabase(url, { migrate: true });
      try {
        const generated = await generateDashboardDataset(db.db, {
          ...sizes,
          days: 365,
          seed: 1,
          parallelism: 2,
          onProgress: phasedProgress('dashboard: generating'),
        });
        const bigId = generated.bigMerchantId ?? generated.merchantIds[0]!;
        const typicalIds = generated.merchantIds.filter((id) => id !== bigId);
        return {
          merchants: generated.merchantIds.length,
          products: generated.products,
          customers: generated.customers,
          orders: generated.orders,
          orderItems: generated.orderItems,
          reviews: generated.reviews,
          seconds: generated.seconds,
          typicalIds,
          typical: await sizeOf(db.db, typicalIds[0]!),
          big: await sizeOf(db.db, bigId),
        };
      } finally {
        await db.close();
      }
    },
    options,
  );
}

const HOTPATH_ROUTE = '/v1/merchants/:merchantId/dashboard';
/**
 * Every typical merchant in turn under load: hotpath with every request a miss (`Cache-Control:
 * no-cache` recomputes), hotpath cached, and the write-up's V1 (bench/baselines/dashboard.ts), uncached
 * as it was.
 */
export async function measureDashboard(input: {
  dataset: DashboardDataset & { url: string };
  network: NetworkProfile;
  settings: { hotpath: LoadSettings[]; before: LoadSettings[] };
  log: (line: string) => void;
}): Promise<ScenarioResult[]> {
  const { dataset, network } = input;
  const server = await startBenchServer(
    'dashboard',
    { DATABASE_URL: network.databaseUrl(dataset.url) },
    'baselines',
  );
  try {
    const headers = benchAuthorization('admin');
    const results: ScenarioResult[] = [];
    for (const [comparison, role, design, prefix, extraHeaders, settings] of [
      [
        'dashboard-miss',
        'hotpath',
        'hotpath: every request a miss',
        '/v1',
        { 'cache-control': 'no-cache' },
        input.settings.hotpath,
      ],
      ['dashboard-hit', 'hotpath', 'hotpath: cached', '/v1', {}, input.settings.hotpath],
      [
        'dashboard-miss',
        'before',
        'before: V1 (N+1, orders summed in the app)',
        '/bench/v1',
        {},
        input.settings.before,
      ],
    ] as const) {
      const route = prefix === '/v1' ? HOTPATH_ROUTE : '/bench/v1/merchants/:merchantId/dashboard';
      results.push(
        ...(await measureScenario({
          scenario: { comparison, role, design, route, ...(role === 'hotpath' ? { budget: 1 } : {}) },
          profile: network.name,
          baseUrl: server.baseUrl,
          paths: dataset.typicalIds.map((id) => `${prefix}/merchants/${id}/dashboard`),
          headers: { ...headers, ...extraHeaders },
          counters: hotpathCounters(server.baseUrl, route, nothingCounted),
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

export interface SequentialSample {
  merchant: 'typical' | 'big';
  cache: 'miss' | 'hit';
  requests: number;
  queries: number;
  /** Server-Timing `total`: time in the server. */
  p50: number;
  p95: number;
  bytes: number;
}

export interface DashboardDetails {
  sequential: SequentialSample[];
  fanOut: FanOut;
}

/**
 * On loopback, one request at a time: hotpath's time in the server for the typical merchant and the one
 * with ten times its history, missed and cached; and how wrong the write-up's single-JOIN rewrite is.
 */
export async function dashboardDetails(input: {
  dataset: DashboardDataset & { url: string };
  requests: number;
}): Promise<DashboardDetails> {
  const { dataset } = input;
  const db = await openBenchDatabase(dataset.url, { migrate: false });
  const server = await startBenchServer('dashboard details', { DATABASE_URL: dataset.url }, 'baselines');
  try {
    const headers = benchAuthorization('admin');
    const url = (id: string) => `${server.baseUrl}/v1/merchants/${id}/dashboard`;
    for (const { id } of [dataset.typical, dataset.big])
      await sequentialRequests(url(id), { ...headers, 'cache-control': 'no-cache' }, 20);
    const sequential: SequentialSample[] = [];
    for (const cache of ['miss', 'hit'] as const) {
      for (const merchant of ['typical', 'big'] as const) {
        const requestHeaders = cache === 'miss' ? { ...headers, 'cache-control': 'no-cache' } : headers;
        const sample = await sequentialRequests(
          url(dataset[merchant].id),
          requestHeaders,
          input.requests,
          cache,
        );
        sequential.push({ merchant, cache, requests: input.requests, ...sample });
      }
    }
    const fanOut = await fanOutError(
      db.db,
      `${server.baseUrl}/bench/joined/merchants/${dataset.typical.id}/dashboard`,
      headers,
      dataset.typical.id,
    );
    return { sequential, fanOut };
  } finally {
    await server.stop();
    await db.close();
  }
}

async function sizeOf(db: AnyKysely, merchantId: string): Promise<MerchantSize> {
  const { rows } = await sql<{ orders: number; customers: number; order_items: number; reviews: number }>`
    SELECT (SELECT count(*) FROM orders WHERE merchant_id = ${merchantId})::int AS orders,
           (SELECT count(*) FROM customers WHERE merchant_id = ${merchantId})::int AS customers,
           (SELECT count(*) FROM order_items oi JOIN orders o USING (order_id) WHERE o.merchant_id = ${merchantId})::int
             AS order_items,
           (SELECT count(*) FROM reviews r JOIN products p USING (product_id) WHERE p.merchant_id = ${merchantId})::int
             AS reviews`.execute(db);
  const row = rows[0]!;
  return {
    id: merchantId,
    orders: row.orders,
    customers: row.customers,
    orderItems: row.order_items,
    reviews: row.reviews,
  };
}

/** Sends requests one after another and reads each one's cost from its Server-Timing header. */
async function sequentialRequests(
  target: string,
  headers: Record<string, string>,
  requests: number,
  expectedCache?: 'miss' | 'hit',
): Promise<Pick<SequentialSample, 'queries' | 'p50' | 'p95' | 'bytes'>> {
  const times: number[] = [];
  const queries = new Set<number>();
  let bytes = 0;
  for (let n = 0; n < requests; n++) {
    const response = await fetch(target, { headers });
    const body = await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`${target} answered ${response.status}`);
    const timing = parseServerTiming(response.headers.get('server-timing') ?? '');
    const cache = timing.cache?.desc ?? 'none';
    if (expectedCache && cache !== expectedCache) {
      throw new Error(`${target}: expected cache ${expectedCache}, Server-Timing says ${cache}`);
    }
    times.push(timing.total?.dur ?? Number.NaN);
    queries.add(serverTimingCount(timing, 'db'));
    bytes = body.byteLength;
  }
  if (queries.size !== 1)
    throw new Error(`${target}: statements per request varied: ${[...queries].join(', ')}`);
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN;
  return { queries: [...queries][0]!, p50: at(0.5), p95: at(0.95), bytes };
}

export interface FanOut {
  merchant: string;
  compared: number;
  unitsDiffer: number;
  revenueDiffer: number;
  /** Joined revenue ÷ true revenue over the compared products. */
  medianInflation: number;
  maxInflation: number;
  /** Of the joined top 20, how many are not in the true top 20. */
  notInTrueTop: number;
}

/**
 * Asks the single-JOIN rewrite for a merchant's top products and compares each with its true units and
 * revenue (product_stats, which `dashboard verify` holds equal to the base tables).
 */
async function fanOutError(
  db: AnyKysely,
  target: string,
  headers: Record<string, string>,
  merchantId: string,
): Promise<FanOut> {
  const response = await fetch(target, { headers });
  if (response.status !== 200) throw new Error(`${target} answered ${response.status}`);
  const joined = (await response.json()) as {
    products: Array<{ id: number; total_sold: number; revenue: number }>;
  };
  const { rows: truth } = await sql<{ product_id: number; units_sold: number; revenue_minor: number }>`
    SELECT product_id, units_sold, revenue_minor FROM product_stats WHERE merchant_id = ${merchantId}`.execute(
    db,
  );
  const byId = new Map(truth.map((row) => [row.product_id, row]));
  const trueTop = new Set(
    [...truth]
      .sort((a, b) => b.revenue_minor - a.revenue_minor || a.product_id - b.product_id)
      .slice(0, 20)
      .map((row) => row.product_id),
  );
  const inflation = joined.products
    .map((product) => product.revenue / Math.max(byId.get(product.id)?.revenue_minor ?? 0, 1))
    .sort((a, b) => a - b);
  return {
    merchant: merchantId,
    compared: joined.products.length,
    unitsDiffer: joined.products.filter((product) => product.total_sold !== byId.get(product.id)?.units_sold)
      .length,
    revenueDiffer: joined.products.filter(
      (product) => product.revenue !== byId.get(product.id)?.revenue_minor,
    ).length,
    medianInflation: inflation[Math.floor(inflation.length / 2)] ?? Number.NaN,
    maxInflation: inflation[inflation.length - 1] ?? Number.NaN,
    notInTrueTop: joined.products.filter((product) => !trueTop.has(product.id)).length,
  };
}
