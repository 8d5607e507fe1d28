import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { localSecrets } from '../../src/platform/data-dir.ts';
import { type Database, openDatabase } from '../../src/platform/db/database.ts';
import { attachEmbeddedPostgres, ClusterVersionError } from '../../src/platform/db/embedded.ts';
import { migrateToLatest } from '../../src/platform/db/migrations.ts';
import { adminQuery, withDatabase } from '../../testkit/postgres-server.ts';

export { adminQuery };

export interface BenchPostgres {
  /** A URL with the right to create and drop databases. */
  adminUrl: string;
  /** Which server: `BENCH_DATABASE_URL` or the embedded one, and its version. */
  description: string;
  databaseUrl(database: string): string;
  release(): Promise<void>;
}

/** Where the benchmark keeps what it reuses between runs: its embedded cluster and S3 objects. */
export const BENCH_DATA_DIR = path.resolve('.hotpath/bench');

/**
 * The benchmark's PostgreSQL: `BENCH_DATABASE_URL`'s server, or an embedded one whose cluster lives in
 * `.hotpath/bench` and survives the run, so generated data can be reused.
 */
export async function benchPostgres(): Promise<BenchPostgres> {
  const given = process.env.BENCH_DATABASE_URL;
  const embedded = given ? undefined : await attachBenchCluster();
  const adminUrl = given ?? embedded!.url;
  const version = await adminQuery<{ server_version: string }>(adminUrl, 'SHOW server_version');
  return {
    adminUrl,
    description: `PostgreSQL ${version[0]?.server_version} (${given ? 'BENCH_DATABASE_URL' : `embedded, ${BENCH_DATA_DIR}`})`,
    databaseUrl: (database) => withDatabase(adminUrl, database),
    release: async () => embedded?.release(),
  };
}

/**
 * The benchmark's embedded cluster. What it keeps is regenerated on demand, so a cluster left by another
 * PostgreSQL major (an older hotpath) is removed and started afresh, saying so.
 */
async function attachBenchCluster() {
  const attach = () =>
    attachEmbeddedPostgres(BENCH_DATA_DIR, localSecrets(BENCH_DATA_DIR).embeddedDbPassword);
  try {
    return await attach();
  } catch (error) {
    if (!(error instanceof ClusterVersionError)) throw error;
    process.stderr.write(
      `the benchmark's data sets in ${error.clusterDir} were made by PostgreSQL ${error.clusterMajor}; removing them to generate them again on PostgreSQL ${error.binariesMajor}\n`,
    );
    rmSync(error.clusterDir, { recursive: true, force: true });
    return attach();
  }
}

export interface DatasetOptions {
  fresh: boolean;
  log: (line: string) => void;
  /** Kept apart: a quick run's small data sets never replace a full run's (`quick_`). */
  namespace?: string;
}

export interface ReusableDataset<Summary> {
  url: string;
  database: string;
  summary: Summary;
  /** False when this run generated it. */
  reused: boolean;
}

/**
 * A database holding one suite's generated data, named by a fingerprint of the generator's parameters
 * and the schema's migrations: the same parameters find the same database and skip generation. A
 * dataset counts only once `generate` has finished and its summary is recorded, so an interrupted
 * run starts over. Datasets of the same suite and namespace with other parameters are dropped: they are
 * big.
 */
export async function reusableDataset<Summary>(
  server: BenchPostgres,
  suite: string,
  parameters: unknown,
  generate: (url: string, database: string) => Promise<Summary>,
  options: DatasetOptions & {
    /** Whether what the dataset keeps outside the database (objects in S3) is still there. */
    intact?: (database: string) => boolean;
    /** Removes what the dataset keeps outside the database. */
    dropped?: (database: string) => void;
  },
): Promise<ReusableDataset<Summary>> {
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ parameters, migrations: migrationNames() }))
    .digest('hex')
    .slice(0, 10);
  const family = `hotpath_bench_${options.namespace ?? ''}${suite}`;
  const database = `${family}_${fingerprint}`;
  const url = server.databaseUrl(database);
  const existing = await adminQuery<{ datname: string }>(
    server.adminUrl,
    'SELECT datname FROM pg_database WHERE datname LIKE $1',
    [`${family}\\_%`],
  );
  for (const { datname } of existing) {
    if (datname !== database || options.fresh) {
      options.log(`dropping ${datname}${datname === database ? ' (--fresh)' : ' (other parameters)'}`);
      await adminQuery(server.adminUrl, `DROP DATABASE ${datname} WITH (FORCE)`);
      options.dropped?.(datname);
    }
  }
  if (existing.some(({ datname }) => datname === database) && !options.fresh) {
    const recorded = await recordedSummary<Summary>(url);
    if (recorded && (options.intact?.(database) ?? true)) {
      options.log(`${suite}: reusing ${database} (generated ${recorded.generatedAt.toISOString()})`);
      return { url, database, summary: recorded.summary, reused: true };
    }
    options.log(`${suite}: ${database} was left incomplete; generating it again`);
    await adminQuery(server.adminUrl, `DROP DATABASE ${database} WITH (FORCE)`);
    options.dropped?.(database);
  }
  await adminQuery(server.adminUrl, `CREATE DATABASE ${database}`);
  const summary = await generate(url, database);
  await adminQuery(
    url,
    'CREATE TABLE bench_dataset (summary jsonb NOT NULL, generated_at timestamptz NOT NULL)',
  );
  await adminQuery(url, 'INSERT INTO bench_dataset (summary, generated_at) VALUES ($1, now())', [
    JSON.stringify(summary),
  ]);
  return { url, database, summary, reused: false };
}

async function recordedSummary<Summary>(
  url: string,
): Promise<{ summary: Summary; generatedAt: Date } | undefined> {
  const [table] = await adminQuery<{ present: boolean }>(
    url,
    "SELECT to_regclass('public.bench_dataset') IS NOT NULL AS present",
  );
  if (!table?.present) return undefined;
  const [row] = await adminQuery<{ summary: Summary; generated_at: Date }>(
    url,
    'SELECT summary, generated_at FROM bench_dataset',
  );
  return row ? { summary: row.summary, generatedAt: row.generated_at } : undefined;
}

function migrationNames(): string[] {
  return readdirSync(path.resolve('migrations'))
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .map(
      (name) =>
        `${name}:${createHash('sha256')
          .update(readFileSync(path.resolve('migrations', name)))
          .digest('hex')}`,
    );
}

/** A pool on one of the benchmark's databases, migrated first when it is being filled. */
export async function openBenchDatabase(url: string, options: { migrate: boolean }): Promise<Database> {
  const database = await openDatabase(loadConfig({ DATABASE_URL: url }), {
    applicationName: 'hotpath-bench',
  });
  if (options.migrate) await migrateToLatest(database.db);
  return database;
}
