import { type Kysely, sql } from 'kysely';
import { progress } from '../../../platform/progress.ts';
import type { ObjectStore } from '../../../platform/storage/object-store.ts';
import type { DB } from '../../../tables.ts';
import { type LegacyVersionKey, listPages, parseLegacyKey } from '../legacy-layout.ts';
import { refreshRegistry } from '../registry-refresh.ts';

export interface ImportResult {
  pages: number;
  listed: number;
  imported: number;
  skipped: number;
  conflicts: number;
  documents: number;
}

export const IMPORTED_BY = 'import-bucket';

const CONTENT_TYPES: Record<string, string> = {
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  doc: 'application/msword',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  txt: 'text/plain',
  xml: 'application/xml',
  json: 'application/json',
  html: 'text/html',
};

/**
 * Adopts a bucket in the legacy layout: lists it a page at a time and, per page, records studies,
 * sections, documents and versions set-based in one transaction; then brings the registry of every
 * touched document in step. Keys that are not versions are skipped. Rerunning imports nothing twice.
 *
 * A legacy approval sometimes left the draft's object behind, so one version can have several names;
 * the most advanced state wins (approved, then rejected, then draft), and a version already moved on
 * through the API is never moved back.
 */
export async function importBucket(
  db: Kysely<DB>,
  store: ObjectStore,
  options: { prefix: string; showProgress: boolean },
): Promise<ImportResult> {
  const result: ImportResult = { pages: 0, listed: 0, imported: 0, skipped: 0, conflicts: 0, documents: 0 };
  const touched = new Set<string>();
  const bar = options.showProgress ? progress('import-bucket', undefined, 'keys') : undefined;
  for await (const objects of listPages(store, options.prefix)) {
    result.pages += 1;
    result.listed += objects.length;
    const versions: Array<LegacyVersionKey & { sizeBytes: number; lastModified: Date }> = [];
    for (const object of objects) {
      const parsed = parseLegacyKey(object.key);
      if (parsed)
        versions.push({ ...parsed, sizeBytes: object.sizeBytes, lastModified: object.lastModified });
      else result.skipped += 1;
    }
    if (versions.length > 0) {
      const page = await recordPage(db, versions);
      result.imported += page.imported;
      result.conflicts += page.conflicts;
      for (const logicalId of page.logicalIds) touched.add(logicalId);
    }
    bar?.advance(objects.length, { pages: result.pages });
  }
  bar?.finish();
  const logicalIds = [...touched].sort();
  for (let start = 0; start < logicalIds.length; start += 500) {
    const batch = logicalIds.slice(start, start + 500);
    await db.transaction().execute((trx) => refreshRegistry(trx, batch));
  }
  result.documents = logicalIds.length;
  return result;
}

