import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { attachEmbeddedPostgres } from '../../src/platform/db/embedded.ts';
import { migrateToLatest } from '../../src/platform/db/migrations.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A URL on the test server with rights to create databases. */
    databaseAdminUrl: string;
    /** A migrated database each test file clones. */
    templateDatabase: string;
  }
}

/**
 * One PostgreSQL server for the run: DATABASE_URL's when set, otherwise an embedded one in a temporary
 * data dir. Migrations run once into a template; each test file clones it (CREATE DATABASE … TEMPLATE).
 */
export default async function setup(project: TestProject) {
  let adminUrl = process.env.DATABASE_URL;
  let release: (() => Promise<void>) | undefined;
  let scratch: string | undefined;
  if (!adminUrl) {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'hotpath-test-'));
    const embedded = await attachEmbeddedPostgres(scratch, randomBytes(16).toString('hex'));
    adminUrl = embedded.url;
    release = embedded.release;
  }
  const template = `hotpath_template_${randomBytes(4).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${template}`);
  const database = await openDatabase(loadConfig({ DATABASE_URL: withDatabase(adminUrl, template) }), {
    applicationName: 'hotpath-test-setup',
  });
  try {
    await migrateToLatest(database.db);
  } finally {
    await database.close();
  }
  project.provide('databaseAdminUrl', adminUrl);
  project.provide('templateDatabase', template);

  return async () => {
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
    await release?.();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export async function adminQuery(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
