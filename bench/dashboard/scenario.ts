import path from 'node:path';
import { sql } from 'kysely';
import { loadConfig } from '../../src/config.ts';
import { generateDashboardDataset } from '../../src/modules/dashboard/operations/dataset.ts';
import { TokenAuthority } from '../../src/platform/auth/tokens.ts';
import { type AnyKysely, openDatabase } from '../../src/platform/db/database.ts';
import { migrateToLatest } from '../../src/platform/db/migrations.ts';
import { parseServerTiming } from '../../src/platform/http/server-timing.ts';
import { benchDatabase } from '../support/database.ts';
import { type LoadResult, load } from '../support/load.ts';
import { counterTotal, startServer } from '../support/server.ts';

export interface DashboardBenchOptions {
  /** Merchants generated at the write-up's typical size; the first has `bigMerchantMultiplier` × the history. */
  merchants: number;
  bigMerchantMultiplier: number;
  /** Sequential requests per measured case for hotpath (misses, then hits). */
  hotpathRequests: number;
  /** Sequential requests for the V1 baseline, which takes seconds each. */
  v1Requests: { typical: number; big: number };
  connections: number;
  durationSeconds: number;
  /**
   * The V1 load test runs longer: 100 requests share the database at once, so each takes about a minute
   * and none finishes in a 10-second run.
   */
  v1DurationSeconds: number;
  log: (line: string) => void;
}

export interface LatencySample {
  design: 'hotpath' | 'v1' | 'single JOIN';
  merchant: 'typical' | 'big';
  cache: 'miss' | 'hit' | 'none';
  requests: number;
  /** SQL statements per request (Server-Timing `db`), the same for every request of the case. */
  queries: number;
  /** Server-Timing `total;dur`: time in the server, from the request's arrival to its answer. */
  p50: number;
  p95: number;
  max: number;
  /** Round trip as the client saw it. */
  clientP50: number;
  bytes: number;
}

export interface DashboardReport {
  dataset: {
    merchants: number;
    products: number;
    customers: number;
    orders: number;
    orderItems: number;
    reviews: number;
    seconds: number;
  };
  merchants: {
    typical: { id: string; orders: number; customers: number; orderItems: number; reviews: number };
    big: { id: string; orders: number; customers: number; orderItems: number; reviews: number };
  };
  sequential: LatencySample[];
  load: Array<
    LoadResult & {
      design: string;
      connections: number;
      queriesPerRequest: number;
      /** Share of dashboard cache lookups that hit, for hotpath. */
      cacheHitRatio: number | undefined;
    }
  >;
  /** The single-JOIN rewrite's top 20 products against the true figures (the projections, checked by verify). */
  fanOut: {
    merchant: string;
    compared: number;
    unitsDiffer: number;
    revenueDiffer: number;
    /** Joined revenue ÷ true revenue over the compared products. */
    medianInflation: number;
    maxInflation: number;
    /** Of the joined top 20, how many are not in the true top 20. */
    notInTrueTop: number;
    /** The joined query's first product next to its true figures (money in the merchant's minor units). */
    example: {
      currency: string;
      name: string;
      reviews: number;
      trueUnits: number;
      joinedUnits: number;
      trueRevenue: number;
      joinedRevenue: number;
    };
  };
}

const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';
const HOTPATH_ROUTE = '/v1/merchants/:merchantId/dashboard';
const V1_ROUTE = '/bench/v1/merchants/:merchantId/dashboard';

/**
 * The dashboard benchmark: merchants of the write-up's size (15,000 orders, 200 products, 8,000 reviews,
 * 45,000 order items, 3,000 customers) plus one with ten times the history, served by hotpath, by the
 * write-up's V1 (N+1 loops, every order summed in the app) and by its single-JOIN rewrite, on the same
 * data and machine.
 */
