import { buffer } from 'node:stream/consumers';
import { type Kysely, sql } from 'kysely';
import type { ObjectStore } from '../../../platform/storage/object-store.ts';
import type { DB } from '../../../tables.ts';
import type { FhirClient } from '../fhir/client.ts';
import type { IntegrationJob, LazyIntegrationQueue } from './queue.ts';

interface ClaimedRequest {
  request_id: number;
  facility_id: string;
  status: string;
  /** After this claim's increment: above 1, an earlier attempt may have pushed without recording it. */
  integration_attempts: number;
  ehr_document_reference: string | null;
  /** The EHR's DocumentReference of the integrated request this one replaces, if any. */
  replaced_ehr_document_reference: string | null;
  title: string;
  procedure_date: string | null;
  document_type_code: string | null;
  document_type_label: string | null;
  fhir_base_url: string | null;
  ehr_enabled: boolean;
  patient_fhir_id: string | null;
  storage_key: string | null;
  content_type: string | null;
}

type IntegrationDeps = { db: Kysely<DB>; store: ObjectStore; fhir: FhirClient };

/** A failure retrying cannot fix: the facility has no EHR connector, the patient no FHIR id… */
class PermanentIntegrationError extends Error {}

/**
 * Integrates queued requests into their facility's EHR: pushes the first attachment as a Binary and a
 * DocumentReference naming the request, then marks the request integrated. A request replacing an
 * integrated one says so in its DocumentReference (`relatesTo: replaces`), and the old one is then
 * marked `superseded`; a cancelled request already in the EHR is withdrawn (`entered-in-error`). A
 * retryable failure (the EHR down, slow, answering 5xx or 429) is thrown back for pg-boss to retry
 * with backoff; the last attempt, or a failure retrying cannot fix, marks the request `error` (a
 * cancelled one stays cancelled) and the facility's connector with the error. Pushing twice is
 * harmless: the DocumentReference is created only if none names the request yet, so a retry after a
 * lost answer does not integrate twice; changing a status twice writes once.
 */
export async function startIntegrationWorker(
  deps: IntegrationDeps & {
    queue: LazyIntegrationQueue;
    pollingIntervalSeconds?: number;
    log?: (message: string) => void;
  },
): Promise<void> {
  await deps.queue.work(
    (job, attempt) => handleIntegrationJob(deps, job, attempt),
    deps.pollingIntervalSeconds === undefined ? {} : { pollingIntervalSeconds: deps.pollingIntervalSeconds },
  );
}

/**
 * One attempt at one job, as the worker runs it: throws only for pg-boss to retry. Exported for tests,
 * which run it under a ledger to count its statements and EHR requests.
 */
export async function handleIntegrationJob(
  deps: IntegrationDeps & { log?: (message: string) => void },
  job: IntegrationJob,
  attempt: { retryCount: number; retryLimit: number },
): Promise<void> {
  try {
    await integrate(deps, job);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const retryable = !(error instanceof PermanentIntegrationError) && isRetryable(error);
    const lastAttempt = attempt.retryCount >= attempt.retryLimit;
    if (retryable && !lastAttempt) {
      await recordAttemptFailure(deps.db, job.requestId, message);
      deps.log?.(`integration of request ${job.requestId} failed, will retry: ${message}`);
      throw error;
    }
    await recordFinalFailure(deps.db, job.requestId, message);
    deps.log?.(`integration of request ${job.requestId} failed for good: ${message}`);
  }
}

