import { type Kysely, sql } from 'kysely';
import type { DB } from '../../tables.ts';

const REGISTRY_COLUMNS = sql.raw(`study_id, section_id, document_type, title, layout, latest_version,
  latest_version_key, approved_version, approved_key, approved_content_type, approved_size_bytes,
  approved_sha256, approved_at, approved_by`);

/**
 * Rewrites the registry rows of these documents from the versions table (the view
 * document_registry_expected), in the caller's transaction. Existing rows are locked first and
 * recomputed by a later statement, whose snapshot then includes any transition that held the lock;
 * rows already right are left alone, so a rerun changes nothing. Returns the rows changed.
 */
export async function refreshRegistry(trx: Kysely<DB>, logicalIds: string[]): Promise<number> {
  if (logicalIds.length === 0) return 0;
  await sql`SELECT logical_id FROM document_registry
    WHERE logical_id = ANY(${logicalIds}::text[]) ORDER BY logical_id FOR UPDATE`.execute(trx);
  const result = await sql`/* documents.refreshRegistry */
    INSERT INTO document_registry AS r (logical_id, ${REGISTRY_COLUMNS})
    SELECT logical_id, ${REGISTRY_COLUMNS}
    FROM document_registry_expected WHERE logical_id = ANY(${logicalIds}::text[])
    ON CONFLICT (logical_id) DO UPDATE SET (${REGISTRY_COLUMNS}) = (
      excluded.study_id, excluded.section_id, excluded.document_type, excluded.title, excluded.layout,
      excluded.latest_version, excluded.latest_version_key, excluded.approved_version, excluded.approved_key,
      excluded.approved_content_type, excluded.approved_size_bytes, excluded.approved_sha256,
      excluded.approved_at, excluded.approved_by),
      revision = r.revision + 1, updated_at = now()
    WHERE (r.study_id, r.section_id, r.document_type, r.title, r.layout, r.latest_version,
           r.latest_version_key, r.approved_version, r.approved_key, r.approved_content_type,
           r.approved_size_bytes, r.approved_sha256, r.approved_at, r.approved_by)
      IS DISTINCT FROM
          (excluded.study_id, excluded.section_id, excluded.document_type, excluded.title, excluded.layout,
           excluded.latest_version, excluded.latest_version_key, excluded.approved_version, excluded.approved_key,
           excluded.approved_content_type, excluded.approved_size_bytes, excluded.approved_sha256,
           excluded.approved_at, excluded.approved_by)`.execute(trx);
  return Number(result.numAffectedRows ?? 0);
}
