import { createHash, randomUUID } from 'node:crypto';
import { finished, type Readable, Transform, type TransformCallback } from 'node:stream';
import { type Kysely, type Selectable, sql } from 'kysely';
import { inTransaction } from '../../platform/db/transactions.ts';
import {
  badRequest,
  conflict,
  HttpProblem,
  notFound,
  payloadTooLarge,
} from '../../platform/http/problems.ts';
import type { ObjectStore } from '../../platform/storage/object-store.ts';
import type { DB, Documents, Sections } from '../../tables.ts';
import type { VersionRow } from './queries.ts';
import { VERSION_COLUMNS } from './queries.ts';
import type { DocumentInput, DocumentView, VersionState } from './schemas.ts';

type DocumentRow = Pick<
  Selectable<Documents>,
  'logical_id' | 'study_id' | 'section_id' | 'title' | 'created_at' | 'updated_at'
> &
  Pick<Selectable<Sections>, 'document_type'> & { created: boolean };

/**
 * Creates or retitles a logical document, creating its study and section on first use, and keeps its
 * registry row in step. A document cannot move to another section, and a section keeps its type.
 */
export async function upsertDocument(
  db: Kysely<DB>,
  logicalId: string,
  input: DocumentInput,
): Promise<{ document: DocumentView; created: boolean }> {
  return inTransaction(db, async (trx) => {
    await sql`INSERT INTO studies (study_id) VALUES (${input.studyId}) ON CONFLICT DO NOTHING`.execute(trx);
    const { rows: sections } = await sql<{ document_type: string }>`
      WITH inserted AS (
        INSERT INTO sections (study_id, section_id, document_type)
        VALUES (${input.studyId}, ${input.sectionId}, ${input.documentType})
        ON CONFLICT DO NOTHING
        RETURNING document_type
      )
      SELECT document_type FROM inserted
      UNION ALL
      SELECT document_type FROM sections WHERE study_id = ${input.studyId} AND section_id = ${input.sectionId}`.execute(
      trx,
    );
    let sectionType = sections[0]?.document_type;
    if (sectionType === undefined) {
      // A concurrent PUT created the section after this statement's snapshot: the insert did nothing
      // and the snapshot cannot see the row. A new statement's snapshot (read committed) can.
      const { rows: raced } = await sql<{ document_type: string }>`
        SELECT document_type FROM sections
        WHERE study_id = ${input.studyId} AND section_id = ${input.sectionId}`.execute(trx);
      sectionType = raced[0]?.document_type;
    }
    if (sectionType !== input.documentType) {
      throw conflict(
        `section ${input.studyId}/${input.sectionId} holds ${sectionType} documents, not ${input.documentType}`,
      );
    }
    const { rows } = await sql<DocumentRow>`
      INSERT INTO documents (logical_id, study_id, section_id, title)
      VALUES (${logicalId}, ${input.studyId}, ${input.sectionId}, ${input.title})
      ON CONFLICT (logical_id) DO UPDATE SET title = excluded.title, updated_at = now()
        WHERE documents.study_id = excluded.study_id AND documents.section_id = excluded.section_id
      RETURNING logical_id, study_id, section_id, ${input.documentType}::text AS document_type, title,
        created_at, updated_at, (xmax = 0) AS created`.execute(trx);
    const document = rows[0];
    if (!document) {
      throw conflict(
        `document ${logicalId} belongs to another section; a document cannot move between sections`,
      );
    }
    await sql`
      INSERT INTO document_registry (logical_id, study_id, section_id, document_type, title, layout)
      VALUES (${logicalId}, ${input.studyId}, ${input.sectionId}, ${input.documentType}, ${input.title}, 'registry')
      ON CONFLICT (logical_id) DO UPDATE
        SET title = excluded.title, revision = document_registry.revision + 1, updated_at = now()
        WHERE document_registry.title IS DISTINCT FROM excluded.title`.execute(trx);
    return {
      created: document.created,
      document: {
        logicalId: document.logical_id,
        studyId: document.study_id,
        sectionId: document.section_id,
        documentType: document.document_type,
        title: document.title,
        createdAt: document.created_at.toISOString(),
        updatedAt: document.updated_at.toISOString(),
      },
    };
  });
}

export interface UploadedVersion {
  logicalId: string;
  version: number;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  uploadedBy: string;
  uploadedAt: Date;
}

/**
 * Streams a new version to storage under a fresh immutable key, then records it. The number is taken
 * at commit, under the registry row's lock, so concurrent uploads get consecutive numbers and a failed
 * upload burns none. If recording fails the object is deleted; if the process dies in between, the
 * object is an orphan nothing points at, never a row pointing at nothing.
 */
