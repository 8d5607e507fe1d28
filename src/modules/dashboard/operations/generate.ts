import { type Kysely, sql } from 'kysely';
import type { DB } from '../../../tables.ts';
import { type DashboardDatasetResult, generateDashboardDataset, progressBars } from './dataset.ts';

export interface LargeDashboardOptions {
  merchants: number;
  orders: number;
  products: number;
  customers: number;
  reviews: number;
  itemsPerOrder: number;
  days: number;
  bigMerchantMultiplier: number;
  seed: number;
  /** Add to a database that already has merchants (new ones, numbered after the last). */
  append: boolean;
  showProgress: boolean;
}

export class DashboardNotEmptyError extends Error {
  constructor(merchants: number, orders: number) {
    super(
      `the database already has dashboard data (${merchants} merchants, ${orders} orders); pass --append to add to it`,
    );
    this.name = 'DashboardNotEmptyError';
  }
}

/**
 * The benchmark-scale dashboard (500 merchants of 15,000 orders, the first with ten times the history,
 * by default), with progress on stderr. Refuses a database that already has merchants or orders unless
 * told to append, so a second run cannot silently double a benchmark's data.
 */
export async function generateLargeDashboard(
  db: Kysely<DB>,
  options: LargeDashboardOptions,
): Promise<DashboardDatasetResult & { ordersPerSecond: number }> {
  if (!options.append) {
    const { rows } = await sql<{ merchants: number; orders: number }>`
      SELECT (SELECT count(*) FROM merchants)::int AS merchants,
             (SELECT count(*) FROM orders)::int AS orders`.execute(db);
    const existing = rows[0] ?? { merchants: 0, orders: 0 };
    if (existing.merchants > 0 || existing.orders > 0) {
      throw new DashboardNotEmptyError(existing.merchants, existing.orders);
    }
  }
  const result = await generateDashboardDataset(db, {
    merchants: options.merchants,
    productsPerMerchant: options.products,
    customersPerMerchant: options.customers,
    ordersPerMerchant: options.orders,
    itemsPerOrder: options.itemsPerOrder,
    reviewsPerMerchant: options.reviews,
    days: options.days,
    seed: options.seed,
    bigMerchantMultiplier: options.bigMerchantMultiplier,
    // Two chunks at once: each statement keeps one PostgreSQL core busy (measured on two cores).
    parallelism: 2,
    onProgress: options.showProgress ? progressBars('dashboard') : undefined,
  });
  return { ...result, ordersPerSecond: Math.round(result.orders / Math.max(result.seconds, 0.001)) };
}
