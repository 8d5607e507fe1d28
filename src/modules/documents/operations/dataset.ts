import { type Kysely, sql } from 'kysely';
import type { DB } from '../../../tables.ts';

export interface DatasetShape {
  documents: number;
  versionsPerDocument: number;
  /** Documents per section. */
  sectionSize: number;
}

/**
 * Fills the registry tables at benchmark scale with set-based SQL (generate_series, no row-by-row
 * inserts): documents spread over sections, each with a history in which roughly two versions in
 * three are approved, some withdrawn or rejected, the newest often a draft. Registry rows are built
 * from the versions, as a backfill would. Storage keys point at no object: these rows exercise the
 * database, not the store. Meant for an empty database: it inserts, it does not upsert.
 */
export async function generateDocumentsDataset(
  db: Kysely<DB>,
  shape: DatasetShape,
): Promise<{ versions: number }> {
  const versions = await db.transaction().execute(async (trx) => {
    // A bulk load, not a request: the pool's statement timeout is for requests, and a loaded machine takes
    // its time over hundreds of thousands of rows.
    await sql`SET LOCAL statement_timeout = 0; SET LOCAL jit = off`.execute(trx);
    // The rows are consistent by construction; a superuser skips the per-row foreign-key triggers.
    const { rows } = await sql<{ rolsuper: boolean }>`
      SELECT rolsuper FROM pg_roles WHERE rolname = current_user`.execute(trx);
    if (rows[0]?.rolsuper) await sql`SET LOCAL session_replication_role = replica`.execute(trx);
    return insertRows(trx, shape);
  });
  await db.connection().execute(async (connection) => {
    await sql`SET statement_timeout = 0`.execute(connection);
    try {
      await sql`ANALYZE documents, document_versions, document_registry`.execute(connection);
    } finally {
      await sql`RESET statement_timeout`.execute(connection);
    }
  });
  return { versions };
}

async function insertRows(db: Kysely<DB>, shape: DatasetShape): Promise<number> {
  const sections = Math.ceil(shape.documents / shape.sectionSize);
  await sql`INSERT INTO studies (study_id) SELECT 'BENCH-' || s FROM generate_series(1, 10) s
    ON CONFLICT DO NOTHING`.execute(db);
  await sql`INSERT INTO sections (study_id, section_id, document_type)
    SELECT 'BENCH-' || (s % 10 + 1), 'sec-' || s, (ARRAY['CSR', 'DSUR', 'PLPS'])[s % 3 + 1]
    FROM generate_series(1, ${sections}) s ON CONFLICT DO NOTHING`.execute(db);
  await sql`INSERT INTO documents (logical_id, study_id, section_id, title)
    SELECT 'bench-' || lpad(d::text, 8, '0'), 'BENCH-' || (((d - 1) / ${shape.sectionSize} + 1) % 10 + 1),
           'sec-' || ((d - 1) / ${shape.sectionSize} + 1), 'Benchmark document ' || d
    FROM generate_series(1, ${shape.documents}) d`.execute(db);
  const inserted = await sql`
    INSERT INTO document_versions (logical_id, version, storage_key, content_type, size_bytes, sha256, state,
      uploaded_by, uploaded_at, approved_by, approved_at, withdrawn_by, withdrawn_at, rejected_by, rejected_at, reason)
    SELECT 'bench-' || lpad(d::text, 8, '0'), v, 'documents/bench-' || lpad(d::text, 8, '0') || '/v' || v,
           'application/pdf', 1000 + (d * 7 + v) % 4000, encode(sha256(convert_to(d || '.' || v, 'UTF8')), 'hex'),
           g.state, 'generator', now() - make_interval(days => ${shape.versionsPerDocument} - v + 1),
           CASE WHEN g.state IN ('approved', 'withdrawn') THEN 'dr.bench' END,
           CASE WHEN g.state IN ('approved', 'withdrawn') THEN now() - make_interval(days => ${shape.versionsPerDocument} - v) END,
           CASE WHEN g.state = 'withdrawn' THEN 'dr.bench' END,
           CASE WHEN g.state = 'withdrawn' THEN now() END,
           CASE WHEN g.state = 'rejected' THEN 'dr.bench' END,
           CASE WHEN g.state = 'rejected' THEN now() END,
           CASE WHEN g.state IN ('rejected', 'withdrawn') THEN 'generated' END
    FROM generate_series(1, ${shape.documents}) d
    CROSS JOIN generate_series(1, ${shape.versionsPerDocument}) v
    CROSS JOIN LATERAL (SELECT CASE
      WHEN v = ${shape.versionsPerDocument} AND d % 4 = 0 THEN 'draft'
      WHEN (d + v) % 11 = 0 THEN 'withdrawn'
      WHEN (d + v) % 5 = 0 THEN 'rejected'
      ELSE 'approved' END AS state) g`.execute(db);
  await sql`INSERT INTO document_registry (logical_id, study_id, section_id, document_type, title, layout,
      latest_version, latest_version_key, approved_version, approved_key, approved_content_type,
      approved_size_bytes, approved_sha256, approved_at, approved_by)
    SELECT logical_id, study_id, section_id, document_type, title, layout, latest_version, latest_version_key,
      approved_version, approved_key, approved_content_type, approved_size_bytes, approved_sha256, approved_at,
      approved_by
    FROM document_registry_expected WHERE logical_id LIKE 'bench-%'`.execute(db);
  return Number(inserted.numAffectedRows ?? 0);
}
