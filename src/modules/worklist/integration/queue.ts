import pg from 'pg';
import { fromKysely, type JobWithMetadata, PgBoss } from 'pg-boss';
import type { AnyKysely } from '../../../platform/db/database.ts';

export const INTEGRATION_QUEUE = 'worklist-integration';

export interface IntegrationJob {
  requestId: number;
}

/** Where integration jobs go. Enqueueing joins the caller's transaction. */
export interface IntegrationQueue {
  enqueue(trx: AnyKysely, requestId: number): Promise<void>;
}

/**
 * Integration jobs on pg-boss, in the same PostgreSQL: no other infrastructure, and a job is sent in the
 * transaction that marks its request queued, so the two never disagree. pg-boss retries a failed job
 * with exponential backoff up to the retry limit.
 */
export class PgBossIntegrationQueue implements IntegrationQueue {
  private constructor(private readonly boss: PgBoss) {}

  static async open(
    databaseUrl: string,
    options: { retryLimit: number; retryDelaySeconds: number; log?: (message: string) => void },
  ): Promise<PgBossIntegrationQueue> {
    const retired = await retireUnmigratableSchema(databaseUrl);
    const boss = new PgBoss({ connectionString: databaseUrl, max: 3, application_name: 'hotpath-jobs' });
    boss.on('error', (error) => options.log?.(`job queue: ${error.message}`));
    await boss.start();
    await boss.createQueue(INTEGRATION_QUEUE, {
      retryLimit: options.retryLimit,
      retryDelay: options.retryDelaySeconds,
      retryBackoff: true,
      expireInSeconds: 15 * 60,
    });
    if (retired) {
      const requeued = await requeueUnfinishedIntegrations(boss, databaseUrl);
      options.log?.(
        `job queue: kept the schema of an older pg-boss as ${retired}; queued ${requeued} unfinished integrations again`,
      );
    }
    return new PgBossIntegrationQueue(boss);
  }

  async enqueue(trx: AnyKysely, requestId: number): Promise<void> {
    const job: IntegrationJob = { requestId };
    await this.boss.send(INTEGRATION_QUEUE, job, {
      singletonKey: String(requestId),
      db: fromKysely(trx),
    });
  }

  /** Runs `handle` for each job; a throw is a failed attempt, retried until the limit. */
  async work(
    handle: (job: IntegrationJob, attempt: { retryCount: number; retryLimit: number }) => Promise<void>,
    options: { pollingIntervalSeconds?: number } = {},
  ): Promise<void> {
    await this.boss.work(
      INTEGRATION_QUEUE,
      { includeMetadata: true, batchSize: 1, pollingIntervalSeconds: options.pollingIntervalSeconds ?? 2 },
      async ([job]: JobWithMetadata<IntegrationJob>[]) => {
        if (job) await handle(job.data, { retryCount: job.retryCount, retryLimit: job.retryLimit });
      },
    );
  }

  /** Finishes the job in hand, takes no more, and closes pg-boss's connections. */
  async close(): Promise<void> {
    await this.boss.stop({ graceful: true, timeout: 10_000 });
  }
}

/**
 * The queue as the app holds it: pg-boss starts on first use, so commands and processes that never
 * enqueue or work (the CLI, a documents-only test) never start it.
 */
export class LazyIntegrationQueue implements IntegrationQueue {
  private opened: Promise<PgBossIntegrationQueue> | undefined;

  constructor(
    private readonly databaseUrl: string,
    private readonly options: {
      retryLimit: number;
      retryDelaySeconds: number;
      log?: (message: string) => void;
    },
  ) {}

  private queue(): Promise<PgBossIntegrationQueue> {
    this.opened ??= PgBossIntegrationQueue.open(this.databaseUrl, this.options);
    return this.opened;
  }

  async enqueue(trx: AnyKysely, requestId: number): Promise<void> {
    await (await this.queue()).enqueue(trx, requestId);
  }

  async work(...args: Parameters<PgBossIntegrationQueue['work']>): Promise<void> {
    await (await this.queue()).work(...args);
  }

  async close(): Promise<void> {
    if (this.opened) await (await this.opened).close();
  }
}

/** pg-boss migrates its schema from version 25 (pg-boss 11.0) on; hotpath ran pg-boss 10 (schema 24) before. */
const OLDEST_MIGRATABLE_SCHEMA = 25;

/**
 * Moves a job schema written by a pg-boss too old to migrate out of the way (renamed, not dropped), so
 * pg-boss installs its own. Returns the new name of the old schema, or undefined when there was none.
 */
async function retireUnmigratableSchema(databaseUrl: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'hotpath-jobs' });
  await client.connect();
  try {
    await client.query('BEGIN');
    // Two processes starting together: one renames, the other then finds nothing to do.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('hotpath: retire pg-boss schema'))");
    const { rows } = await client.query<{ installed: string | null }>(
      "SELECT to_regclass('pgboss.version')::text AS installed",
    );
    if (!rows[0]?.installed) {
      await client.query('ROLLBACK');
      return undefined;
    }
    const version = Number(
      (await client.query<{ version: string }>('SELECT version FROM pgboss.version')).rows[0]?.version,
    );
    if (!(version < OLDEST_MIGRATABLE_SCHEMA)) {
      await client.query('ROLLBACK');
      return undefined;
    }
    const retired = `pgboss_v${version}_retired`;
    await client.query(`ALTER SCHEMA pgboss RENAME TO ${retired}`);
    await client.query('COMMIT');
    return retired;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}

/** The requests say which integrations are unfinished: each gets its job again in the new schema. */
async function requeueUnfinishedIntegrations(boss: PgBoss, databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'hotpath-jobs' });
  await client.connect();
  try {
    const { rows } = await client.query<{ request_id: string }>(
      "SELECT request_id FROM integration_requests WHERE integration_state IN ('queued', 'running')",
    );
    if (rows.length === 0) return 0;
    await boss.insert(
      INTEGRATION_QUEUE,
      rows.map((row) => ({ data: { requestId: Number(row.request_id) }, singletonKey: row.request_id })),
    );
    return rows.length;
  } finally {
    await client.end();
  }
}
