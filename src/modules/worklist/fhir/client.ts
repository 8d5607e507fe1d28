import { createHash } from 'node:crypto';
import DataLoader from 'dataloader';
import type { Bundle, DocumentReference, OperationOutcome, Patient } from 'fhir/r4.js';
import type { CacheRegion } from '../../../platform/cache/cache.ts';
import { externalRequestsTotal } from '../../../platform/metrics/registry.ts';
import { billDependency } from '../../../platform/request-ledger.ts';

const FHIR_JSON = 'application/fhir+json';
/** FHIR R4 `id`: what a server may answer for; anything else cannot exist there. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** The identifier system that ties a DocumentReference to the integration request that pushed it. */
export const INTEGRATION_REQUEST_SYSTEM = 'urn:hotpath:integration-request';
/** The cache region of FHIR Patient reads; an id the server does not know is cached as null. */
export const PATIENT_CACHE_REGION = 'fhir-patient';

export function patientCacheKey(baseUrl: string, fhirId: string): string {
  return `${baseUrl}|${fhirId}`;
}

/** A request to a FHIR server that failed: a short reason, the HTTP status if it answered, and whether trying again may help. */
export class FhirRequestError extends Error {
  constructor(
    /** A few words a page or a job can show: `timeout after 1500 ms`, `HTTP 503`, `connection refused`… */
    readonly reason: string,
    readonly status: number | undefined,
    /** Timeouts, network errors, 408, 429 and 5xx may pass; other 4xx and malformed answers will not. */
    readonly retryable: boolean,
    detail?: string,
  ) {
    super(detail ? `FHIR request failed: ${reason}: ${detail}` : `FHIR request failed: ${reason}`);
    this.name = 'FhirRequestError';
  }
}

/** A read from the facility's FHIR server failed; the caller answers from local data instead. */
export class FhirUnavailableError extends FhirRequestError {
  constructor(reason: string, status: number | undefined, retryable: boolean, detail?: string) {
    super(reason, status, retryable, detail);
    this.name = 'FhirUnavailableError';
  }
}

/** Pushing a document to the facility's EHR failed; `retryable` tells the job queue whether to try again. */
export class FhirPushError extends FhirRequestError {
  constructor(reason: string, status: number | undefined, retryable: boolean, detail?: string) {
    super(reason, status, retryable, detail);
    this.name = 'FhirPushError';
  }
}

type FailureType = new (
  reason: string,
  status: number | undefined,
  retryable: boolean,
  detail?: string,
) => FhirRequestError;

export interface DocumentPush {
  /** The integration request being pushed: the idempotency key of the push. */
  requestId: number;
  patientFhirId: string;
  /** LOINC. */
  documentType: { code: string; label: string } | null;
  title: string;
  /** The clinical date of the document (`YYYY-MM-DD` or a date-time): sent as `context.period`. */
  date: string | null;
  contentType: string;
  data: Buffer;
  /**
   * The DocumentReference id, in this EHR, of the document this one replaces: the new one then says
   * so (`relatesTo: replaces`). Null or absent for a first version.
   */
  replaces?: string | null;
}

/** The statuses a DocumentReference leaves `current` for: replaced by a newer version, or withdrawn. */
export type WithdrawnStatus = 'superseded' | 'entered-in-error';

/**
 * What `setDocumentStatus` did: wrote the new status, found it already there (or already withdrawn as
 * entered-in-error), or found no such DocumentReference left on the server.
 */
export type StatusChange = 'updated' | 'unchanged' | 'gone';

export interface PushedDocument {
  documentReferenceId: string;
  /** The Binary the DocumentReference points at (on a repeated push, the first push's). */
  binaryId: string;
}

interface Exchanged<T> {
  status: number;
  location: string | null;
  etag: string | null;
  /** Undefined when the answer had no body. */
  body: T | undefined;
}

export interface FhirClientOptions {
  /** Per HTTP request, body included. */
  timeoutMs: number;
  fetch?: typeof fetch;
  /** `_count` of Patient searches. */
  pageSize?: number;
}

/**
 * Talks to facilities' FHIR R4 servers. Every HTTP request is billed to the current request's ledger,
 * counted in `hotpath_external_requests_total{service="fhir"}`, and abandoned after `timeoutMs`.
 */
export class FhirClient {
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;
  private readonly pageSize: number;

  constructor(options: FhirClientOptions) {
    this.timeoutMs = options.timeoutMs;
    this.fetch = options.fetch ?? fetch;
    this.pageSize = options.pageSize ?? 50;
  }

