import { type Kysely, sql } from 'kysely';
import { progress } from '../../../platform/progress.ts';
import type { DB } from '../../../tables.ts';
import { refreshRegistry } from '../registry-refresh.ts';

export interface BackfillResult {
  documents: number;
  versions: number;
  changed: number;
  seconds: number;
}

/**
 * Rebuilds the registry from the versions table: documents in key order, a batch per transaction,
 * so it can run beside live traffic and be stopped and rerun at any point.
 */
export async function backfillRegistry(
  db: Kysely<DB>,
  options: { batchSize: number; showProgress: boolean },
): Promise<BackfillResult> {
  const started = performance.now();
  const { rows: totals } = await sql<{ versions: number }>`
    SELECT count(*)::bigint AS versions FROM document_versions`.execute(db);
  const bar = options.showProgress ? progress('backfill', totals[0]?.versions ?? 0, 'versions') : undefined;
  const result: BackfillResult = { documents: 0, versions: 0, changed: 0, seconds: 0 };
  let after = '';
  for (;;) {
    const batch = await db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ logical_id: string; versions: number }>`
        SELECT d.logical_id, (SELECT count(*) FROM document_versions v WHERE v.logical_id = d.logical_id)::bigint AS versions
        FROM documents d WHERE d.logical_id > ${after}
        ORDER BY d.logical_id LIMIT ${options.batchSize}`.execute(trx);
      const changed = await refreshRegistry(
        trx,
        rows.map((row) => row.logical_id),
      );
      return { rows, changed };
    });
    const last = batch.rows.at(-1);
    if (!last) break;
    after = last.logical_id;
    const versions = batch.rows.reduce((sum, row) => sum + row.versions, 0);
    result.documents += batch.rows.length;
    result.versions += versions;
    result.changed += batch.changed;
    bar?.advance(versions);
  }
  bar?.finish();
  result.seconds = (performance.now() - started) / 1000;
  return result;
}
