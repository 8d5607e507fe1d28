import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  rebuildDashboardProjections,
  verifyDashboardProjections,
} from '../../src/modules/dashboard/operations/projections.ts';
import { createShop, type ShopFixture } from '../support/dashboard.ts';
import {
  localDay,
  localMidnight,
  projectedDailySales,
  readBaseRows,
  referenceDailySales,
  referenceDashboard,
  referenceFromRows,
  withoutComputedAt,
} from '../support/dashboard-reference.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

/**
 * The dashboard (projections + one-statement read + cache) against a naive reference: random
 * histories of orders, reviews and product changes go through the HTTP API, then every figure must
 * equal what plain SELECTs of the base tables aggregated in JS say.
 */

let context: TestContext;
const db = () => context.runtime.database.db;

beforeAll(async () => {
  context = await createTestContext();
});
afterAll(async () => {
  await context.close();
});

/** Zones far from UTC on both sides, with half- and three-quarter-hour offsets, and plain ones. */
const ZONES = [
  'Pacific/Kiritimati',
  'Pacific/Auckland',
  'Pacific/Chatham',
  'Pacific/Pago_Pago',
  'America/St_Johns',
  'Asia/Kathmandu',
  'Europe/Paris',
  'UTC',
] as const;

let shopCounter = 0;
const nextMerchantId = (label: string) => `${label}-${++shopCounter}`;

const owner = (merchantIds: string[]) => context.auth('author', 'owner', { merchants: merchantIds });

async function fetchDashboard(merchantId: string, headers: Record<string, string>, fresh: boolean) {
  const response = await context.app.inject({
    method: 'GET',
    url: `/v1/merchants/${merchantId}/dashboard`,
    headers: fresh ? { ...headers, 'cache-control': 'no-cache' } : headers,
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

/**
 * Both reads (forced fresh, then the ordinary, cached one) equal the reference, and the daily
 * projection equals the per-day sums of the orders in the merchant's zone.
 */
async function expectDashboardMatchesReference(merchantId: string, headers: Record<string, string>) {
  const zone = (await readBaseRows(db(), merchantId)).merchant.time_zone;
  const before = localDay(new Date(), zone);
  const fresh = await fetchDashboard(merchantId, headers, true);
  const cached = await fetchDashboard(merchantId, headers, false);
  const after = localDay(new Date(), zone);
  // "today" is the merchant's date now; the reads may straddle its midnight, nothing more.
  expect([before, after]).toContain(fresh.today);
  const rows = await readBaseRows(db(), merchantId);
  const reference = referenceFromRows(rows, fresh.today);
  expect(withoutComputedAt(fresh)).toEqual(reference);
  expect(withoutComputedAt(cached)).toEqual(
    cached.today === fresh.today ? reference : referenceFromRows(rows, cached.today),
  );
  expect(await projectedDailySales(db(), merchantId)).toEqual(referenceDailySales(rows));
  const verified = await verifyDashboardProjections(db(), { merchantId, showProgress: false });
  expect(verified.differences).toBe(0);
}

// ---- random histories through the API ----------------------------------------------------------

interface ShopSpec {
  timeZone: string;
  products: Array<{ price: number; stock: number; threshold: number }>;
  customers: number;
}

type Command =
  | { kind: 'order'; shop: number; customer: number; lines: Array<{ product: number; quantity: number }> }
  | { kind: 'review'; shop: number; product: number; customer: number; rating: number }
  | {
      kind: 'patch';
      shop: number;
      product: number;
      patch: { stockQuantity?: number; reorderThreshold?: number; price?: number };
    };

const product = fc.record({
  price: fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.constantFrom(0, 100, 999)),
  stock: fc.integer({ min: 0, max: 20 }),
  threshold: fc.integer({ min: 0, max: 8 }),
});

const shopSpec: fc.Arbitrary<ShopSpec> = fc.record({
  timeZone: fc.constantFrom(...ZONES),
  // Small catalogues, or 21 to 24 products with few prices so that ties (unsold ones at least) straddle
  // the top-20 cut-off; up to 13 customers for the top 10.
  products: fc.oneof(
    fc.array(product, { minLength: 1, maxLength: 6 }),
    fc.array(product, { minLength: 21, maxLength: 24 }),
  ),
  customers: fc.integer({ min: 1, max: 13 }),
});

const quantity = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 8 },
  // More than any stock: the order must be refused and write nothing.
  { arbitrary: fc.constant(1_000), weight: 1 },
);

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .record({
        shop: fc.nat(),
        customer: fc.nat(),
        lines: fc.array(fc.record({ product: fc.nat(), quantity }), { minLength: 1, maxLength: 5 }),
        repeatFirst: fc.boolean(),
      })
      .map(({ repeatFirst, lines, ...rest }) => ({
        kind: 'order' as const,
        ...rest,
        // The same product on two lines of one order.
        lines: repeatFirst ? [...lines, { ...lines[0]!, quantity: 1 }] : lines,
      })),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('review' as const),
      shop: fc.nat(),
      product: fc.nat(),
      customer: fc.nat(),
      rating: fc.integer({ min: 1, max: 5 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('patch' as const),
      shop: fc.nat(),
      product: fc.nat(),
      patch: fc.record(
        {
          stockQuantity: fc.integer({ min: 0, max: 15 }),
          reorderThreshold: fc.integer({ min: 0, max: 10 }),
          price: fc.integer({ min: 0, max: 6_000 }),
        },
        { requiredKeys: [] },
      ),
    }),
  },
);

