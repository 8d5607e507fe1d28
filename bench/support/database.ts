import { randomBytes } from 'node:crypto';
import { adminQuery, startPostgresServer, withDatabase } from '../../test/support/postgres-server.ts';

export interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh database for one benchmark run, on DATABASE_URL's server or an embedded one. */
export async function benchDatabase(): Promise<BenchDatabase> {
  const server = await startPostgresServer('hotpath-bench-pg');
  const name = `hotpath_bench_${randomBytes(4).toString('hex')}`;
  await adminQuery(server.adminUrl, `CREATE DATABASE ${name}`);
  return {
    url: withDatabase(server.adminUrl, name),
    async drop() {
      await adminQuery(server.adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await server.stop();
    },
  };
}
