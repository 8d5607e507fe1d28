import { BentoCache, bentostore, errors } from 'bentocache';
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
  private readonly generations: Generations;
  /** Connections this cache opened, and so must close: bentocache leaves the connections it is given open. */
  private readonly redisConnections: Redis[] = [];

  constructor(options: { redisUrl: string | undefined; maxMemory?: string }) {
    const store = bentostore().useL1Layer(memoryDriver({ maxSize: options.maxMemory ?? '200mb' }));
    const connect = (url: string) => {
      const connection = new Redis(url);
      this.redisConnections.push(connection);
      return connection;
    };
    if (options.redisUrl) {
      // Separate connections: the bus subscribes, and a subscribed connection can issue nothing else.
      store
        .useL2Layer(redisDriver({ connection: connect(options.redisUrl) }))
        .useBus(redisBusDriver({ connection: connect(options.redisUrl) }));
    }
    this.bento = new BentoCache({ default: 'cache', stores: { cache: store } });
    this.generations = options.redisUrl
      ? new RedisGenerations(connect(options.redisUrl))
      : new MemoryGenerations();
  }

  region<T>(name: string, defaults: { ttl: Duration }): CacheRegion<T> {
    return new CacheRegion<T>(name, this.bento.namespace(name), defaults.ttl, this.generations);
  }

  async close(): Promise<void> {
    await this.bento.disconnectAll();
    // Open connections would keep a finished CLI command's process alive.
    for (const connection of this.redisConnections) connection.disconnect();
  }
}

/**
 * A counter per cache key, bumped by every invalidation and part of the stored entry's key. A lookup
 * that started before a write may finish after the write's invalidation; it then stores its answer
 * under the old generation, where no later lookup reads it. Deleting the entry alone would let that
 * stale answer back in until the TTL ran out.
 */
interface Generations {
  current(key: string): Promise<number>;
  bump(key: string): Promise<void>;
}

class MemoryGenerations implements Generations {
  private readonly counters = new Map<string, number>();
  async current(key: string): Promise<number> {
    return this.counters.get(key) ?? 0;
  }
  async bump(key: string): Promise<void> {
    this.counters.set(key, (this.counters.get(key) ?? 0) + 1);
  }
}

/** Shared by every instance, so one instance's invalidation holds for all of them at once. */
class RedisGenerations implements Generations {
  constructor(private readonly redis: Redis) {}
  async current(key: string): Promise<number> {
    return Number((await this.redis.get(`hotpath:generation:${key}`)) ?? 0);
  }
  async bump(key: string): Promise<void> {
    await this.redis.incr(`hotpath:generation:${key}`);
  }
}

type Namespace = ReturnType<BentoCache<{ cache: ReturnType<typeof bentostore> }>['namespace']>;

export class CacheRegion<T> {
  constructor(
    readonly name: string,
    private readonly namespace: Namespace,
    private readonly ttl: Duration,
    private readonly generations: Generations,
  ) {}

  private async versioned(key: string): Promise<string> {
    return `${key}#${await this.generations.current(`${this.name}:${key}`)}`;
  }

  /**
   * The cached value, or `compute`'s, stored for next time. Concurrent misses on one key wait for a
   * single computation (bentocache's per-key lock) and count as hits: they did not compute.
   */
  async getOrCompute(key: string, compute: () => Promise<T>, options: { ttl?: Duration } = {}): Promise<T> {
    let computed = false;
    let value: T;
    try {
      value = await this.namespace.getOrSet<T>({
        key: await this.versioned(key),
        ttl: options.ttl ?? this.ttl,
        factory: async () => {
          computed = true;
          return compute();
        },
      });
    } catch (error) {
      // bentocache wraps what the computation threw; callers expect their own error (a 404, say).
      throw error instanceof errors.E_FACTORY_ERROR ? error.cause : error;
    }
    this.count(computed ? 'miss' : 'hit');
    return value;
  }

  /** Looks a key up without computing; undefined on a miss. */
  async peek(key: string): Promise<T | undefined> {
    const value = await this.namespace.get<T>({ key: await this.versioned(key) });
    this.count(value === undefined || value === null ? 'miss' : 'hit');
    return value ?? undefined;
  }

  /**
   * Computes afresh, bypassing any cached entry, and stores the answer for later lookups. The entry's
   * generation is read before computing, as getOrCompute does: a write that lands meanwhile wins.
   * (`put` after the computation would store the pre-write answer under the post-write generation.)
   */
  async refresh(key: string, compute: () => Promise<T>, options: { ttl?: Duration } = {}): Promise<T> {
    const versioned = await this.versioned(key);
    const value = await compute();
    await this.namespace.set({ key: versioned, value, ttl: options.ttl ?? this.ttl });
    return value;
  }

  async put(key: string, value: T, options: { ttl?: Duration } = {}): Promise<void> {
    await this.namespace.set({ key: await this.versioned(key), value, ttl: options.ttl ?? this.ttl });
  }

  /** After a write commits: later lookups of these keys compute afresh, on every instance. */
  async invalidate(...keys: string[]): Promise<void> {
    const stale = await Promise.all(keys.map((key) => this.versioned(key)));
    await Promise.all(keys.map((key) => this.generations.bump(`${this.name}:${key}`)));
    // The old entries can no longer be read; deleting them only frees their memory early.
    if (stale.length > 0) await this.namespace.deleteMany({ keys: stale });
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
