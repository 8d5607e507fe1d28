import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/platform/free-port.ts';
import { type ServeProcess, startServeProcess } from '../../testkit/serve-process.ts';
import { createShop, type ShopFixture } from '../support/dashboard.ts';
import { createTestContext, TEST_TOKEN_SECRET, type TestContext } from '../support/harness.ts';

/**
 * Two `hotpath serve` processes on one PostgreSQL and one Redis (a redis-server of this test's own,
 * without persistence, which it kills and starts again). A write on one instance is never followed by
 * the old answer on the other, Redis up, down, or back empty; while Redis is down orders still answer
 * 201 and dashboards 200, each within a second.
 */
const hasRedis = spawnSync('redis-server', ['--version']).status === 0;

let context: TestContext;
let shop: ShopFixture;
let redisPort: number;
let redis: ChildProcess | undefined;
const servers: ServeProcess[] = [];
const dataDirs: string[] = [];

async function startRedis(): Promise<void> {
  redis = spawn(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  for (const deadline = Date.now() + 60_000; ; ) {
    if (
      spawnSync('redis-cli', ['-p', String(redisPort), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG'
    )
      return;
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function killRedis(): Promise<void> {
  const child = redis;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

beforeAll(async () => {
  if (!hasRedis) return;
  context = await createTestContext();
  shop = await createShop(context, 'two-instances', { products: [{ price: 250, stock: 1_000_000 }] });
  redisPort = await freePort();
  await startRedis();
  for (const _ of [1, 2]) {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hotpath-instance-'));
    dataDirs.push(dataDir);
    servers.push(
      await startServeProcess({
        ...process.env,
        DATABASE_URL: context.runtime.database.url,
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        HOTPATH_TOKEN_SECRET: TEST_TOKEN_SECRET,
        HOTPATH_DATA_DIR: dataDir,
        HOTPATH_INTEGRATION_WORKER: 'false',
        LOG_LEVEL: 'error',
      }),
    );
  }
});

afterAll(async () => {
  for (const server of servers) await server.stop();
  await killRedis();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  await context?.close();
});

const headers = () => ({
  ...context.auth('author', 'owner', { merchants: [shop.merchantId] }),
  'content-type': 'application/json',
});

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

async function placeOrder(on: ServeProcess): Promise<{ status: number; ms: number }> {
  const { value, ms } = await timed(() =>
    fetch(`${on.baseUrl}/v1/merchants/${shop.merchantId}/orders`, {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({
        customerId: shop.customerIds[0],
        items: [{ productId: shop.productIds[0], quantity: 1 }],
      }),
      signal: AbortSignal.timeout(120_000),
    }),
  );
  await value.arrayBuffer();
  return { status: value.status, ms };
}

async function dashboard(
  on: ServeProcess,
  fresh = false,
): Promise<{ status: number; ms: number; totalOrders?: number }> {
  const { value, ms } = await timed(() =>
    fetch(`${on.baseUrl}/v1/merchants/${shop.merchantId}/dashboard`, {
      headers: { ...headers(), ...(fresh ? { 'cache-control': 'no-cache' } : {}) },
      signal: AbortSignal.timeout(120_000),
    }),
  );
  const body = value.status === 200 ? ((await value.json()) as { totalOrders: number }) : undefined;
  if (!body) await value.arrayBuffer().catch(() => {});
  return { status: value.status, ms, ...(body ? { totalOrders: body.totalOrders } : {}) };
}

/** Writes on one instance and reads on the other, alternating; the number of stale answers read. */
async function writeHereReadThere(rounds: number): Promise<{ stale: number; reads: number }> {
  let stale = 0;
  for (let round = 0; round < rounds; round++) {
    const [writer, reader] = round % 2 === 0 ? [servers[0]!, servers[1]!] : [servers[1]!, servers[0]!];
    // The reader holds a cached answer first, so a stale one is there to be served.
    await dashboard(reader);
    const truth = (await dashboard(writer, true)).totalOrders ?? 0;
    const placed = await placeOrder(writer);
    expect(placed.status).toBe(201);
    const read = await dashboard(reader);
    expect(read.status).toBe(200);
    if (read.totalOrders !== truth + 1) stale += 1;
  }
  return { stale, reads: rounds };
}

describe.skipIf(!hasRedis)(
  'two instances, one PostgreSQL, one Redis (runs where redis-server is on PATH)',
  () => {
    it('never shows on one instance the answer from before a write on the other', async () => {
      const { stale, reads } = await writeHereReadThere(100);
      process.stdout.write(
        `two instances, Redis up: ${reads} writes each followed by a read on the other instance, ${stale} stale\n`,
      );
      expect(stale).toBe(0);
    });

    it('takes orders and answers dashboards within a second while Redis is down; the other instance follows within 5 s', async () => {
      const orders: number[] = [];
      const dashboards: number[] = [];
      const statuses = new Map<string, number>();
      const note = (kind: string, result: { status: number; ms: number }, into: number[]) => {
        into.push(result.ms);
        statuses.set(`${kind} ${result.status}`, (statuses.get(`${kind} ${result.status}`) ?? 0) + 1);
      };
      let rounds = 0;
      const load = (async () => {
        for (; rounds < 60; rounds++) {
          const on = servers[rounds % 2]!;
          note('order', await placeOrder(on), orders);
          note('dashboard', await dashboard(on), dashboards);
          note('dashboard', await dashboard(servers[(rounds + 1) % 2]!), dashboards);
        }
      })();
      // Killed mid-load: commands in flight on the instances' connections fail, not only new ones.
      while (rounds < 10) await new Promise((resolve) => setTimeout(resolve, 5));
      await killRedis();
      await load;
      const ready = await (await fetch(`${servers[0]!.baseUrl}/readyz`)).json();
      // Without Redis the other instance learns of a write from PostgreSQL's notification: how long it may
      // still show the answer from before (the bound is 5 s: the listener's heartbeat and its timeout).
      const windows: number[] = [];
      for (let round = 0; round < 20; round++) {
        const [writer, reader] = round % 2 === 0 ? [servers[0]!, servers[1]!] : [servers[1]!, servers[0]!];
        await dashboard(reader);
        const truth = (await dashboard(writer, true)).totalOrders ?? 0;
        expect((await placeOrder(writer)).status).toBe(201);
        const answered = performance.now();
        while ((await dashboard(reader)).totalOrders !== truth + 1) {
          if (performance.now() - answered > 60_000)
            throw new Error('the other instance never saw the write');
        }
        windows.push(performance.now() - answered);
      }
      const percentile = (values: number[], p: number) =>
        [...values].sort((a, b) => a - b)[
          Math.min(values.length - 1, Math.floor((values.length * p) / 100))
        ] ?? 0;
      process.stdout.write(
        `Redis down: orders p50 ${percentile(orders, 50).toFixed(1)} ms, p99 ${percentile(orders, 99).toFixed(1)} ms, max ${Math.max(...orders).toFixed(1)} ms; ` +
          `dashboards p50 ${percentile(dashboards, 50).toFixed(1)} ms, p99 ${percentile(dashboards, 99).toFixed(1)} ms, max ${Math.max(...dashboards).toFixed(1)} ms; ` +
          `statuses ${[...statuses.entries()].map(([key, count]) => `${key}×${count}`).join(', ')}; ` +
          `/readyz ${JSON.stringify(ready)}; the other instance showed a write after at most ${Math.max(...windows).toFixed(1)} ms (p50 ${percentile(windows, 50).toFixed(1)} ms)\n`,
      );
      expect([...statuses.keys()].sort()).toEqual(['dashboard 200', 'order 201']);
      expect(Math.max(...orders)).toBeLessThan(1_000);
      expect(Math.max(...dashboards)).toBeLessThan(1_000);
      expect(ready).toEqual({ status: 'ready', redis: 'degraded' });
      expect(Math.max(...windows)).toBeLessThan(5_000);
    });

    it('serves no old answer once Redis is back empty, nor after it loses its data', async () => {
      await startRedis();
      for (const server of servers) {
        for (const deadline = Date.now() + 60_000; ; ) {
          const ready = (await (await fetch(`${server.baseUrl}/readyz`)).json()) as { redis: string };
          if (ready.redis === 'ok') break;
          if (Date.now() > deadline) throw new Error('an instance did not reconnect to Redis');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      const afterRestart = await writeHereReadThere(20);
      expect(afterRestart.stale).toBe(0);

      // Warm entries in both tiers, then Redis forgets everything: nothing older may come back.
      await dashboard(servers[0]!);
      await dashboard(servers[1]!);
      expect(spawnSync('redis-cli', ['-p', String(redisPort), 'FLUSHALL']).status).toBe(0);
      await placeOrder(servers[0]!);
      const truth = (await dashboard(servers[0]!, true)).totalOrders;
      for (const server of servers) expect((await dashboard(server)).totalOrders).toBe(truth);
      const afterFlush = await writeHereReadThere(20);
      expect(afterFlush.stale).toBe(0);
      process.stdout.write(
        `Redis back empty: ${afterRestart.stale} stale of ${afterRestart.reads}; after FLUSHALL: ${afterFlush.stale} stale of ${afterFlush.reads}\n`,
      );
    });
  },
);
