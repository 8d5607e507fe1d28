import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { migrateToLatest } from '../../src/platform/db/migrations.ts';
import { adminQuery, startPostgresServer, withDatabase } from '../../testkit/postgres-server.ts';

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
  const server = await startPostgresServer('hotpath-test');
  const template = `hotpath_template_${randomBytes(4).toString('hex')}`;
  await adminQuery(server.adminUrl, `CREATE DATABASE ${template}`);
  const database = await openDatabase(loadConfig({ DATABASE_URL: withDatabase(server.adminUrl, template) }), {
    applicationName: 'hotpath-test-setup',
  });
  try {
    await migrateToLatest(database.db);
  } finally {
    await database.close();
  }
  project.provide('databaseAdminUrl', server.adminUrl);
  project.provide('templateDatabase', template);

  return async () => {
    await adminQuery(server.adminUrl, `DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
    await server.stop();
  };
}
