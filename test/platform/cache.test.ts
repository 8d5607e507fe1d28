import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HotpathCache } from '../../src/platform/cache/cache.ts';
import { metricsRegistry } from '../../src/platform/metrics/registry.ts';
import { RequestLedger, withLedger } from '../../src/platform/request-ledger.ts';

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

  it('marks the request ledger, a miss anywhere winning, and recomputes after invalidation', async () => {
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

    await region.invalidate('a');
    expect(await region.getOrCompute('a', async () => 'recomputed')).toBe('recomputed');
    await cache.close();
  });
});

describe.skipIf(!process.env.REDIS_URL)('with Redis as the shared tier (REDIS_URL)', () => {
  it('shares entries between instances and invalidates every instance', async () => {
    const redisUrl = process.env.REDIS_URL as string;
    const name = `shared-${randomBytes(4).toString('hex')}`;
    const one = new HotpathCache({ redisUrl });
    const two = new HotpathCache({ redisUrl });
    try {
      const regionOne = one.region<string>(name, { ttl: 60_000 });
      const regionTwo = two.region<string>(name, { ttl: 60_000 });
      expect(await regionOne.getOrCompute('k', async () => 'from one')).toBe('from one');
      expect(await regionTwo.getOrCompute('k', async () => 'from two')).toBe('from one');
      await regionOne.invalidate('k');
      await expect
        .poll(() => regionTwo.getOrCompute('k', async () => 'recomputed by two'), { timeout: 5_000 })
        .toBe('recomputed by two');
    } finally {
      await one.close();
      await two.close();
    }
  });
});
