import { sql } from 'kysely';
import type { AnyKysely } from '../../src/platform/db/database.ts';

/**
 * The dashboard as the write-up's "before" code computed it: every base row of the merchant read with
 * plain SELECTs and aggregated in JavaScript, one source table at a time, so nothing is multiplied by a
 * join. Slow and obviously right; the projections and the one-statement read must agree with it.
 */
export interface ReferenceDashboard {
  merchant: { id: string; name: string; timeZone: string; currency: string };
  today: string;
  totalRevenue: number;
  totalOrders: number;
  todayRevenue: number;
  todayOrders: number;
  topProducts: Array<{
    id: number;
    name: string;
    averageRating: number | null;
    reviewCount: number;
    unitsSold: number;
    revenue: number;
  }>;
  topCustomers: Array<{ id: number; name: string; orderCount: number; totalSpent: number }>;
  lowStock: Array<{ id: number; name: string; stockQuantity: number; reorderThreshold: number }>;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The calendar date (YYYY-MM-DD) of an instant in an IANA time zone, by the JS runtime's tz data. */
export function localDay(instant: Date, timeZone: string): string {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter.format(instant);
}

/** The instant a local date starts in a zone (its first local midnight), found by search on the offset. */
export function localMidnight(day: string, timeZone: string): Date {
  // Start from midnight UTC of that date and correct by the zone's offset; two rounds settle DST edges.
  let guess = Date.parse(`${day}T00:00:00Z`);
  for (let round = 0; round < 3; round++) {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    }).formatToParts(new Date(guess));
    const get = (type: string) => Number(parts.find((part) => part.type === type)?.value);
    const shown = Date.UTC(
      get('year'),
      get('month') - 1,
      get('day'),
      get('hour'),
      get('minute'),
      get('second'),
    );
    guess += Date.parse(`${day}T00:00:00Z`) - shown;
  }
  return new Date(guess);
}

/** Round half away from zero to 2 decimals, in integers: avg = sum / count with positive operands. */
function averageOf(sum: number, count: number): number | null {
  if (count === 0) return null;
  return Math.floor((200 * sum + count) / (2 * count)) / 100;
}

const byDescThenId =
  <T extends { id: number }>(value: (row: T) => number) =>
  (a: T, b: T) =>
    value(b) - value(a) || a.id - b.id;

export interface BaseRows {
  merchant: { merchant_id: string; name: string; time_zone: string; currency: string };
  orders: Array<{ order_id: number; customer_id: number; total_minor: number; created_at: Date }>;
  items: Array<{ order_id: number; product_id: number; quantity: number; unit_price_minor: number }>;
  reviews: Array<{ product_id: number; rating: number }>;
  products: Array<{
    product_id: number;
    name: string;
    price_minor: number;
    stock_quantity: number;
    reorder_threshold: number;
  }>;
  customers: Array<{ customer_id: number; name: string }>;
}

/** Every base row of one merchant, table by table. */
export async function readBaseRows(db: AnyKysely, merchantId: string): Promise<BaseRows> {
  const merchant = (
    await sql<BaseRows['merchant']>`SELECT merchant_id, name, time_zone, currency FROM merchants
      WHERE merchant_id = ${merchantId}`.execute(db)
  ).rows[0];
  if (!merchant) throw new Error(`no merchant ${merchantId}`);
  const orders = (
    await sql<BaseRows['orders'][number]>`SELECT order_id, customer_id, total_minor, created_at FROM orders
      WHERE merchant_id = ${merchantId}`.execute(db)
  ).rows;
  const products = (
    await sql<
      BaseRows['products'][number]
    >`SELECT product_id, name, price_minor, stock_quantity, reorder_threshold
      FROM products WHERE merchant_id = ${merchantId}`.execute(db)
  ).rows;
  const productIds = products.map((product) => product.product_id);
  const orderIds = orders.map((order) => order.order_id);
  const items = (
    await sql<
      BaseRows['items'][number]
    >`SELECT order_id, product_id, quantity, unit_price_minor FROM order_items
      WHERE order_id = ANY(${orderIds}::bigint[])`.execute(db)
  ).rows;
  const reviews = (
    await sql<BaseRows['reviews'][number]>`SELECT product_id, rating FROM reviews
      WHERE product_id = ANY(${productIds}::bigint[])`.execute(db)
  ).rows;
  const customers = (
    await sql<BaseRows['customers'][number]>`SELECT customer_id, name FROM customers
      WHERE merchant_id = ${merchantId}`.execute(db)
  ).rows;
  return { merchant, orders, items, reviews, products, customers };
}