  /**
   * The Patients of these ids, by id, from one search (`_id=a,b,c`) followed page by page along its
   * `next` links. An id the server does not have has no entry. Throws FhirUnavailableError.
   */
  async readPatients(baseUrl: string, ids: readonly string[]): Promise<Map<string, Patient>> {
    const wanted = new Set(ids.filter((id) => FHIR_ID.test(id)));
    const patients = new Map<string, Patient>();
    if (wanted.size === 0) return patients;
    let url: string | undefined =
      `${resourceUrl(baseUrl, 'Patient')}?_id=${[...wanted].join(',')}&_count=${this.pageSize}`;
    for (let pages = 1; url !== undefined; pages++) {
      // A correct server needs fewer pages than ids; one whose next links never end must not hold the request.
      if (pages > wanted.size + 1) {
        throw new FhirUnavailableError('bad response', 200, false, 'endless paging');
      }
      const { status, body }: Exchanged<Bundle> = await this.exchange<Bundle>(FhirUnavailableError, url, {
        headers: { accept: FHIR_JSON },
      });
      if (body?.resourceType !== 'Bundle') {
        throw new FhirUnavailableError(
          'bad response',
          status,
          false,
          'a Patient search did not answer a Bundle',
        );
      }
      for (const entry of body.entry ?? []) {
        const resource = entry.resource;
        if (resource?.resourceType === 'Patient' && resource.id && wanted.has(resource.id)) {
          patients.set(resource.id, resource);
        }
      }
      const next: string | undefined = body.link?.find((link) => link.relation === 'next')?.url;
      url = next ? new URL(next, url).href : undefined;
    }
    return patients;
  }

  /**
   * Pushes a document into the facility's EHR: a Binary with its bytes, then a DocumentReference
   * pointing at it, created only if none carries this integration request's identifier. Pushing the
   * same request again (a retry after a lost answer) returns the first DocumentReference; the retry's
   * Binary is left unreferenced. Throws FhirPushError.
   */
  async pushDocument(baseUrl: string, input: DocumentPush): Promise<PushedDocument> {
    const binary = await this.exchange<{ id?: string }>(FhirPushError, resourceUrl(baseUrl, 'Binary'), {
      method: 'POST',
      // Raw bytes rather than base64 JSON (a third larger); a minimal answer spares echoing them back.
      headers: { 'content-type': input.contentType, accept: FHIR_JSON, prefer: 'return=minimal' },
      body: input.data,
    });
    const binaryId = binary.body?.id ?? idFromReference(binary.location, 'Binary');
    if (!binaryId) {
      throw new FhirPushError('bad response', binary.status, false, 'no id for the created Binary');
    }

    const identifier = `${INTEGRATION_REQUEST_SYSTEM}|${input.requestId}`;
    const documentReference = await this.exchange<DocumentReference>(
      FhirPushError,
      resourceUrl(baseUrl, 'DocumentReference'),
      {
        method: 'POST',
        headers: {
          'content-type': FHIR_JSON,
          accept: FHIR_JSON,
          // The existing resource on a repeated push names the Binary that counts.
          prefer: 'return=representation',
          'if-none-exist': `identifier=${identifier}`,
        },
        body: JSON.stringify(documentReferenceOf(input, binaryId)),
      },
    );
    const documentReferenceId =
      documentReference.body?.id ?? idFromReference(documentReference.location, 'DocumentReference');
    if (!documentReferenceId) {
      throw new FhirPushError(
        'bad response',
        documentReference.status,
        false,
        'no id for the DocumentReference',
      );
    }
    return {
      documentReferenceId,
      binaryId: idFromReference(documentReference.body?.content?.[0]?.attachment.url, 'Binary') ?? binaryId,
    };
  }

  /**
   * The id of the DocumentReference a push of this integration request created, if any: for a request
   * whose push may have landed though its answer was lost. Throws FhirPushError.
   */
  async findPushedDocument(baseUrl: string, requestId: number): Promise<string | undefined> {
    const identifier = encodeURIComponent(`${INTEGRATION_REQUEST_SYSTEM}|${requestId}`);
    const { status, body } = await this.exchange<Bundle>(
      FhirPushError,
      `${resourceUrl(baseUrl, 'DocumentReference')}?identifier=${identifier}`,
      { headers: { accept: FHIR_JSON } },
    );
    if (body?.resourceType !== 'Bundle') {
      throw new FhirPushError(
        'bad response',
        status,
        false,
        'a DocumentReference search did not answer a Bundle',
      );
    }
    const found = body.entry?.find((entry) => entry.resource?.resourceType === 'DocumentReference');
    return found?.resource?.id;
  }

