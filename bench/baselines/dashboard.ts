import { sql } from 'kysely';
import { Type } from 'typebox';
import type { AnyKysely } from '../../src/platform/db/database.ts';
import type { RoutesPlugin } from '../../src/platform/http/app.ts';
import { notFound } from '../../src/platform/http/problems.ts';

interface OrderRow {
  order_id: number;
  customer_id: number;
  total_minor: number;
  created_at: Date;
}
interface ProductRow {
  product_id: number;
  name: string;
  stock_quantity: number;
  reorder_threshold: number;
}

const MerchantParams = Type.Object({ merchantId: Type.String() });

/** The write-up compared `created_at.date()` with `date.today()`: the server's day (UTC here), not the shop's. */
const serverToday = () => new Date().toISOString().slice(0, 10);

/**
 * The dashboard as the write-up's "before" served it, and as its "optimised" version did, kept only for
 * the benchmark.
 *
 * - `/bench/v1/…`: every order of the merchant loaded into the app to sum it; per product one query for
 *   its reviews and one for its order items; per customer one query for their orders; per product one
 *   more for its stock: the write-up's ~3,600 statements.
 * - `/bench/joined/…`: the write-up's five-query rewrite, whose product query joins reviews and order
 *   items to products in one GROUP BY. Each of a product's order items meets each of its reviews, so
 *   its units and revenue come out multiplied by its review count; the benchmark measures by how much.
 */
