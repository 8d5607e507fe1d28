import { CompiledQuery, type Kysely, sql } from 'kysely';
import type { DB } from '../../tables.ts';
import type { VersionState, VersionView } from './schemas.ts';

/** A registry row with an approved version: everything GET /v1/documents/{id} answers. */
export interface ApprovedRegistryRow {
  logical_id: string;
  study_id: string;
  section_id: string;
  document_type: string;
  title: string;
  layout: 'registry' | 'legacy';
  approved_version: number;
  approved_key: string;
  approved_content_type: string;
  approved_size_bytes: number;
  approved_sha256: string | null;
  approved_at: Date;
  approved_by: string;
  revision: number;
}

const APPROVED_COLUMN_LIST = `logical_id, study_id, section_id, document_type, title, layout,
  approved_version, approved_key, approved_content_type, approved_size_bytes, approved_sha256,
  approved_at, approved_by, revision`;
const APPROVED_COLUMNS = sql.raw(APPROVED_COLUMN_LIST);

/** The hot read's text, built once: it runs as a prepared statement, by name, on every connection. */
const LATEST_APPROVED = `/* documents.latestApproved */
  SELECT ${APPROVED_COLUMN_LIST}
  FROM document_registry
  WHERE logical_id = $1 AND approved_version IS NOT NULL`;

/** The hot read: one primary-key probe of the registry. */
export async function latestApproved(
  db: Kysely<DB>,
  logicalId: string,
): Promise<ApprovedRegistryRow | undefined> {
  const { rows } = await db.executeQuery<ApprovedRegistryRow>(
    CompiledQuery.raw(LATEST_APPROVED, [logicalId]),
  );
  return rows[0];
}

/** A registry row as shadow mode reads it: with or without an approved version. */
export type RegistryRow = Omit<ApprovedRegistryRow, 'approved_version'> & { approved_version: number | null };

/** The same probe, answering a document with nothing approved too (shadow mode compares "nothing"). */
export async function registryRow(db: Kysely<DB>, logicalId: string): Promise<RegistryRow | undefined> {
  const { rows } = await sql<RegistryRow>`/* documents.registryRow */
    SELECT ${APPROVED_COLUMNS} FROM document_registry WHERE logical_id = ${logicalId}`.execute(db);
  return rows[0];
}

/** The latest approved version of each of up to 100 documents, in one statement. */
export async function latestApprovedMany(
  db: Kysely<DB>,
  logicalIds: string[],
): Promise<ApprovedRegistryRow[]> {
  const { rows } = await sql<ApprovedRegistryRow>`/* documents.latestApprovedMany */
    SELECT ${APPROVED_COLUMNS}
    FROM document_registry
    WHERE logical_id = ANY(${logicalIds}::text[]) AND approved_version IS NOT NULL`.execute(db);
  return rows;
}

export interface VersionRow {
  logical_id: string;
  version: number;
  storage_key: string;
  state: VersionState;
  content_type: string;
  size_bytes: number;
  sha256: string | null;
  uploaded_by: string;
  uploaded_at: Date;
  approved_by: string | null;
  approved_at: Date | null;
  rejected_by: string | null;
  rejected_at: Date | null;
  withdrawn_by: string | null;
  withdrawn_at: Date | null;
  reason: string | null;
}

export const VERSION_COLUMNS = sql.raw(`v.logical_id, v.version, v.storage_key, v.state, v.content_type,
  v.size_bytes, v.sha256, v.uploaded_by, v.uploaded_at, v.approved_by, v.approved_at, v.rejected_by,
  v.rejected_at, v.withdrawn_by, v.withdrawn_at, v.reason`);

export async function versionOf(
  db: Kysely<DB>,
  logicalId: string,
  version: number,
): Promise<VersionRow | undefined> {
  const { rows } = await sql<VersionRow>`/* documents.version */
    SELECT ${VERSION_COLUMNS}
    FROM document_versions v
    WHERE v.logical_id = ${logicalId} AND v.version = ${version}`.execute(db);
  return rows[0];
}

/**
 * A page of a document's history, newest first, keyset on version. One statement: the document row
 * is the outer side, so an unknown document (no row) is told apart from one with no versions (one row
 * of NULLs).
 */
export async function versionHistory(
  db: Kysely<DB>,
  input: { logicalId: string; beforeVersion: number | undefined; limit: number; includeDrafts: boolean },
): Promise<{ exists: boolean; versions: VersionRow[] }> {
  const before = input.beforeVersion ?? 2_147_483_647;
  const { rows } = await sql<VersionRow & { document_exists: boolean }>`/* documents.versionHistory */
    SELECT true AS document_exists, ${VERSION_COLUMNS}
    FROM documents d
    LEFT JOIN LATERAL (
      SELECT * FROM document_versions dv
      WHERE dv.logical_id = d.logical_id AND dv.version < ${before}
        AND (${input.includeDrafts} OR dv.state <> 'draft')
      ORDER BY dv.version DESC
      LIMIT ${input.limit}
    ) v ON true
    WHERE d.logical_id = ${input.logicalId}
    ORDER BY v.version DESC`.execute(db);
  return { exists: rows.length > 0, versions: rows.filter((row) => row.version !== null) };
}

export function toVersionView(row: VersionRow): VersionView {
  return {
    logicalId: row.logical_id,
    version: row.version,
    state: row.state,
    contentType: row.content_type,
    sizeBytes: row.size_bytes,
    sha256: row.sha256,
    uploadedBy: row.uploaded_by,
    uploadedAt: row.uploaded_at.toISOString(),
    approvedBy: row.approved_by,
    approvedAt: row.approved_at?.toISOString() ?? null,
    rejectedBy: row.rejected_by,
    rejectedAt: row.rejected_at?.toISOString() ?? null,
    withdrawnBy: row.withdrawn_by,
    withdrawnAt: row.withdrawn_at?.toISOString() ?? null,
    reason: row.reason,
  };
}
