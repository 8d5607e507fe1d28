import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShop, type ShopFixture } from '../support/dashboard.ts';
import { costOf, createTestContext, type TestContext } from '../support/harness.ts';

let context: TestContext;
let shop: ShopFixture;
const owner = () => context.auth('reader', 'shop-owner', { merchants: ['shop-k'] });

beforeAll(async () => {
  context = await createTestContext();
  // UTC+14: its "today" is a day ahead of UTC's for ten hours of every day, so a server-side day would show.
  shop = await createShop(context, 'shop-k', {
    timeZone: 'Pacific/Kiritimati',
    products: [{ name: 'Kettle', price: 2999, stock: 100 }],
    customers: 1,
  });
  await createShop(context, 'shop-z');
});
afterAll(async () => {
  await context.close();
});

const dailySales = (query = '', headers: Record<string, string> = owner()) =>
  context.app.inject({ method: 'GET', url: `/v1/merchants/shop-k/daily-sales${query}`, headers });

/** The date `offset` days from `date` (YYYY-MM-DD), as a calendar sees it. */
const plusDays = (date: string, offset: number) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + offset * 86_400_000).toISOString().slice(0, 10);

describe("a merchant's sales per day", () => {
  it("lists every one of the last 30 days, in the merchant's zone, in one statement", async () => {
    const [kettle] = shop.productIds as [number];
    const placed = await context.app.inject({
      method: 'POST',
      url: '/v1/merchants/shop-k/orders',
      headers: context.auth('author', 'shop-owner', { merchants: ['shop-k'] }),
      payload: { customerId: shop.customerIds[0], items: [{ productId: kettle, quantity: 2 }] },
    });
    expect(placed.statusCode, placed.body).toBe(201);
    const dashboard = (
      await context.app.inject({ method: 'GET', url: '/v1/merchants/shop-k/dashboard', headers: owner() })
    ).json();
    const today = dashboard.today as string;
    // Days before today, written as the projection would have been.
    await sql`INSERT INTO merchant_daily_sales (merchant_id, day, order_count, revenue_minor) VALUES
      ('shop-k', ${plusDays(today, -3)}::date, 4, 12000), ('shop-k', ${plusDays(today, -29)}::date, 1, 500),
      ('shop-k', ${plusDays(today, -30)}::date, 9, 99999)`.execute(context.runtime.database.db);

    const answer = await dailySales();
    expect(answer.statusCode, answer.body).toBe(200);
    expect(costOf(answer.headers).queries).toBe(1);
    expect(answer.headers['cache-control']).toBe('private, no-cache');
    const sales = answer.json();
    expect(sales.merchant).toEqual({ id: 'shop-k', timeZone: 'Pacific/Kiritimati', currency: 'EUR' });
    expect(sales.to).toBe(today);
    expect(sales.from).toBe(plusDays(today, -29));
    expect(sales.days).toHaveLength(30);
    expect(sales.days.map((day: { date: string }) => day.date)).toEqual(
      Array.from({ length: 30 }, (_, n) => plusDays(today, n - 29)),
    );
    expect(sales.days[29]).toEqual({ date: today, orders: 1, revenue: 2 * 2999 });
    expect(sales.days[26]).toEqual({ date: plusDays(today, -3), orders: 4, revenue: 12000 });
    expect(sales.days[0]).toEqual({ date: plusDays(today, -29), orders: 1, revenue: 500 });
    const quiet = sales.days.filter((day: { orders: number }) => day.orders === 0);
    expect(quiet).toHaveLength(27);
    expect(quiet.every((day: { revenue: number }) => day.revenue === 0)).toBe(true);

    const longer = (await dailySales('?days=90')).json();
    expect(longer.days).toHaveLength(90);
    expect(longer.days[59]).toEqual({ date: plusDays(today, -30), orders: 9, revenue: 99999 });
    expect((await dailySales('?days=1')).json().days).toEqual([{ date: today, orders: 1, revenue: 5998 }]);
  });

  it('is bounded to 90 days, and answers only for the merchants the token sees', async () => {
    for (const query of ['?days=0', '?days=91', '?days=3.5', '?days=all']) {
      const refused = await dailySales(query);
      expect(refused.statusCode, query).toBe(400);
      expect(refused.headers['content-type']).toContain('application/problem+json');
    }
    const other = context.auth('reader', 'other', { merchants: ['shop-z'] });
    expect((await dailySales('', other)).statusCode).toBe(403);
    const unknown = await context.app.inject({
      method: 'GET',
      url: '/v1/merchants/nope/daily-sales',
      headers: context.auth('admin'),
    });
    expect(unknown.statusCode).toBe(404);
    expect((await dailySales('', {})).statusCode).toBe(401);
    // A shop with no orders at all still has its days, all zero.
    const empty = await context.app.inject({
      method: 'GET',
      url: '/v1/merchants/shop-z/daily-sales?days=7',
      headers: other,
    });
    expect(empty.json().days.map((day: { orders: number }) => day.orders)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });
});
