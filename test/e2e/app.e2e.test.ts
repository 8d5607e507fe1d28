import { sql } from 'kysely';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenAuthority } from '../../src/platform/auth/tokens.ts';
import { BrowserSession, screenshot, scrollsSideways } from '../support/browser.ts';
import { createShop } from '../support/dashboard.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

/**
 * The web apps in Debian's Chromium: sign-in, the home page and the dashboard, at 1440×900 and at a
 * phone's 390×844. Every screen is checked by axe-core (no serious or critical violation), for a page
 * wider than a phone, and for anything the Content-Security-Policy refused; its screenshots go to
 * test-results/screens/ (git-ignored) for a person to look at.
 */
let context: TestContext;
let session: BrowserSession;

const ownerToken = () =>
  context.runtime.tokens.issue({
    subject: 'demo-owner',
    role: 'author',
    merchants: ['shop-e2e', 'shop-e2e-jp'],
  });

beforeAll(async () => {
  context = await createTestContext({ listen: true });
  const db = context.runtime.database.db;
  await createShop(context, 'shop-e2e', {
    timeZone: 'Europe/Paris',
    products: [
      { name: 'Earl Grey, loose leaf, 250 g', price: 1290, stock: 140, threshold: 20 },
      { name: 'Cast-iron kettle', price: 6450, stock: 3, threshold: 5 },
      { name: 'Porcelain teapot, 1.2 l', price: 3900, stock: 12, threshold: 4 },
      { name: 'Bamboo whisk', price: 1150, stock: 1, threshold: 6 },
      { name: 'Sencha, first flush', price: 1875, stock: 60, threshold: 10 },
    ],
    customers: 6,
  });
  const names = [
    'Camille Dupont',
    'Léo Lefèvre',
    'Inès Martin',
    'Hugo Bernard',
    'Chloé Petit',
    'Nathan Roux',
  ];
  await sql`UPDATE customers c SET name = (${names}::text[])[c.customer_id - first.id + 1]
    FROM (SELECT min(customer_id) AS id FROM customers WHERE merchant_id = 'shop-e2e') first
    WHERE c.merchant_id = 'shop-e2e'`.execute(db);
  // 89 days of sales before today, as the projection would have them; totals and rankings to match.
  await sql`INSERT INTO merchant_daily_sales (merchant_id, day, order_count, revenue_minor)
    SELECT 'shop-e2e', (now() AT TIME ZONE 'Europe/Paris')::date - d, 3 + (d * 7) % 11, (3 + (d * 7) % 11) * (2400 + (d * 613) % 1900)
    FROM generate_series(1, 89) AS d WHERE d % 13 <> 0`.execute(db);
  await sql`UPDATE merchant_totals t SET order_count = s.orders, revenue_minor = s.revenue
    FROM (SELECT sum(order_count) AS orders, sum(revenue_minor) AS revenue FROM merchant_daily_sales WHERE merchant_id = 'shop-e2e') s
    WHERE t.merchant_id = 'shop-e2e'`.execute(db);
  await sql`UPDATE product_stats s SET units_sold = 400 + (s.product_id * 37) % 900,
      revenue_minor = (400 + (s.product_id * 37) % 900) * p.price_minor, rating_sum = 4 * (3 + s.product_id % 5), rating_count = 3 + s.product_id % 5
    FROM products p WHERE p.product_id = s.product_id AND p.merchant_id = 'shop-e2e'`.execute(db);
  await sql`UPDATE customer_stats s SET order_count = 2 + s.customer_id % 9, total_spent_minor = (2 + s.customer_id % 9) * 3150
    WHERE s.merchant_id = 'shop-e2e'`.execute(db);
  // Today: exactly one order, through the API ("1 order").
  const { rows } = await sql<{ product_id: number; customer_id: number }>`
    SELECT (SELECT min(product_id) FROM products WHERE merchant_id = 'shop-e2e') AS product_id,
           (SELECT min(customer_id) FROM customers WHERE merchant_id = 'shop-e2e') AS customer_id`.execute(
    db,
  );
  const placed = await context.app.inject({
    method: 'POST',
    url: '/v1/merchants/shop-e2e/orders',
    headers: { authorization: `Bearer ${ownerToken()}` },
    payload: { customerId: rows[0]!.customer_id, items: [{ productId: rows[0]!.product_id, quantity: 2 }] },
  });
  expect(placed.statusCode, placed.body).toBe(201);
  // A shop in yen, whose minor unit is the yen itself.
  await sql`INSERT INTO merchants (merchant_id, name, time_zone, currency)
    VALUES ('shop-e2e-jp', 'Kissa Tokyo', 'Asia/Tokyo', 'JPY')`.execute(db);
  await sql`UPDATE merchant_totals SET order_count = 2, revenue_minor = 12800 WHERE merchant_id = 'shop-e2e-jp'`.execute(
    db,
  );

  session = await BrowserSession.launch('axe.json');
});
afterAll(async () => {
  await session?.close();
  await context?.close();
});

