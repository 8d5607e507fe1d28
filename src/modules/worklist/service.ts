import { createHash, randomUUID } from 'node:crypto';
import { finished, type Readable, Transform, type TransformCallback } from 'node:stream';
import { type Kysely, sql } from 'kysely';
import { inTransaction } from '../../platform/db/transactions.ts';
import { badRequest, conflict, notFound, payloadTooLarge } from '../../platform/http/problems.ts';
import { PDF_PAGE_MARKER } from '../../platform/pdf.ts';
import type { ObjectStore } from '../../platform/storage/object-store.ts';
import { objectsReferencedBy, type StoredObjects } from '../../platform/storage/orphans.ts';
import type { DB } from '../../tables.ts';
import { canSee, type FacilityScope } from './access.ts';
import { decideMatch, type MatchOutcome, type PatientTraits } from './identity.ts';
import type { IntegrationQueue } from './integration/queue.ts';
import type { IdentityCheck, ReceiveMetadata, Status } from './schemas.ts';

/** Attachments' objects: every file received is written under `worklist/` before its row commits. */
export function attachmentObjects(db: Kysely<DB>): StoredObjects {
  return objectsReferencedBy(db, 'worklist/', 'attachments');
}

export interface StoredAttachment {
  fileName: string;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  pages: number | null;
  storageKey: string;
}

export interface Receipt {
  facilityId: string;
  authorProviderId: number | null;
}

/** Checks what must hold before any file is stored: the facility exists and the token may see it. */
export async function prepareReceipt(
  db: Kysely<DB>,
  scope: FacilityScope,
  metadata: ReceiveMetadata,
): Promise<Receipt> {
  if (!canSee(scope, metadata.facilityId)) throw notFound(`facility ${metadata.facilityId} does not exist`);
  const { rows } = await sql<{
    facility_id: string;
    author_provider_id: number | null;
  }>`/* worklist.receiptContext */
    SELECT f.facility_id,
           (SELECT provider_id FROM providers WHERE national_id = ${metadata.authorNationalId ?? null}) AS author_provider_id
    FROM facilities f WHERE f.facility_id = ${metadata.facilityId}`.execute(db);
  const facility = rows[0];
  if (!facility) throw notFound(`facility ${metadata.facilityId} does not exist`);
  return { facilityId: facility.facility_id, authorProviderId: facility.author_provider_id };
}

/** Streams one attachment to storage, hashing it, counting its bytes and, for a PDF, its pages. */
export async function storeAttachment(
  store: ObjectStore,
  facilityId: string,
  file: { fileName: string; contentType: string; stream: Readable; limitBytes: number },
): Promise<StoredAttachment> {
  const storageKey = `worklist/${facilityId}/${randomUUID()}`;
  const digest = new AttachmentDigest(file.limitBytes, file.contentType === 'application/pdf');
  let cutOff: Error | undefined;
  // As for document uploads: a body cut off midway must fail the write, not leave it waiting.
  const stopWatching = finished(file.stream, { writable: false }, (error) => {
    if (!error) return;
    cutOff = error;
    digest.destroy(error);
  });
  try {
    await store.put(storageKey, file.stream.pipe(digest), { contentType: file.contentType });
  } catch (error) {
    file.stream.unpipe(digest);
    await store.delete(storageKey).catch(() => {});
    // The multipart reader fails the file itself (413) when it passes the limit.
    if (digest.overLimit || (cutOff as { statusCode?: number } | undefined)?.statusCode === 413)
      throw payloadTooLarge(`${file.fileName} is over the limit of ${file.limitBytes} bytes`);
    if (cutOff) throw badRequest(`the upload of ${file.fileName} was cut off before it ended`);
    throw error;
  } finally {
    stopWatching();
  }
  return {
    fileName: file.fileName,
    contentType: file.contentType,
    sizeBytes: digest.sizeBytes,
    sha256: digest.hex(),
    pages: digest.pages,
    storageKey,
  };
}

