import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardCacheOf } from '../../src/app.ts';
import { rebuildDashboardProjections } from '../../src/modules/dashboard/operations/projections.ts';
import type { Dashboard } from '../../src/modules/dashboard/schemas.ts';
import { serializedAnswer } from '../../src/platform/http/serialized-answer.ts';
import { metricsRegistry } from '../../src/platform/metrics/registry.ts';
import { expectConstantStatements } from '../support/budgets.ts';
import { createShop, type ShopFixture } from '../support/dashboard.ts';
import { referenceDashboard, withoutComputedAt } from '../support/dashboard-reference.ts';
import { costOf, createTestContext, type TestContext } from '../support/harness.ts';

/**
 * The dashboard's cache: a write is visible to the next read, even with slow misses in flight; a cold
 * key is computed once however many ask; a miss is one statement and a hit none, whatever the
 * merchant's history; the TTL bounds what a change that bypasses invalidation can hide.
 */

const ROUTE = '/v1/merchants/:merchantId/dashboard';

let context: TestContext;
const db = () => context.runtime.database.db;

beforeAll(async () => {
  context = await createTestContext();
});
afterAll(async () => {
  await context.close();
});

const owner = (merchantId: string) => context.auth('author', 'owner', { merchants: [merchantId] });

const read = (merchantId: string, options: { fresh?: boolean; on?: TestContext } = {}) =>
  (options.on ?? context).app.inject({
    method: 'GET',
    url: `/v1/merchants/${merchantId}/dashboard`,
    headers: options.fresh ? { ...owner(merchantId), 'cache-control': 'no-cache' } : owner(merchantId),
  });