async function integrate(deps: IntegrationDeps, job: IntegrationJob): Promise<void> {
  const { rows } = await sql<ClaimedRequest>`/* worklist.claimIntegration */
    WITH claimed AS (
      UPDATE integration_requests SET integration_state = 'running', integration_attempts = integration_attempts + 1,
             updated_at = now()
      WHERE request_id = ${job.requestId} AND integration_state IN ('queued', 'running')
      RETURNING request_id, facility_id, status, integration_attempts, ehr_document_reference, replaces_request_id,
                title, procedure_date, document_type_code, document_type_label, patient_id
    )
    SELECT c.request_id, c.facility_id, c.status, c.integration_attempts, c.ehr_document_reference,
           old.ehr_document_reference AS replaced_ehr_document_reference,
           c.title, c.procedure_date::text AS procedure_date,
           c.document_type_code, c.document_type_label, f.fhir_base_url, f.ehr_enabled, p.fhir_id AS patient_fhir_id,
           a.storage_key, a.content_type
    FROM claimed c
    JOIN facilities f ON f.facility_id = c.facility_id
    LEFT JOIN patients p ON p.patient_id = c.patient_id
    -- Only a replaced document still current in the EHR is superseded; a deleted one is withdrawn instead.
    LEFT JOIN integration_requests old ON old.request_id = c.replaces_request_id AND old.status = 'integrated'
    LEFT JOIN LATERAL (SELECT storage_key, content_type FROM attachments
                       WHERE request_id = c.request_id ORDER BY attachment_id LIMIT 1) a ON true`.execute(
    deps.db,
  );
  const request = rows[0];
  // Nothing queued: already integrated, or changed since. A duplicate job ends here.
  if (!request) return;
  if (request.status === 'cancelled') {
    await withdraw(deps, request, request.ehr_document_reference);
    return;
  }
  const baseUrl = ehrOf(request);
  if (!request.patient_fhir_id)
    throw new PermanentIntegrationError('the patient has no FHIR id at the facility');
  if (!request.storage_key) throw new PermanentIntegrationError('the request has no attachment');
  const object = await deps.store.get(request.storage_key);
  if (!object)
    throw new PermanentIntegrationError(`attachment ${request.storage_key} is missing from storage`);

  const replaced = request.replaced_ehr_document_reference;
  // The new version first, then the old one superseded: a crash between the two leaves two current
  // documents, never none; the retry pushes again (the same DocumentReference) and supersedes.
  const pushed = await deps.fhir.pushDocument(baseUrl, {
    requestId: request.request_id,
    patientFhirId: request.patient_fhir_id,
    documentType:
      request.document_type_code === null
        ? null
        : { code: request.document_type_code, label: request.document_type_label ?? '' },
    title: request.title,
    date: request.procedure_date,
    contentType: request.content_type ?? 'application/octet-stream',
    data: await buffer(object.body),
    replaces: replaced,
  });
  if (replaced && replaced !== pushed.documentReferenceId) {
    await deps.fhir.setDocumentStatus(baseUrl, replaced, 'superseded');
  }
  const { rows: finished } = await sql<{ status: string }>`/* worklist.integrated */
    WITH done AS (
      -- Cancelled while the push ran (a deletion, or a replacement of a document not yet integrated):
      -- the reference is kept, the request stays cancelled and running, and is withdrawn just below.
      UPDATE integration_requests
      SET status = CASE WHEN status = 'cancelled' THEN status ELSE 'integrated' END,
          integration_state = CASE WHEN status = 'cancelled' THEN 'running' ELSE 'done' END,
          integration_error = NULL, integrated_at = now(), ehr_document_reference = ${pushed.documentReferenceId},
          updated_at = now()
      WHERE request_id = ${request.request_id}
      RETURNING facility_id, status
    ),
    connector AS (
      UPDATE facilities SET ehr_last_error = NULL, ehr_last_error_at = NULL
      WHERE facility_id IN (SELECT facility_id FROM done) AND ehr_last_error IS NOT NULL
    )
    SELECT status FROM done`.execute(deps.db);
  if (finished[0]?.status === 'cancelled') await withdraw(deps, request, pushed.documentReferenceId);
}

/**
 * A cancelled request: the document it put in the EHR, if any, is marked `entered-in-error` there and
 * the request's integration is done; one that never reached the EHR simply leaves the queue. When an
 * earlier attempt may have pushed without recording it (its answer lost), the EHR is asked first.
 */
async function withdraw(
  deps: IntegrationDeps,
  request: ClaimedRequest,
  knownReference: string | null,
): Promise<void> {
  let reference = knownReference;
  if (!reference && request.integration_attempts > 1 && request.ehr_enabled && request.fhir_base_url) {
    reference = (await deps.fhir.findPushedDocument(request.fhir_base_url, request.request_id)) ?? null;
  }
  if (reference) await deps.fhir.setDocumentStatus(ehrOf(request), reference, 'entered-in-error');
  await sql`/* worklist.withdrawn */
    WITH done AS (
      UPDATE integration_requests
      SET integration_state = ${reference ? 'done' : null}, integration_error = NULL,
          ehr_document_reference = coalesce(${reference}, ehr_document_reference), updated_at = now()
      WHERE request_id = ${request.request_id} AND status = 'cancelled'
      RETURNING facility_id
    )
    -- The EHR answered: whatever error its connector showed is past.
    UPDATE facilities SET ehr_last_error = NULL, ehr_last_error_at = NULL
    WHERE ${reference !== null} AND facility_id IN (SELECT facility_id FROM done) AND ehr_last_error IS NOT NULL`.execute(
    deps.db,
  );
}

/** The facility's FHIR base URL; a facility without an enabled connector is a permanent failure. */
function ehrOf(request: ClaimedRequest): string {
  if (!request.ehr_enabled || !request.fhir_base_url) {
    throw new PermanentIntegrationError(`facility ${request.facility_id} has no enabled EHR connector`);
  }
  return request.fhir_base_url;
}

function isRetryable(error: unknown): boolean {
  const retryable = (error as { retryable?: unknown }).retryable;
  return typeof retryable === 'boolean' ? retryable : true;
}

async function recordAttemptFailure(db: Kysely<DB>, requestId: number, message: string): Promise<void> {
  await sql`UPDATE integration_requests SET integration_state = 'queued', integration_error = ${message}, updated_at = now()
    WHERE request_id = ${requestId} AND integration_state = 'running'`.execute(db);
}

async function recordFinalFailure(db: Kysely<DB>, requestId: number, message: string): Promise<void> {
  await sql`/* worklist.integrationFailed */
    WITH failed AS (
      -- A cancelled request whose withdrawal failed stays cancelled: only the integration failed.
      UPDATE integration_requests SET status = CASE WHEN status = 'cancelled' THEN status ELSE 'error' END,
             integration_state = 'failed', integration_error = ${message}, updated_at = now()
      WHERE request_id = ${requestId} AND integration_state IN ('queued', 'running')
      RETURNING facility_id
    )
    UPDATE facilities SET ehr_last_error = ${message}, ehr_last_error_at = now()
    WHERE facility_id IN (SELECT facility_id FROM failed)`.execute(db);
}