/** The PDF page count read while streaming: `/Type /Page` objects (not `/Pages`), across chunk edges. */
class AttachmentDigest extends Transform {
  sizeBytes = 0;
  overLimit = false;
  private pageCount = 0;
  private tail = '';
  private readonly hash = createHash('sha256');

  constructor(
    private readonly limitBytes: number,
    private readonly isPdf: boolean,
  ) {
    super();
  }

  get pages(): number | null {
    return this.isPdf && this.pageCount > 0 ? this.pageCount : null;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.sizeBytes += chunk.length;
    if (this.sizeBytes > this.limitBytes) {
      this.overLimit = true;
      callback(new Error('attachment over the size limit'));
      return;
    }
    this.hash.update(chunk);
    if (this.isPdf) {
      const text = this.tail + chunk.toString('latin1');
      this.pageCount += text.match(PDF_PAGE_MARKER)?.length ?? 0;
      // Keep the end of this chunk, minus any match already counted, for a marker split across chunks.
      const lastMarker = text.lastIndexOf('/Page');
      this.tail = text.slice(Math.max(text.length - 24, lastMarker >= 0 ? lastMarker + 5 : 0));
    }
    callback(null, chunk);
  }

  hex(): string {
    return this.hash.digest('hex');
  }
}

/**
 * Matches the identity the document carries against the facility's patients (exact INS first, then
 * exact strict traits) and records the request with its attachments, extracted metadata and identity
 * verification, all in one statement. On failure the stored objects are deleted.
 */
export async function recordReceipt(
  db: Kysely<DB>,
  store: ObjectStore,
  receipt: Receipt,
  metadata: ReceiveMetadata,
  attachments: StoredAttachment[],
): Promise<{
  id: number;
  status: Status;
  identityCheck: IdentityCheck;
  patientId: number | null;
  match: string;
}> {
  try {
    const outcome = await matchIdentity(db, receipt.facilityId, metadata);
    const identity = identityOf(outcome, metadata);
    const extracted = metadata.extracted;
    const { rows } = await sql<{ request_id: number }>`/* worklist.recordReceipt */
      WITH request AS (
        INSERT INTO integration_requests (facility_id, source, status, document_type_code, document_type_label, title,
          procedure_date, patient_id, author_provider_id, priority, identity_check, attachment_count, search_text)
        SELECT ${receipt.facilityId}, ${metadata.source}, ${identity.status}, ${metadata.documentType?.code ?? null},
               ${metadata.documentType?.label ?? null}, ${metadata.title},
               ${metadata.procedureDate ?? extracted?.procedureDate ?? null}::date, ${identity.patientId}::bigint,
               ${receipt.authorProviderId}::bigint, ${metadata.priority ?? 'routine'}, ${identity.check},
               ${attachments.length}, ${searchText(sql`${metadata.title}::text`, identity.patientId)}
        RETURNING request_id
      ),
      files AS (
        INSERT INTO attachments (request_id, file_name, content_type, size_bytes, sha256, pages, storage_key)
        SELECT request.request_id, f.file_name, f.content_type, f.size_bytes, f.sha256, f.pages, f.storage_key
        FROM request, unnest(${attachments.map((a) => a.fileName)}::text[], ${attachments.map((a) => a.contentType)}::text[],
                             ${attachments.map((a) => a.sizeBytes)}::bigint[], ${attachments.map((a) => a.sha256)}::text[],
                             ${attachments.map((a) => a.pages)}::int[], ${attachments.map((a) => a.storageKey)}::text[])
             AS f(file_name, content_type, size_bytes, sha256, pages, storage_key)
      ),
      metadata AS (
        INSERT INTO extracted_metadata (request_id, extractor, ins, ins_oid, birth_last_name, used_last_name, first_names,
          birth_date, sex, birthplace_code, ipp, procedure_date, document_type_code, confidence)
        SELECT request.request_id, ${extracted?.extractor ?? null}, ${extracted?.ins ?? null}, ${extracted?.insOid ?? null},
               ${extracted?.birthLastName ?? null}, ${extracted?.usedLastName ?? null}, ${extracted?.firstNames ?? null},
               ${extracted?.birthDate ?? null}::date, ${extracted?.sex ?? null}, ${extracted?.birthplaceCode ?? null},
               ${extracted?.ipp ?? null}, ${extracted?.procedureDate ?? null}::date, ${extracted?.documentTypeCode ?? null},
               ${JSON.stringify(extracted?.confidence ?? {})}::jsonb
        FROM request WHERE ${extracted !== undefined}
      ),
      verification AS (
        INSERT INTO verifications (request_id, kind, outcome, patient_id, verified_by, note)
        SELECT request.request_id, 'identity', ${identity.check}, ${identity.verifiedPatientId}::bigint, 'matcher', ${identity.note}
        FROM request WHERE ${identity.recordVerification}
      )
      SELECT request_id FROM request`.execute(db);
    const id = rows[0]?.request_id as number;
    return {
      id,
      status: identity.status,
      identityCheck: identity.check,
      patientId: identity.patientId,
      match: identity.note,
    };
  } catch (error) {
    await Promise.all(attachments.map((attachment) => store.delete(attachment.storageKey).catch(() => {})));
    throw error;
  }
}

