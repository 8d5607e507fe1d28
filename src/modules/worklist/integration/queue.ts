import { CompiledQuery } from 'kysely';
import PgBoss from 'pg-boss';
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
    const boss = new PgBoss({ connectionString: databaseUrl, max: 3, application_name: 'hotpath-jobs' });
    boss.on('error', (error) => options.log?.(`job queue: ${error.message}`));
    await boss.start();
    await boss.createQueue(INTEGRATION_QUEUE, {
      name: INTEGRATION_QUEUE,
      retryLimit: options.retryLimit,
      retryDelay: options.retryDelaySeconds,
      retryBackoff: true,
      expireInMinutes: 15,
    });
    return new PgBossIntegrationQueue(boss);
  }

  async enqueue(trx: AnyKysely, requestId: number): Promise<void> {
    const job: IntegrationJob = { requestId };
    await this.boss.send(INTEGRATION_QUEUE, job, {
      singletonKey: String(requestId),
      db: {
        executeSql: async (text, values) => {
          const result = await trx.executeQuery(CompiledQuery.raw(text, values));
          return { rows: [...result.rows] };
        },
      },
    });
  }

  /** Runs `handle` for each job; a throw is a failed attempt, retried until the limit. */
  async work(
    handle: (job: IntegrationJob, attempt: { retryCount: number; retryLimit: number }) => Promise<void>,
    options: { pollingIntervalSeconds?: number } = {},
  ): Promise<void> {
    await this.boss.work<IntegrationJob>(
      INTEGRATION_QUEUE,
      { includeMetadata: true, batchSize: 1, pollingIntervalSeconds: options.pollingIntervalSeconds ?? 2 },
      async ([job]) => {
        if (job) await handle(job.data, { retryCount: job.retryCount, retryLimit: job.retryLimit });
      },
    );
  }

  /** Finishes the job in hand, takes no more, and closes pg-boss's connections. */
  async close(): Promise<void> {
    await this.boss.stop({ graceful: true, wait: true, timeout: 10_000 });
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