const open = (size: 'desktop' | 'phone') => session.open(size);
const axeViolations = (page: Page, screen: string) => session.axeViolations(page, screen);

/** Checks a screen at both sizes: axe, no sideways scroll on the phone, a screenshot of each. */
async function checkScreen(name: string, show: (page: Page) => Promise<void>) {
  for (const size of ['desktop', 'phone'] as const) {
    const page = await open(size);
    await show(page);
    expect(await axeViolations(page, `${name}-${size}`), `${name} at ${size}`).toEqual([]);
    if (size === 'phone')
      expect(await scrollsSideways(page), `${name} scrolls sideways on a phone`).toBe(false);
    await screenshot(page, `${name}-${size}`);
    await page.close();
  }
}

describe('the web apps in a browser', () => {
  it('home: links the two apps and the API docs, with a favicon', async () => {
    await checkScreen('home', async (page) => {
      await page.goto(`${context.baseUrl}/`);
      await page.getByRole('heading', { level: 1, name: 'hotpath' }).waitFor();
    });
    const page = await open('desktop');
    await page.goto(`${context.baseUrl}/`);
    const links = page.getByRole('main').getByRole('link');
    await links.first().waitFor();
    const targets = await links.evaluateAll((anchors) =>
      anchors.map((anchor) => anchor.getAttribute('href')),
    );
    expect(targets).toEqual(expect.arrayContaining(['/worklist', '/dashboard', '/docs', '/openapi.json']));
    const icon = await page.locator('link[rel="icon"]').getAttribute('href');
    expect((await page.request.get(`${context.baseUrl}${icon}`)).headers()['content-type']).toBe(
      'image/svg+xml',
    );
    await page.close();
  });

  it('sign-in: refuses what is not a token, an expired one, and one the server does not accept; then signs in', async () => {
    const page = await open('desktop');
    await page.goto(`${context.baseUrl}/sign-in?redirect=/dashboard`);
    const field = page.getByLabel('Access token');
    const submit = page.getByRole('button', { name: 'Sign in', exact: true });
    await field.fill('not-a-token');
    await submit.click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not a hotpath token');

    const expired = context.runtime.tokens.issue({
      subject: 'old',
      role: 'reader',
      merchants: ['shop-e2e'],
      expiresInSeconds: 60,
      now: new Date(Date.now() - 3_600_000),
    });
    await field.fill(expired);
    await submit.click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('expired on');

    const foreign = new TokenAuthority('another-secret-0123456789abcdef0123456789').issue({
      subject: 'stranger',
      role: 'reader',
      merchants: ['shop-e2e'],
    });
    await field.fill(foreign);
    await submit.click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('The server refused this token');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(await axeViolations(page, 'sign-in-refused-desktop')).toEqual([]);
    await screenshot(page, 'sign-in-refused-desktop');

    await field.fill(ownerToken());
    await submit.click();
    await page.waitForURL(/\/dashboard$/);
    await page.getByRole('heading', { level: 1, name: 'Shop shop-e2e' }).waitFor();
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length])).toEqual([1, 0]);
    expect(page.url()).not.toContain('hp1.');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/sign-in\?reason=signed-out$/);
    await page.getByText('You are signed out.').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.close();

    await checkScreen('sign-in', async (phonePage) => {
      await phonePage.goto(`${context.baseUrl}/sign-in`);
      await phonePage.getByLabel('Access token').waitFor();
    });
  });

  it('a link with #token= signs the tab in and leaves the address at once', async () => {
    const page = await open('desktop');
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    await page.goto(`${context.baseUrl}/dashboard#token=${ownerToken()}`);
    await page.getByRole('heading', { level: 1, name: 'Shop shop-e2e' }).waitFor();
    expect(new URL(page.url()).hash).toBe('');
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length])).toEqual([1, 0]);
    expect(requested.filter((url) => url.includes('hp1.'))).toEqual([]);
    await page.close();
  });

  it('dashboard: figures in the currency, plurals, the chart per day with its table, and Refresh', async () => {
    const page = await open('desktop');
    const dashboardRequests: Array<Record<string, string>> = [];
    page.on('request', (request) => {
      if (/\/v1\/merchants\/shop-e2e\/(dashboard|daily-sales)/.test(request.url()))
        dashboardRequests.push(request.headers());
    });
    await page.goto(`${context.baseUrl}/dashboard#token=${ownerToken()}`);
    const figures = page.locator('.figures');
    await figures.waitFor();
    const today = page.locator('.figure', { hasText: 'Today' });
    expect(await today.locator('.figure-value').textContent()).toBe('€25.80');
    expect(await today.locator('.figure-detail').textContent()).toBe('1 order');
    expect(
      await page.locator('.figure', { hasText: 'Revenue, all time' }).locator('.figure-detail').textContent(),
    ).toMatch(/^[\d,]+ orders$/);
    expect(
      await page.locator('.figure', { hasText: 'Low stock' }).locator('.figure-value').textContent(),
    ).toBe('2 products');

    // The chart: one column per day, titled and summarised for screen readers.
    const chart = page.getByRole('img', { name: /Revenue and orders per day/ });
    await chart.waitFor();
    expect(await page.locator('svg.chart .chart-day').count()).toBe(30);
    expect(await page.locator('svg.chart > title').textContent()).toMatch(/^Revenue and orders per day, /);
    expect(await page.locator('svg.chart > desc').textContent()).toMatch(
      /^€[\d,.]+ from [\d,]+ orders over 30 days/,
    );
    expect(await page.locator('.chart-legend').isVisible()).toBe(true);
    expect(await axeViolations(page, 'dashboard-chart-desktop')).toEqual([]);
    await screenshot(page, 'dashboard-desktop');

    // 90 days, in the address so it can be shared.
    await page.getByRole('radio', { name: '90 days' }).click();
    await page.waitForURL(/days=90/);
    await expect.poll(() => page.locator('svg.chart .chart-day').count()).toBe(90);
    // The same figures as a table.
    await page.getByRole('tab', { name: 'Table' }).click();
    const rows = page.getByRole('tabpanel').locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(90);
    expect(await rows.first().locator('td').first().textContent()).toBe('1');
    expect(await axeViolations(page, 'dashboard-table-desktop')).toEqual([]);
    await screenshot(page, 'dashboard-table-desktop');
    await page.getByRole('tab', { name: 'Chart' }).click();

    // Refresh: computed again by the server (Cache-Control: no-cache), and said so.
    const status = page.locator('.computed');
    await expect.poll(() => status.textContent()).toContain('Figures computed at');
    const before = await status.locator('time').getAttribute('datetime');
    dashboardRequests.length = 0;
    await page.getByRole('button', { name: 'Refresh' }).click();
    await expect.poll(() => status.locator('time').getAttribute('datetime')).not.toBe(before);
    expect(await status.textContent()).toContain('computed for this request, 1 SQL statement');
    expect(dashboardRequests.length).toBe(2);
    for (const headers of dashboardRequests) expect(headers['cache-control']).toBe('no-cache');

    // Another merchant of the token, in yen: no minor digits.
    await page.getByLabel('Merchant').selectOption('shop-e2e-jp');
    await page.getByRole('heading', { level: 1, name: 'Kissa Tokyo' }).waitFor();
    await expect
      .poll(() =>
        page.locator('.figure', { hasText: 'Revenue, all time' }).locator('.figure-value').textContent(),
      )
      .toBe('JP¥12,800');
    expect(page.url()).toContain('merchant=shop-e2e-jp');
    await page.close();

    await checkScreen('dashboard', async (phonePage) => {
      await phonePage.goto(`${context.baseUrl}/dashboard#token=${ownerToken()}`);
      await phonePage.locator('svg.chart .chart-day').first().waitFor();
    });
  });

  it('says clearly when there is no token, when it is refused, and when it sees no merchant', async () => {
    const page = await open('desktop');
    await page.goto(`${context.baseUrl}/dashboard?days=90`);
    await page.waitForURL(/\/sign-in\?redirect=/);
    expect(new URL(page.url()).searchParams.get('redirect')).toBe('/dashboard?days=90');
    await page.close();

    await checkScreen('no-merchant', async (screen) => {
      const clinician = context.runtime.tokens.issue({
        subject: 'dr-e2e',
        role: 'approver',
        facilities: ['FAC-E'],
      });
      await screen.goto(`${context.baseUrl}/dashboard#token=${clinician}`);
      await screen.getByRole('heading', { level: 1, name: 'This token sees no merchant' }).waitFor();
      expect(await screen.getByRole('main').textContent()).toContain('for the worklist of FAC-E');
    });

    const foreign = new TokenAuthority('another-secret-0123456789abcdef0123456789').issue({
      subject: 'stranger',
      role: 'reader',
      merchants: ['shop-e2e'],
    });
    await checkScreen('session-ended', async (screen) => {
      await screen.goto(`${context.baseUrl}/dashboard#token=${foreign}`);
      await screen.getByRole('heading', { level: 1, name: 'Your sign-in has ended' }).waitFor();
    });
    const ended = await open('desktop');
    await ended.goto(`${context.baseUrl}/dashboard#token=${foreign}`);
    await ended.getByRole('button', { name: 'Sign in again' }).click();
    await ended.waitForURL(/\/sign-in\?/);
    expect(new URL(ended.url()).searchParams.get('reason')).toBe('expired');
    await ended.getByText('Your sign-in has ended').waitFor();
    expect(await ended.evaluate(() => sessionStorage.length)).toBe(0);
    await ended.close();
  });

  it('was refused nothing by the Content-Security-Policy and threw nothing, on any screen', () => {
    expect(session.refusals).toEqual([]);
  });
});