/** identity_key() of the title and the patient's names: what the worklist's `q` searches. */
function searchText(title: ReturnType<typeof sql>, patientId: number | null) {
  return sql`(SELECT identity_key(concat_ws(' ', ${title}, p.first_name, coalesce(p.used_last_name, p.birth_last_name), p.birth_last_name))
              FROM (SELECT 1) one LEFT JOIN patients p ON p.patient_id = ${patientId}::bigint)`;
}

async function matchIdentity(
  db: Kysely<DB>,
  facilityId: string,
  metadata: ReceiveMetadata,
): Promise<MatchOutcome | undefined> {
  const extracted = metadata.extracted;
  if (!extracted || (!extracted.ins && !(extracted.birthLastName && extracted.birthDate))) return undefined;
  const { rows } = await sql<PatientTraits>`/* worklist.matchIdentity */
    SELECT patient_id, ins,
           coalesce(ins = ${extracted.ins ?? null}, false) AS same_ins,
           coalesce(birth_last_name_key = identity_key(${extracted.birthLastName ?? null}), false) AS same_name,
           coalesce(first_given_name_key = identity_key(split_part(${extracted.firstNames ?? ''}, ' ', 1)), false) AS same_first_name,
           coalesce(birth_date = ${extracted.birthDate ?? null}::date, false) AS same_birth_date,
           coalesce(sex = ${extracted.sex ?? null}, false) AS same_sex
    FROM patients
    WHERE facility_id = ${facilityId}
      AND (ins = ${extracted.ins ?? null}
           OR (birth_date = ${extracted.birthDate ?? null}::date
               AND birth_last_name_key = identity_key(${extracted.birthLastName ?? null})))
    LIMIT 20`.execute(db);
  return decideMatch(
    {
      ins: extracted.ins,
      birthLastName: extracted.birthLastName,
      firstNames: extracted.firstNames,
      birthDate: extracted.birthDate,
      sex: extracted.sex,
    },
    rows,
  );
}