  /**
   * Moves a DocumentReference out of `current`: reads it, then writes it back with `status` (a PUT,
   * conditional on the version read when the server gave one). Idempotent: a DocumentReference already
   * in that status is not written again, and one already `entered-in-error` is left so (a withdrawn
   * document is not brought back as a mere older version). A 404 or 410 is success (see
   * `goneAsUndefined`); a 412 (changed between the read and the write) is retryable, the next attempt
   * reading it again. Two HTTP requests, or one when nothing is to change. Throws FhirPushError.
   */
  async setDocumentStatus(
    baseUrl: string,
    documentReferenceId: string,
    status: WithdrawnStatus,
  ): Promise<StatusChange> {
    if (!FHIR_ID.test(documentReferenceId)) {
      throw new FhirPushError(
        'bad reference',
        undefined,
        false,
        `'${documentReferenceId.slice(0, 100)}' is no FHIR id`,
      );
    }
    const url = resourceUrl(baseUrl, `DocumentReference/${documentReferenceId}`);
    const read = await goneAsUndefined(
      this.exchange<DocumentReference>(FhirPushError, url, { headers: { accept: FHIR_JSON } }),
    );
    if (!read) return 'gone';
    const current = read.body;
    if (current?.resourceType !== 'DocumentReference') {
      throw new FhirPushError(
        'bad response',
        read.status,
        false,
        `${url} did not answer a DocumentReference`,
      );
    }
    if (current.status === status || current.status === 'entered-in-error') return 'unchanged';
    const version = read.etag ?? (current.meta?.versionId ? `W/"${current.meta.versionId}"` : undefined);
    const written = await goneAsUndefined(
      this.exchange<DocumentReference>(FhirPushError, url, {
        method: 'PUT',
        headers: {
          'content-type': FHIR_JSON,
          accept: FHIR_JSON,
          prefer: 'return=minimal',
          ...(version && { 'if-match': version }),
        },
        body: JSON.stringify({ ...current, id: documentReferenceId, status }),
      }).catch((error: unknown) => {
        // Changed on the server between the read and the write: the next attempt reads it again.
        if (error instanceof FhirPushError && error.status === 412) {
          throw new FhirPushError(error.reason, 412, true, 'the DocumentReference changed since it was read');
        }
        throw error;
      }),
    );
    return written ? 'updated' : 'gone';
  }

  /** One HTTP request: timed out, billed, counted; any failure thrown as `Failure`. */
  private exchange<T>(Failure: FailureType, url: string, init: RequestInit): Promise<Exchanged<T>> {
    externalRequestsTotal.inc({ service: 'fhir' });
    return billDependency('ext', async () => {
      let response: Response;
      let text: string;
      try {
        // The timeout covers reading the body too: a server that stalls mid-answer is as slow as a silent one.
        response = await this.fetch(url, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
        text = await response.text();
      } catch (error) {
        if (isTimeout(error)) throw new Failure(`timeout after ${this.timeoutMs} ms`, undefined, true);
        const code = networkErrorCode(error);
        throw new Failure(
          code === 'ECONNREFUSED' ? 'connection refused' : 'network error',
          undefined,
          true,
          code ?? (error instanceof Error ? error.message : String(error)),
        );
      }
      let body: T | undefined;
      try {
        body = text === '' ? undefined : (JSON.parse(text) as T);
      } catch {
        if (response.ok) throw new Failure('bad response', response.status, false, 'not JSON');
      }
      if (!response.ok) {
        const status = response.status;
        const retryable = status >= 500 || status === 408 || status === 429;
        throw new Failure(`HTTP ${status}`, status, retryable, diagnosticsOf(body));
      }
      return {
        status: response.status,
        location: response.headers.get('location'),
        etag: response.headers.get('etag'),
        body,
      };
    });
  }
}

/**
 * Undefined for a 404 or 410. Withdrawing or superseding a document the EHR no longer has (deleted
 * there, purged, or never kept) leaves nothing current to act on: the goal is already met, and
 * retrying would fail the same way forever.
 */
async function goneAsUndefined<T>(exchanged: Promise<Exchanged<T>>): Promise<Exchanged<T> | undefined> {
  try {
    return await exchanged;
  } catch (error) {
    if (error instanceof FhirRequestError && (error.status === 404 || error.status === 410)) return undefined;
    throw error;
  }
}

function resourceUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${path}`;
}

/** The id in `Type/id`, `Type/id/_history/n` or an absolute URL ending so. */
function idFromReference(reference: string | null | undefined, type: string): string | undefined {
  if (!reference) return undefined;
  const match = new RegExp(`(?:^|/)${type}/([A-Za-z0-9\\-.]{1,64})(?:/|$)`).exec(reference);
  return match?.[1];
}

function documentReferenceOf(input: DocumentPush, binaryId: string): DocumentReference {
  const { documentType } = input;
  return {
    resourceType: 'DocumentReference',
    identifier: [{ system: INTEGRATION_REQUEST_SYSTEM, value: String(input.requestId) }],
    status: 'current',
    ...(input.replaces && {
      relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${input.replaces}` } }],
    }),
    ...(documentType && {
      type: {
        coding: [{ system: 'http://loinc.org', code: documentType.code, display: documentType.label }],
        text: documentType.label,
      },
    }),
    subject: { reference: `Patient/${input.patientFhirId}` },
    // R4 wants an instant here (when the reference was made); the document's own date goes in context.
    date: new Date().toISOString(),
    description: input.title,
    content: [
      {
        attachment: {
          contentType: input.contentType,
          url: `Binary/${binaryId}`,
          title: input.title,
          size: input.data.length,
          hash: createHash('sha1').update(input.data).digest('base64'),
        },
      },
    ],
    ...(input.date && { context: { period: { start: input.date, end: input.date } } }),
  };
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

