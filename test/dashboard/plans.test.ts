import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dailySales } from '../../src/modules/dashboard/queries.ts';
import { plansOf } from '../../testkit/plans.ts';
import { costOf, createTestContext, type TestContext } from '../support/harness.ts';

/**
 * The chart's statement planned over the per-day projection at the scale the design describes: 500
 * merchants, each with three years of days that had orders (547,500 rows). It must read one merchant's
 * window through the primary key, never the table end to end.
 */
let context: TestContext;
const MERCHANTS = 500;
const DAYS = 3 * 365;
const ZONES = ['Pacific/Auckland', 'America/Los_Angeles', 'Asia/Tokyo', 'Europe/Paris', 'Pacific/Kiritimati'];

beforeAll(async () => {
  context = await createTestContext();
  const db = context.runtime.database.db;
  await sql`INSERT INTO merchants (merchant_id, name, time_zone, currency)
    SELECT 'shop-' || lpad(n::text, 4, '0'), 'Shop ' || n, (${ZONES}::text[])[1 + n % ${ZONES.length}], 'EUR'
    FROM generate_series(1, ${MERCHANTS}) AS n`.execute(db);
  await sql`INSERT INTO merchant_daily_sales (merchant_id, day, order_count, revenue_minor)
    SELECT m.merchant_id, current_date + 1 - d, 1 + (d * 7 + length(m.merchant_id)) % 40, 1000 * (1 + d % 97)
    FROM merchants m, generate_series(0, ${DAYS - 1}) AS d`.execute(db);
  await sql`ANALYZE merchants, merchant_daily_sales`.execute(db);
});
afterAll(async () => {
  await context.close();
});

describe('daily sales plans at 500 merchants × 3 years of days', () => {
  it.each([30, 90])('reads the last %i days from the primary key, without a scan', async (days) => {
    const db = context.runtime.database.db;
    const plans = await plansOf(db, () => dailySales(db, 'shop-0250', days));
    expect(plans).toHaveLength(1);
    const [plan] = plans;
    expect(plan?.indexes).toContain('merchant_daily_sales_pkey');
    expect(plan?.indexes).toContain('merchants_pkey');
    expect(plan?.seqScans).toEqual([]);
  });

  it('answers the route in one statement, a full window of days', async () => {
    const answer = await context.app.inject({
      method: 'GET',
      url: '/v1/merchants/shop-0250/daily-sales?days=90',
      headers: context.auth('reader', 'owner', { merchants: ['shop-0250'] }),
    });
    expect(answer.statusCode, answer.body).toBe(200);
    expect(costOf(answer.headers).queries).toBe(1);
    const sales = answer.json();
    expect(sales.days).toHaveLength(90);
    // Every day but possibly tomorrow-in-UTC's has a row in this data set.
    expect(sales.days.filter((day: { orders: number }) => day.orders > 0).length).toBeGreaterThanOrEqual(89);
  });
});
