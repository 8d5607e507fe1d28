import { BentoCache, bentostore, errors } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { Redis } from 'ioredis';
import type { Siblings } from '../cluster.ts';
import type { AnyKysely } from '../db/database.ts';
import { cacheRequestsTotal } from '../metrics/registry.ts';
import { currentLedger } from '../request-ledger.ts';
import { type Bump, Generations } from './generations.ts';

type Duration = number | string;
type Namespace = ReturnType<BentoCache<{ cache: ReturnType<typeof bentostore> }>['namespace']>;

/**
 * Redis is an accelerator, never a dependency: a command gets 250 ms, nothing queues while it is
 * unreachable, and after a failure the tier is skipped for 5 s (bentocache's circuit breaker), so a
 * Redis outage costs a cached read nothing and a miss one computation.
 */
const REDIS_OPTIONS = {
  connectTimeout: 500,
  commandTimeout: 250,
  maxRetriesPerRequest: 0,
  enableOfflineQueue: false,
  retryStrategy: (attempt: number) => Math.min(100 * 2 ** attempt, 2_000),
  // Lookups of many requests in one tick go out as one write.
  enableAutoPipelining: true,
} as const;

/**
 * The process's cache: an in-memory LRU tier, plus Redis as a shared second tier when REDIS_URL is
 * set. Entries live in named regions; each lookup is counted (`hotpath_cache_requests_total{cache,
 * result}`) and marked on the request's Server-Timing. A region of answers that writes change is
 * versioned: its keys carry a generation kept in PostgreSQL (see Generations), so invalidation needs
 * no cache at all, and neither a Redis outage nor Redis losing its data can bring an old answer back.
 */
export class HotpathCache {
  private readonly bento: BentoCache<{ cache: ReturnType<typeof bentostore> }>;
  private readonly redis: Redis | undefined;
  private readonly generations: Generations | undefined;

  constructor(options: {
    redisUrl: string | undefined;
    /** Where the generations live; without it, only TTL regions. */
    database?: { url: string; db: AnyKysely };
    log?: (message: string) => void;
    maxEntries?: number;
    siblings?: Siblings | undefined;
  }) {
    // Unserialised: a hit hands back the stored value itself, with no parse (the dashboard keeps the
    // bytes it sends). So a cached value must never be changed by whoever reads it.
    const store = bentostore().useL1Layer(
      memoryDriver({ serialize: false, maxItems: options.maxEntries ?? 100_000 }),
    );
    if (options.redisUrl) {
      this.redis = new Redis(options.redisUrl, REDIS_OPTIONS);
      // Reported by /readyz and on reconnection; an unheard 'error' would end the process.
      this.redis.on('error', () => {});
      store.useL2Layer(redisDriver({ connection: this.redis }));
    }
    this.bento = new BentoCache({
      default: 'cache',
      stores: { cache: store },
      suppressL2Errors: true,
      l2CircuitBreakerDuration: '5s',
    });
    if (options.database) {
      this.generations = new Generations(options.database, options.log, this.redis, options.siblings);
    }
  }

  /** Entries that expire by TTL alone (copies of another system's data). */
  region<T>(name: string, defaults: { ttl: Duration }): CacheRegion<T> {
    return new CacheRegion<T>(name, this.bento.namespace(name), defaults.ttl);
  }

  /** Entries that writes invalidate, through their generation. */
  versioned<T>(name: string, defaults: { ttl: Duration }): VersionedCacheRegion<T> {
    if (!this.generations) throw new Error(`cache region ${name} is versioned and needs the database`);
    return new VersionedCacheRegion<T>(name, this.bento.namespace(name), defaults.ttl, this.generations);
  }

  /** The shared tier as /readyz reports it: a degraded Redis leaves the service ready. */
  redisState(): 'off' | 'ok' | 'degraded' {
    if (!this.redis) return 'off';
    const inUse = this.generations ? this.generations.redisInUse() : this.redis.status === 'ready';
    return inUse ? 'ok' : 'degraded';
  }

  async close(): Promise<void> {
    await this.generations?.close();
    await this.bento.disconnectAll();
    // An open connection would keep a finished CLI command's process alive.
    this.redis?.disconnect();
  }
}

export class CacheRegion<T> {
  constructor(
    readonly name: string,
    protected readonly namespace: Namespace,
    protected readonly ttl: Duration,
  ) {}

  /**
   * The cached value, or `compute`'s, stored for next time. Concurrent misses on one key wait for a
   * single computation (bentocache's per-key lock) and count as hits: they did not compute.
   */
  getOrCompute(key: string, compute: () => Promise<T>, options: { ttl?: Duration } = {}): Promise<T> {
    return this.lookup(key, compute, options.ttl ?? this.ttl);
  }

  async clear(): Promise<void> {
    await this.namespace.clear();
  }

  protected async lookup(entryKey: string, compute: () => Promise<T>, ttl: Duration): Promise<T> {
    let computed = false;
    let value: T;
    try {
      value = await this.namespace.getOrSet<T>({
        key: entryKey,
        ttl,
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

  protected count(result: 'hit' | 'miss'): void {
    cacheRequestsTotal.inc({ cache: this.name, result });
    const ledger = currentLedger();
    // A request that missed anywhere reports a miss: its answer was (partly) computed.
    if (ledger && ledger.cache !== 'miss') ledger.cache = result;
  }
}

/**
 * Keys carry the database's cache identity and their scope's generation (`shop-0001#3f2c…:42`). A lookup that began before a write and
 * finishes after it stores its answer under the old generation, where no later lookup reads it.
 */
export class VersionedCacheRegion<T> extends CacheRegion<T> {
  constructor(
    name: string,
    namespace: Namespace,
    ttl: Duration,
    private readonly generations: Generations,
  ) {
    super(name, namespace, ttl);
  }

  private async entryKey(key: string): Promise<string> {
    return `${key}#${await this.generations.version(`${this.name}:${key}`)}`;
  }

  override async getOrCompute(
    key: string,
    compute: () => Promise<T>,
    options: { ttl?: Duration } = {},
  ): Promise<T> {
    return this.lookup(await this.entryKey(key), compute, options.ttl ?? this.ttl);
  }

  /**
   * Computes afresh, bypassing any cached entry, and stores the answer for later lookups. The
   * generation is read before computing: a write that lands meanwhile wins.
   */
  async refresh(key: string, compute: () => Promise<T>, options: { ttl?: Duration } = {}): Promise<T> {
    const entryKey = await this.entryKey(key);
    const value = await compute();
    await this.namespace.set({ key: entryKey, value, ttl: options.ttl ?? this.ttl });
    this.count('miss');
    return value;
  }

  /** Inside the write's transaction: its commit invalidates the key on every instance. One statement. */
  invalidateWithin(trx: AnyKysely, key: string): Promise<Bump> {
    return this.generations.bumpWithin(trx, `${this.name}:${key}`);
  }

  /** After the commit: this instance reads the new generation at once; see Generations.published. */
  published(bump: Bump): Promise<void> {
    return this.generations.published(bump);
  }
}
