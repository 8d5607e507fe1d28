import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import pg from 'pg';
import type { Siblings } from '../cluster.ts';
import type { AnyKysely } from '../db/database.ts';
import { detachedFromLedger } from '../request-ledger.ts';

const CHANNEL = 'hotpath_cache_generations';
/** How often the listener proves its connection still delivers, and how long the proof may take. */
const HEARTBEAT_MS = 3_000;
const HEARTBEAT_TIMEOUT_MS = 2_000;
/** How long a write waits for its own notification, so that every instance has been sent it. */
const PUBLISH_WAIT_MS = 250;
/** How long a read waits for the listener to come up before reading the generation itself. */
const CONFIRM_WAIT_MS = 2_000;
/** After Redis fails a command, it is left alone this long: an outage costs a read nothing. */
const REDIS_PAUSE_MS = 5_000;
/** Generations in Redis outlive any cached entry, and go once nobody writes their scope. */
const REDIS_TTL_SECONDS = 3_600;
/** Raises a generation in Redis, never lowers it (a late writer must not undo a newer bump). */
const RAISE_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 0`;

/** A generation a write moved to, inside its transaction; published once that commits. */
export interface Bump {
  scope: string;
  generation: number;
}

/**
 * The generation of every cache scope, kept in PostgreSQL (`cache_generations`) and bumped in the
 * writing transaction itself: a cache key carries its scope's generation, so no key is ever reused
 * for older data, whatever happens to the cache (Redis restarted empty, an instance down for a while).
 *
 * Each process holds every generation in memory, brought up to date by PostgreSQL's NOTIFY, which is
 * sent when the write commits, to every instance at once. While that connection is up (and proves it
 * every 3 s with a heartbeat), the memory is complete; while it is down, or before it has loaded the
 * table, a lookup reads the row. That alone bounds how long another instance can serve an older
 * entry: until the notification reaches it (milliseconds), or 5 s when its connection goes silent.
 *
 * The workers of one `serve --workers N` are told by the primary before the write answers: a read on
 * a sibling after that never finds the older generation, with or without Redis.
 *
 * With Redis, a write also raises the generation there before it answers, and a lookup takes the
 * larger of Redis's and its own: a read on another instance after the write has answered always
 * finds the new generation. Redis never lowers what PostgreSQL said: when it is down, empty, or
 * behind, lookups fall back to the notified generations.
 */
export class Generations {
  /** Every scope's generation, complete while the listener is confirmed (a scope not here is at 0). */
  private readonly known = new Map<string, number>();
  private client: pg.Client | undefined;
  private confirmed = false;
  private confirming: Promise<void> | undefined;
  private stopped = false;
  /** Not before: a database that is down is not asked for a connection by every request. */
  private retryAt = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private heartbeatReturned: (payload: string) => void = () => {};
  /** Generations notified by PostgreSQL, as opposed to raised by this instance's own writes. */
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Set<{ scope: string; generation: number; done: () => void }>();

  private redisPausedUntil = 0;
  private identity: Promise<string> | undefined;

  constructor(
    private readonly database: { url: string; db: AnyKysely },
    private readonly log: (message: string) => void = () => {},
    private readonly redis?: Redis,
    /** The other workers of this `serve --workers N`, told of every bump before the write answers. */
    private readonly siblings?: Siblings,
  ) {
    siblings?.onBump((scope, generation) => this.raise(scope, generation));
    redis?.defineCommand('hotpathRaiseGeneration', { numberOfKeys: 1, lua: RAISE_SCRIPT });
    // Connected again: used again at once (the pause is for a Redis that is connected but failing).
    redis?.on('ready', () => {
      this.redisPausedUntil = 0;
    });
  }

  /** Whether Redis takes part in lookups and writes now. */
  redisInUse(): boolean {
    return this.redis?.status === 'ready' && Date.now() >= this.redisPausedUntil;
  }

  /**
   * What a cache key carries for the scope: this database's identity and the scope's generation, the
   * larger of Redis's (when up) and this instance's own (`3f2c…:42`).
   */
  async version(scope: string): Promise<string> {
    const own = await this.notified(scope);
    const identity = await this.databaseIdentity();
    const shared = await this.fromRedis(() => this.redis?.get(redisKey(identity, scope)));
    return `${identity}:${shared ? this.raise(scope, Number(shared)) : own}`;
  }

  /**
   * The database's cache identity (migrations/0005): read once, with the generations when the listener
   * connects, or here if a lookup comes first; it never changes. Not billed to the request that
   * happens to ask first: it is the process's cost, not its route's.
   */
  private databaseIdentity(): Promise<string> {
    this.identity ??= detachedFromLedger(() =>
      sql<{ id: string }>`/* cache.identity */ ${sql.raw(IDENTITY)}`.execute(this.database.db),
    ).then(({ rows }) => identityOf(rows));
    // A failed read (the database down at that moment) is tried again by the next lookup.
    this.identity.catch(() => {
      this.identity = undefined;
    });
    return this.identity;
  }

  /** From memory while the listener is confirmed, else from PostgreSQL. */
  private async notified(scope: string): Promise<number> {
    if (!this.confirmed) {
      this.listen();
      if (this.confirming) {
        await Promise.race([this.confirming, sleep(CONFIRM_WAIT_MS, undefined, { ref: false })]);
      }
    }
    if (this.confirmed) return this.known.get(scope) ?? 0;
    const { rows } = await sql<{ generation: number }>`/* cache.generation */
      SELECT generation FROM cache_generations WHERE scope = ${scope}`.execute(this.database.db);
    return this.raise(scope, rows[0]?.generation ?? 0);
  }

  /** A Redis command, or undefined when Redis is off, down, or recently failed. */
  private async fromRedis<T>(command: () => Promise<T> | undefined): Promise<T | undefined> {
    if (!this.redisInUse()) return undefined;
    try {
      return await command();
    } catch {
      this.redisPausedUntil = Date.now() + REDIS_PAUSE_MS;
      return undefined;
    }
  }

  /** Moves a scope to its next generation inside `trx`; PostgreSQL notifies every instance at commit. */
  async bumpWithin(trx: AnyKysely, scope: string): Promise<Bump> {
    const { rows } = await sql<{ generation: number }>`/* cache.bumpGeneration */
      WITH bumped AS (
        INSERT INTO cache_generations (scope, generation) VALUES (${scope}, 1)
        ON CONFLICT (scope) DO UPDATE SET generation = cache_generations.generation + 1, changed_at = now()
        RETURNING scope, generation
      )
      SELECT generation, pg_notify(${CHANNEL}, scope || ' ' || generation) FROM bumped`.execute(trx);
    return { scope, generation: Number(rows[0]?.generation) };
  }

  /**
   * After the bump's transaction committed: this instance sees the new generation at once, and the
   * write answers once its own notification came back (within 250 ms), when every listening instance
   * had been sent it too.
   */
  async published(bump: Bump): Promise<void> {
    this.raise(bump.scope, bump.generation);
    // Committed already: an identity that cannot be read now leaves Redis alone (NOTIFY still tells
    // every instance), rather than failing a write that happened.
    const identity = await this.databaseIdentity().catch(() => undefined);
    if (identity !== undefined) {
      await this.fromRedis(() =>
        (this.redis as unknown as RaisingRedis | undefined)?.hotpathRaiseGeneration(
          redisKey(identity, bump.scope),
          bump.generation,
          REDIS_TTL_SECONDS,
        ),
      );
    }
    await this.siblings?.publish(bump.scope, bump.generation);
    if (!this.confirmed || (this.seen.get(bump.scope) ?? 0) >= bump.generation) return;
    await new Promise<void>((resolve) => {
      const waiter = { scope: bump.scope, generation: bump.generation, done: resolve };
      this.waiters.add(waiter);
      setTimeout(() => {
        this.waiters.delete(waiter);
        resolve();
      }, PUBLISH_WAIT_MS).unref();
    });
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.confirmed = false;
    clearInterval(this.heartbeat);
    for (const waiter of this.waiters) waiter.done();
    await this.client?.end().catch(() => {});
  }

  private raise(scope: string, generation: number): number {
    const current = Math.max(this.known.get(scope) ?? 0, generation);
    this.known.set(scope, current);
    return current;
  }

  private listen(): void {
    if (this.confirming || this.stopped || Date.now() < this.retryAt) return;
    // Not billed to the request that happened to need it first.
    this.confirming = detachedFromLedger(() => this.connect()).finally(() => {
      this.confirming = undefined;
    });
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.database.url,
      application_name: 'hotpath-cache',
      keepAlive: true,
    });
    client.on('error', (error) => this.lost(client, error.message));
    client.on('end', () => this.lost(client, 'connection ended'));
    client.on('notification', (message) => {
      if (message.channel !== CHANNEL || !message.payload) return;
      const [scope, generation] = splitLast(message.payload);
      this.noticed(scope, Number(generation));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      // Loaded after LISTEN: a write committed before is in the table, one committed after is notified.
      const { rows } = await client.query<{ scope: string; generation: string }>(
        'SELECT scope, generation FROM cache_generations',
      );
      const identity = await client.query<{ id: string }>(IDENTITY);
      this.identity ??= Promise.resolve(identityOf(identity.rows));
      if (this.stopped) {
        await client.end();
        return;
      }
      this.known.clear();
      for (const row of rows) this.raise(row.scope, Number(row.generation));
      this.client = client;
      this.confirmed = true;
      this.startHeartbeat(client);
    } catch (error) {
      await client.end().catch(() => {});
      this.lost(client, (error as Error).message);
    }
  }

  /** A NOTIFY on its own channel that must come back: a connection that went silent is found out. */
  private startHeartbeat(client: pg.Client): void {
    let beat = 0;
    this.heartbeat = setInterval(() => {
      beat += 1;
      const expected = `heartbeat ${beat}`;
      const deadline = setTimeout(() => this.lost(client, 'heartbeat not returned'), HEARTBEAT_TIMEOUT_MS);
      deadline.unref();
      this.heartbeatReturned = (payload) => {
        if (payload === expected) clearTimeout(deadline);
      };
      client
        .query(`NOTIFY ${CHANNEL}, '${expected}'`)
        .catch((error: Error) => this.lost(client, error.message));
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private noticed(scope: string, generation: number): void {
    if (scope === 'heartbeat') {
      this.heartbeatReturned(`heartbeat ${generation}`);
      return;
    }
    this.raise(scope, generation);
    this.seen.set(scope, Math.max(this.seen.get(scope) ?? 0, generation));
    for (const waiter of this.waiters) {
      if (waiter.scope === scope && generation >= waiter.generation) {
        this.waiters.delete(waiter);
        waiter.done();
      }
    }
  }

  /** The listener is gone: lookups read PostgreSQL until a new one has reloaded every generation. */
  private lost(client: pg.Client, reason: string): void {
    if (this.client !== undefined && this.client !== client) return;
    const wasConfirmed = this.confirmed;
    this.confirmed = false;
    this.client = undefined;
    clearInterval(this.heartbeat);
    client.end().catch(() => {});
    if (this.stopped) return;
    if (wasConfirmed) {
      this.log(`cache generations: notification connection lost (${reason}); reading them from PostgreSQL`);
    }
    // Again in a second, and by then by whichever lookup comes first.
    this.retryAt = Date.now() + 1_000;
    setTimeout(() => this.listen(), 1_000).unref();
  }
}

interface RaisingRedis {
  hotpathRaiseGeneration(key: string, generation: number, ttlSeconds: number): Promise<number>;
}

/**
 * The drawn id (copied along when a database is made from a template or restored) and the database's
 * oid, which a copy on the same server never shares.
 */
const IDENTITY = `SELECT id || '.' || (SELECT oid FROM pg_database WHERE datname = current_database()) AS id
  FROM cache_identity`;

function identityOf(rows: Array<{ id: string }>): string {
  if (!rows[0]) throw new Error('cache_identity is empty: the migrations did not run');
  return rows[0].id;
}

function redisKey(identity: string, scope: string): string {
  return `hotpath:generation:${identity}:${scope}`;
}

function splitLast(payload: string): [string, string] {
  const at = payload.lastIndexOf(' ');
  return [payload.slice(0, at), payload.slice(at + 1)];
}
