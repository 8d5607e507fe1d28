import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  rebuildDashboardProjections,
  verifyDashboardProjections,
} from '../../src/modules/dashboard/operations/projections.ts';
import type { Dashboard } from '../../src/modules/dashboard/schemas.ts';
import { createShop } from '../support/dashboard.ts';
import { referenceDashboard, withoutComputedAt } from '../support/dashboard-reference.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

/**
 * Writes racing each other over real HTTP (real sockets, the real pool): stock never goes below zero,
 * no two orders deadlock, and the projections written beside every write equal a rebuild afterwards.
 */

let context: TestContext;
const db = () => context.runtime.database.db;

beforeAll(async () => {
  context = await createTestContext({ listen: true });
});
afterAll(async () => {
  await context.close();
});

const owner = (merchantId: string) => context.auth('author', 'owner', { merchants: [merchantId] });

async function post(path: string, headers: Record<string, string>, body: unknown) {
  const response = await fetch(`${context.baseUrl}${path}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.text() };
}

async function patch(path: string, headers: Record<string, string>, body: unknown) {
  const response = await fetch(`${context.baseUrl}${path}`, {
    method: 'PATCH',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.text() };
}

async function dashboard(merchantId: string) {
  const response = await fetch(`${context.baseUrl}/v1/merchants/${merchantId}/dashboard`, {
    headers: { ...owner(merchantId), 'cache-control': 'no-cache' },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Dashboard;
}

const statusCounts = (results: Array<{ status: number }>) =>
  results.reduce<Record<number, number>>((counts, { status }) => {
    counts[status] = (counts[status] ?? 0) + 1;
    return counts;
  }, {});

async function stockOf(productIds: number[]): Promise<number[]> {
  const { rows } = await sql<{ product_id: number; stock_quantity: number }>`
    SELECT product_id, stock_quantity FROM products WHERE product_id = ANY(${productIds}::bigint[])
    ORDER BY product_id`.execute(db());
  return rows.map((row) => row.stock_quantity);
}

/** Every projection row of a merchant, as it stands. */
async function projections(merchantId: string) {
  const products =
    await sql`SELECT * FROM product_stats WHERE merchant_id = ${merchantId} ORDER BY product_id`.execute(
      db(),
    );
  const customers =
    await sql`SELECT * FROM customer_stats WHERE merchant_id = ${merchantId} ORDER BY customer_id`.execute(
      db(),
    );
  const totals = await sql`SELECT * FROM merchant_totals WHERE merchant_id = ${merchantId}`.execute(db());
  const days =
    await sql`SELECT merchant_id, to_char(day, 'YYYY-MM-DD') AS day, order_count, revenue_minor FROM merchant_daily_sales
    WHERE merchant_id = ${merchantId} ORDER BY day`.execute(db());
  return { products: products.rows, customers: customers.rows, totals: totals.rows, days: days.rows };
}

async function expectProjectionsEqualRebuild(merchantId: string) {
  const verified = await verifyDashboardProjections(db(), { merchantId, showProgress: false });
  expect(verified.differences).toBe(0);
  const written = await projections(merchantId);
  await rebuildDashboardProjections(db(), { merchantId, showProgress: false });
  expect(await projections(merchantId)).toEqual(written);
  const fresh = await dashboard(merchantId);
  expect(withoutComputedAt(fresh)).toEqual(await referenceDashboard(db(), merchantId, fresh.today));
}

/** Waits until a statement with this name comment is blocked on a lock in the test database, or `done()`. */
async function waitForLockWait(statement: string, done: () => boolean = () => false): Promise<void> {
  for (const deadline = Date.now() + 120_000; Date.now() < deadline && !done(); ) {
    const { rows } = await sql<{ waiting: number }>`
      SELECT count(*)::int AS waiting FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock'
        AND query LIKE ${`%/* ${statement} */%`}`.execute(db());
    if ((rows[0]?.waiting ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (!done()) throw new Error(`${statement} never waited on a lock`);
}

describe('concurrent writes to one merchant', () => {
  it('sells the last 10 units exactly once each to 40 concurrent buyers', async () => {
    const shop = await createShop(context, 'last-units', {
      products: [{ name: 'Scarce', price: 1_250, stock: 10, threshold: 2 }],
      customers: 8,
    });
    const [productId] = shop.productIds as [number];
    const headers = owner(shop.merchantId);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        post(`/v1/merchants/${shop.merchantId}/orders`, headers, {
          customerId: shop.customerIds[index % shop.customerIds.length],
          items: [{ productId, quantity: 1 }],
        }),
      ),
    );
    expect(statusCounts(results)).toEqual({ 201: 10, 409: 30 });
    expect(await stockOf([productId])).toEqual([0]);
    const after = await dashboard(shop.merchantId);
    expect(after).toMatchObject({
      totalOrders: 10,
      totalRevenue: 12_500,
      topProducts: [{ id: productId, unitsSold: 10, revenue: 12_500 }],
      lowStock: [{ id: productId, stockQuantity: 0 }],
    });
    await expectProjectionsEqualRebuild(shop.merchantId);
  });

  it('never goes below zero when buyers take several units at once', async () => {
    const shop = await createShop(context, 'multi-units', {
      products: [{ price: 300, stock: 25 }],
      customers: 5,
    });
    const [productId] = shop.productIds as [number];
    const headers = owner(shop.merchantId);
    const quantities = Array.from({ length: 40 }, (_, index) => 1 + (index % 4));
    const results = await Promise.all(
      quantities.map((quantity, index) =>
        post(`/v1/merchants/${shop.merchantId}/orders`, headers, {
          customerId: shop.customerIds[index % shop.customerIds.length],
          items: [{ productId, quantity }],
        }),
      ),
    );
    expect(results.every(({ status }) => status === 201 || status === 409)).toBe(true);
    const sold = quantities.reduce(
      (sum, quantity, index) => sum + (results[index]!.status === 201 ? quantity : 0),
      0,
    );
    const [stock] = await stockOf([productId]);
    expect(stock).toBeGreaterThanOrEqual(0);
    expect(stock).toBe(25 - sold);
    // Every refused order really was short: nothing smaller than the leftover stock was turned away.
    const refused = quantities.filter((_, index) => results[index]!.status === 409);
    expect(refused.every((quantity) => quantity > stock!)).toBe(true);
    await expectProjectionsEqualRebuild(shop.merchantId);
  });

  it('never deadlocks orders that name two products in opposite orders', async () => {
    const shop = await createShop(context, 'crossed', {
      products: [
        { name: 'Left', price: 400, stock: 30 },
        { name: 'Right', price: 900, stock: 30 },
      ],
      customers: 4,
    });
    const [left, right] = shop.productIds as [number, number];
    const headers = owner(shop.merchantId);
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, index) =>
        post(`/v1/merchants/${shop.merchantId}/orders`, headers, {
          customerId: shop.customerIds[index % shop.customerIds.length],
          items:
            index % 2 === 0
              ? [
                  { productId: left, quantity: 1 },
                  { productId: right, quantity: 1 },
                ]
              : [
                  { productId: right, quantity: 1 },
                  { productId: left, quantity: 1 },
                ],
        }),
      ),
    );
    // 30 of each: exactly 30 orders fit; a deadlock would surface as a 500 here.
    expect(statusCounts(results), JSON.stringify(results.filter(({ status }) => status >= 500))).toEqual({
      201: 30,
      409: 30,
    });
    expect(await stockOf([left, right])).toEqual([0, 0]);
    await expectProjectionsEqualRebuild(shop.merchantId);
  });

  it('lets a review of a product an order has locked wait for the order, not deadlock with it', async () => {
    // Order A locks its products in id order; a blocker holds the second, so A sits holding the first
    // while a review of that first product runs: the review updates the product's stats row, then its
    // foreign-key check wants the product row A locked. When A resumes it must update that same stats
    // row. If A's lock excluded the foreign-key check, each would wait for the other: a deadlock, 500.
    const shop = await createShop(context, 'review-vs-order', {
      products: [
        { name: 'First', price: 100, stock: 10 },
        { name: 'Second', price: 200, stock: 10 },
      ],
      customers: 2,
    });
    const [first, second] = shop.productIds as [number, number];
    const headers = owner(shop.merchantId);
    const blocker = await context.runtime.database.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM products WHERE product_id = $1 FOR UPDATE', [second]);
      const order = post(`/v1/merchants/${shop.merchantId}/orders`, headers, {
        customerId: shop.customerIds[0],
        items: [
          { productId: first, quantity: 1 },
          { productId: second, quantity: 1 },
        ],
      });
      await waitForLockWait('dashboard.lockProducts');
      const review = post(`/v1/products/${first}/reviews`, headers, {
        customerId: shop.customerIds[1],
        rating: 5,
      });
      // The review either finishes at once or waits on the order's product lock; give it the chance.
      let reviewAnswered = false;
      void review.finally(() => {
        reviewAnswered = true;
      });
      await waitForLockWait('dashboard.recordReview', () => reviewAnswered);
      await blocker.query('COMMIT');
      const [ordered, reviewed] = await Promise.all([order, review]);
      expect(ordered.status, ordered.body).toBe(201);
      expect(reviewed.status, reviewed.body).toBe(201);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      blocker.release();
    }
    await expectProjectionsEqualRebuild(shop.merchantId);
  });

  it('keeps the projections equal to a rebuild under concurrent orders, reviews and product changes', async () => {
    const shop = await createShop(context, 'busy', {
      products: Array.from({ length: 6 }, (_, index) => ({
        price: 100 * (index + 1),
        stock: 40,
        threshold: 5,
      })),
      customers: 6,
    });
    const headers = owner(shop.merchantId);
    const product = (index: number) => shop.productIds[index % shop.productIds.length]!;
    const customer = (index: number) => shop.customerIds[index % shop.customerIds.length]!;
    const writes: Array<Promise<{ status: number; body: string }>> = [];
    for (let index = 0; index < 120; index++) {
      if (index % 3 === 0) {
        writes.push(
          post(`/v1/products/${product(index)}/reviews`, headers, {
            customerId: customer(index),
            rating: 1 + (index % 5),
          }),
        );
      } else if (index % 10 === 1) {
        writes.push(patch(`/v1/products/${product(index + 1)}`, headers, { price: 50 + index }));
      } else {
        writes.push(
          post(`/v1/merchants/${shop.merchantId}/orders`, headers, {
            customerId: customer(index),
            items: [
              { productId: product(index), quantity: 1 + (index % 2) },
              { productId: product(index + 3), quantity: 1 },
              { productId: product(index), quantity: 1 },
            ],
          }),
        );
      }
    }
    // A rebuild in the middle of it all must neither lose a write nor be torn by one.
    const rebuild = rebuildDashboardProjections(db(), { merchantId: shop.merchantId, showProgress: false });
    const results = await Promise.all(writes);
    await rebuild;
    const failures = results.filter(({ status }) => ![200, 201, 409].includes(status));
    expect(failures).toEqual([]);
    const { rows } = await sql<{ negative: number }>`
      SELECT count(*)::int AS negative FROM products WHERE merchant_id = ${shop.merchantId} AND stock_quantity < 0`.execute(
      db(),
    );
    expect(rows[0]?.negative).toBe(0);
    await expectProjectionsEqualRebuild(shop.merchantId);
  });
});
