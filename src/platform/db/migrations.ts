import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';
import type { AnyKysely } from './database.ts';

export const MIGRATIONS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../migrations',
);

/** Numbered plain SQL files (`0001_documents.sql`), applied in name order. */
class SqlFileMigrations implements MigrationProvider {
  constructor(private readonly directory: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(this.directory)).filter((file) => /^\d{4}_[\w-]+\.sql$/.test(file)).sort();
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      const statements = await readFile(path.join(this.directory, file), 'utf8');
      // No parameters, so pg sends the file as one simple-protocol query: all its statements run.
      migrations[file.replace(/\.sql$/, '')] = {
        up: (db) =>
          sql
            .raw(statements)
            .execute(db)
            .then(() => {}),
      };
    }
    return migrations;
  }
}

function migrator(db: AnyKysely): Migrator {
  // Kysely's migrator runs pending migrations in one transaction under a PostgreSQL advisory lock,
  // so two processes starting together apply each file exactly once.
  return new Migrator({ db, provider: new SqlFileMigrations(MIGRATIONS_DIR) });
}

/** Applies pending migrations; returns the names applied. Throws with the failing file named. */
export async function migrateToLatest(db: AnyKysely): Promise<string[]> {
  const { error, results } = await migrator(db).migrateToLatest();
  if (error) {
    const failed = results?.find((result) => result.status === 'Error');
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${reason}`);
  }
  return (results ?? [])
    .filter((result) => result.status === 'Success')
    .map((result) => result.migrationName);
}

export async function pendingMigrations(db: AnyKysely): Promise<string[]> {
  const migrations = await migrator(db).getMigrations();
  return migrations
    .filter((migration) => migration.executedAt === undefined)
    .map((migration) => migration.name);
}
