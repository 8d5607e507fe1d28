import { type Kysely, type Selectable, sql } from 'kysely';
import type { Principal } from '../../platform/auth/tokens.ts';
import type { VersionedCacheRegion } from '../../platform/cache/cache.ts';
import { inTransaction } from '../../platform/db/transactions.ts';
import { conflict, forbidden, HttpProblem, notFound } from '../../platform/http/problems.ts';
import type { SerializedAnswer } from '../../platform/http/serialized-answer.ts';
import type { DB, Products } from '../../tables.ts';
import type { OrderInput, ProductPatch } from './schemas.ts';

/**
 * A dashboard as it is cached: the JSON sent, and the merchant's day and zone it was computed for
 * (its "today" must not outlive midnight there).
 */
export interface CachedDashboard extends SerializedAnswer {
  today: string;
  timeZone: string;
}

/** The cached dashboards the writes below invalidate, in their own transactions. */
export type DashboardCache = VersionedCacheRegion<CachedDashboard>;

/** The merchants a token may see and change: its own, or all of them for an admin. */
export function assertMerchant(principal: Principal, merchantId: string): void {
  if (principal.role !== 'admin' && !principal.merchants.includes(merchantId)) {
    throw forbidden(`this token does not see merchant ${merchantId}`);
  }
}

export function merchantScope(principal: Principal): string[] | undefined {
  return principal.role === 'admin' ? undefined : principal.merchants;
}

type LockedProduct = Pick<Selectable<Products>, 'product_id' | 'price_minor' | 'stock_quantity'> & {
  customer_ok: boolean;
};

/**
 * An order, in one transaction: the products are locked in id order (so two orders never deadlock)
 * and their stock checked; if any is short, nothing is written (409). Then one statement decrements
 * the stock, records the order and its items at today's prices, and adds to every projection the
 * dashboard reads: the products', the customer's, the merchant's totals and the merchant's day.
 */
export async function placeOrder(
  db: Kysely<DB>,
  cache: DashboardCache,
  merchantId: string,
  order: OrderInput,
) {
  const wanted = new Map<number, number>();
  for (const item of order.items)
    wanted.set(item.productId, (wanted.get(item.productId) ?? 0) + item.quantity);
  const productIds = [...wanted.keys()].sort((a, b) => a - b);

  const { placed, bump } = await inTransaction(db, async (trx) => {
    const { rows: locked } = await sql<LockedProduct>`/* dashboard.lockProducts */
      SELECT p.product_id, p.price_minor, p.stock_quantity,
             EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = ${order.customerId} AND c.merchant_id = ${merchantId}) AS customer_ok
      FROM products p JOIN merchants m ON m.merchant_id = p.merchant_id
      WHERE p.merchant_id = ${merchantId} AND p.product_id = ANY(${productIds}::bigint[])
      ORDER BY p.product_id
      FOR NO KEY UPDATE OF p FOR SHARE OF m`.execute(trx);
    // NO KEY UPDATE, not UPDATE: it excludes other orders and product changes all the same, but not the
    // foreign-key check of a concurrent review, which by then holds the product's stats row this order
    // is about to update; with FOR UPDATE each waited for the other (a deadlock, a 500).
    const byId = new Map(locked.map((product) => [product.product_id, product]));
    const unknown = productIds.filter((id) => !byId.has(id));
    if (unknown.length > 0) throw notFound(`merchant ${merchantId} has no product ${unknown.join(', ')}`);
    if (!locked[0]?.customer_ok) throw notFound(`merchant ${merchantId} has no customer ${order.customerId}`);
    const short = productIds.filter((id) => (byId.get(id)?.stock_quantity ?? 0) < (wanted.get(id) ?? 0));
    if (short.length > 0) {
      throw new HttpProblem(
        409,
        'Conflict',
        `not enough stock for product ${short.join(', ')}; nothing was ordered`,
        {
          type: 'insufficient-stock',
        },
      );
    }
    const quantities = productIds.map((id) => wanted.get(id) as number);
    const prices = productIds.map((id) => byId.get(id)?.price_minor as number);
    const total = productIds.reduce(
      (sum, _id, index) => sum + (quantities[index] as number) * (prices[index] as number),
      0,
    );
    // Amounts are exact integers in JavaScript only up to 2^53: refuse an order beyond, rather than round it.
    if (!Number.isSafeInteger(total)) {
      throw new HttpProblem(400, 'Bad Request', 'the order total is too large to record exactly', {
        type: 'invalid-request',
      });
    }

    const { rows } = await sql<{ order_id: number; created_at: Date }>`/* dashboard.recordOrder */
      WITH lines AS (
        SELECT * FROM unnest(${productIds}::bigint[], ${quantities}::int[], ${prices}::bigint[])
          AS l(product_id, quantity, unit_price_minor)
      ),
      stock AS (
        UPDATE products p SET stock_quantity = p.stock_quantity - lines.quantity, updated_at = now()
        FROM lines WHERE p.product_id = lines.product_id
      ),
      placed AS (
        INSERT INTO orders (merchant_id, customer_id, total_minor)
        VALUES (${merchantId}, ${order.customerId}, ${total})
        RETURNING order_id, created_at
      ),
      items AS (
        INSERT INTO order_items (order_id, product_id, quantity, unit_price_minor)
        SELECT placed.order_id, lines.product_id, lines.quantity, lines.unit_price_minor FROM placed, lines
      ),
      product_totals AS (
        UPDATE product_stats s SET units_sold = s.units_sold + lines.quantity,
               revenue_minor = s.revenue_minor + lines.quantity * lines.unit_price_minor
        FROM lines WHERE s.product_id = lines.product_id
      ),
      customer_totals AS (
        UPDATE customer_stats SET order_count = order_count + 1, total_spent_minor = total_spent_minor + ${total}
        WHERE customer_id = ${order.customerId}
      ),
      merchant_total AS (
        UPDATE merchant_totals SET order_count = order_count + 1, revenue_minor = revenue_minor + ${total}
        WHERE merchant_id = ${merchantId}
      ),
      merchant_day AS (
        INSERT INTO merchant_daily_sales (merchant_id, day, order_count, revenue_minor)
        SELECT ${merchantId}, (placed.created_at AT TIME ZONE m.time_zone)::date, 1, ${total}
        FROM placed, merchants m WHERE m.merchant_id = ${merchantId}
        ON CONFLICT (merchant_id, day) DO UPDATE SET order_count = merchant_daily_sales.order_count + 1,
          revenue_minor = merchant_daily_sales.revenue_minor + excluded.revenue_minor
      )
      SELECT order_id, created_at FROM placed`.execute(trx);
    const recorded = rows[0] as { order_id: number; created_at: Date };
    return {
      bump: await cache.invalidateWithin(trx, merchantId),
      placed: {
        id: recorded.order_id,
        merchantId,
        customerId: order.customerId,
        total,
        createdAt: recorded.created_at.toISOString(),
        items: productIds.map((productId, index) => ({
          productId,
          quantity: quantities[index] as number,
          unitPrice: prices[index] as number,
        })),
      },
    };
  });
  await cache.published(bump);
  return placed;
}

