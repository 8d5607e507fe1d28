import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { attachEmbeddedPostgres } from '../../src/platform/db/embedded.ts';

export interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh database for one benchmark run: on DATABASE_URL's server when set, else on an embedded
 * PostgreSQL in a temporary directory (stopped and removed afterwards).
 */
export async function benchDatabase(): Promise<BenchDatabase> {
  let serverUrl = process.env.DATABASE_URL;
  let release: (() => Promise<void>) | undefined;
  let scratch: string | undefined;
  if (!serverUrl) {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'hotpath-bench-pg-'));
    const embedded = await attachEmbeddedPostgres(scratch, randomBytes(16).toString('hex'));
    serverUrl = embedded.url;
    release = embedded.release;
  }
  const name = `hotpath_bench_${randomBytes(4).toString('hex')}`;
  await admin(serverUrl, `CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await release?.();
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    },
  };
}

async function admin(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