function identityOf(outcome: MatchOutcome | undefined, metadata: ReceiveMetadata) {
  if (!outcome) {
    return {
      status: 'received' as Status,
      check: 'pending' as IdentityCheck,
      patientId: null,
      verifiedPatientId: null,
      recordVerification: false,
      note: metadata.extracted ? 'not enough identity traits to match' : 'no identity extracted',
    };
  }
  switch (outcome.kind) {
    case 'matched':
      return {
        status: 'verified' as Status,
        check: 'ok' as IdentityCheck,
        patientId: outcome.patientId,
        verifiedPatientId: outcome.patientId,
        recordVerification: true,
        note: outcome.by === 'ins' ? 'matched by INS' : 'matched by strict traits',
      };
    case 'mismatch':
      return {
        status: 'pending_verification' as Status,
        check: 'mismatch' as IdentityCheck,
        patientId: null,
        verifiedPatientId: outcome.patientId,
        recordVerification: true,
        note: outcome.note,
      };
    case 'pending':
      return {
        status: 'pending_verification' as Status,
        check: 'pending' as IdentityCheck,
        patientId: null,
        verifiedPatientId: null,
        recordVerification: true,
        note: outcome.note,
      };
  }
}

interface LockedRequest {
  request_id: number;
  facility_id: string;
  status: Status;
  integration_state: 'queued' | 'running' | 'done' | 'failed' | null;
  cancellation_reason: string | null;
}

/** Locks a request for a state change; one the token may not see does not exist for it. */
async function lockRequest(trx: Kysely<DB>, scope: FacilityScope, requestId: number): Promise<LockedRequest> {
  const { rows } = await sql<LockedRequest>`/* worklist.lockRequest */
    SELECT request_id, facility_id, status, integration_state, cancellation_reason FROM integration_requests
    WHERE request_id = ${requestId} FOR UPDATE`.execute(trx);
  const request = rows[0];
  if (!request || !canSee(scope, request.facility_id))
    throw notFound(`integration request ${requestId} does not exist`);
  return request;
}

/** A request its sender cancelled (deleted, or replaced before it was integrated) is out of the worklist. */
function refuseCancelled(request: LockedRequest, action: string): void {
  if (request.status !== 'cancelled') return;
  const reason = request.cancellation_reason ? `: ${request.cancellation_reason}` : '';
  throw conflict(`request ${request.request_id} was cancelled${reason}; it can no longer be ${action}`);
}

export interface ActionOutcome {
  id: number;
  status: Status;
  identityCheck: IdentityCheck;
  patientId: number | null;
  integrationState: 'queued' | 'running' | 'done' | 'failed' | null;
}

const RETURNING = sql.raw('request_id AS id, status, identity_check, patient_id, integration_state');
const toOutcome = (row: {
  id: number;
  status: Status;
  identity_check: IdentityCheck;
  patient_id: number | null;
  integration_state: ActionOutcome['integrationState'];
}): ActionOutcome => ({
  id: row.id,
  status: row.status,
  identityCheck: row.identity_check,
  patientId: row.patient_id,
  integrationState: row.integration_state,
});

/** A person confirms which of the facility's patients the document belongs to. */
export async function verifyIdentity(
  db: Kysely<DB>,
  scope: FacilityScope,
  input: {
    requestId: number;
    patientId: number;
    actor: string;
    acknowledgedDifferences?: string[] | undefined;
  },
): Promise<ActionOutcome> {
  const acknowledged = input.acknowledgedDifferences ?? [];
  const note =
    acknowledged.length > 0
      ? `verified by a person, who confirmed despite: ${acknowledged.join('; ')}`
      : 'verified by a person';
  return inTransaction(db, async (trx) => {
    const request = await lockRequest(trx, scope, input.requestId);
    refuseCancelled(request, 'verified');
    if (!['received', 'pending_verification', 'verified', 'error'].includes(request.status)) {
      throw conflict(`request ${input.requestId} is ${request.status}; its identity can no longer change`);
    }
    if (request.integration_state === 'queued' || request.integration_state === 'running') {
      throw conflict(`request ${input.requestId} is being integrated; wait for the outcome`);
    }
    const { rows } = await sql`/* worklist.verify */
      WITH patient AS (
        SELECT patient_id AS chosen_patient_id FROM patients
        WHERE patient_id = ${input.patientId} AND facility_id = ${request.facility_id}
      ),
      verified AS (
        UPDATE integration_requests SET patient_id = patient.chosen_patient_id, status = 'verified', identity_check = 'ok',
               search_text = ${searchText(sql`integration_requests.title`, input.patientId)},
               integration_state = NULL, integration_error = NULL, updated_at = now()
        FROM patient WHERE request_id = ${input.requestId}
        RETURNING ${RETURNING}
      ),
      recorded AS (
        INSERT INTO verifications (request_id, kind, outcome, patient_id, verified_by, note)
        SELECT ${input.requestId}, 'identity', 'ok', patient.chosen_patient_id, ${input.actor}, ${note}
        FROM patient
      )
      SELECT * FROM verified`.execute(trx);
    const changed = rows[0] as Parameters<typeof toOutcome>[0] | undefined;
    if (!changed) {
      throw badRequest(`patient ${input.patientId} is not a patient of facility ${request.facility_id}`, [
        { field: 'body.patientId', message: 'is not a patient of this facility' },
      ]);
    }
    return toOutcome(changed);
  });
}

