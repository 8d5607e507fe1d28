import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HotpathCache, type VersionedCacheRegion } from '../../src/platform/cache/cache.ts';
import { metricsRegistry } from '../../src/platform/metrics/registry.ts';
import { RequestLedger, withLedger } from '../../src/platform/request-ledger.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

const counts = async (cache: string) => {
  const text = await metricsRegistry.getSingleMetricAsString('hotpath_cache_requests_total');
  const read = (result: string) =>
    Number(new RegExp(`cache="${cache}",result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  return { hit: read('hit'), miss: read('miss') };
};

describe('the in-memory cache', () => {
  it('computes once for 100 concurrent misses on one key, and counts hits and misses', async () => {
    const cache = new HotpathCache({ redisUrl: undefined });
    const name = `single-flight-${randomBytes(3).toString('hex')}`;
    const region = cache.region<number>(name, { ttl: 60_000 });
    let computations = 0;
    const answers = await Promise.all(
      Array.from({ length: 100 }, () =>
        region.getOrCompute('key', async () => {
          computations += 1;
          await new Promise((resolve) => setTimeout(resolve, 50));
          return 42;
        }),
      ),
    );
    expect(answers.every((answer) => answer === 42)).toBe(true);
    expect(computations).toBe(1);
    expect(await counts(name)).toEqual({ hit: 99, miss: 1 });
    await cache.close();
  });

  it('marks the request ledger, a miss anywhere winning', async () => {
    const cache = new HotpathCache({ redisUrl: undefined });
    const region = cache.region<string>(`ledger-${randomBytes(3).toString('hex')}`, { ttl: 60_000 });
    const first = new RequestLedger(false);
    await withLedger(first, () => region.getOrCompute('a', async () => 'one'));
    expect(first.cache).toBe('miss');
    const second = new RequestLedger(false);
    await withLedger(second, async () => {
      await region.getOrCompute('a', async () => 'unused');
      await region.getOrCompute('b', async () => 'two');
    });
    expect(second.cache).toBe('miss');
    const third = new RequestLedger(false);
    await withLedger(third, () => region.getOrCompute('a', async () => 'unused'));
    expect(third.cache).toBe('hit');
    await cache.close();
  });
});

describe('versioned regions: generations kept in PostgreSQL', () => {
  let context: TestContext;
  const caches: HotpathCache[] = [];
  /** Another instance of the service: its own cache and notification connection, the same database. */
  const instance = () => {
    const cache = new HotpathCache({ redisUrl: undefined, database: context.runtime.database });
    caches.push(cache);
    return cache;
  };
  const db = () => context.runtime.database.db;
  const write = async (region: VersionedCacheRegion<string>, key: string) =>
    region.published(
      await db()
        .transaction()
        .execute((trx) => region.invalidateWithin(trx, key)),
    );
  const statementsOf = async (work: () => Promise<unknown>) => {
    const ledger = new RequestLedger(false);
    await withLedger(ledger, work);
    return ledger.db.count;
  };

  beforeAll(async () => {
    context = await createTestContext();
  });
  afterAll(async () => {
    for (const cache of caches) await cache.close();
    await context.close();
  });

  it('recomputes after a committed write, not after a rolled-back one, on this instance and another', async () => {
    const name = `versioned-${randomBytes(3).toString('hex')}`;
    const one = instance().versioned<string>(name, { ttl: 60_000 });
    const two = instance().versioned<string>(name, { ttl: 60_000 });
    expect(await one.getOrCompute('k', async () => 'v1')).toBe('v1');
    expect(await two.getOrCompute('k', async () => 'v1 on two')).toBe('v1 on two');

    await db()
      .transaction()
      .execute(async (trx) => {
        await one.invalidateWithin(trx, 'k');
        throw new Error('rolled back');
      })
      .catch(() => {});
    expect(await one.getOrCompute('k', async () => 'unused')).toBe('v1');

    await write(one, 'k');
    expect(await one.getOrCompute('k', async () => 'v2')).toBe('v2');
    // Without Redis the other instance learns the generation from PostgreSQL's notification, which may
    // land a moment after the write answered (with Redis it is at once: below).
    await vi.waitFor(
      async () => expect(await two.getOrCompute('k', async () => 'v2 on two')).toBe('v2 on two'),
      {
        timeout: 60_000,
        interval: 5,
      },
    );
  });

  it('costs no statement on a hit while notifications flow, and reads the generation while they do not', async () => {
    const name = `listener-${randomBytes(3).toString('hex')}`;
    const cache = instance();
    const region = cache.versioned<string>(name, { ttl: 60_000 });
    await region.getOrCompute('k', async () => 'v1');
    expect(await statementsOf(() => region.getOrCompute('k', async () => 'unused'))).toBe(0);

    await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE application_name = 'hotpath-cache' AND datname = current_database()`.execute(db());
    // Meanwhile another instance writes: this one must not miss it.
    await write(instance().versioned<string>(name, { ttl: 60_000 }), 'k');
    await vi.waitFor(
      async () => {
        expect(await region.getOrCompute('k', async () => 'v2')).toBe('v2');
      },
      { timeout: 60_000, interval: 20 },
    );
    // Reconnected (within a second or so): hits are free again.
    await vi.waitFor(
      async () => {
        expect(await statementsOf(() => region.getOrCompute('k', async () => 'unused'))).toBe(0);
      },
      { timeout: 60_000, interval: 100 },
    );
  });

  it('keeps generations across restarts: a new instance never reads an entry of an older one', async () => {
    const name = `restart-${randomBytes(3).toString('hex')}`;
    const before = instance().versioned<string>(name, { ttl: 60_000 });
    await write(before, 'k');
    await write(before, 'k');
    const { rows } = await sql<{ generation: number }>`
      SELECT generation FROM cache_generations WHERE scope = ${`${name}:k`}`.execute(db());
    expect(Number(rows[0]?.generation)).toBe(2);
    const after = instance().versioned<string>(name, { ttl: 60_000 });
    expect(await after.getOrCompute('k', async () => 'fresh')).toBe('fresh');
  });
});

