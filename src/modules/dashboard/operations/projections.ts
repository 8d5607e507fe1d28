import { type Kysely, sql } from 'kysely';
import { progress } from '../../../platform/progress.ts';
import type { DB } from '../../../tables.ts';
import type { DashboardCache } from '../service.ts';

async function merchantsToProcess(db: Kysely<DB>, only: string | undefined): Promise<string[]> {
  const { rows } = await sql<{ merchant_id: string }>`
    SELECT merchant_id FROM merchants WHERE ${only ?? null}::text IS NULL OR merchant_id = ${only ?? null}
    ORDER BY merchant_id`.execute(db);
  if (only !== undefined && rows.length === 0) throw new Error(`merchant ${only} does not exist`);
  return rows.map((row) => row.merchant_id);
}

/**
 * Recomputes a merchant's projections from its base tables, in one transaction that holds the merchant
 * row exclusively: order, review and product writes hold it shared, so none runs halfway through a
 * rebuild and none is lost by it.
 */
async function rebuildMerchant(
  db: Kysely<DB>,
  cache: DashboardCache | undefined,
  merchantId: string,
): Promise<void> {
  const bump = await db.transaction().execute(async (trx) => {
    await sql`SELECT merchant_id FROM merchants WHERE merchant_id = ${merchantId} FOR UPDATE`.execute(trx);
    await sql`/* dashboard.rebuildProducts */
      UPDATE product_stats s SET units_sold = e.units_sold, revenue_minor = e.revenue_minor,
             rating_sum = e.rating_sum, rating_count = e.rating_count
      FROM expected_product_stats e
      WHERE e.merchant_id = ${merchantId} AND s.product_id = e.product_id`.execute(trx);
    await sql`/* dashboard.rebuildCustomers */
      UPDATE customer_stats s SET order_count = e.order_count, total_spent_minor = e.total_spent_minor
      FROM expected_customer_stats e
      WHERE e.merchant_id = ${merchantId} AND s.customer_id = e.customer_id`.execute(trx);
    await sql`/* dashboard.rebuildTotals */
      UPDATE merchant_totals t SET order_count = e.order_count, revenue_minor = e.revenue_minor
      FROM expected_merchant_totals e WHERE e.merchant_id = ${merchantId} AND t.merchant_id = e.merchant_id`.execute(
      trx,
    );
    await sql`DELETE FROM merchant_daily_sales WHERE merchant_id = ${merchantId}`.execute(trx);
    await sql`/* dashboard.rebuildDays */
      INSERT INTO merchant_daily_sales (merchant_id, day, order_count, revenue_minor)
      SELECT merchant_id, day, order_count, revenue_minor FROM expected_merchant_daily_sales
      WHERE merchant_id = ${merchantId}`.execute(trx);
    // A rebuild may change what the dashboard says: every instance's cached one goes with it.
    return cache?.invalidateWithin(trx, merchantId);
  });
  if (bump) await cache?.published(bump);
}

export async function rebuildDashboardProjections(
  db: Kysely<DB>,
  options: {
    merchantId?: string;
    showProgress: boolean;
    /** The cached dashboards to invalidate; none for merchants just generated, which have none yet. */
    cache?: DashboardCache;
  },
): Promise<{ merchants: number; seconds: number }> {
  const started = performance.now();
  const ids = await merchantsToProcess(db, options.merchantId);
  const bar = options.showProgress ? progress('dashboard rebuild', ids.length, 'merchants') : undefined;
  for (const merchantId of ids) {
    await rebuildMerchant(db, options.cache, merchantId);
    bar?.advance(1);
  }
  bar?.finish();
  return { merchants: ids.length, seconds: (performance.now() - started) / 1000 };
}

/**
 * Compares every projection row with a from-scratch aggregate of the base tables, merchant by
 * merchant; a missing or extra row is a difference too.
 */
export async function verifyDashboardProjections(
  db: Kysely<DB>,
  options: { merchantId?: string; showProgress: boolean; report?: (line: string) => void },
): Promise<{ merchants: number; differences: number; seconds: number }> {
  const started = performance.now();
  const ids = await merchantsToProcess(db, options.merchantId);
  const bar = options.showProgress ? progress('dashboard verify', ids.length, 'merchants') : undefined;
  let differences = 0;
  for (const merchantId of ids) {
    const { rows } = await sql<{ what: string }>`/* dashboard.verify */
      SELECT 'product ' || coalesce(s.product_id, e.product_id) AS what
      FROM (SELECT * FROM product_stats WHERE merchant_id = ${merchantId}) s
      FULL JOIN (SELECT * FROM expected_product_stats WHERE merchant_id = ${merchantId}) e ON e.product_id = s.product_id
      WHERE (s.units_sold, s.revenue_minor, s.rating_sum, s.rating_count)
            IS DISTINCT FROM (e.units_sold, e.revenue_minor, e.rating_sum, e.rating_count)
      UNION ALL
      SELECT 'customer ' || coalesce(s.customer_id, e.customer_id)
      FROM (SELECT * FROM customer_stats WHERE merchant_id = ${merchantId}) s
      FULL JOIN (SELECT * FROM expected_customer_stats WHERE merchant_id = ${merchantId}) e ON e.customer_id = s.customer_id
      WHERE (s.order_count, s.total_spent_minor) IS DISTINCT FROM (e.order_count, e.total_spent_minor)
      UNION ALL
      SELECT 'totals'
      FROM (SELECT * FROM merchant_totals WHERE merchant_id = ${merchantId}) s
      FULL JOIN (SELECT * FROM expected_merchant_totals WHERE merchant_id = ${merchantId}) e ON e.merchant_id = s.merchant_id
      WHERE (s.order_count, s.revenue_minor) IS DISTINCT FROM (e.order_count, e.revenue_minor)
      UNION ALL
      SELECT 'day ' || coalesce(s.day, e.day)
      FROM (SELECT * FROM merchant_daily_sales WHERE merchant_id = ${merchantId}) s
      FULL JOIN (SELECT * FROM expected_merchant_daily_sales WHERE merchant_id = ${merchantId}) e ON e.day = s.day
      WHERE (s.order_count, s.revenue_minor) IS DISTINCT FROM (e.order_count, e.revenue_minor)`.execute(db);
    for (const row of rows) options.report?.(`${merchantId}: ${row.what} differs from its base tables`);
    differences += rows.length;
    bar?.advance(1);
  }
  bar?.finish();
  return { merchants: ids.length, differences, seconds: (performance.now() - started) / 1000 };
}