/** The product's merchant, locked against a concurrent projection rebuild, and checked against the token. */
async function productMerchant(trx: Kysely<DB>, principal: Principal, productId: number): Promise<string> {
  const { rows } = await sql<{ merchant_id: string }>`/* dashboard.productMerchant */
    SELECT p.merchant_id FROM products p JOIN merchants m ON m.merchant_id = p.merchant_id
    WHERE p.product_id = ${productId}
    FOR SHARE OF m`.execute(trx);
  const merchantId = rows[0]?.merchant_id;
  if (!merchantId) throw notFound(`product ${productId} does not exist`);
  assertMerchant(principal, merchantId);
  return merchantId;
}

/** A review and its product's rating totals, together. */
export async function addReview(
  db: Kysely<DB>,
  cache: DashboardCache,
  principal: Principal,
  input: { productId: number; customerId: number; rating: number },
) {
  const { bump, ...added } = await inTransaction(db, async (trx) => {
    const merchantId = await productMerchant(trx, principal, input.productId);
    const { rows } = await sql<{ review_id: number }>`/* dashboard.recordReview */
      WITH review AS (
        INSERT INTO reviews (product_id, customer_id, rating)
        SELECT ${input.productId}, c.customer_id, ${input.rating} FROM customers c
        WHERE c.customer_id = ${input.customerId} AND c.merchant_id = ${merchantId}
        RETURNING review_id, rating
      ),
      ratings AS (
        UPDATE product_stats s SET rating_sum = s.rating_sum + review.rating, rating_count = s.rating_count + 1
        FROM review WHERE s.product_id = ${input.productId}
      )
      SELECT review_id FROM review`.execute(trx);
    const review = rows[0];
    if (!review) throw notFound(`merchant ${merchantId} has no customer ${input.customerId}`);
    return {
      bump: await cache.invalidateWithin(trx, merchantId),
      merchantId,
      review: {
        id: review.review_id,
        productId: input.productId,
        customerId: input.customerId,
        rating: input.rating,
      },
    };
  });
  await cache.published(bump);
  return added;
}

export async function updateProduct(
  db: Kysely<DB>,
  cache: DashboardCache,
  principal: Principal,
  productId: number,
  patch: ProductPatch,
) {
  const { bump, ...updated } = await inTransaction(db, async (trx) => {
    const merchantId = await productMerchant(trx, principal, productId);
    const { rows } = await sql<{
      product_id: number;
      merchant_id: string;
      name: string;
      price_minor: number;
      stock_quantity: number;
      reorder_threshold: number;
    }>`/* dashboard.updateProduct */
      UPDATE products SET
        stock_quantity = coalesce(${patch.stockQuantity ?? null}::int, stock_quantity),
        reorder_threshold = coalesce(${patch.reorderThreshold ?? null}::int, reorder_threshold),
        price_minor = coalesce(${patch.price ?? null}::bigint, price_minor),
        updated_at = now()
      WHERE product_id = ${productId}
      RETURNING product_id, merchant_id, name, price_minor, stock_quantity, reorder_threshold`.execute(trx);
    const product = rows[0];
    if (!product) throw conflict(`product ${productId} changed while it was being updated`);
    return {
      bump: await cache.invalidateWithin(trx, merchantId),
      merchantId,
      product: {
        id: product.product_id,
        merchantId: product.merchant_id,
        name: product.name,
        price: product.price_minor,
        stockQuantity: product.stock_quantity,
        reorderThreshold: product.reorder_threshold,
      },
    };
  });
  await cache.published(bump);
  return updated;
}
