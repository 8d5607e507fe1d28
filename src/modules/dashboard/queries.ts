import { type Kysely, sql } from 'kysely';
import type { DB } from '../../tables.ts';
import type { DailySales, Dashboard } from './schemas.ts';

interface DashboardRow {
  merchant_id: string;
  name: string;
  time_zone: string;
  currency: string;
  today: string;
  total_revenue: number;
  total_orders: number;
  today_revenue: number;
  today_orders: number;
  top_products: Array<{
    id: number;
    name: string;
    average_rating: number | null;
    review_count: number;
    units_sold: number;
    revenue: number;
  }>;
  top_customers: Array<{ id: number; name: string; order_count: number; total_spent: number }>;
  low_stock: Array<{ id: number; name: string; stock_quantity: number; reorder_threshold: number }>;
}

/**
 * The whole dashboard in one statement, every part read from a projection through an index: totals and
 * today's sales by primary key, the top 20 products and top 10 customers from their ranking indexes, the
 * low-stock products from a partial index. Nothing read grows with the merchant's history.
 */
export async function merchantDashboard(db: Kysely<DB>, merchantId: string): Promise<Dashboard | undefined> {
  const { rows } = await sql<DashboardRow>`/* dashboard.read */
    SELECT m.merchant_id, m.name, m.time_zone, m.currency,
           to_char((now() AT TIME ZONE m.time_zone)::date, 'YYYY-MM-DD') AS today,
           coalesce(t.revenue_minor, 0) AS total_revenue, coalesce(t.order_count, 0) AS total_orders,
           coalesce(d.revenue_minor, 0) AS today_revenue, coalesce(d.order_count, 0) AS today_orders,
           coalesce((SELECT jsonb_agg(top ORDER BY top.revenue DESC, top.id) FROM (
              SELECT s.product_id AS id, p.name, s.units_sold, s.revenue_minor AS revenue, s.rating_count AS review_count,
                     CASE WHEN s.rating_count > 0 THEN round(s.rating_sum::numeric / s.rating_count, 2)::float8 END AS average_rating
              FROM product_stats s JOIN products p ON p.product_id = s.product_id
              WHERE s.merchant_id = m.merchant_id
              ORDER BY s.revenue_minor DESC, s.product_id
              LIMIT 20) top), '[]'::jsonb) AS top_products,
           coalesce((SELECT jsonb_agg(top ORDER BY top.total_spent DESC, top.id) FROM (
              SELECT s.customer_id AS id, c.name, s.order_count, s.total_spent_minor AS total_spent
              FROM customer_stats s JOIN customers c ON c.customer_id = s.customer_id
              WHERE s.merchant_id = m.merchant_id
              ORDER BY s.total_spent_minor DESC, s.customer_id
              LIMIT 10) top), '[]'::jsonb) AS top_customers,
           coalesce((SELECT jsonb_agg(low ORDER BY low.stock_quantity, low.id) FROM (
              SELECT product_id AS id, name, stock_quantity, reorder_threshold
              FROM products
              WHERE merchant_id = m.merchant_id AND stock_quantity < reorder_threshold) low), '[]'::jsonb) AS low_stock
    FROM merchants m
    LEFT JOIN merchant_totals t ON t.merchant_id = m.merchant_id
    LEFT JOIN merchant_daily_sales d ON d.merchant_id = m.merchant_id AND d.day = (now() AT TIME ZONE m.time_zone)::date
    WHERE m.merchant_id = ${merchantId}`.execute(db);
  const row = rows[0];
  if (!row) return undefined;
  return {
    merchant: { id: row.merchant_id, name: row.name, timeZone: row.time_zone, currency: row.currency },
    today: row.today,
    computedAt: new Date().toISOString(),
    totalRevenue: row.total_revenue,
    totalOrders: row.total_orders,
    todayRevenue: row.today_revenue,
    todayOrders: row.today_orders,
    topProducts: row.top_products.map((product) => ({
      id: product.id,
      name: product.name,
      averageRating: product.average_rating,
      reviewCount: product.review_count,
      unitsSold: product.units_sold,
      revenue: product.revenue,
    })),
    topCustomers: row.top_customers.map((customer) => ({
      id: customer.id,
      name: customer.name,
      orderCount: customer.order_count,
      totalSpent: customer.total_spent,
    })),
    lowStock: row.low_stock.map((product) => ({
      id: product.id,
      name: product.name,
      stockQuantity: product.stock_quantity,
      reorderThreshold: product.reorder_threshold,
    })),
  };
}

/**
 * Revenue and orders per day over the last `days` days, today included, each day in the merchant's own
 * time zone (as the projection records them): one statement, a range of the per-day projection's
 * primary key, whatever the shop's history. Days without orders are there, with zeros.
 */
export async function dailySales(
  db: Kysely<DB>,
  merchantId: string,
  days: number,
): Promise<DailySales | undefined> {
  const { rows } = await sql<{
    merchant_id: string;
    time_zone: string;
    currency: string;
    from_day: string;
    to_day: string;
    days: Array<{ date: string; orders: number; revenue: number }>;
  }>`/* dashboard.dailySales */
    SELECT m.merchant_id, m.time_zone, m.currency,
           to_char(w.first_day, 'YYYY-MM-DD') AS from_day, to_char(w.today, 'YYYY-MM-DD') AS to_day,
           (SELECT jsonb_agg(jsonb_build_object(
                     'date', to_char(d.day, 'YYYY-MM-DD'),
                     'orders', coalesce(s.order_count, 0),
                     'revenue', coalesce(s.revenue_minor, 0)) ORDER BY d.day)
            FROM (SELECT w.first_day + n AS day FROM generate_series(0, ${days - 1}) AS n) d
            LEFT JOIN merchant_daily_sales s
              ON s.merchant_id = m.merchant_id AND s.day = d.day
             AND s.day BETWEEN w.first_day AND w.today) AS days
    FROM merchants m
    CROSS JOIN LATERAL (
      SELECT (now() AT TIME ZONE m.time_zone)::date AS today,
             (now() AT TIME ZONE m.time_zone)::date - ${days - 1}::int AS first_day
    ) w
    WHERE m.merchant_id = ${merchantId}`.execute(db);
  const row = rows[0];
  if (!row) return undefined;
  return {
    merchant: { id: row.merchant_id, timeZone: row.time_zone, currency: row.currency },
    from: row.from_day,
    to: row.to_day,
    days: row.days,
  };
}

export async function merchants(
  db: Kysely<DB>,
  only: string[] | undefined,
): Promise<Array<{ id: string; name: string; timeZone: string; currency: string }>> {
  const { rows } = await sql<{ merchant_id: string; name: string; time_zone: string; currency: string }>`
    /* dashboard.merchants */
    SELECT merchant_id, name, time_zone, currency FROM merchants
    WHERE ${only === undefined} OR merchant_id = ANY(${only ?? []}::text[])
    ORDER BY merchant_id`.execute(db);
  return rows.map((row) => ({
    id: row.merchant_id,
    name: row.name,
    timeZone: row.time_zone,
    currency: row.currency,
  }));
}
