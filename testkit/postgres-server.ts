import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { attachEmbeddedPostgres, runPgCtl } from '../src/platform/db/embedded.ts';

export interface PostgresServer {
  /** A URL with the right to create and drop databases. */
  adminUrl: string;
  stop(): Promise<void>;
}

/**
 * The PostgreSQL server tests and benchmarks run on: DATABASE_URL's when set, otherwise an embedded one
 * in a temporary data dir, removed when stopped.
 */
export async function startPostgresServer(prefix: string): Promise<PostgresServer> {
  if (process.env.DATABASE_URL) return { adminUrl: process.env.DATABASE_URL, stop: async () => {} };
  const scratch = mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  // mkdtemp makes it 0700; as root the server runs as `postgres`, and its cluster must live in here to be
  // removed with it (elsewhere it would fall back to a directory nobody cleans).
  chmodSync(scratch, 0o755);
  const embedded = await attachEmbeddedPostgres(scratch, randomBytes(16).toString('hex'));
  return {
    adminUrl: embedded.url,
    async stop() {
      await embedded.release();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

export interface StoppablePostgres extends PostgresServer {
  /** `pg_ctl stop -m fast`: every connection is terminated, as in a failover or a crash. */
  stopServer(): Promise<void>;
  /** Starts it again on the same port. */
  startServer(): Promise<void>;
}

/** An embedded PostgreSQL of a test's own, whatever DATABASE_URL says: the fault tests stop it under load. */
export async function startStoppablePostgres(prefix: string): Promise<StoppablePostgres> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  chmodSync(scratch, 0o755);
  const embedded = await attachEmbeddedPostgres(scratch, randomBytes(16).toString('hex'));
  const port = new URL(embedded.url).port;
  return {
    adminUrl: embedded.url,
    stopServer: () => runPgCtl(scratch, ['stop', '-m', 'fast', '-w', '-t', '120']),
    startServer: () =>
      runPgCtl(scratch, [
        'start',
        '-w',
        '-t',
        '120',
        '-l',
        // In the cluster's own directory: as root the server runs as postgres, which may write only there.
        path.join(scratch, 'pg', 'server.log'),
        '-o',
        `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`,
      ]),
    async stop() {
      await embedded.release();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** One statement on a connection of its own (CREATE/DROP DATABASE cannot run in a pool's transaction). */
export async function adminQuery<Row extends object = Record<string, unknown>>(
  url: string,
  statement: string,
  values: unknown[] = [],
): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  // The fault suites stop the server under it: a lost connection fails the statement, not the run.
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<Row>(statement, values)).rows;
  } finally {
    await client.end();
  }
}
