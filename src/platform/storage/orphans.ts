import { sql } from 'kysely';
import type { AnyKysely } from '../db/database.ts';
import type { ObjectStore, UnfinishedWrite } from './object-store.ts';

/** The objects a module writes under a prefix, and which of them its rows still point at. */
export interface StoredObjects {
  prefix: string;
  /** The subset of `keys` some row refers to: one statement per page of keys. */
  referenced(keys: string[]): Promise<Set<string>>;
}

/** The objects under `prefix` that rows of `table` refer to by their `storage_key`. */
export function objectsReferencedBy(db: AnyKysely, prefix: string, table: string): StoredObjects {
  return {
    prefix,
    async referenced(keys) {
      const { rows } = await sql<{ storage_key: string }>`/* storage.referencedObjects */
        SELECT storage_key FROM ${sql.table(table)} WHERE storage_key = ANY(${keys}::text[])`.execute(db);
      return new Set(rows.map((row) => row.storage_key));
    },
  };
}

export interface SweepResult {
  /** Objects nothing points at, older than the bound: what a crash between write and commit leaves. */
  orphans: string[];
  /** Writes that never finished, older than the bound; undefined when the store cannot list them. */
  unfinished: UnfinishedWrite[] | undefined;
  removed: number;
}

/**
 * Finds what storage holds and the database does not know: orphan objects under each prefix, and
 * unfinished writes. Only what is older than `before` counts, so an upload in flight (written, not
 * yet recorded) is never taken for an orphan. With `remove`, deletes them.
 */
export async function sweepStorage(
  store: ObjectStore,
  owners: StoredObjects[],
  options: { before: Date; remove: boolean; report?: (line: string) => void },
): Promise<SweepResult> {
  const orphans: string[] = [];
  for (const owner of owners) {
    for await (const page of store.listAll(owner.prefix)) {
      const old = page.filter((object) => object.lastModified < options.before).map((object) => object.key);
      if (old.length === 0) continue;
      const referenced = await owner.referenced(old);
      for (const key of old) {
        if (referenced.has(key)) continue;
        orphans.push(key);
        options.report?.(`orphan object ${key}: no row refers to it`);
      }
    }
  }
  const unfinished = await store.unfinishedWrites(options.before);
  for (const write of unfinished ?? []) {
    options.report?.(`unfinished write: ${write.description}, begun ${write.startedAt.toISOString()}`);
  }
  let removed = 0;
  if (options.remove) {
    for (const key of orphans) {
      await store.delete(key);
      removed += 1;
    }
    for (const write of unfinished ?? []) {
      await store.discardUnfinishedWrite(write);
      removed += 1;
    }
  }
  return { orphans, unfinished, removed };
}