export async function rejectRequest(
  db: Kysely<DB>,
  scope: FacilityScope,
  input: { requestId: number; reason: string; actor: string },
): Promise<ActionOutcome> {
  return inTransaction(db, async (trx) => {
    const request = await lockRequest(trx, scope, input.requestId);
    refuseCancelled(request, 'rejected');
    if (request.status === 'integrated' || request.status === 'rejected') {
      throw conflict(`request ${input.requestId} is already ${request.status}`);
    }
    if (request.integration_state === 'queued' || request.integration_state === 'running') {
      throw conflict(`request ${input.requestId} is being integrated; wait for the outcome`);
    }
    const { rows } = await sql`/* worklist.reject */
      UPDATE integration_requests SET status = 'rejected', rejected_by = ${input.actor}, rejected_at = now(),
             rejection_reason = ${input.reason}, updated_at = now()
      WHERE request_id = ${input.requestId}
      RETURNING ${RETURNING}`.execute(trx);
    return toOutcome(rows[0] as Parameters<typeof toOutcome>[0]);
  });
}

/**
 * Queues the integration of a verified request into its facility's EHR, in the same transaction as the
 * state change, so a job exists exactly when the request says it is queued. Asking again while it is
 * queued or running answers the same; once integrated it is a conflict.
 */
export async function requestIntegration(
  db: Kysely<DB>,
  queue: IntegrationQueue,
  scope: FacilityScope,
  input: { requestId: number },
): Promise<{ outcome: ActionOutcome; alreadyQueued: boolean }> {
  return inTransaction(db, async (trx) => {
    const request = await lockRequest(trx, scope, input.requestId);
    // Before the queued check: a cancelled request may be queued, for its withdrawal from the EHR.
    refuseCancelled(request, 'integrated');
    if (request.integration_state === 'queued' || request.integration_state === 'running') {
      const { rows } =
        await sql`SELECT ${RETURNING} FROM integration_requests WHERE request_id = ${input.requestId}`.execute(
          trx,
        );
      return { outcome: toOutcome(rows[0] as Parameters<typeof toOutcome>[0]), alreadyQueued: true };
    }
    if (request.status === 'integrated') throw conflict(`request ${input.requestId} is already integrated`);
    if (request.status !== 'verified' && request.status !== 'error') {
      throw conflict(
        `request ${input.requestId} is ${request.status}; only a verified request can be integrated`,
      );
    }
    const { rows } = await sql`/* worklist.queueIntegration */
      UPDATE integration_requests SET status = 'verified', integration_state = 'queued', integration_error = NULL,
             updated_at = now()
      WHERE request_id = ${input.requestId}
      RETURNING ${RETURNING}`.execute(trx);
    await queue.enqueue(trx, input.requestId);
    return { outcome: toOutcome(rows[0] as Parameters<typeof toOutcome>[0]), alreadyQueued: false };
  });
}