async function recordPage(
  db: Kysely<DB>,
  versions: Array<LegacyVersionKey & { sizeBytes: number; lastModified: Date }>,
): Promise<{ imported: number; conflicts: number; logicalIds: string[] }> {
  const column = <T>(pick: (version: (typeof versions)[number]) => T) => versions.map(pick);
  const keys = column((v) => v.key);
  const studyIds = column((v) => v.studyId);
  const documentTypes = column((v) => v.documentType);
  const sectionIds = column((v) => v.sectionId);
  const logicalIds = column((v) => v.logicalId);
  const numbers = column((v) => v.version);
  const states = column((v) => v.state);
  const contentTypes = column(
    (v) => CONTENT_TYPES[v.extension?.toLowerCase() ?? ''] ?? 'application/octet-stream',
  );
  const sizes = column((v) => v.sizeBytes);
  const modified = column((v) => v.lastModified.toISOString());

  return db.transaction().execute(async (trx) => {
    await sql`
      CREATE TEMP TABLE legacy_page ON COMMIT DROP AS
      SELECT * FROM unnest(${keys}::text[], ${studyIds}::text[], ${documentTypes}::text[], ${sectionIds}::text[],
                           ${logicalIds}::text[], ${numbers}::int[], ${states}::text[], ${contentTypes}::text[],
                           ${sizes}::bigint[], ${modified}::timestamptz[])
        AS page(storage_key, study_id, document_type, section_id, logical_id, version, state, content_type,
                size_bytes, modified_at)`.execute(trx);
    await sql`INSERT INTO studies (study_id) SELECT DISTINCT study_id FROM legacy_page ON CONFLICT DO NOTHING`.execute(
      trx,
    );
    await sql`
      INSERT INTO sections (study_id, section_id, document_type)
      SELECT DISTINCT ON (study_id, section_id) study_id, section_id, document_type FROM legacy_page
      ORDER BY study_id, section_id, document_type
      ON CONFLICT DO NOTHING`.execute(trx);
    // Only from keys whose type is their section's: a key under the wrong type is a conflict, and must
    // not leave behind a document with no versions and no registry row.
    await sql`
      INSERT INTO documents (logical_id, study_id, section_id, title, layout)
      SELECT DISTINCT ON (p.logical_id) p.logical_id, p.study_id, p.section_id, p.logical_id, 'legacy'
      FROM legacy_page p
      JOIN sections s ON s.study_id = p.study_id AND s.section_id = p.section_id
        AND s.document_type = p.document_type
      ORDER BY p.logical_id, p.study_id, p.section_id
      ON CONFLICT DO NOTHING`.execute(trx);
    // A key whose section or type disagrees with what its document or section already is, is a conflict;
    // so is a key naming a document uploaded through hotpath (layout 'registry'), which import never
    // adopts: its version numbers are hotpath's, and a legacy name would silently take one or skip one.
    await sql`
      CREATE TEMP TABLE legacy_consistent ON COMMIT DROP AS
      SELECT p.* FROM legacy_page p
      JOIN documents d ON d.logical_id = p.logical_id AND d.study_id = p.study_id AND d.section_id = p.section_id
        AND d.layout = 'legacy'
      JOIN sections s ON s.study_id = p.study_id AND s.section_id = p.section_id
        AND s.document_type = p.document_type`.execute(trx);
    const written = await sql`
      INSERT INTO document_versions AS v (logical_id, version, storage_key, content_type, size_bytes, state,
        uploaded_by, uploaded_at, approved_by, approved_at, rejected_by, rejected_at)
      SELECT DISTINCT ON (logical_id, version)
             logical_id, version, storage_key, content_type, size_bytes, state, ${IMPORTED_BY}, modified_at,
             CASE WHEN state = 'approved' THEN ${IMPORTED_BY} END, CASE WHEN state = 'approved' THEN modified_at END,
             CASE WHEN state = 'rejected' THEN ${IMPORTED_BY} END, CASE WHEN state = 'rejected' THEN modified_at END
      FROM legacy_consistent
      ORDER BY logical_id, version, CASE state WHEN 'approved' THEN 0 WHEN 'rejected' THEN 1 ELSE 2 END
      ON CONFLICT (logical_id, version) DO UPDATE SET
        storage_key = excluded.storage_key, content_type = excluded.content_type, size_bytes = excluded.size_bytes,
        state = excluded.state, approved_by = excluded.approved_by, approved_at = excluded.approved_at,
        rejected_by = excluded.rejected_by, rejected_at = excluded.rejected_at
      WHERE v.uploaded_by = ${IMPORTED_BY} AND v.state = 'draft' AND excluded.state <> 'draft'`.execute(trx);
    // Every consistent document is refreshed, not only those written to, so a rerun after a crash
    // between the pages and the registry refresh still completes the registry.
    const { rows } = await sql<{ logical_id: string }>`
      SELECT DISTINCT logical_id FROM legacy_consistent`.execute(trx);
    // Keys already recorded for a document hotpath has since adopted (it changed through the API) are
    // known, not conflicts: a rerun after the cut-over reports nothing new.
    const { rows: counts } = await sql<{ consistent: number; adopted: number }>`
      SELECT (SELECT count(*) FROM legacy_consistent)::bigint AS consistent,
             (SELECT count(*) FROM legacy_page p
              JOIN documents d ON d.logical_id = p.logical_id AND d.layout = 'registry'
              JOIN document_versions v ON v.storage_key = p.storage_key)::bigint AS adopted`.execute(trx);
    return {
      imported: Number(written.numAffectedRows ?? 0),
      conflicts: versions.length - (counts[0]?.consistent ?? 0) - (counts[0]?.adopted ?? 0),
      logicalIds: rows.map((row) => row.logical_id),
    };
  });
}
