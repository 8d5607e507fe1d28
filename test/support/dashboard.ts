import { sql } from 'kysely';
import type { TestContext } from './harness.ts';

export interface ShopFixture {
  merchantId: string;
  productIds: number[];
  customerIds: number[];
}

/** A merchant with a catalogue and customers, inserted directly: the dashboard has no API to create them. */
export async function createShop(
  context: TestContext,
  merchantId: string,
  options: {
    timeZone?: string;
    products?: Array<{ name?: string; price: number; stock: number; threshold?: number }>;
    customers?: number;
  } = {},
): Promise<ShopFixture> {
  const db = context.runtime.database.db;
  await sql`INSERT INTO merchants (merchant_id, name, time_zone, currency)
    VALUES (${merchantId}, ${`Shop ${merchantId}`}, ${options.timeZone ?? 'Europe/Paris'}, 'EUR')`.execute(
    db,
  );
  const productIds: number[] = [];
  for (const [index, product] of (options.products ?? [{ price: 1000, stock: 100 }]).entries()) {
    const { rows } = await sql<{ product_id: number }>`
      INSERT INTO products (merchant_id, name, price_minor, stock_quantity, reorder_threshold)
      VALUES (${merchantId}, ${product.name ?? `Product ${index + 1}`}, ${product.price}, ${product.stock}, ${product.threshold ?? 0})
      RETURNING product_id`.execute(db);
    productIds.push(rows[0]!.product_id);
  }
  const customerIds: number[] = [];
  for (let n = 1; n <= (options.customers ?? 3); n++) {
    const { rows } = await sql<{ customer_id: number }>`
      INSERT INTO customers (merchant_id, name) VALUES (${merchantId}, ${`Customer ${n}`}) RETURNING customer_id`.execute(
      db,
    );
    customerIds.push(rows[0]!.customer_id);
  }
  return { merchantId, productIds, customerIds };
}