export async function dashboardBenchmark(options: DashboardBenchOptions): Promise<DashboardReport> {
  const { log } = options;
  if (!Number.isSafeInteger(options.merchants) || options.merchants < 2) {
    throw new RangeError('the dashboard benchmark needs at least 2 merchants: a big one and a typical one');
  }
  const database = await benchDatabase();
  const db = await openDatabase(loadConfig({ DATABASE_URL: database.url }), {
    applicationName: 'hotpath-bench',
  });
  try {
    await migrateToLatest(db.db);
    log(
      `generating ${options.merchants} merchants (the first with ${options.bigMerchantMultiplier}× the history)`,
    );
    let lastLine = 0;
    const generated = await generateDashboardDataset(db.db, {
      merchants: options.merchants,
      productsPerMerchant: 200,
      customersPerMerchant: 3_000,
      ordersPerMerchant: 15_000,
      itemsPerOrder: 3,
      reviewsPerMerchant: 8_000,
      days: 365,
      seed: 1,
      bigMerchantMultiplier: options.bigMerchantMultiplier,
      parallelism: 2,
      onProgress: (done, total, phase) => {
        if (Date.now() - lastLine > 10_000 || done === total) {
          lastLine = Date.now();
          log(`  ${done}/${total} ${phase === 'projections' ? 'merchants rebuilt' : phase}`);
        }
      },
    });
    const bigId = generated.bigMerchantId ?? generated.merchantIds[0]!;
    const typicalIds = generated.merchantIds.filter((id) => id !== bigId);
    const typicalId = typicalIds[0]!;
    const merchants = { typical: await sizeOf(db.db, typicalId), big: await sizeOf(db.db, bigId) };

    const server = await startServer(
      {
        DATABASE_URL: database.url,
        HOTPATH_TOKEN_SECRET: SECRET,
        DB_POOL_MAX: '20',
        LOG_LEVEL: 'error',
        HOTPATH_INTEGRATION_WORKER: 'false',
      },
      ['--import', 'tsx', path.resolve('bench/dashboard/server.ts')],
    );
    try {
      // An admin sees every merchant, so one token serves the load test's many merchants.
      const token = new TokenAuthority(SECRET).issue({ subject: 'bench', role: 'admin' });
      const headers = { authorization: `Bearer ${token}` };
      const noCache = { ...headers, 'cache-control': 'no-cache' };
      const prefixes = { hotpath: '/v1', v1: '/bench/v1', joined: '/bench/joined' } as const;
      const pathOf = (design: keyof typeof prefixes, id: string) =>
        `${prefixes[design]}/merchants/${id}/dashboard`;
      const url = (design: keyof typeof prefixes, id: string) => `${server.baseUrl}${pathOf(design, id)}`;

      log(`single-JOIN rewrite against the projections for ${typicalId}`);
      const fanOut = await fanOutError(db.db, url('joined', typicalId), headers, typicalId);

      const sequential: LatencySample[] = [];
      const measure = async (
        sample: Omit<LatencySample, 'queries' | 'p50' | 'p95' | 'max' | 'clientP50' | 'bytes'>,
        target: string,
        requestHeaders: Record<string, string>,
      ) => {
        log(
          `${sample.design} ${sample.merchant} merchant, ${sample.cache}: ${sample.requests} sequential requests`,
        );
        sequential.push({ ...sample, ...(await sequentialRequests(target, requestHeaders, sample)) });
      };
      const hotpathRequests = options.hotpathRequests;
      // A few requests first, so neither the server's code nor PostgreSQL's caches are cold.
      for (const id of [typicalId, bigId])
        await sequentialRequests(url('hotpath', id), noCache, { requests: 20 });
      await measure(
        { design: 'hotpath', merchant: 'typical', cache: 'miss', requests: hotpathRequests },
        url('hotpath', typicalId),
        noCache,
      );
      await measure(
        { design: 'hotpath', merchant: 'big', cache: 'miss', requests: hotpathRequests },
        url('hotpath', bigId),
        noCache,
      );
      await measure(
        { design: 'hotpath', merchant: 'typical', cache: 'hit', requests: hotpathRequests },
        url('hotpath', typicalId),
        headers,
      );
      await measure(
        { design: 'hotpath', merchant: 'big', cache: 'hit', requests: hotpathRequests },
        url('hotpath', bigId),
        headers,
      );
      await measure(
        { design: 'single JOIN', merchant: 'typical', cache: 'none', requests: options.v1Requests.typical },
        url('joined', typicalId),
        headers,
      );
      await measure(
        { design: 'v1', merchant: 'typical', cache: 'none', requests: options.v1Requests.typical },
        url('v1', typicalId),
        headers,
      );
      await measure(
        { design: 'v1', merchant: 'big', cache: 'none', requests: options.v1Requests.big },
        url('v1', bigId),
        headers,
      );

      const loads: DashboardReport['load'] = [];
      const cacheLookups = async () => ({
        hit: await counterTotal(server.baseUrl, 'hotpath_cache_requests_total', {
          cache: 'dashboard',
          result: 'hit',
        }),
        miss: await counterTotal(server.baseUrl, 'hotpath_cache_requests_total', {
          cache: 'dashboard',
          result: 'miss',
        }),
      });
      for (const [design, served, route, loadHeaders, durationSeconds] of [
        [
          'hotpath, cached (every merchant in turn)',
          'hotpath',
          HOTPATH_ROUTE,
          headers,
          options.durationSeconds,
        ],
        [
          'hotpath, every request a miss (no-cache)',
          'hotpath',
          HOTPATH_ROUTE,
          noCache,
          options.durationSeconds,
        ],
        ['v1', 'v1', V1_ROUTE, headers, options.v1DurationSeconds],
      ] as const) {
        const paths = typicalIds.map((id) => pathOf(served, id));
        log(`load: ${design}, ${options.connections} connections for ${durationSeconds} s`);
        const queriesBefore = await counterTotal(server.baseUrl, 'hotpath_db_queries_total', { route });
        const cacheBefore = await cacheLookups();
        const result = await load({
          label: design,
          url: `${server.baseUrl}${paths[0]}`,
          headers: loadHeaders,
          connections: options.connections,
          durationSeconds,
          paths,
        });
        const queries =
          (await counterTotal(server.baseUrl, 'hotpath_db_queries_total', { route })) - queriesBefore;
        const cacheAfter = await cacheLookups();
        const hits = cacheAfter.hit - cacheBefore.hit;
        const lookups = hits + cacheAfter.miss - cacheBefore.miss;
        loads.push({
          ...result,
          design,
          connections: options.connections,
          queriesPerRequest: queries / Math.max(result.requests, 1),
          cacheHitRatio: route === HOTPATH_ROUTE && lookups > 0 ? hits / lookups : undefined,
        });
      }
      return {
        dataset: {
          merchants: generated.merchantIds.length,
          products: generated.products,
          customers: generated.customers,
          orders: generated.orders,
          orderItems: generated.orderItems,
          reviews: generated.reviews,
          seconds: generated.seconds,
        },
        merchants,
        sequential,
        load: loads,
        fanOut,
      };
    } finally {
      await server.stop();
    }
  } finally {
    await db.close();
    await database.drop();
  }
}