export function baselineDashboardRoutes(db: AnyKysely): RoutesPlugin {
  return async (app) => {
    app.get(
      '/bench/v1/merchants/:merchantId/dashboard',
      {
        schema: { hide: true, params: MerchantParams },
        // Declared honestly: the N+1 is what this route is for (3,600 statements for a typical merchant).
        config: { access: 'reader', queryBudget: 100_000 },
      },
      async (request) => {
        const { merchantId } = request.params;
        const merchant = (
          await sql<{ name: string }>`SELECT * FROM merchants WHERE merchant_id = ${merchantId}`.execute(db)
        ).rows[0];
        if (!merchant) throw notFound(`merchant ${merchantId} does not exist`);

        const orders = (
          await sql<OrderRow>`SELECT * FROM orders WHERE merchant_id = ${merchantId}`.execute(db)
        ).rows;
        const today = serverToday();
        const ordersToday = orders.filter((order) => order.created_at.toISOString().slice(0, 10) === today);

        const products = (
          await sql<ProductRow>`SELECT * FROM products WHERE merchant_id = ${merchantId}`.execute(db)
        ).rows;
        const productMetrics = [];
        for (const product of products) {
          const reviews = (
            await sql<{
              rating: number;
            }>`SELECT * FROM reviews WHERE product_id = ${product.product_id}`.execute(db)
          ).rows;
          const items = (
            await sql<{
              quantity: number;
              unit_price_minor: number;
            }>`SELECT * FROM order_items WHERE product_id = ${product.product_id}`.execute(db)
          ).rows;
          productMetrics.push({
            id: product.product_id,
            name: product.name,
            avg_rating: reviews.length
              ? reviews.reduce((sum, review) => sum + review.rating, 0) / reviews.length
              : 0,
            total_sold: items.reduce((sum, item) => sum + item.quantity, 0),
            revenue: items.reduce((sum, item) => sum + item.quantity * item.unit_price_minor, 0),
          });
        }

        const customers = (
          await sql<{
            customer_id: number;
            name: string;
          }>`SELECT * FROM customers WHERE merchant_id = ${merchantId}`.execute(db)
        ).rows;
        const customerData = [];
        for (const customer of customers) {
          const customerOrders = (
            await sql<OrderRow>`SELECT * FROM orders
              WHERE customer_id = ${customer.customer_id} AND merchant_id = ${merchantId}`.execute(db)
          ).rows;
          customerData.push({
            id: customer.customer_id,
            name: customer.name,
            order_count: customerOrders.length,
            total_spent: customerOrders.reduce((sum, order) => sum + order.total_minor, 0),
          });
        }

        // The write-up's "low stock check, ~200": the stock of each product read again, one by one.
        const lowStock = [];
        for (const product of products) {
          const stock = (
            await sql<ProductRow>`SELECT * FROM products WHERE product_id = ${product.product_id}`.execute(db)
          ).rows[0];
          if (stock && stock.stock_quantity < stock.reorder_threshold)
            lowStock.push({ name: stock.name, stock: stock.stock_quantity });
        }

        return {
          merchant: merchant.name,
          total_revenue: orders.reduce((sum, order) => sum + order.total_minor, 0),
          revenue_today: ordersToday.reduce((sum, order) => sum + order.total_minor, 0),
          orders_today: ordersToday.length,
          products: productMetrics.sort((a, b) => b.revenue - a.revenue).slice(0, 20),
          top_customers: customerData.sort((a, b) => b.total_spent - a.total_spent).slice(0, 10),
          low_stock_alerts: lowStock,
        };
      },
    );

    app.get(
      '/bench/joined/merchants/:merchantId/dashboard',
      {
        schema: { hide: true, params: MerchantParams },
        config: { access: 'reader', queryBudget: 5 },
      },
      async (request) => {
        const { merchantId } = request.params;
        const merchant = (
          await sql<{ name: string }>`SELECT name FROM merchants WHERE merchant_id = ${merchantId}`.execute(
            db,
          )
        ).rows[0];
        if (!merchant) throw notFound(`merchant ${merchantId} does not exist`);
        const revenue = (
          await sql<{ total_revenue: number; revenue_today: number; orders_today: number }>`
            SELECT coalesce(sum(total_minor), 0)::bigint AS total_revenue,
                   coalesce(sum(CASE WHEN created_at::date = current_date THEN total_minor ELSE 0 END), 0)::bigint
                     AS revenue_today,
                   coalesce(sum(CASE WHEN created_at::date = current_date THEN 1 ELSE 0 END), 0)::bigint AS orders_today
            FROM orders WHERE merchant_id = ${merchantId}`.execute(db)
        ).rows[0]!;
        // The write-up's "single query with JOINs": the fan-out is the point.
        const products = (
          await sql<{ id: number; name: string; avg_rating: number; total_sold: number; revenue: number }>`
            SELECT p.product_id AS id, p.name,
                   coalesce(avg(r.rating), 0)::float8 AS avg_rating,
                   coalesce(sum(oi.quantity), 0)::bigint AS total_sold,
                   coalesce(sum(oi.quantity * oi.unit_price_minor), 0)::bigint AS revenue
            FROM products p
            LEFT JOIN reviews r ON r.product_id = p.product_id
            LEFT JOIN order_items oi ON oi.product_id = p.product_id
            WHERE p.merchant_id = ${merchantId}
            GROUP BY p.product_id, p.name
            ORDER BY revenue DESC
            LIMIT 20`.execute(db)
        ).rows;
        const topCustomers = (
          await sql<{ id: number; name: string; order_count: number; total_spent: number }>`
            SELECT c.customer_id AS id, c.name, count(o.order_id)::bigint AS order_count,
                   coalesce(sum(o.total_minor), 0)::bigint AS total_spent
            FROM customers c
            LEFT JOIN orders o ON o.customer_id = c.customer_id AND o.merchant_id = ${merchantId}
            WHERE c.merchant_id = ${merchantId}
            GROUP BY c.customer_id, c.name
            ORDER BY total_spent DESC
            LIMIT 10`.execute(db)
        ).rows;
        const lowStock = (
          await sql<{ name: string; stock: number }>`
            SELECT name, stock_quantity AS stock FROM products
            WHERE merchant_id = ${merchantId} AND stock_quantity < reorder_threshold`.execute(db)
        ).rows;
        return {
          merchant: merchant.name,
          ...revenue,
          products,
          top_customers: topCustomers,
          low_stock_alerts: lowStock,
        };
      },
    );
  };
}