export async function uploadVersion(
  db: Kysely<DB>,
  store: ObjectStore,
  input: {
    logicalId: string;
    body: Readable;
    contentType: string;
    contentLength: number | undefined;
    limitBytes: number;
    uploadedBy: string;
  },
): Promise<UploadedVersion> {
  if (input.contentLength !== undefined && input.contentLength > input.limitBytes) {
    throw payloadTooLarge(`the upload is ${input.contentLength} bytes; the limit is ${input.limitBytes}`);
  }
  if (input.contentLength === 0) throw emptyUpload();
  const { rows: known } = await sql<{ logical_id: string }>`
    SELECT logical_id FROM documents WHERE logical_id = ${input.logicalId}`.execute(db);
  if (known.length === 0) throw notFound(`document ${input.logicalId} does not exist; PUT it first`);

  const storageKey = `documents/${input.logicalId}/${randomUUID()}`;
  const digest = new DigestAndLimit(input.limitBytes);
  // pipe() does not pass on a body that fails or closes early (the client went away midway): the
  // write to storage would wait for more bytes forever. Fail the write with the body instead. (Not
  // pipeline(): on a 413 it would destroy the request before the answer is sent.)
  let bodyCutOff = false;
  const stopWatchingBody = finished(input.body, { writable: false }, (error) => {
    if (!error) return;
    bodyCutOff = true;
    digest.destroy(error);
  });
  try {
    await store.put(storageKey, input.body.pipe(digest), {
      contentType: input.contentType,
      ...(input.contentLength === undefined ? {} : { contentLength: input.contentLength }),
    });
  } catch (error) {
    input.body.unpipe(digest);
    await store.delete(storageKey).catch(() => {});
    if (digest.overLimit) {
      throw payloadTooLarge(`the upload is over the limit of ${input.limitBytes} bytes`);
    }
    if (bodyCutOff) throw new HttpProblem(400, 'Bad Request', 'the body was cut off before it ended');
    throw error;
  } finally {
    stopWatchingBody();
  }
  if (input.contentLength !== undefined && digest.sizeBytes !== input.contentLength) {
    await store.delete(storageKey).catch(() => {});
    throw new HttpProblem(400, 'Bad Request', 'the body ended before Content-Length bytes arrived');
  }
  if (digest.sizeBytes === 0) {
    await store.delete(storageKey).catch(() => {});
    throw emptyUpload();
  }

  const sha256 = digest.hex();
  try {
    const { rows } = await sql<{ version: number; uploaded_at: Date }>`/* documents.recordVersion */
      WITH numbered AS (
        UPDATE document_registry
        SET latest_version = coalesce(latest_version, 0) + 1, latest_version_key = ${storageKey},
            layout = 'registry', revision = revision + 1, updated_at = now()
        WHERE logical_id = ${input.logicalId}
        RETURNING latest_version
      ),
      adopted AS (
        UPDATE documents SET layout = 'registry' WHERE logical_id = ${input.logicalId} AND layout = 'legacy'
      )
      INSERT INTO document_versions (logical_id, version, storage_key, content_type, size_bytes, sha256, uploaded_by)
      SELECT ${input.logicalId}, latest_version, ${storageKey}, ${input.contentType}, ${digest.sizeBytes},
             ${sha256}, ${input.uploadedBy}
      FROM numbered
      RETURNING version, uploaded_at`.execute(db);
    const recorded = rows[0];
    if (!recorded)
      throw notFound(`document ${input.logicalId} has no registry row; run \`hotpath backfill\``);
    return {
      logicalId: input.logicalId,
      version: recorded.version,
      contentType: input.contentType,
      sizeBytes: digest.sizeBytes,
      sha256,
      uploadedBy: input.uploadedBy,
      uploadedAt: recorded.uploaded_at,
    };
  } catch (error) {
    await store.delete(storageKey).catch(() => {});
    throw error;
  }
}

/** A version holds at least one byte: an empty body is a file that was not sent (curl's `@missing.pdf`). */
const emptyUpload = () =>
  badRequest('the body is empty: send the file as the request body (curl --data-binary @file.pdf)');

/** Hashes and counts bytes on their way to storage, failing the stream once they pass the limit. */
class DigestAndLimit extends Transform {
  sizeBytes = 0;
  overLimit = false;
  private readonly hash = createHash('sha256');

