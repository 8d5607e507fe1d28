import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Config } from '../../config.ts';
import { localSecrets } from '../data-dir.ts';
import { trackPool } from '../metrics/registry.ts';
import { installQueryAccounting } from './accounting.ts';
import { attachEmbeddedPostgres } from './embedded.ts';
import { preparingClient } from './prepared-statements.ts';

/** Kysely over the shared pool. Modules narrow it to their own tables (`Kysely<DocumentsTables>`). */
// biome-ignore lint/suspicious/noExplicitAny: the platform knows no module's tables.
export type AnyKysely = Kysely<any>;

/** `Tables`: the application's table interfaces (src/tables.ts); the platform itself knows none. */
// biome-ignore lint/suspicious/noExplicitAny: see AnyKysely.
export interface Database<Tables = any> {
  /** Where it connected; the embedded server's URL when DATABASE_URL is unset. */
  url: string;
  pool: pg.Pool;
  db: Kysely<Tables>;
  close(): Promise<void>;
}

const INT8_OID = 20;

/** int8 as a JS number: sizes and counts stay far below 2^53; money uses numeric and stays a string. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

/**
 * Opens the pool, with explicit limits, on DATABASE_URL or on the data dir's embedded PostgreSQL
 * (started if no other hotpath process has started it).
 */
// biome-ignore lint/suspicious/noExplicitAny: see AnyKysely.
export async function openDatabase<Tables = any>(
  config: Config,
  options: { applicationName: string; log?: (message: string) => void; poolMax?: number },
): Promise<Database<Tables>> {
  installQueryAccounting();
  const embedded = config.databaseUrl
    ? undefined
    : await attachEmbeddedPostgres(
        config.dataDir,
        localSecrets(config.dataDir).embeddedDbPassword,
        options.log,
      );
  const url = config.databaseUrl ?? embedded!.url;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolMax ?? config.db.poolMax,
    connectionTimeoutMillis: config.db.connectionTimeoutMs,
    idleTimeoutMillis: config.db.idleTimeoutMs,
    statement_timeout: config.db.statementTimeoutMs,
    application_name: options.applicationName,
    types,
    ...(config.db.preparedStatements > 0 ? { Client: preparingClient(config.db.preparedStatements) } : {}),
  });
  // A connection PostgreSQL ends (a restart, a failover, `pg_terminate_backend`) emits 'error' on its
  // client. The pool listens on idle clients only; a client checked out between two statements of a
  // transaction has no listener, and an unheard 'error' ends the process. Every client gets one: the
  // statement in flight fails (answered 503), and the pool discards the client when it comes back.
  pool.on('connect', (client) => {
    client.on('error', (error) => options.log?.(`database connection lost: ${error.message}`));
  });
  pool.on('error', (error) => options.log?.(`idle database connection failed: ${error.message}`));
  const untrackPool = trackPool(pool);
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  let closed = false;
  return {
    url,
    pool,
    db,
    async close() {
      if (closed) return;
      closed = true;
      untrackPool();
      await db.destroy();
      await embedded?.release();
    },
  };
}