/** `ECONNREFUSED`, `ECONNRESET`… from fetch's cause (an AggregateError when several addresses were tried). */
function networkErrorCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } })?.cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  return typeof code === 'string' ? code : undefined;
}

function diagnosticsOf(body: unknown): string | undefined {
  const outcome = body as OperationOutcome | undefined;
  if (outcome?.resourceType !== 'OperationOutcome') return undefined;
  const issue = outcome.issue?.[0];
  return (issue?.diagnostics ?? issue?.details?.text)?.slice(0, 200);
}

export interface PatientEnrichment {
  status: 'ok' | 'unavailable' | 'not-configured';
  /** By FHIR id; an id the server does not know has no entry. While unavailable: what the cache knew. */
  patients: Map<string, Patient>;
  /** Why enrichment is unavailable, in a few words. */
  reason?: string;
}

/**
 * Enriches local patient rows with their FHIR Patient, for one HTTP request. Ids asked in the same
 * tick are looked up in the cache, and the misses asked of the server in one search per base URL.
 */
export class PatientEnricher {
  /** Per request: memoizes each key, batches the lookups of one tick. */
  private readonly patients: DataLoader<string, Patient | null>;
  /**
   * The cache's misses, batched separately: the cache calls for each miss on its own, after its own
   * lookup, so they are gathered until the event loop turns rather than within one tick.
   */
  private readonly misses: DataLoader<string, Patient | null>;

  constructor(
    private readonly client: FhirClient,
    private readonly cache: CacheRegion<Patient | null>,
  ) {
    this.patients = new DataLoader((keys) => this.lookUp(keys));
    this.misses = new DataLoader((keys) => this.askServer(keys), {
      cache: false,
      batchScheduleFn: (dispatch) => setImmediate(dispatch),
    });
  }

  async enrich(baseUrl: string | null, fhirIds: readonly string[]): Promise<PatientEnrichment> {
    const patients = new Map<string, Patient>();
    if (!baseUrl) return { status: 'not-configured', patients };
    const ids = [...new Set(fhirIds)];
    const results = await this.patients.loadMany(ids.map((id) => patientCacheKey(baseUrl, id)));
    let failure: FhirUnavailableError | undefined;
    ids.forEach((id, index) => {
      const result = results[index];
      if (result instanceof FhirUnavailableError) failure ??= result;
      else if (result instanceof Error) throw result;
      else if (result) patients.set(id, result);
    });
    return failure ? { status: 'unavailable', patients, reason: failure.reason } : { status: 'ok', patients };
  }

  private lookUp(keys: readonly string[]): Promise<Array<Patient | null | Error>> {
    return Promise.all(
      keys.map((key) =>
        this.cache
          .getOrCompute(key, () => this.misses.load(key))
          .catch((error: unknown) => {
            // The cache wraps what its computation threw.
            const cause = error instanceof Error ? error.cause : undefined;
            return cause instanceof FhirUnavailableError ? cause : toError(error);
          }),
      ),
    );
  }

  private async askServer(keys: readonly string[]): Promise<Array<Patient | null | Error>> {
    const asked = keys.map((key) => {
      // FHIR ids hold no `|`; a base URL might.
      const separator = key.lastIndexOf('|');
      return { baseUrl: key.slice(0, separator), id: key.slice(separator + 1) };
    });
    const idsByBase = new Map<string, string[]>();
    for (const { baseUrl, id } of asked) idsByBase.set(baseUrl, [...(idsByBase.get(baseUrl) ?? []), id]);
    const answers = new Map<string, Map<string, Patient> | Error>();
    await Promise.all(
      [...idsByBase].map(async ([baseUrl, ids]) => {
        answers.set(baseUrl, await this.client.readPatients(baseUrl, ids).catch(toError));
      }),
    );
    return asked.map(({ baseUrl, id }) => {
      const answer = answers.get(baseUrl)!;
      return answer instanceof Error ? answer : (answer.get(id) ?? null);
    });
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