  constructor(private readonly limitBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.sizeBytes += chunk.length;
    if (this.sizeBytes > this.limitBytes) {
      this.overLimit = true;
      callback(new Error('upload over the size limit'));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  hex(): string {
    return this.hash.digest('hex');
  }
}

export type TransitionAction = 'approve' | 'reject' | 'withdraw';

const TRANSITIONS: Record<
  TransitionAction,
  { from: VersionState; to: VersionState; changesApproved: boolean }
> = {
  approve: { from: 'draft', to: 'approved', changesApproved: true },
  reject: { from: 'draft', to: 'rejected', changesApproved: false },
  withdraw: { from: 'approved', to: 'withdrawn', changesApproved: true },
};

/**
 * Moves a version from one state to the next and brings the registry in step, in one transaction.
 * The registry row is locked first, so transitions on one document run one after another and each
 * recomputes "latest approved" from versions it can see; any other order could let two racing
 * transitions each miss the other's change.
 */
export async function transitionVersion(
  db: Kysely<DB>,
  input: {
    logicalId: string;
    version: number;
    action: TransitionAction;
    actor: string;
    reason: string | undefined;
  },
): Promise<VersionRow> {
  const rule = TRANSITIONS[input.action];
  return inTransaction(db, async (trx) => {
    const { rows: locked } = await sql<{ layout: string }>`
      SELECT layout FROM document_registry WHERE logical_id = ${input.logicalId} FOR UPDATE`.execute(trx);
    if (locked.length === 0) throw notFound(`document ${input.logicalId} does not exist`);
    if (locked[0]?.layout === 'legacy') await adoptLegacyDocument(trx, input.logicalId);

    const { rows } = await sql<VersionRow>`/* documents.transition */
      UPDATE document_versions v SET
        state = ${rule.to},
        approved_by = CASE WHEN ${rule.to} = 'approved' THEN ${input.actor} ELSE approved_by END,
        approved_at = CASE WHEN ${rule.to} = 'approved' THEN now() ELSE approved_at END,
        rejected_by = CASE WHEN ${rule.to} = 'rejected' THEN ${input.actor} ELSE rejected_by END,
        rejected_at = CASE WHEN ${rule.to} = 'rejected' THEN now() ELSE rejected_at END,
        withdrawn_by = CASE WHEN ${rule.to} = 'withdrawn' THEN ${input.actor} ELSE withdrawn_by END,
        withdrawn_at = CASE WHEN ${rule.to} = 'withdrawn' THEN now() ELSE withdrawn_at END,
        reason = coalesce(${input.reason ?? null}, reason)
      WHERE v.logical_id = ${input.logicalId} AND v.version = ${input.version} AND v.state = ${rule.from}
      RETURNING ${VERSION_COLUMNS}`.execute(trx);
    const changed = rows[0];
    if (!changed) {
      const { rows: current } = await sql<{ state: VersionState }>`
        SELECT state FROM document_versions
        WHERE logical_id = ${input.logicalId} AND version = ${input.version}`.execute(trx);
      const state = current[0]?.state;
      if (!state) throw notFound(`document ${input.logicalId} has no version ${input.version}`);
      throw conflict(`version ${input.version} is ${state}; only a ${rule.from} version can be ${rule.to}`);
    }
    if (rule.changesApproved) await syncApproved(trx, input.logicalId);
    return changed;
  });
}

/**
 * A document imported from a legacy bucket that changes through hotpath is hotpath's from then on: its
 * legacy names no longer describe it, so the listing read path, shadow comparisons and reconcile's
 * listing check stop applying to it.
 */
async function adoptLegacyDocument(trx: Kysely<DB>, logicalId: string): Promise<void> {
  await sql`/* documents.adoptLegacy */
    WITH adopted AS (UPDATE documents SET layout = 'registry' WHERE logical_id = ${logicalId})
    UPDATE document_registry SET layout = 'registry', revision = revision + 1, updated_at = now()
    WHERE logical_id = ${logicalId}`.execute(trx);
}

/** Points the registry row at the newest approved version, whichever that now is. */
async function syncApproved(db: Kysely<DB>, logicalId: string): Promise<void> {
  await sql`/* documents.syncApproved */
    UPDATE document_registry r SET
      (approved_version, approved_key, approved_content_type, approved_size_bytes, approved_sha256,
       approved_at, approved_by) =
      (SELECT e.approved_version, e.approved_key, e.approved_content_type, e.approved_size_bytes,
              e.approved_sha256, e.approved_at, e.approved_by
       FROM document_registry_expected e WHERE e.logical_id = r.logical_id),
      revision = r.revision + 1,
      updated_at = now()
    WHERE r.logical_id = ${logicalId}`.execute(db);
}