/** The dashboard for `today` (a YYYY-MM-DD date in the merchant's zone), aggregated in JS. */
export function referenceFromRows(rows: BaseRows, today: string): ReferenceDashboard {
  const zone = rows.merchant.time_zone;
  const todays = rows.orders.filter((order) => localDay(order.created_at, zone) === today);
  const sold = new Map<number, { units: number; revenue: number }>();
  for (const item of rows.items) {
    const entry = sold.get(item.product_id) ?? { units: 0, revenue: 0 };
    entry.units += item.quantity;
    entry.revenue += item.quantity * item.unit_price_minor;
    sold.set(item.product_id, entry);
  }
  const rated = new Map<number, { sum: number; count: number }>();
  for (const review of rows.reviews) {
    const entry = rated.get(review.product_id) ?? { sum: 0, count: 0 };
    entry.sum += review.rating;
    entry.count += 1;
    rated.set(review.product_id, entry);
  }
  const bought = new Map<number, { count: number; spent: number }>();
  for (const order of rows.orders) {
    const entry = bought.get(order.customer_id) ?? { count: 0, spent: 0 };
    entry.count += 1;
    entry.spent += order.total_minor;
    bought.set(order.customer_id, entry);
  }
  const products = rows.products.map((product) => {
    const sales = sold.get(product.product_id) ?? { units: 0, revenue: 0 };
    const ratings = rated.get(product.product_id) ?? { sum: 0, count: 0 };
    return {
      id: product.product_id,
      name: product.name,
      averageRating: averageOf(ratings.sum, ratings.count),
      reviewCount: ratings.count,
      unitsSold: sales.units,
      revenue: sales.revenue,
    };
  });
  const customers = rows.customers.map((customer) => {
    const orders = bought.get(customer.customer_id) ?? { count: 0, spent: 0 };
    return {
      id: customer.customer_id,
      name: customer.name,
      orderCount: orders.count,
      totalSpent: orders.spent,
    };
  });
  const sum = (orders: BaseRows['orders']) => orders.reduce((total, order) => total + order.total_minor, 0);
  return {
    merchant: {
      id: rows.merchant.merchant_id,
      name: rows.merchant.name,
      timeZone: zone,
      currency: rows.merchant.currency,
    },
    today,
    totalRevenue: sum(rows.orders),
    totalOrders: rows.orders.length,
    todayRevenue: sum(todays),
    todayOrders: todays.length,
    topProducts: products.sort(byDescThenId((product) => product.revenue)).slice(0, 20),
    topCustomers: customers.sort(byDescThenId((customer) => customer.totalSpent)).slice(0, 10),
    lowStock: rows.products
      .filter((product) => product.stock_quantity < product.reorder_threshold)
      .map((product) => ({
        id: product.product_id,
        name: product.name,
        stockQuantity: product.stock_quantity,
        reorderThreshold: product.reorder_threshold,
      }))
      .sort((a, b) => a.stockQuantity - b.stockQuantity || a.id - b.id),
  };
}

export async function referenceDashboard(
  db: AnyKysely,
  merchantId: string,
  today: string,
): Promise<ReferenceDashboard> {
  return referenceFromRows(await readBaseRows(db, merchantId), today);
}

/** Sales per local day, from the orders; keyed by YYYY-MM-DD. */
export function referenceDailySales(rows: BaseRows): Map<string, { orderCount: number; revenue: number }> {
  const days = new Map<string, { orderCount: number; revenue: number }>();
  for (const order of rows.orders) {
    const day = localDay(order.created_at, rows.merchant.time_zone);
    const entry = days.get(day) ?? { orderCount: 0, revenue: 0 };
    entry.orderCount += 1;
    entry.revenue += order.total_minor;
    days.set(day, entry);
  }
  return days;
}

/** The `merchant_daily_sales` projection as the same map. */
export async function projectedDailySales(
  db: AnyKysely,
  merchantId: string,
): Promise<Map<string, { orderCount: number; revenue: number }>> {
  const { rows } = await sql<{ day: string; order_count: number; revenue_minor: number }>`
    SELECT to_char(day, 'YYYY-MM-DD') AS day, order_count, revenue_minor FROM merchant_daily_sales
    WHERE merchant_id = ${merchantId}`.execute(db);
  return new Map(rows.map((row) => [row.day, { orderCount: row.order_count, revenue: row.revenue_minor }]));
}

/** A dashboard answer without the one field that is allowed to differ between two reads. */
export function withoutComputedAt<T extends { computedAt?: unknown }>(dashboard: T): Omit<T, 'computedAt'> {
  const { computedAt: _computedAt, ...rest } = dashboard;
  return rest;
}
