import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDashboardProjections } from '../../src/modules/dashboard/operations/projections.ts';
import { createShop, type ShopFixture } from '../support/dashboard.ts';
import { costOf, createTestContext, type TestContext } from '../support/harness.ts';

let context: TestContext;
let shop: ShopFixture;
const owner = () => context.auth('author', 'shop-owner', { merchants: ['shop-1'] });

beforeAll(async () => {
  context = await createTestContext();
  shop = await createShop(context, 'shop-1', {
    products: [
      { name: 'Kettle', price: 2999, stock: 10, threshold: 3 },
      { name: 'Teapot', price: 1550, stock: 5, threshold: 1 },
      { name: 'Mug', price: 499, stock: 2, threshold: 5 },
    ],
    customers: 2,
  });
  await createShop(context, 'shop-2');
});
afterAll(async () => {
  await context.close();
});

const dashboard = (headers = owner()) =>
  context.app.inject({ method: 'GET', url: '/v1/merchants/shop-1/dashboard', headers });
const order = (
  customerId: number,
  items: Array<{ productId: number; quantity: number }>,
  headers = owner(),
) =>
  context.app.inject({
    method: 'POST',
    url: '/v1/merchants/shop-1/orders',
    headers,
    payload: { customerId, items },
  });

describe('the merchant dashboard', () => {
  it('answers in one statement on a miss and none on a hit, and every write invalidates it', async () => {
    const [kettle, teapot, mug] = shop.productIds as [number, number, number];
    const [alice, bob] = shop.customerIds as [number, number];
    const empty = await dashboard();
    expect(empty.statusCode).toBe(200);
    expect(costOf(empty.headers).queries).toBe(1);
    expect(empty.headers['server-timing']).toContain('cache;desc="miss"');
    expect(empty.json()).toMatchObject({
      totalRevenue: 0,
      totalOrders: 0,
      todayOrders: 0,
      lowStock: [{ id: mug, stockQuantity: 2 }],
    });
    const hit = await dashboard();
    expect(costOf(hit.headers).queries).toBe(0);
    expect(hit.headers['server-timing']).toContain('cache;desc="hit"');

    const placed = await order(alice, [
      { productId: kettle, quantity: 2 },
      { productId: teapot, quantity: 1 },
      { productId: kettle, quantity: 1 },
    ]);
    expect(placed.statusCode, placed.body).toBe(201);
    expect(placed.json()).toMatchObject({ total: 3 * 2999 + 1550 });
    await order(bob, [{ productId: mug, quantity: 1 }]);
    const review = await context.app.inject({
      method: 'POST',
      url: `/v1/products/${kettle}/reviews`,
      headers: owner(),
      payload: { customerId: bob, rating: 4 },
    });
    expect(review.statusCode).toBe(201);
    await context.app.inject({
      method: 'POST',
      url: `/v1/products/${kettle}/reviews`,
      headers: owner(),
      payload: { customerId: alice, rating: 5 },
    });

    const after = await dashboard();
    expect(costOf(after.headers).queries).toBe(1);
    expect(after.json()).toMatchObject({
      totalRevenue: 3 * 2999 + 1550 + 499,
      totalOrders: 2,
      todayRevenue: 3 * 2999 + 1550 + 499,
      todayOrders: 2,
      topProducts: [
        { id: kettle, unitsSold: 3, revenue: 8997, averageRating: 4.5, reviewCount: 2 },
        { id: teapot, unitsSold: 1, revenue: 1550, averageRating: null },
        { id: mug, unitsSold: 1, revenue: 499 },
      ],
      topCustomers: [
        { id: alice, orderCount: 1, totalSpent: 3 * 2999 + 1550 },
        { id: bob, orderCount: 1, totalSpent: 499 },
      ],
      lowStock: [{ id: mug, stockQuantity: 1, reorderThreshold: 5 }],
    });

    const patched = await context.app.inject({
      method: 'PATCH',
      url: `/v1/products/${mug}`,
      headers: owner(),
      payload: { stockQuantity: 50 },
    });
    expect(patched.json()).toMatchObject({ stockQuantity: 50 });
    expect((await dashboard()).json().lowStock).toEqual([]);

    const verified = await verifyDashboardProjections(context.runtime.database.db, { showProgress: false });
    expect(verified.differences).toBe(0);
  });

  it('refuses an order that would oversell, writing nothing', async () => {
    const [kettle, , mug] = shop.productIds as [number, number, number];
    const before = (await dashboard()).json();
    const refused = await order(shop.customerIds[0] as number, [
      { productId: kettle, quantity: 1 },
      { productId: mug, quantity: 1_000 },
    ]);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().detail).toContain(`product ${mug}`);
    const after = (await dashboard()).json();
    expect(after.totalOrders).toBe(before.totalOrders);
    expect(after.topProducts).toEqual(before.topProducts);
  });

  it('answers bad input with problem+json', async () => {
    const [kettle] = shop.productIds as [number];
    const customer = shop.customerIds[0] as number;
    expect((await order(customer, [{ productId: kettle, quantity: 0 }])).statusCode).toBe(400);
    expect((await order(customer, [])).statusCode).toBe(400);
    expect((await order(customer, [{ productId: 999_999, quantity: 1 }])).statusCode).toBe(404);
    expect((await order(999_999, [{ productId: kettle, quantity: 1 }])).statusCode).toBe(404);
    const rating = await context.app.inject({
      method: 'POST',
      url: `/v1/products/${kettle}/reviews`,
      headers: owner(),
      payload: { customerId: customer, rating: 6 },
    });
    expect(rating.statusCode).toBe(400);
    expect(
      (
        await context.app.inject({
          method: 'PATCH',
          url: '/v1/products/999999',
          headers: owner(),
          payload: { price: 1 },
        })
      ).statusCode,
    ).toBe(404);
    expect(
      (
        await context.app.inject({
          method: 'PATCH',
          url: `/v1/products/${kettle}`,
          headers: owner(),
          payload: {},
        })
      ).statusCode,
    ).toBe(400);
    expect(
      (
        await context.app.inject({
          method: 'GET',
          url: '/v1/merchants/nope/dashboard',
          headers: context.auth('admin'),
        })
      ).statusCode,
    ).toBe(404);
    const other = context.auth('author', 'other-owner', { merchants: ['shop-2'] });
    expect((await dashboard(other)).statusCode).toBe(403);
    expect((await order(customer, [{ productId: kettle, quantity: 1 }], other)).statusCode).toBe(403);
    expect(
      (
        await context.app.inject({
          method: 'PATCH',
          url: `/v1/products/${kettle}`,
          headers: other,
          payload: { price: 1 },
        })
      ).statusCode,
    ).toBe(403);
    const tooDear = await context.app.inject({
      method: 'PATCH',
      url: `/v1/products/${kettle}`,
      headers: owner(),
      payload: { price: 10_000_000_001 },
    });
    expect(tooDear.statusCode).toBe(400);
    await context.app.inject({
      method: 'PATCH',
      url: `/v1/products/${kettle}`,
      headers: owner(),
      payload: { price: 10_000_000_000, stockQuantity: 1_000_000 },
    });
    const inexact = await order(customer, [{ productId: kettle, quantity: 1_000_000 }]);
    expect(inexact.statusCode).toBe(400);
    expect(inexact.json().detail).toContain('too large');
    const mine = await context.app.inject({ method: 'GET', url: '/v1/merchants', headers: other });
    expect(mine.json().merchants.map((merchant: { id: string }) => merchant.id)).toEqual(['shop-2']);
  });
});