async function readJson(merchantId: string, options: { fresh?: boolean } = {}): Promise<Dashboard> {
  const response = await read(merchantId, options);
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

async function order(shop: ShopFixture, items: Array<{ productId: number; quantity: number }>) {
  const response = await context.app.inject({
    method: 'POST',
    url: `/v1/merchants/${shop.merchantId}/orders`,
    headers: owner(shop.merchantId),
    payload: { customerId: shop.customerIds[0], items },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

async function counter(name: string, labels: Record<string, string>): Promise<number> {
  const metric = metricsRegistry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  const found = values.find((value) =>
    Object.entries(labels).every(([key, wanted]) => String(value.labels[key]) === wanted),
  );
  return found?.value ?? 0;
}
const dashboardStatements = () => counter('hotpath_db_queries_total', { route: ROUTE });

/**
 * Holds the answers of chosen statements in the driver: the statement has run (its snapshot is taken
 * and its rows read) but the caller does not see them until released. A "slow miss", exactly placed.
 */
function gateStatements(marker: string) {
  const original = pg.Client.prototype.query;
  let toHold = 0;
  const held: Array<() => void> = [];
  const waiters: Array<() => void> = [];
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const result = (original as (...args: unknown[]) => unknown).apply(this, args);
    const first = args[0] as string | { text?: string } | undefined;
    const text = typeof first === 'string' ? first : first?.text;
    if (toHold > 0 && text?.includes(marker) && result instanceof Promise) {
      toHold -= 1;
      return result.then(
        (value) =>
          new Promise((resolve) => {
            held.push(() => resolve(value));
            for (const wake of waiters.splice(0)) wake();
          }),
      );
    }
    return result;
  } as typeof pg.Client.prototype.query;
  return {
    hold(count: number) {
      toHold += count;
    },
    /** Resolves once `count` statements have answered and are being held. */
    async held(count: number) {
      while (held.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    release() {
      for (const resolve of held.splice(0)) resolve();
    },
    restore() {
      toHold = 0;
      this.release();
      pg.Client.prototype.query = original;
    },
  };
}

let shopCounter = 0;
const newShop = (options: Parameters<typeof createShop>[2] = {}) =>
  createShop(context, `cache-${++shopCounter}`, {
    products: [
      { name: 'Lamp', price: 1_500, stock: 1_000, threshold: 2 },
      { name: 'Shade', price: 800, stock: 1_000, threshold: 2 },
    ],
    customers: 2,
    ...options,
  });

describe('invalidation', () => {
  it('shows every order, review and product change to the very next read', async () => {
    const shop = await newShop();
    const [lamp, shade] = shop.productIds as [number, number];
    expect((await readJson(shop.merchantId)).totalOrders).toBe(0);
    for (let round = 1; round <= 30; round++) {
      await order(shop, [{ productId: lamp, quantity: 1 }]);
      const after = await readJson(shop.merchantId);
      expect(after.totalOrders).toBe(round);
      expect(after.topProducts[0]).toMatchObject({ id: lamp, unitsSold: round });
      // The read after that is a hit, and still right.
      const again = await read(shop.merchantId);
      expect(again.headers['server-timing']).toContain('cache;desc="hit"');
      expect(again.json().totalOrders).toBe(round);

      if (round % 5 === 0) {
        const reviewed = await context.app.inject({
          method: 'POST',
          url: `/v1/products/${shade}/reviews`,
          headers: owner(shop.merchantId),
          payload: { customerId: shop.customerIds[1], rating: 3 },
        });
        expect(reviewed.statusCode).toBe(201);
        const shadeRow = (await readJson(shop.merchantId)).topProducts.find(
          (product) => product.id === shade,
        );
        expect(shadeRow?.reviewCount).toBe(round / 5);

        const patched = await context.app.inject({
          method: 'PATCH',
          url: `/v1/products/${shade}`,
          headers: owner(shop.merchantId),
          payload: { stockQuantity: round % 10 === 0 ? 1 : 50 },
        });
        expect(patched.statusCode).toBe(200);
        expect((await readJson(shop.merchantId)).lowStock.map((product) => product.id)).toEqual(
          round % 10 === 0 ? [shade] : [],
        );
      }
    }
  });

  for (const fresh of [false, true]) {
    it(`never re-caches the answer of a slow ${fresh ? 'forced (no-cache)' : 'cached'} miss that began before a write`, async () => {
      const shop = await newShop();
      const [lamp] = shop.productIds as [number];
      await order(shop, [{ productId: lamp, quantity: 1 }]);
      const gate = gateStatements('/* dashboard.read */');
      try {
        gate.hold(1);
        const slow = read(shop.merchantId, { fresh });
        await gate.held(1);
        // The slow read has seen 1 order; a second order commits and invalidates meanwhile.
        await order(shop, [{ productId: lamp, quantity: 1 }]);
        const during = await readJson(shop.merchantId);
        expect(during.totalOrders).toBe(2);
        gate.release();
        // The slow read itself may answer what it saw when it began...
        expect((await slow).json().totalOrders).toBe(1);
        // ...but no read after the write may get that old answer back, from the cache or otherwise.
        for (let again = 0; again < 3; again++) {
          expect((await readJson(shop.merchantId)).totalOrders).toBe(2);
        }
      } finally {
        gate.restore();
      }
    });
  }

  it('shows a write to the next read while many reads (and their misses) are in flight', async () => {
    const shop = await newShop();
    const [lamp] = shop.productIds as [number];
    for (let round = 1; round <= 10; round++) {
      const inFlight = Array.from({ length: 30 }, (_, index) =>
        read(shop.merchantId, { fresh: index % 10 === 0 }),
      );
      await order(shop, [{ productId: lamp, quantity: 1 }]);
      const after = await readJson(shop.merchantId);
      expect(after.totalOrders).toBe(round);
      for (const response of await Promise.all(inFlight)) expect(response.statusCode).toBe(200);
      expect((await readJson(shop.merchantId)).totalOrders).toBe(round);
    }
    const final = await readJson(shop.merchantId);
    expect(withoutComputedAt(final)).toEqual(await referenceDashboard(db(), shop.merchantId, final.today));
  });

  it('recomputes with Cache-Control: no-cache and keeps that answer for later reads', async () => {
    const shop = await newShop();
    expect((await readJson(shop.merchantId)).merchant.name).toBe(`Shop ${shop.merchantId}`);
    // Changed behind the API's back: no invalidation.
    await sql`UPDATE merchants SET name = 'Renamed' WHERE merchant_id = ${shop.merchantId}`.execute(db());
    expect((await readJson(shop.merchantId)).merchant.name).toBe(`Shop ${shop.merchantId}`);
    const forced = await read(shop.merchantId, { fresh: true });
    expect(costOf(forced.headers).queries).toBe(1);
    expect(forced.json().merchant.name).toBe('Renamed');
    const next = await read(shop.merchantId);
    expect(costOf(next.headers).queries).toBe(0);
    expect(next.json().merchant.name).toBe('Renamed');
  });

  it('answers 304 to a client holding the current ETag, and 200 with a new tag once a write lands', async () => {
    const shop = await newShop();
    const first = await read(shop.merchantId);
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect(first.headers['cache-control']).toBe('private, no-cache');
    const revalidate = (tag: string) =>
      context.app.inject({
        method: 'GET',
        url: `/v1/merchants/${shop.merchantId}/dashboard`,
        headers: { ...owner(shop.merchantId), 'if-none-match': tag },
      });
    for (const tag of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const unchanged = await revalidate(tag);
      expect(unchanged.statusCode, tag).toBe(304);
      expect(unchanged.body).toBe('');
      expect(unchanged.headers.etag).toBe(etag);
      expect(costOf(unchanged.headers).queries).toBe(0);
    }
    // A hit is the same bytes as the miss that stored it.
    expect((await read(shop.merchantId)).body).toBe(first.body);
    // The tag proves nothing to another merchant's owner: authorisation comes first.
    const other = await newShop();
    const foreign = await context.app.inject({
      method: 'GET',
      url: `/v1/merchants/${shop.merchantId}/dashboard`,
      headers: { ...owner(other.merchantId), 'if-none-match': etag },
    });
    expect(foreign.statusCode).toBe(403);
    await order(shop, [{ productId: shop.productIds[0]!, quantity: 1 }]);
    const changed = await revalidate(etag);
    expect(changed.statusCode).toBe(200);
    expect(changed.headers.etag).not.toBe(etag);
    expect(changed.json().totalOrders).toBe(1);
  });

  it("recomputes a cached dashboard whose day is no longer the merchant's today", async () => {
    const shop = await newShop({ timeZone: 'Pacific/Kiritimati' });
    const current = await readJson(shop.merchantId);
    // An entry computed "yesterday", stored where the route will find it.
    const stale = { ...current, today: '2000-01-01', totalOrders: 999 };
    await dashboardCacheOf(context.runtime).refresh(shop.merchantId, async () => ({
      ...serializedAnswer(JSON.stringify(stale)),
      today: stale.today,
      timeZone: current.merchant.timeZone,
    }));
    const after = await read(shop.merchantId);
    expect(after.json()).toMatchObject({ today: current.today, totalOrders: 0 });
    expect(costOf(after.headers).queries).toBe(1);
  });
});

describe('single flight', () => {
  it('computes a cold dashboard once for 100 concurrent readers, who all get the same answer', async () => {
    const shop = await newShop();
    await order(shop, [{ productId: shop.productIds[0]!, quantity: 3 }]);
    const statementsBefore = await dashboardStatements();
    const missesBefore = await counter('hotpath_cache_requests_total', {
      cache: 'dashboard',
      result: 'miss',
    });
    const hitsBefore = await counter('hotpath_cache_requests_total', { cache: 'dashboard', result: 'hit' });
    const responses = await Promise.all(Array.from({ length: 100 }, () => read(shop.merchantId)));
    expect(responses.every((response) => response.statusCode === 200)).toBe(true);
    expect(responses.reduce((sum, response) => sum + costOf(response.headers).queries, 0)).toBe(1);
    expect((await dashboardStatements()) - statementsBefore).toBe(1);
    expect(
      (await counter('hotpath_cache_requests_total', { cache: 'dashboard', result: 'miss' })) - missesBefore,
    ).toBe(1);
    expect(
      (await counter('hotpath_cache_requests_total', { cache: 'dashboard', result: 'hit' })) - hitsBefore,
    ).toBe(99);
    const bodies = new Set(responses.map((response) => response.body));
    expect(bodies.size).toBe(1);
    expect(responses[0]!.json()).toMatchObject({ totalOrders: 1, totalRevenue: 4_500 });
  });

  it('computes once again for 100 concurrent readers after a write invalidates a warm entry', async () => {
    const shop = await newShop();
    await readJson(shop.merchantId);
    await order(shop, [{ productId: shop.productIds[1]!, quantity: 2 }]);
    const before = await dashboardStatements();
    const responses = await Promise.all(Array.from({ length: 100 }, () => read(shop.merchantId)));
    expect((await dashboardStatements()) - before).toBe(1);
    expect(new Set(responses.map((response) => response.body)).size).toBe(1);
    expect(responses[0]!.json().totalRevenue).toBe(1_600);
  });
});

describe('statement budgets', () => {
  /** A merchant with a long history, inserted set-based, its projections rebuilt from it. */
  async function bigShop(merchantId: string, orders: number) {
    await sql`INSERT INTO merchants (merchant_id, name, time_zone, currency)
      VALUES (${merchantId}, 'Big shop', 'Pacific/Auckland', 'NZD')`.execute(db());
    await sql`INSERT INTO products (merchant_id, name, price_minor, stock_quantity, reorder_threshold)
      SELECT ${merchantId}, 'Product ' || g, 100 + g * 7, g % 40, 10 FROM generate_series(1, 300) g`.execute(
      db(),
    );
    await sql`INSERT INTO customers (merchant_id, name)
      SELECT ${merchantId}, 'Customer ' || g FROM generate_series(1, 1000) g`.execute(db());
    await sql`WITH c AS (
        SELECT customer_id, row_number() OVER (ORDER BY customer_id) AS n FROM customers WHERE merchant_id = ${merchantId})
      INSERT INTO orders (merchant_id, customer_id, total_minor, created_at)
      SELECT ${merchantId}, c.customer_id, 0, now() - g * interval '7 minutes'
      FROM generate_series(1, ${orders}) g JOIN c ON c.n = 1 + g % 1000`.execute(db());
    await sql`WITH p AS (
        SELECT product_id, price_minor, row_number() OVER (ORDER BY product_id) AS n FROM products
        WHERE merchant_id = ${merchantId}),
      o AS (SELECT order_id FROM orders WHERE merchant_id = ${merchantId})
      INSERT INTO order_items (order_id, product_id, quantity, unit_price_minor)
      SELECT o.order_id, p.product_id, 1 + (o.order_id + line) % 3, p.price_minor
      FROM o CROSS JOIN generate_series(0, 2) line JOIN p ON p.n = 1 + (o.order_id * 7 + line * 13) % 300`.execute(
      db(),
    );
    await sql`UPDATE orders o SET total_minor = t.total
      FROM (SELECT order_id, sum(quantity * unit_price_minor) AS total FROM order_items GROUP BY order_id) t
      WHERE o.order_id = t.order_id AND o.merchant_id = ${merchantId}`.execute(db());
    await sql`INSERT INTO reviews (product_id, customer_id, rating)
      SELECT p.product_id, c.customer_id, 1 + (p.product_id + c.customer_id) % 5
      FROM (SELECT product_id FROM products WHERE merchant_id = ${merchantId}) p
      JOIN (SELECT customer_id FROM customers WHERE merchant_id = ${merchantId} LIMIT 10) c ON true`.execute(
      db(),
    );
    await rebuildDashboardProjections(db(), { merchantId, showProgress: false });
  }

  it('costs one statement on a miss and none on a hit, for 10 orders as for thousands', async () => {
    const small = await newShop();
    for (let index = 0; index < 10; index++)
      await order(small, [{ productId: small.productIds[0]!, quantity: 1 }]);
    await bigShop('cache-big', 6_000);

    const statements = await expectConstantStatements('dashboard, forced miss', [
      { size: 10, send: () => read(small.merchantId, { fresh: true }) },
      { size: 6_000, send: () => read('cache-big', { fresh: true }) },
    ]);
    expect(statements).toBe(1);
    expect(statements).toBeLessThanOrEqual(2);

    for (const merchantId of [small.merchantId, 'cache-big']) {
      const cache = dashboardCacheOf(context.runtime);
      await cache.published(
        await db()
          .transaction()
          .execute((trx) => cache.invalidateWithin(trx, merchantId)),
      );
      const miss = await read(merchantId);
      expect(miss.headers['server-timing']).toContain('cache;desc="miss"');
      expect(costOf(miss.headers).queries).toBe(1);
      const hit = await read(merchantId);
      expect(hit.headers['server-timing']).toContain('cache;desc="hit"');
      expect(costOf(hit.headers).queries).toBe(0);
    }
    const big = await readJson('cache-big');
    expect(big.totalOrders).toBe(6_000);
    expect(withoutComputedAt(big)).toEqual(await referenceDashboard(db(), 'cache-big', big.today));
  });

  it('reports hits and misses in /metrics', async () => {
    const metrics = async () => {
      const response = await context.app.inject({ method: 'GET', url: '/metrics' });
      expect(response.statusCode).toBe(200);
      const value = (result: string) =>
        Number(
          new RegExp(`hotpath_cache_requests_total\\{cache="dashboard",result="${result}"\\} (\\d+)`).exec(
            response.body,
          )?.[1] ?? 0,
        );
      const statements = Number(
        new RegExp(`hotpath_db_queries_total\\{route="${ROUTE.replaceAll('/', '\\/')}"\\} (\\d+)`).exec(
          response.body,
        )?.[1] ?? 0,
      );
      return { hit: value('hit'), miss: value('miss'), statements };
    };
    const shop = await newShop();
    const before = await metrics();
    await read(shop.merchantId);
    await read(shop.merchantId);
    await read(shop.merchantId);
    const after = await metrics();
    expect(after).toEqual({ hit: before.hit + 2, miss: before.miss + 1, statements: before.statements + 1 });
  });
});

describe('time to live', () => {
  it('shows a change that bypassed invalidation once the TTL has run out', async () => {
    const short = await createTestContext({ env: { HOTPATH_DASHBOARD_CACHE_TTL_SECONDS: '1' } });
    try {
      await createShop(short, 'ttl-shop');
      const headers = short.auth('reader', 'reader', { merchants: ['ttl-shop'] });
      const get = () => short.app.inject({ method: 'GET', url: '/v1/merchants/ttl-shop/dashboard', headers });
      expect((await get()).json().merchant.name).toBe('Shop ttl-shop');
      await sql`UPDATE merchants SET name = 'Renamed in SQL' WHERE merchant_id = 'ttl-shop'`.execute(
        short.runtime.database.db,
      );
      const cached = await get();
      expect(cached.headers['server-timing']).toContain('cache;desc="hit"');
      expect(cached.json().merchant.name).toBe('Shop ttl-shop');
      await expect
        .poll(async () => (await get()).json().merchant.name, { timeout: 120_000, interval: 100 })
        .toBe('Renamed in SQL');
    } finally {
      await short.close();
    }
  });
});