async function sizeOf(db: AnyKysely, merchantId: string) {
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
  sample: { requests: number; cache?: LatencySample['cache'] },
): Promise<Pick<LatencySample, 'queries' | 'p50' | 'p95' | 'max' | 'clientP50' | 'bytes'>> {
  const server: number[] = [];
  const client: number[] = [];
  const queries = new Set<number>();
  let bytes = 0;
  for (let n = 0; n < sample.requests; n++) {
    const started = performance.now();
    const response = await fetch(target, { headers });
    const body = await response.arrayBuffer();
    client.push(performance.now() - started);
    if (response.status !== 200) throw new Error(`${target} answered ${response.status}`);
    const timing = parseServerTiming(response.headers.get('server-timing') ?? '');
    const cache = timing.cache?.desc ?? 'none';
    if (sample.cache && cache !== sample.cache) {
      throw new Error(`${target}: expected cache ${sample.cache}, Server-Timing says ${cache}`);
    }
    server.push(timing.total?.dur ?? Number.NaN);
    queries.add(Number(/^\d+/.exec(timing.db?.desc ?? '')?.[0] ?? Number.NaN));
    bytes = body.byteLength;
  }
  if (queries.size !== 1)
    throw new Error(`${target}: statements per request varied: ${[...queries].join(', ')}`);
  const at = (values: number[], q: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  };
  return {
    queries: [...queries][0]!,
    p50: at(server, 0.5),
    p95: at(server, 0.95),
    max: at(server, 1),
    clientP50: at(client, 0.5),
    bytes,
  };
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
): Promise<DashboardReport['fanOut']> {
  const response = await fetch(target, { headers });
  if (response.status !== 200) throw new Error(`${target} answered ${response.status}`);
  const joined = (await response.json()) as {
    products: Array<{ id: number; name: string; total_sold: number; revenue: number }>;
  };
  const { rows: truth } = await sql<{
    product_id: number;
    units_sold: number;
    revenue_minor: number;
    rating_count: number;
  }>`SELECT product_id, units_sold, revenue_minor, rating_count FROM product_stats WHERE merchant_id = ${merchantId}`.execute(
    db,
  );
  const { rows: merchant } = await sql<{ currency: string }>`
    SELECT currency FROM merchants WHERE merchant_id = ${merchantId}`.execute(db);
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
  const first = joined.products[0]!;
  const firstTruth = byId.get(first.id)!;
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
    example: {
      currency: merchant[0]!.currency,
      name: first.name,
      reviews: firstTruth.rating_count,
      trueUnits: firstTruth.units_sold,
      joinedUnits: first.total_sold,
      trueRevenue: firstTruth.revenue_minor,
      joinedRevenue: first.revenue,
    },
  };
}
