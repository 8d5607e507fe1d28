import type { Kysely } from 'kysely';
import pg from 'pg';
import { fromKysely, type JobWithMetadata, PgBoss } from 'pg-boss';
import { detachedFromLedger } from '../../../platform/request-ledger.ts';
import type { DB } from '../../../tables.ts';

export const INTEGRATION_QUEUE = 'worklist-integration';
/** Jobs a worker takes at once: pushes to EHRs in parallel, few enough not to flood one. */
const BATCH_SIZE = 5;

/** Documents read after they are recorded (OCR of scans): heavy, so one at a time per process. */
export const READING_QUEUE = 'worklist-reading';

export interface IntegrationJob {
  requestId: number;
}

/** Where the worklist's jobs go: integration into the EHR, and reading scans. Enqueueing joins the caller's transaction. */
export interface IntegrationQueue {
  enqueue(trx: Kysely<DB>, requestId: number): Promise<void>;
  enqueueReading(trx: Kysely<DB>, requestId: number): Promise<void>;
}

export interface ReadingQueueSettings {
  retryLimit: number;
  retryDelaySeconds: number;
  /** How long one attempt may take before pg-boss gives the job to another worker. */
  expireInSeconds: number;
}

const DEFAULT_READING_SETTINGS: ReadingQueueSettings = {
  retryLimit: 2,
  retryDelaySeconds: 30,
  expireInSeconds: 30 * 60,
};

/**
 * Integration jobs on pg-boss, in the same PostgreSQL: no other infrastructure, and a job is sent in the
 * transaction that marks its request queued, so the two never disagree. pg-boss retries a failed job
 * with exponential backoff up to the retry limit.
 */
export class PgBossIntegrationQueue implements IntegrationQueue {
  private constructor(private readonly boss: PgBoss) {}

  static async open(
    databaseUrl: string,
    options: {
      retryLimit: number;
      retryDelaySeconds: number;
      reading?: ReadingQueueSettings;
      log?: (message: string) => void;
    },
  ): Promise<PgBossIntegrationQueue> {
    const retired = await retireUnmigratableSchema(databaseUrl);
    const boss = new PgBoss({
      connectionString: databaseUrl,
      max: 3,
      application_name: 'hotpath-jobs',
      useListenNotify: true,
    });
    boss.on('error', (error) => options.log?.(`job queue: ${error.message}`));
    await boss.start();
    const settings = {
      retryLimit: options.retryLimit,
      retryDelay: options.retryDelaySeconds,
      retryBackoff: true,
      expireInSeconds: 15 * 60,
      notify: true,
    };
    // Created once; updated at every start, so a changed retry setting applies to the existing queue.
    await boss.createQueue(INTEGRATION_QUEUE, settings);
    await boss.updateQueue(INTEGRATION_QUEUE, settings);
    const reading = options.reading ?? DEFAULT_READING_SETTINGS;
    const readingSettings = {
      retryLimit: reading.retryLimit,
      retryDelay: reading.retryDelaySeconds,
      retryBackoff: true,
      expireInSeconds: reading.expireInSeconds,
      notify: true,
    };
    await boss.createQueue(READING_QUEUE, readingSettings);
    await boss.updateQueue(READING_QUEUE, readingSettings);
    if (retired) {
      const requeued = await requeueUnfinishedIntegrations(boss, databaseUrl);
      options.log?.(
        `job queue: kept the schema of an older pg-boss as ${retired}; queued ${requeued} unfinished integrations again`,
      );
    }
    return new PgBossIntegrationQueue(boss);
  }

  async enqueue(trx: Kysely<DB>, requestId: number): Promise<void> {
    const job: IntegrationJob = { requestId };
    await this.boss.send(INTEGRATION_QUEUE, job, {
      singletonKey: String(requestId),
      db: fromKysely(trx),
    });
  }

  async enqueueReading(trx: Kysely<DB>, requestId: number): Promise<void> {
    const job: IntegrationJob = { requestId };
    await this.boss.send(READING_QUEUE, job, { singletonKey: String(requestId), db: fromKysely(trx) });
  }

