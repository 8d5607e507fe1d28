import { type Kysely, sql } from 'kysely';
import type { DB } from '../../../tables.ts';
import { generateDashboardDataset, merchantId, progressBars } from './dataset.ts';

/** Three shops (Pacific/Auckland, America/Los_Angeles, Asia/Tokyo), the first with twice the history. */
const DEMO_SHAPE = {
  merchants: 3,
  productsPerMerchant: 60,
  customersPerMerchant: 400,
  ordersPerMerchant: 700,
  itemsPerOrder: 3,
  reviewsPerMerchant: 500,
  days: 90,
  seed: 20250612,
  bigMerchantMultiplier: 2,
};
/** The demo's merchants on a database that had none before it. */
export const DEMO_MERCHANTS: string[] = Array.from({ length: DEMO_SHAPE.merchants }, (_, n) =>
  merchantId(n + 1),
);

/**
 * Three shops with 90 days of orders up to now, from the dataset generator, their projections rebuilt.
 * Returns false when `onlyIfAbsent` finds shop-0001 already there.
 */
export async function loadDashboardDemo(
  db: Kysely<DB>,
  options: { onlyIfAbsent: boolean },
): Promise<boolean> {
  if (options.onlyIfAbsent) {
    const { rows } = await sql`SELECT 1 FROM merchants WHERE merchant_id = ${DEMO_MERCHANTS[0]}`.execute(db);
    if (rows.length > 0) return false;
  }
  const dataset = await generateDashboardDataset(db, {
    ...DEMO_SHAPE,
    onProgress: progressBars('demo dashboard'),
  });
  process.stderr.write(
    `dashboard demo loaded: ${dataset.orders} orders, ${dataset.reviews} reviews for ${dataset.merchantIds.join(', ')}\n`,
  );
  return true;
}
