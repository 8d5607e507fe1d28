import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DashboardDatasetOptions,
  type DashboardDatasetResult,
  generateDashboardDataset,
} from '../../src/modules/dashboard/operations/dataset.ts';
import { DEMO_MERCHANTS, loadDashboardDemo } from '../../src/modules/dashboard/operations/demo.ts';
import {
  DashboardNotEmptyError,
  generateLargeDashboard,
} from '../../src/modules/dashboard/operations/generate.ts';
import { verifyDashboardProjections } from '../../src/modules/dashboard/operations/projections.ts';
import type { AnyKysely } from '../../src/platform/db/database.ts';
import { costOf, createTestContext, type TestContext } from '../support/harness.ts';

// Up to now, so "today" has orders in some zones; the replay below reuses the same instant.
const END_AT = new Date(Math.floor(Date.now() / 1000) * 1000);
const SHAPE: DashboardDatasetOptions = {
  merchants: 4,
  productsPerMerchant: 30,
  customersPerMerchant: 80,
  ordersPerMerchant: 300,
  itemsPerOrder: 3,
  reviewsPerMerchant: 150,
  days: 30,
  seed: 11,
  bigMerchantMultiplier: 3,
  endAt: END_AT,
};
const TABLES = [
  { table: 'merchants', key: 'merchant_id' },
  { table: 'products', key: 'product_id' },
  { table: 'customers', key: 'customer_id' },
  { table: 'orders', key: 'order_id' },
  { table: 'order_items', key: 'order_item_id' },
  { table: 'reviews', key: 'review_id' },
  { table: 'product_stats', key: 'product_id' },
  { table: 'customer_stats', key: 'customer_id' },
  { table: 'merchant_totals', key: 'merchant_id' },
] as const;