  /**
   * Runs `handle` for each scan to read, one at a time (OCR takes a core for seconds a page); a throw is
   * a failed attempt, retried until the limit, and `attempt` says whether it is the last.
   */
  async workReadings(
    handle: (job: IntegrationJob, attempt: { retryCount: number; retryLimit: number }) => Promise<void>,
    options: { pollingIntervalSeconds?: number } = {},
  ): Promise<void> {
    const pollingIntervalSeconds = options.pollingIntervalSeconds ?? 2;
    await this.boss.work(
      READING_QUEUE,
      {
        includeMetadata: true,
        batchSize: 1,
        pollingIntervalSeconds,
        notifyPollingIntervalSeconds: pollingIntervalSeconds,
      },
      async ([job]: JobWithMetadata<IntegrationJob>[]) => {
        if (job) await handle(job.data, { retryCount: job.retryCount, retryLimit: job.retryLimit });
      },
    );
  }

  /**
   * Runs `handle` for each job; a throw is a failed attempt, retried until the limit. Jobs come a batch
   * at a time, handled side by side and settled one by one; while batches come back full the worker
   * fetches again at once, so a backlog drains at the EHR's pace, not one job per polling interval.
   * A new job wakes the worker through LISTEN/NOTIFY; polling stays as the floor.
   */
  async work(
    handle: (job: IntegrationJob, attempt: { retryCount: number; retryLimit: number }) => Promise<void>,
    options: { pollingIntervalSeconds?: number } = {},
  ): Promise<void> {
    const pollingIntervalSeconds = options.pollingIntervalSeconds ?? 2;
    await this.boss.work(
      INTEGRATION_QUEUE,
      {
        includeMetadata: true,
        batchSize: BATCH_SIZE,
        burstWhenBatchFull: true,
        perJobResults: true,
        pollingIntervalSeconds,
        notifyPollingIntervalSeconds: pollingIntervalSeconds,
      },
      async (jobs: JobWithMetadata<IntegrationJob>[]) =>
        Promise.all(
          jobs.map(async (job) => {
            try {
              await handle(job.data, { retryCount: job.retryCount, retryLimit: job.retryLimit });
              return { id: job.id, status: 'completed' as const };
            } catch (error) {
              return { id: job.id, status: 'failed' as const, output: { message: (error as Error).message } };
            }
          }),
        ),
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
      reading?: ReadingQueueSettings;
      log?: (message: string) => void;
    },
  ) {}

  private queue(): Promise<PgBossIntegrationQueue> {
    // Opened by whichever request enqueues first: pg-boss's own start-up is not that request's cost.
    this.opened ??= detachedFromLedger(() => PgBossIntegrationQueue.open(this.databaseUrl, this.options));
    return this.opened;
  }

  async enqueue(trx: Kysely<DB>, requestId: number): Promise<void> {
    await (await this.queue()).enqueue(trx, requestId);
  }

  async enqueueReading(trx: Kysely<DB>, requestId: number): Promise<void> {
    await (await this.queue()).enqueueReading(trx, requestId);
  }

  async work(...args: Parameters<PgBossIntegrationQueue['work']>): Promise<void> {
    await (await this.queue()).work(...args);
  }

  async workReadings(...args: Parameters<PgBossIntegrationQueue['workReadings']>): Promise<void> {
    await (await this.queue()).workReadings(...args);
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
function retireUnmigratableSchema(databaseUrl: string): Promise<string | undefined> {
  return withClient(databaseUrl, async (client) => {
    await client.query('BEGIN');
    try {
      // Two processes starting together: one renames, the other then finds nothing to do.
      await client.query("SELECT pg_advisory_xact_lock(hashtext('hotpath: retire pg-boss schema'))");
      const { rows } = await client.query<{ installed: string | null }>(
        "SELECT to_regclass('pgboss.version')::text AS installed",
      );
      const version = rows[0]?.installed
        ? Number(
            (await client.query<{ version: string }>('SELECT version FROM pgboss.version')).rows[0]?.version,
          )
        : undefined;
      if (version === undefined || !(version < OLDEST_MIGRATABLE_SCHEMA)) {
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
    }
  });
}

/** The requests say which integrations are unfinished: each gets its job again in the new schema. */
function requeueUnfinishedIntegrations(boss: PgBoss, databaseUrl: string): Promise<number> {
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ request_id: string }>(
      "SELECT request_id FROM integration_requests WHERE integration_state IN ('queued', 'running')",
    );
    if (rows.length > 0) {
      await boss.insert(
        INTEGRATION_QUEUE,
        rows.map((row) => ({ data: { requestId: Number(row.request_id) }, singletonKey: row.request_id })),
      );
    }
    return rows.length;
  });
}

async function withClient<T>(databaseUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'hotpath-jobs' });
  // A connection lost between statements fails the next one; unheard, its 'error' would end the process.
  client.on('error', () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