/** What the model expects of the catalogue: stock and list price per product, kept beside the API's. */
interface ShopModel {
  fixture: ShopFixture;
  stock: Map<number, number>;
  price: Map<number, number>;
}

async function applyCommand(models: ShopModel[], headers: Record<string, string>, step: Command) {
  const model = models[step.shop % models.length]!;
  const { fixture } = model;
  const productAt = (index: number) => fixture.productIds[index % fixture.productIds.length]!;
  const customerAt = (index: number) => fixture.customerIds[index % fixture.customerIds.length]!;

  if (step.kind === 'order') {
    const items = step.lines.map((line) => ({ productId: productAt(line.product), quantity: line.quantity }));
    const wanted = new Map<number, number>();
    for (const item of items) wanted.set(item.productId, (wanted.get(item.productId) ?? 0) + item.quantity);
    const short = [...wanted].some(([id, count]) => count > model.stock.get(id)!);
    const response = await context.app.inject({
      method: 'POST',
      url: `/v1/merchants/${fixture.merchantId}/orders`,
      headers,
      payload: { customerId: customerAt(step.customer), items },
    });
    if (short) {
      expect(response.statusCode, response.body).toBe(409);
      return;
    }
    expect(response.statusCode, response.body).toBe(201);
    const expectedTotal = [...wanted].reduce((sum, [id, count]) => sum + count * model.price.get(id)!, 0);
    expect(response.json().total).toBe(expectedTotal);
    for (const [id, count] of wanted) model.stock.set(id, model.stock.get(id)! - count);
    return;
  }
  if (step.kind === 'review') {
    const response = await context.app.inject({
      method: 'POST',
      url: `/v1/products/${productAt(step.product)}/reviews`,
      headers,
      payload: { customerId: customerAt(step.customer), rating: step.rating },
    });
    expect(response.statusCode, response.body).toBe(201);
    return;
  }
  if (Object.keys(step.patch).length === 0) return;
  const productId = productAt(step.product);
  const response = await context.app.inject({
    method: 'PATCH',
    url: `/v1/products/${productId}`,
    headers,
    payload: step.patch,
  });
  expect(response.statusCode, response.body).toBe(200);
  if (step.patch.stockQuantity !== undefined) model.stock.set(productId, step.patch.stockQuantity);
  if (step.patch.price !== undefined) model.price.set(productId, step.patch.price);
}