async function count(db: AnyKysely, query: ReturnType<typeof sql>): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM (${query}) q`.execute(db);
  return rows[0]!.n;
}

type TableCounts = Record<(typeof TABLES)[number]['table'], number>;

async function tableCounts(db: AnyKysely): Promise<TableCounts> {
  const counts = {} as TableCounts;
  for (const { table } of TABLES) counts[table] = await count(db, sql`SELECT 1 FROM ${sql.table(table)}`);
  return counts;
}

describe('dashboard dataset', () => {
  let context: TestContext;
  let db: AnyKysely;
  let result: DashboardDatasetResult;

  beforeAll(async () => {
    context = await createTestContext();
    db = context.runtime.database.db;
    result = await generateDashboardDataset(db, SHAPE);
  });
  afterAll(() => context?.close());

  it('writes the shape it was asked for, the first merchant with three times the history', async () => {
    expect(result).toMatchObject({
      merchantIds: ['shop-0001', 'shop-0002', 'shop-0003', 'shop-0004'],
      bigMerchantId: 'shop-0001',
      products: 120,
      customers: 3 * 80 + 3 * 80,
      orders: 3 * 300 + 3 * 300,
      reviews: 3 * 150 + 3 * 150,
    });
    // One to five lines an order, three on average.
    expect(result.orderItems).toBeGreaterThan(result.orders * 2.5);
    expect(result.orderItems).toBeLessThan(result.orders * 3.5);
    expect(await tableCounts(db)).toMatchObject({
      merchants: 4,
      products: 120,
      customers: result.customers,
      orders: result.orders,
      order_items: result.orderItems,
      reviews: result.reviews,
      product_stats: 120,
      customer_stats: result.customers,
      merchant_totals: 4,
    });
    const { rows: merchants } = await sql<{
      merchant_id: string;
      name: string;
      time_zone: string;
      orders: number;
    }>`
      SELECT m.merchant_id, m.name, m.time_zone, (SELECT count(*)::int FROM orders o WHERE o.merchant_id = m.merchant_id) AS orders
      FROM merchants m ORDER BY m.merchant_id`.execute(db);
    expect(merchants.map((m) => [m.time_zone, m.orders])).toEqual([
      ['Pacific/Auckland', 900],
      ['America/Los_Angeles', 300],
      ['Asia/Tokyo', 300],
      ['Europe/Paris', 300],
    ]);
    expect(new Set(merchants.map((m) => m.name)).size).toBe(4);
    // Every product's name is its shop's only one; every review is by a customer of the product's shop.
    expect(await count(db, sql`SELECT 1 FROM products GROUP BY merchant_id, name HAVING count(*) > 1`)).toBe(
      0,
    );
    expect(
      await count(
        db,
        sql`SELECT 1 FROM reviews r JOIN products p USING (product_id) JOIN customers c USING (customer_id)
            WHERE c.merchant_id <> p.merchant_id
            UNION ALL
            SELECT 1 FROM orders o JOIN customers c USING (customer_id) WHERE c.merchant_id <> o.merchant_id
            UNION ALL
            SELECT 1 FROM order_items i JOIN orders o USING (order_id) JOIN products p USING (product_id)
            WHERE p.merchant_id <> o.merchant_id`,
      ),
    ).toBe(0);
    const { rows: window } = await sql<{ oldest: Date; newest: Date; ratings: number[] }>`
      SELECT least(min(o.created_at), (SELECT min(created_at) FROM reviews)) AS oldest,
             greatest(max(o.created_at), (SELECT max(created_at) FROM reviews)) AS newest,
             (SELECT array_agg(DISTINCT rating ORDER BY rating) FROM reviews) AS ratings
      FROM orders o`.execute(db);
    expect(window[0]!.newest.getTime()).toBeLessThanOrEqual(END_AT.getTime());
    expect(window[0]!.oldest.getTime()).toBeGreaterThan(END_AT.getTime() - (SHAPE.days + 2) * 86_400_000);
    expect(window[0]!.ratings).toEqual([1, 2, 3, 4, 5]);
    // Several reviews for many products.
    expect(
      await count(db, sql`SELECT 1 FROM reviews GROUP BY product_id HAVING count(*) >= 3`),
    ).toBeGreaterThan(40);
  });

  it('ends with projections equal to their base tables', async () => {
    const reported: string[] = [];
    const verified = await verifyDashboardProjections(db, {
      showProgress: false,
      report: (line) => reported.push(line),
    });
    expect(reported).toEqual([]);
    expect(verified).toMatchObject({ merchants: 4, differences: 0 });
  });

  it('keeps money exact: whole minor units, totals the sum of their lines at the product price', async () => {
    expect(
      await count(
        db,
        sql`SELECT 1 FROM orders o
            WHERE o.total_minor <> (SELECT sum(i.quantity * i.unit_price_minor) FROM order_items i
                                    WHERE i.order_id = o.order_id)
            UNION ALL
            SELECT 1 FROM order_items i JOIN products p USING (product_id) WHERE i.unit_price_minor <> p.price_minor
            UNION ALL
            SELECT 1 FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.order_id)`,
      ),
    ).toBe(0);
    const { rows } = await sql<{ merchant_id: string; revenue: string; orders: string }>`
      SELECT merchant_id, sum(total_minor)::text AS revenue, count(*)::text AS orders
      FROM orders GROUP BY merchant_id ORDER BY merchant_id`.execute(db);
    for (const row of rows) {
      const response = await context.app.inject({
        method: 'GET',
        url: `/v1/merchants/${row.merchant_id}/dashboard`,
        headers: context.auth('reader', 'owner', { merchants: [row.merchant_id] }),
      });
      const dashboard = response.json();
      expect(Number.isSafeInteger(dashboard.totalRevenue)).toBe(true);
      // Compared as text: the database's exact sum, with no floating point on either side.
      expect(String(dashboard.totalRevenue)).toBe(row.revenue);
      expect(String(dashboard.totalOrders)).toBe(row.orders);
      for (const product of dashboard.topProducts) expect(Number.isSafeInteger(product.revenue)).toBe(true);
      for (const customer of dashboard.topCustomers)
        expect(Number.isSafeInteger(customer.totalSpent)).toBe(true);
    }
  });

  it("answers each generated merchant's dashboard as the expected_* views say, in one statement", async () => {
    for (const merchantId of result.merchantIds) {
      const response = await context.app.inject({
        method: 'GET',
        url: `/v1/merchants/${merchantId}/dashboard`,
        headers: {
          ...context.auth('reader', 'owner', { merchants: [merchantId] }),
          'cache-control': 'no-cache',
        },
      });
      expect(response.statusCode, response.body).toBe(200);
      expect(costOf(response.headers).queries).toBe(1);
      const dashboard = response.json();
      const { rows: totals } = await sql<{
        today: string;
        total_revenue: number;
        total_orders: number;
        today_revenue: number;
        today_orders: number;
      }>`
        SELECT to_char((now() AT TIME ZONE m.time_zone)::date, 'YYYY-MM-DD') AS today,
               t.revenue_minor AS total_revenue, t.order_count AS total_orders,
               coalesce(d.revenue_minor, 0) AS today_revenue, coalesce(d.order_count, 0) AS today_orders
        FROM merchants m
        JOIN expected_merchant_totals t USING (merchant_id)
        LEFT JOIN expected_merchant_daily_sales d
          ON d.merchant_id = m.merchant_id AND d.day = (now() AT TIME ZONE m.time_zone)::date
        WHERE m.merchant_id = ${merchantId}`.execute(db);
      const { rows: products } = await sql`
        SELECT e.product_id AS id, p.name, e.units_sold AS "unitsSold", e.revenue_minor AS revenue,
               e.rating_count AS "reviewCount",
               CASE WHEN e.rating_count > 0 THEN round(e.rating_sum::numeric / e.rating_count, 2)::float8 END
                 AS "averageRating"
        FROM expected_product_stats e JOIN products p USING (product_id)
        WHERE e.merchant_id = ${merchantId}
        ORDER BY e.revenue_minor DESC, e.product_id LIMIT 20`.execute(db);
      const { rows: customers } = await sql`
        SELECT e.customer_id AS id, c.name, e.order_count AS "orderCount", e.total_spent_minor AS "totalSpent"
        FROM expected_customer_stats e JOIN customers c USING (customer_id)
        WHERE e.merchant_id = ${merchantId}
        ORDER BY e.total_spent_minor DESC, e.customer_id LIMIT 10`.execute(db);
      const { rows: lowStock } = await sql`
        SELECT product_id AS id, name, stock_quantity AS "stockQuantity", reorder_threshold AS "reorderThreshold"
        FROM products WHERE merchant_id = ${merchantId} AND stock_quantity < reorder_threshold
        ORDER BY stock_quantity, product_id`.execute(db);
      const expected = totals[0]!;
      expect(dashboard).toMatchObject({
        today: expected.today,
        totalRevenue: expected.total_revenue,
        totalOrders: expected.total_orders,
        todayRevenue: expected.today_revenue,
        todayOrders: expected.today_orders,
      });
      expect(dashboard.topProducts).toEqual(products);
      expect(dashboard.topCustomers).toEqual(customers);
      expect(dashboard.lowStock).toEqual(lowStock);
    }
  });

  it('places orders at every hour of the local day, midnight included, in a zone far from UTC', async () => {
    const { rows } = await sql<{ hours: number; near_midnight: number; other_utc_day: number }>`
      SELECT count(DISTINCT extract(hour FROM o.created_at AT TIME ZONE m.time_zone))::int AS hours,
             count(*) FILTER (WHERE (o.created_at AT TIME ZONE m.time_zone)::time >= '23:30'
                                 OR (o.created_at AT TIME ZONE m.time_zone)::time < '00:30')::int AS near_midnight,
             count(*) FILTER (WHERE (o.created_at AT TIME ZONE m.time_zone)::date
                                    <> (o.created_at AT TIME ZONE 'UTC')::date)::int AS other_utc_day
      FROM orders o JOIN merchants m USING (merchant_id)
      WHERE m.time_zone = 'Pacific/Auckland'`.execute(db);
    expect(rows[0]!.hours).toBe(24);
    expect(rows[0]!.near_midnight).toBeGreaterThan(0);
    // Auckland's day starts 12 or 13 hours before UTC's: a good share of its orders fall on another UTC date.
    expect(rows[0]!.other_utc_day).toBeGreaterThan(100);
  });

  it('leaves some products, not all, below their reorder threshold', async () => {
    const low = await count(db, sql`SELECT 1 FROM products WHERE stock_quantity < reorder_threshold`);
    expect(low).toBeGreaterThan(0);
    expect(low).toBeLessThan(result.products / 4);
  });

  it('replays exactly from the same seed and end time', async () => {
    const replay = await createTestContext();
    try {
      const replayDb = replay.runtime.database.db;
      const again = await generateDashboardDataset(replayDb, SHAPE);
      expect({ ...again, seconds: 0 }).toEqual({ ...result, seconds: 0 });
      expect(await tableCounts(replayDb)).toEqual(await tableCounts(db));
      for (const { table, key } of TABLES) {
        const firstRows = (on: AnyKysely) =>
          sql`SELECT * FROM ${sql.table(table)} ORDER BY ${sql.ref(key)} LIMIT 25`
            .execute(on)
            .then((r) => r.rows);
        expect(await firstRows(replayDb), table).toEqual(await firstRows(db));
        const digest = (on: AnyKysely) =>
          sql<{
            digest: string;
          }>`SELECT md5(string_agg(t::text, '|' ORDER BY ${sql.ref(`t.${key}`)})) AS digest
            FROM ${sql.table(table)} t`
            .execute(on)
            .then((r) => r.rows[0]!.digest);
        expect(await digest(replayDb), table).toBe(await digest(db));
      }
    } finally {
      await replay.close();
    }
  });
});

describe('dashboard demo', () => {
  let context: TestContext;
  let db: AnyKysely;

  beforeAll(async () => {
    context = await createTestContext();
    db = context.runtime.database.db;
  });
  afterAll(() => context?.close());

  it('loads three modest shops, one in Pacific/Auckland, with their projections', async () => {
    expect(await loadDashboardDemo(db, { onlyIfAbsent: true })).toBe(true);
    const { rows } = await sql<{ merchant_id: string; time_zone: string; orders: number }>`
      SELECT m.merchant_id, m.time_zone, t.order_count::int AS orders
      FROM merchants m JOIN merchant_totals t USING (merchant_id) ORDER BY m.merchant_id`.execute(db);
    expect(rows.map((row) => row.merchant_id)).toEqual(DEMO_MERCHANTS);
    expect(rows.map((row) => row.time_zone)).toContain('Pacific/Auckland');
    for (const row of rows) {
      expect(row.orders).toBeGreaterThanOrEqual(300);
      expect(row.orders).toBeLessThanOrEqual(1_500);
    }
    expect(await verifyDashboardProjections(db, { showProgress: false })).toMatchObject({ differences: 0 });
  });

  it('does nothing when asked to load only if absent and it is there', async () => {
    const before = await tableCounts(db);
    expect(await loadDashboardDemo(db, { onlyIfAbsent: true })).toBe(false);
    expect(await tableCounts(db)).toEqual(before);
  });

  it('refuses to generate into a database that has merchants, unless told to append', async () => {
    const large = {
      merchants: 2,
      orders: 200,
      products: 20,
      customers: 50,
      reviews: 100,
      itemsPerOrder: 2,
      days: 10,
      bigMerchantMultiplier: 2,
      seed: 3,
      showProgress: false,
    };
    await expect(generateLargeDashboard(db, { ...large, append: false })).rejects.toThrow(
      DashboardNotEmptyError,
    );
    const before = await tableCounts(db);
    const appended = await generateLargeDashboard(db, { ...large, append: true });
    expect(appended).toMatchObject({ merchantIds: ['shop-0004', 'shop-0005'], bigMerchantId: 'shop-0004' });
    const after = await tableCounts(db);
    expect(after.orders - before.orders).toBe(2 * 200 + 200);
    expect(after.customers - before.customers).toBe(2 * 50 + 50);
    expect(await verifyDashboardProjections(db, { showProgress: false })).toMatchObject({
      merchants: 5,
      differences: 0,
    });
  });
});
