import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServeProcess, startServeProcess } from '../../testkit/serve-process.ts';
import { createShop, type ShopFixture } from '../support/dashboard.ts';
import { createTestContext, TEST_TOKEN_SECRET, type TestContext } from '../support/harness.ts';

const run = promisify(execFile);
const promtool = spawnSync('promtool', ['--version']).status === 0;

/**
 * `hotpath serve --workers 2` as a process tree: two workers behind one port, each with its own
 * in-memory cache, which must never answer from an entry older than a write that has answered.
 */
describe('serve with two workers', { timeout: 600_000 }, () => {
  let context: TestContext;
  let server: ServeProcess;
  let shop: ShopFixture;
  let owner: Record<string, string>;

  beforeAll(async () => {
    context = await createTestContext();
    shop = await createShop(context, 'shop-workers', {
      products: [{ price: 250, stock: 1_000 }],
      customers: 1,
    });
    owner = context.auth('author', 'owner-1', { merchants: [shop.merchantId] });
    server = await startServeProcess({
      ...process.env,
      DATABASE_URL: String(context.config.databaseUrl),
      HOTPATH_DATA_DIR: context.config.dataDir,
      HOTPATH_TOKEN_SECRET: TEST_TOKEN_SECRET,
      HOTPATH_WORKERS: '2',
      LOG_LEVEL: 'warn',
    });
  });

  afterAll(async () => {
    if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
    await context?.close();
  });

  // A new connection per request: the primary hands connections to the workers in turn.
  const call = (path: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(`${server.baseUrl}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        ...owner,
        connection: 'close',
        ...(init.body ? { 'content-type': 'application/json' } : {}),
      },
      ...(init.body ? { body: JSON.stringify(init.body) } : {}),
    });
  const workerOf = (response: Response): string =>
    String(response.headers.get('x-request-id')).split('-')[0] ?? '';
  const workerPids = async () =>
    (await run('pgrep', ['-P', String(server.child.pid)])).stdout.trim().split('\n').map(Number);

  it('says so in its banner, and answers from both workers', async () => {
    expect(server.output()).toContain('2 worker processes');
    const workers = new Set<string>();
    for (let request = 0; request < 10; request += 1) workers.add(workerOf(await call('/healthz')));
    expect(workers.size).toBe(2);
  });

  it('shows every write on the next read, whichever worker answers either', async () => {
    const dashboard = `/v1/merchants/${shop.merchantId}/dashboard`;
    // Both workers cache the dashboard first, so a missed invalidation would show.
    for (let request = 0; request < 4; request += 1) expect((await call(dashboard)).status).toBe(200);
    const answeredBy = new Set<string>();
    for (let placed = 1; placed <= 20; placed += 1) {
      const order = await call(`/v1/merchants/${shop.merchantId}/orders`, {
        method: 'POST',
        body: { customerId: shop.customerIds[0], items: [{ productId: shop.productIds[0], quantity: 1 }] },
      });
      expect(order.status).toBe(201);
      const read = await call(dashboard);
      answeredBy.add(`${workerOf(order)}>${workerOf(read)}`);
      expect(((await read.json()) as { totalOrders: number }).totalOrders).toBe(placed);
    }
    // Writes on one worker were read on the other.
    expect([...answeredBy].some((pair) => pair.split('>')[0] !== pair.split('>')[1])).toBe(true);
  });

  it("serves /metrics as the sum of both workers' series", async () => {
    const before = await dashboardCount();
    for (let request = 0; request < 6; request += 1) await call(`/v1/merchants/${shop.merchantId}/dashboard`);
    expect((await dashboardCount()) - before).toBe(6);
    const metrics = await (await call('/metrics')).text();
    expect(metrics.match(/^nodejs_version_info\{/gm)).toHaveLength(1);
  });

  // Prometheus' own lint of what a scrape gets. CI installs it (Debian's prometheus package); elsewhere
  // the test runs where promtool is on PATH.
  it.skipIf(!promtool && !process.env.CI)('serves metrics that promtool check metrics accepts', async () => {
    const metrics = await (await call('/metrics')).text();
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    expect(lint.error).toBeUndefined();
    expect(`${lint.stdout}${lint.stderr}`).toBe('');
    expect(lint.status).toBe(0);
  });

  it('starts a worker again when it dies', async () => {
    const [victim] = await workerPids();
    process.kill(victim as number, 'SIGKILL');
    let replaced = false;
    while (!replaced) {
      const pids = await workerPids().catch((): number[] => []);
      replaced = pids.length === 2 && !pids.includes(victim as number);
      if (!replaced) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const workers = new Set<string>();
    while (workers.size < 2) {
      const answer = await call('/healthz').catch(() => undefined);
      if (answer?.status === 200) workers.add(workerOf(answer));
    }
    expect(server.output()).toMatch(/worker \d ended \(SIGKILL\); starting it again/);
  });

  it('stops every worker and exits 0 on SIGTERM', async () => {
    const pids = await workerPids();
    expect(await server.stop()).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });

  async function dashboardCount(): Promise<number> {
    const metrics = await (await call('/metrics')).text();
    const line = metrics
      .split('\n')
      .find(
        (candidate) =>
          candidate.startsWith('http_request_duration_seconds_count{') &&
          candidate.includes('route="/v1/merchants/:merchantId/dashboard"') &&
          candidate.includes('status_code="200"'),
      );
    return Number(line?.split(' ').pop() ?? 0);
  }
});