describe('the dashboard against a naive reference', () => {
  it('equals the reference after any history of orders, reviews and product changes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(shopSpec, { minLength: 1, maxLength: 2 }),
        fc.array(command, { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        async (specs, commands, readBetween) => {
          const models: ShopModel[] = [];
          for (const spec of specs) {
            const fixture = await createShop(context, nextMerchantId('ref'), {
              timeZone: spec.timeZone,
              products: spec.products,
              customers: spec.customers,
            });
            models.push({
              fixture,
              stock: new Map(
                spec.products.map((product, index) => [fixture.productIds[index]!, product.stock]),
              ),
              price: new Map(
                spec.products.map((product, index) => [fixture.productIds[index]!, product.price]),
              ),
            });
          }
          const headers = owner(models.map((model) => model.fixture.merchantId));
          for (const [index, step] of commands.entries()) {
            await applyCommand(models, headers, step);
            // Sometimes read (and cache) midway, so later writes must invalidate a warm entry.
            if (readBetween && index % 7 === 3) {
              await fetchDashboard(models[step.shop % models.length]!.fixture.merchantId, headers, false);
            }
          }
          for (const model of models) {
            await expectDashboardMatchesReference(model.fixture.merchantId, headers);
            // Refused orders wrote nothing; accepted ones took exactly their quantities.
            const { rows } = await sql<{ product_id: number; stock_quantity: number }>`
              SELECT product_id, stock_quantity FROM products WHERE merchant_id = ${model.fixture.merchantId}`.execute(
              db(),
            );
            expect(new Map(rows.map((row) => [row.product_id, row.stock_quantity]))).toEqual(model.stock);
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('ranks ties by id, keeps unsold products and silent customers, and cuts at 20 and 10', async () => {
    // Every product at the same price and every customer spending the same: only ids order them.
    const fixture = await createShop(context, nextMerchantId('ties'), {
      products: Array.from({ length: 25 }, () => ({ price: 500, stock: 50, threshold: 60 })),
      customers: 12,
    });
    const headers = owner([fixture.merchantId]);
    for (const [index, customerId] of fixture.customerIds.entries()) {
      if (index >= 11) break;
      const response = await context.app.inject({
        method: 'POST',
        url: `/v1/merchants/${fixture.merchantId}/orders`,
        headers,
        payload: { customerId, items: [{ productId: fixture.productIds[24 - index]!, quantity: 1 }] },
      });
      expect(response.statusCode, response.body).toBe(201);
    }
    await expectDashboardMatchesReference(fixture.merchantId, headers);
    const dashboard = await fetchDashboard(fixture.merchantId, headers, true);
    expect(dashboard.topProducts).toHaveLength(20);
    expect(dashboard.topCustomers).toHaveLength(10);
    expect(dashboard.lowStock).toHaveLength(25);
  });
});

// ---- the fan-out trap ----------------------------------------------------------------------------

describe("the write-up's single JOIN", () => {
  it('would inflate revenue and units where the dashboard does not', async () => {
    const fixture = await createShop(context, nextMerchantId('fanout'), {
      products: [{ price: 1000, stock: 100 }],
      customers: 3,
    });
    const headers = owner([fixture.merchantId]);
    const [productId] = fixture.productIds as [number];
    for (const customerId of fixture.customerIds) {
      const ordered = await context.app.inject({
        method: 'POST',
        url: `/v1/merchants/${fixture.merchantId}/orders`,
        headers,
        payload: { customerId, items: [{ productId, quantity: 2 }] },
      });
      expect(ordered.statusCode).toBe(201);
      const reviewed = await context.app.inject({
        method: 'POST',
        url: `/v1/products/${productId}/reviews`,
        headers,
        payload: { customerId, rating: 4 },
      });
      expect(reviewed.statusCode).toBe(201);
    }
    const { rows } = await sql<{ total_sold: number; revenue: number }>`
      SELECT coalesce(sum(oi.quantity), 0)::int AS total_sold,
             coalesce(sum(oi.quantity * oi.unit_price_minor), 0)::int AS revenue
      FROM products p
      LEFT JOIN reviews r ON r.product_id = p.product_id
      LEFT JOIN order_items oi ON oi.product_id = p.product_id
      WHERE p.merchant_id = ${fixture.merchantId}
      GROUP BY p.product_id`.execute(db());
    // 3 order items × 3 reviews: every sum counted three times.
    expect(rows[0]).toEqual({ total_sold: 18, revenue: 18_000 });
    const dashboard = await fetchDashboard(fixture.merchantId, headers, true);
    expect(dashboard.topProducts[0]).toMatchObject({ unitsSold: 6, revenue: 6_000, reviewCount: 3 });
    await expectDashboardMatchesReference(fixture.merchantId, headers);
  });
});

// ---- the merchant's day ---------------------------------------------------------------------------

/** Orders inserted directly with chosen timestamps (each with one item, so the base tables agree). */
async function insertOrdersAt(fixture: ShopFixture, instants: Date[], price: number) {
  const productId = fixture.productIds[0]!;
  for (const [index, instant] of instants.entries()) {
    const customerId = fixture.customerIds[index % fixture.customerIds.length]!;
    const quantity = 1 + (index % 3);
    await sql`WITH placed AS (
        INSERT INTO orders (merchant_id, customer_id, total_minor, created_at)
        VALUES (${fixture.merchantId}, ${customerId}, ${quantity * price}, ${instant.toISOString()}::timestamptz)
        RETURNING order_id)
      INSERT INTO order_items (order_id, product_id, quantity, unit_price_minor)
      SELECT order_id, ${productId}, ${quantity}, ${price} FROM placed`.execute(db());
  }
}

const shiftDay = (day: string, days: number) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

describe("the merchant's day", () => {
  it('counts orders around local midnight on the local day, in zones far from UTC', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ZONES),
        fc.array(
          fc.record({
            // Which local midnight: yesterday's, today's or tomorrow's start (relative to the local today).
            day: fc.integer({ min: -1, max: 1 }),
            offsetMs: fc.oneof(
              fc.constantFrom(-1, 0, 1, -1_000, 999),
              fc.integer({ min: -3 * 3_600_000, max: 3 * 3_600_000 }),
            ),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        async (timeZone, around) => {
          const fixture = await createShop(context, nextMerchantId('midnight'), {
            timeZone,
            products: [{ price: 250, stock: 1_000 }],
            customers: 2,
          });
          const today = localDay(new Date(), timeZone);
          const instants = around.map(
            ({ day, offsetMs }) =>
              new Date(localMidnight(shiftDay(today, day), timeZone).getTime() + offsetMs),
          );
          await insertOrdersAt(fixture, instants, 250);
          await rebuildDashboardProjections(db(), { merchantId: fixture.merchantId, showProgress: false });
          await expectDashboardMatchesReference(fixture.merchantId, owner([fixture.merchantId]));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('finds local midnight where the zone says it is', () => {
    // Kiritimati is UTC+14: its day starts at 10:00 UTC the day before.
    expect(localMidnight('2024-03-10', 'Pacific/Kiritimati').toISOString()).toBe('2024-03-09T10:00:00.000Z');
    // Auckland in daylight saving (UTC+13) and not (UTC+12).
    expect(localMidnight('2024-01-15', 'Pacific/Auckland').toISOString()).toBe('2024-01-14T11:00:00.000Z');
    expect(localMidnight('2024-07-15', 'Pacific/Auckland').toISOString()).toBe('2024-07-14T12:00:00.000Z');
    expect(localMidnight('2024-07-15', 'America/St_Johns').toISOString()).toBe('2024-07-15T02:30:00.000Z');
  });

  it('puts orders placed through the API now on the local day, and counts them today', async () => {
    for (const timeZone of ZONES) {
      const fixture = await createShop(context, nextMerchantId('now'), {
        timeZone,
        products: [{ price: 700, stock: 10 }],
        customers: 1,
      });
      const headers = owner([fixture.merchantId]);
      // One order a day earlier (inserted), so "today" must tell the two apart.
      await insertOrdersAt(fixture, [new Date(Date.now() - 86_400_000)], 700);
      await rebuildDashboardProjections(db(), { merchantId: fixture.merchantId, showProgress: false });
      const placed = await context.app.inject({
        method: 'POST',
        url: `/v1/merchants/${fixture.merchantId}/orders`,
        headers,
        payload: {
          customerId: fixture.customerIds[0],
          items: [{ productId: fixture.productIds[0], quantity: 2 }],
        },
      });
      expect(placed.statusCode, placed.body).toBe(201);
      const placedDay = localDay(new Date(placed.json().createdAt), timeZone);
      const days = await projectedDailySales(db(), fixture.merchantId);
      expect(days.get(placedDay)).toEqual({ orderCount: 1, revenue: 1_400 });
      const dashboard = await fetchDashboard(fixture.merchantId, headers, false);
      if (dashboard.today === placedDay) {
        expect(dashboard).toMatchObject({ todayOrders: 1, todayRevenue: 1_400, totalOrders: 2 });
      }
      expect(withoutComputedAt(dashboard)).toEqual(
        await referenceDashboard(db(), fixture.merchantId, dashboard.today),
      );
      await expectDashboardMatchesReference(fixture.merchantId, headers);
    }
  });
});
