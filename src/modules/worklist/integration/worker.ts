import { buffer } from 'node:stream/consumers';
import { type Kysely, sql } from 'kysely';
import type { ObjectStore } from '../../../platform/storage/object-store.ts';
import type { DB } from '../../../tables.ts';
import type { FhirClient } from '../fhir/client.ts';
import type { IntegrationJob, LazyIntegrationQueue } from './queue.ts';

interface ClaimedRequest {
  request_id: number;
  facility_id: string;
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

/** A failure retrying cannot fix: the facility has no EHR connector, the patient no FHIR id… */
class PermanentIntegrationError extends Error {}

/**
 * Integrates queued requests into their facility's EHR: pushes the first attachment as a Binary and a
 * DocumentReference naming the request, then marks the request integrated. A retryable failure (the
 * EHR down, slow, answering 5xx or 429) is thrown back for pg-boss to retry with backoff; the last
 * attempt, or a failure retrying cannot fix, marks the request `error` and the facility's connector
 * with the error. Pushing twice is harmless: the DocumentReference is created only if none names the
 * request yet, so a retry after a lost answer does not integrate twice.
 */
export async function startIntegrationWorker(deps: {
  db: Kysely<DB>;
  store: ObjectStore;
  queue: LazyIntegrationQueue;
  fhir: FhirClient;
  pollingIntervalSeconds?: number;
  log?: (message: string) => void;
}): Promise<void> {
  await deps.queue.work(
    async (job, attempt) => {
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
    },
    deps.pollingIntervalSeconds === undefined ? {} : { pollingIntervalSeconds: deps.pollingIntervalSeconds },
  );
}

async function integrate(
  deps: { db: Kysely<DB>; store: ObjectStore; fhir: FhirClient },
  job: IntegrationJob,
): Promise<void> {
  const { rows } = await sql<ClaimedRequest>`/* worklist.claimIntegration */
    WITH claimed AS (
      UPDATE integration_requests SET integration_state = 'running', integration_attempts = integration_attempts + 1,
             updated_at = now()
      WHERE request_id = ${job.requestId} AND integration_state IN ('queued', 'running')
      RETURNING request_id, facility_id, title, procedure_date, document_type_code, document_type_label, patient_id
    )
    SELECT c.request_id, c.facility_id, c.title, c.procedure_date::text AS procedure_date,
           c.document_type_code, c.document_type_label, f.fhir_base_url, f.ehr_enabled, p.fhir_id AS patient_fhir_id,
           a.storage_key, a.content_type
    FROM claimed c
    JOIN facilities f ON f.facility_id = c.facility_id
    LEFT JOIN patients p ON p.patient_id = c.patient_id
    LEFT JOIN LATERAL (SELECT storage_key, content_type FROM attachments
                       WHERE request_id = c.request_id ORDER BY attachment_id LIMIT 1) a ON true`.execute(
    deps.db,
  );
  const request = rows[0];
  // Nothing queued: already integrated, or changed since. A duplicate job ends here.
  if (!request) return;
  if (!request.ehr_enabled || !request.fhir_base_url) {
    throw new PermanentIntegrationError(`facility ${request.facility_id} has no enabled EHR connector`);
  }
  if (!request.patient_fhir_id)
    throw new PermanentIntegrationError('the patient has no FHIR id at the facility');
  if (!request.storage_key) throw new PermanentIntegrationError('the request has no attachment');
  const object = await deps.store.get(request.storage_key);
  if (!object)
    throw new PermanentIntegrationError(`attachment ${request.storage_key} is missing from storage`);

  const pushed = await deps.fhir.pushDocument(request.fhir_base_url, {
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
  });
  await sql`/* worklist.integrated */
    WITH done AS (
      UPDATE integration_requests SET status = 'integrated', integration_state = 'done', integration_error = NULL,
             integrated_at = now(), ehr_document_reference = ${pushed.documentReferenceId}, updated_at = now()
      WHERE request_id = ${request.request_id}
      RETURNING facility_id
    )
    UPDATE facilities SET ehr_last_error = NULL, ehr_last_error_at = NULL
    WHERE facility_id IN (SELECT facility_id FROM done) AND ehr_last_error IS NOT NULL`.execute(deps.db);
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
      UPDATE integration_requests SET status = 'error', integration_state = 'failed', integration_error = ${message},
             updated_at = now()
      WHERE request_id = ${requestId} AND integration_state IN ('queued', 'running')
      RETURNING facility_id
    )
    UPDATE facilities SET ehr_last_error = ${message}, ehr_last_error_at = now()
    WHERE facility_id IN (SELECT facility_id FROM failed)`.execute(db);
}