describe.skipIf(!process.env.REDIS_URL)('with Redis as the shared tier (REDIS_URL)', () => {
  let context: TestContext;
  beforeAll(async () => {
    context = await createTestContext();
  });
  afterAll(async () => {
    await context.close();
  });

  it('shows another instance a write as soon as the write has answered', async () => {
    const redisUrl = process.env.REDIS_URL as string;
    const name = `strict-${randomBytes(4).toString('hex')}`;
    const one = new HotpathCache({ redisUrl, database: context.runtime.database });
    const two = new HotpathCache({ redisUrl, database: context.runtime.database });
    try {
      await vi.waitFor(() => expect([one.redisState(), two.redisState()]).toEqual(['ok', 'ok']), {
        timeout: 60_000,
      });
      const regionOne = one.versioned<string>(name, { ttl: 60_000 });
      const regionTwo = two.versioned<string>(name, { ttl: 60_000 });
      for (let round = 1; round <= 50; round++) {
        expect(await regionTwo.getOrCompute('k', async () => `v${round}`)).toBe(`v${round}`);
        const bump = await context.runtime.database.db
          .transaction()
          .execute((trx) => regionOne.invalidateWithin(trx, 'k'));
        await regionOne.published(bump);
        expect(await regionTwo.getOrCompute('k', async () => `v${round + 1}`)).toBe(`v${round + 1}`);
      }
    } finally {
      await one.close();
      await two.close();
    }
  });

  it("never serves one database's entries to another behind the same Redis", async () => {
    const redisUrl = process.env.REDIS_URL as string;
    const other = await createTestContext();
    const name = `apart-${randomBytes(4).toString('hex')}`;
    const one = new HotpathCache({ redisUrl, database: context.runtime.database });
    const two = new HotpathCache({ redisUrl, database: other.runtime.database });
    try {
      await vi.waitFor(() => expect([one.redisState(), two.redisState()]).toEqual(['ok', 'ok']), {
        timeout: 60_000,
      });
      const regionOne = one.versioned<string>(name, { ttl: 60_000 });
      const regionTwo = two.versioned<string>(name, { ttl: 60_000 });
      // The same scope at the same generation in both databases: only the database tells them apart.
      for (const [region, database, label] of [
        [regionOne, context.runtime.database, 'one'],
        [regionTwo, other.runtime.database, 'two'],
      ] as const) {
        const bump = await database.db.transaction().execute((trx) => region.invalidateWithin(trx, 'k'));
        await region.published(bump);
        expect(bump.generation).toBe(1);
        expect(await region.getOrCompute('k', async () => `from ${label}`)).toBe(`from ${label}`);
      }
      expect(await regionOne.getOrCompute('k', async () => 'again')).toBe('from one');
    } finally {
      await one.close();
      await two.close();
      await other.close();
    }
  });

  it('shares entries between instances', async () => {
    const redisUrl = process.env.REDIS_URL as string;
    const name = `shared-${randomBytes(4).toString('hex')}`;
    const one = new HotpathCache({ redisUrl });
    const two = new HotpathCache({ redisUrl });
    try {
      // Connected first: commands are not queued while Redis is unreachable, so an early one skips it.
      await vi.waitFor(() => expect([one.redisState(), two.redisState()]).toEqual(['ok', 'ok']), {
        timeout: 60_000,
      });
      const regionOne = one.region<string>(name, { ttl: 60_000 });
      const regionTwo = two.region<string>(name, { ttl: 60_000 });
      expect(await regionOne.getOrCompute('k', async () => 'from one')).toBe('from one');
      expect(await regionTwo.getOrCompute('k', async () => 'from two')).toBe('from one');
    } finally {
      await one.close();
      await two.close();
    }
  });
});
