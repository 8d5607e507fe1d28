import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { Redis } from 'ioredis';
import { cacheRequestsTotal } from '../metrics/registry.ts';
import { currentLedger } from '../request-ledger.ts';

type Duration = number | string;

/**
 * The process's cache: an in-memory LRU tier, plus Redis as a shared second tier and invalidation bus
 * when REDIS_URL is set, so every instance drops an entry when any instance invalidates it. Entries
 * live in named regions; each lookup is counted (`hotpath_cache_requests_total{cache,result}`) and
 * marked on the request's Server-Timing.
 */
export class HotpathCache {
  private readonly bento: BentoCache<{ cache: ReturnType<typeof bentostore> }>;

  constructor(options: { redisUrl: string | undefined; maxMemory?: string }) {
    const store = bentostore().useL1Layer(memoryDriver({ maxSize: options.maxMemory ?? '200mb' }));
    if (options.redisUrl) {
      // Separate connections: the bus subscribes, and a subscribed connection can issue nothing else.
      store
        .useL2Layer(redisDriver({ connection: new Redis(options.redisUrl) }))
        .useBus(redisBusDriver({ connection: new Redis(options.redisUrl) }));
    }
    this.bento = new BentoCache({ default: 'cache', stores: { cache: store } });
  }

  region<T>(name: string, defaults: { ttl: Duration }): CacheRegion<T> {
    return new CacheRegion<T>(name, this.bento.namespace(name), defaults.ttl);
  }

  async close(): Promise<void> {
    await this.bento.disconnectAll();
  }
}

type Namespace = ReturnType<BentoCache<{ cache: ReturnType<typeof bentostore> }>['namespace']>;

export class CacheRegion<T> {
  constructor(
    readonly name: string,
    private readonly namespace: Namespace,
    private readonly ttl: Duration,
  ) {}

  /**
   * The cached value, or `compute`'s, stored for next time. Concurrent misses on one key wait for a
   * single computation (bentocache's per-key lock) and count as hits: they did not compute.
   */
  async getOrCompute(key: string, compute: () => Promise<T>, options: { ttl?: Duration } = {}): Promise<T> {
    let computed = false;
    const value = await this.namespace.getOrSet<T>({
      key,
      ttl: options.ttl ?? this.ttl,
      factory: async () => {
        computed = true;
        return compute();
      },
    });
    this.count(computed ? 'miss' : 'hit');
    return value;
  }

  /** Looks a key up without computing; undefined on a miss. */
  async peek(key: string): Promise<T | undefined> {
    const value = await this.namespace.get<T>({ key });
    this.count(value === undefined || value === null ? 'miss' : 'hit');
    return value ?? undefined;
  }

  async put(key: string, value: T, options: { ttl?: Duration } = {}): Promise<void> {
    await this.namespace.set({ key, value, ttl: options.ttl ?? this.ttl });
  }

  async invalidate(...keys: string[]): Promise<void> {
    if (keys.length === 1) await this.namespace.delete({ key: keys[0] as string });
    else if (keys.length > 1) await this.namespace.deleteMany({ keys });
  }

  async clear(): Promise<void> {
    await this.namespace.clear();
  }

  private count(result: 'hit' | 'miss'): void {
    cacheRequestsTotal.inc({ cache: this.name, result });
    const ledger = currentLedger();
    // A request that missed anywhere reports a miss: its answer was (partly) computed.
    if (ledger && ledger.cache !== 'miss') ledger.cache = result;
  }
}
