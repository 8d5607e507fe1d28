import multipart from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Patient } from 'fhir/r4.js';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import type { Config } from '../../config.ts';
import type { CacheRegion } from '../../platform/cache/cache.ts';
import { principalOf, type RoutesPlugin } from '../../platform/http/app.ts';
import {
  badRequest,
  HttpProblem,
  notFound,
  payloadTooLarge,
  problemResponses,
} from '../../platform/http/problems.ts';
import { refuseNulCharacters } from '../../platform/http/validation.ts';
import { downloadWindow } from '../../platform/storage/download-window.ts';
import type { ObjectStore } from '../../platform/storage/object-store.ts';
import type { DB } from '../../tables.ts';
import { canSee, facilityScope, worklistFacilities } from './access.ts';
import { type FhirClient, PatientEnricher } from './fhir/client.ts';
import type { Listener } from './ingestion/service.ts';
import type { IntegrationQueue } from './integration/queue.ts';
import {
  candidatePatients,
  documentTypeOf,
  facilities,
  type RequestDetailRow,
  requestDetail,
  STATUS_COUNT_CAP,
  statusCounts,
  type TraitAgreement,
  worklistPage,
} from './queries.ts';
import {
  ActionResult,
  FacilityList,
  ReceiveMetadata,
  ReceiveResult,
  RejectInput,
  type RequestDetail,
  RequestDetail as RequestDetailSchema,
  RequestParams,
  StatusCounts,
  StatusCountsQuery,
  TRAITS,
  type Trait,
  type TraitComparison,
  VerifyInput,
  WorklistPage,
  WorklistQuery,
} from './schemas.ts';
import {
  prepareReceipt,
  recordReceipt,
  rejectRequest,
  requestIntegration,
  type StoredAttachment,
  storeAttachment,
  verifyIdentity,
} from './service.ts';

export interface WorklistDependencies {
  db: Kysely<DB>;
  store: ObjectStore;
  config: Config;
  queue: IntegrationQueue;
  fhir: FhirClient;
  patientCache: CacheRegion<Patient | null>;
}

const TAGS = ['worklist'];
const MAX_FILES = 10;
const metadataValidator = Compile(ReceiveMetadata);

export function worklistRoutes(deps: WorklistDependencies): RoutesPlugin {
  const { db, config } = deps;

  return async (app) => {
    app.get(
      '/v2/worklist',
      {
        schema: {
          tags: TAGS,
          summary: 'A page of the worklist, newest first',
          description:
            'One SQL statement whatever the page size, no external call. Keyset-paginated on (receivedAt, id): pass `nextCursor` as `cursor`. Without `facilityId`, every facility the token sees (one index probe per facility).',
          querystring: WorklistQuery,
          response: { 200: WorklistPage, ...problemResponses(400, 401, 403) },
        },
        config: { access: 'reader', queryBudget: 1 },
      },
      async (request) => {
        const facilities = worklistFacilities(facilityScope(principalOf(request)), request.query.facilityId);
        return worklistPage(db, { ...request.query, facilities });
      },
    );

    app.get(
      '/v2/worklist/counts',
      {
        schema: {
          tags: TAGS,
          summary: 'How many requests are in each status',
          description: `For one facility, or every facility the token sees. One SQL statement: each status is counted up to ${STATUS_COUNT_CAP} (\`capped\` beyond), from the facility-and-status index, whatever the history.`,
          querystring: StatusCountsQuery,
          response: { 200: StatusCounts, ...problemResponses(400, 401, 403) },
        },
        config: { access: 'reader', queryBudget: 1 },
      },
      async (request) => {
        const facilities = worklistFacilities(facilityScope(principalOf(request)), request.query.facilityId);
        const rows = await statusCounts(db, facilities);
        return {
          cap: STATUS_COUNT_CAP,
          counts: rows.map((row) => ({
            status: row.status,
            count: Math.min(row.count, STATUS_COUNT_CAP),
            capped: row.count > STATUS_COUNT_CAP,
          })),
        };
      },
    );

    app.get(
      '/v2/worklist/:id',
      {
        schema: {
          tags: TAGS,
          summary: 'One integration request in full',
          description:
            "Metadata, attachments with download URLs, verification history, the patient from the hospital's table enriched with its FHIR Patient (batched and cached; `enrichment.status` says when the FHIR server could not answer), and ranked candidate patients while unmatched. Requests of facilities the token does not see answer 404.",
          params: RequestParams,
          response: { 200: RequestDetailSchema, ...problemResponses(400, 401, 403, 404) },
        },
        config: { access: 'reader', queryBudget: 2 },
      },
      async (request) => {
        const row = await requestDetail(db, request.params.id);
        if (!row || !canSee(facilityScope(principalOf(request)), row.facility_id)) {
          throw notFound(`integration request ${request.params.id} does not exist`);
        }
        return describeRequest(deps, row);
      },
    );

    app.get(
      '/v2/facilities',
      {
        schema: {
          tags: TAGS,
          summary: 'The facilities this token may see',
          response: { 200: FacilityList, ...problemResponses(401, 403) },
        },
        config: { access: 'reader', queryBudget: 1 },
      },
      async (request) => {
        const scope = facilityScope(principalOf(request));
        const rows = await facilities(db, scope.kind === 'all' ? undefined : scope.facilities);
        return {
          facilities: rows.map((row) => ({
            id: row.facility_id,
            name: row.name,
            ehr: {
              fhirBaseUrl: row.fhir_base_url,
              enabled: row.ehr_enabled,
              lastError: row.ehr_last_error,
              lastErrorAt: row.ehr_last_error_at?.toISOString() ?? null,
            },
          })),
        };
      },
    );

    app.post(
      '/v2/worklist/:id/verify',
      {
        schema: {
          tags: TAGS,
          summary: "Confirm the patient: one of the request's facility's patients",
          params: RequestParams,
          body: VerifyInput,
          response: { 200: ActionResult, ...problemResponses(400, 401, 403, 404, 409) },
        },
        config: { access: 'approver', queryBudget: 4 },
      },
      async (request) =>
        verifyIdentity(db, facilityScope(principalOf(request)), {
          requestId: request.params.id,
          patientId: request.body.patientId,
          actor: principalOf(request).subject,
          acknowledgedDifferences: request.body.acknowledgedDifferences,
        }),
    );

    app.post(
      '/v2/worklist/:id/reject',
      {
        schema: {
          tags: TAGS,
          summary: 'Reject the document, with a reason',
          params: RequestParams,
          body: RejectInput,
          response: { 200: ActionResult, ...problemResponses(400, 401, 403, 404, 409) },
        },
        config: { access: 'approver', queryBudget: 4 },
      },
      async (request) =>
        rejectRequest(db, facilityScope(principalOf(request)), {
          requestId: request.params.id,
          reason: request.body.reason,
          actor: principalOf(request).subject,
        }),
    );

    app.post(
      '/v2/worklist/:id/integrate',
      {
        schema: {
          tags: TAGS,
          summary: "Queue the integration into the facility's EHR",
          description:
            'Pushes a FHIR DocumentReference (the file as a Binary) from a background job, retried with backoff; `status` becomes integrated or error. Asking again while queued answers 202 with the same job; once integrated, 409.',
          params: RequestParams,
          response: { 202: ActionResult, ...problemResponses(400, 401, 403, 404, 409) },
        },
        config: { access: 'approver', queryBudget: 6 },
      },
      async (request, reply) => {
        const { outcome } = await requestIntegration(db, deps.queue, facilityScope(principalOf(request)), {
          requestId: request.params.id,
        });
        return reply.code(202).send(outcome);
      },
    );

    await app.register(async (scope) => {
      const receiving = scope.withTypeProvider<TypeBoxTypeProvider>();
      await receiving.register(multipart, {
        limits: {
          files: MAX_FILES,
          fields: 1,
          fieldSize: 64 * 1024,
          fileSize: config.uploadLimitBytes,
          parts: MAX_FILES + 1,
        },
      });
      receiving.post(
        '/v2/worklist',
        {
          schema: {
            tags: TAGS,
            summary: 'Receive a document: its metadata, then its files',
            description:
              "multipart/form-data: first a `metadata` field (JSON, schema ReceiveMetadata), then 1 to 10 `file` parts, streamed to storage. The identity is matched against the facility's patients: exact INS first, then exact strict traits (birth name, first given name, birth date, sex); anything less leaves the request pending verification, with candidates on its detail page.",
            consumes: ['multipart/form-data'],
            body: Type.Object({
              metadata: Type.String({
                description: 'JSON: ReceiveMetadata',
                contentMediaType: 'application/json',
              }),
              file: Type.Array(Type.String({ format: 'binary' }), { minItems: 1, maxItems: MAX_FILES }),
            }),
            response: { 201: ReceiveResult, ...problemResponses(400, 401, 403, 404, 413, 415) },
          },
          // The body is a multipart stream the handler reads and validates part by part; the schema above
          // is for the OpenAPI description. No other part of this route has a schema.
          validatorCompiler: () => () => true,
          config: { access: 'author', queryBudget: 3 },
        },
        async (request, reply) => {
          if (!request.isMultipart()) {
            throw badRequest('send multipart/form-data: a metadata field, then the files');
          }
          const result = await receiveMultipart(deps, request);
          return reply.code(201).send(result);
        },
      );
    });
  };
}

async function receiveMultipart(deps: WorklistDependencies, request: FastifyRequest) {
  const scope = facilityScope(principalOf(request));
  let metadata: ReceiveMetadata | undefined;
  let receipt: Awaited<ReturnType<typeof prepareReceipt>> | undefined;
  const stored: StoredAttachment[] = [];
  try {
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        if (part.fieldname !== 'metadata' || metadata !== undefined) {
          throw badRequest(`unexpected field ${part.fieldname}: send one metadata field, then files`);
        }
        metadata = parseMetadata(String(part.value));
        receipt = await prepareReceipt(deps.db, scope, metadata);
        continue;
      }
      if (!metadata || !receipt) throw badRequest('send the metadata field before the files');
      if (part.fieldname !== 'file')
        throw badRequest(`unexpected file part ${part.fieldname}: name file parts "file"`);
      refuseNulCharacters({ filename: part.filename, contentType: part.mimetype }, 'file');
      stored.push(
        await storeAttachment(deps.store, receipt.facilityId, {
          fileName: part.filename || `attachment-${stored.length + 1}`,
          contentType: part.mimetype || 'application/octet-stream',
          stream: part.file,
          limitBytes: deps.config.uploadLimitBytes,
        }),
      );
      if (part.file.truncated) throw payloadTooLarge(`${part.filename} is over the size limit`);
    }
  } catch (error) {
    await Promise.all(stored.map((attachment) => deps.store.delete(attachment.storageKey).catch(() => {})));
    throw multipartProblem(error);
  }
  if (!metadata || !receipt) throw badRequest('the metadata field is missing');
  if (stored.length === 0) throw badRequest('no file: send at least one file part');
  const recorded = await recordReceipt(deps.db, deps.store, receipt, metadata, stored);
  return { ...recorded, attachments: stored.length };
}

/**
 * What reading a multipart body threw, as the client's problem where it is one: a body that is not
 * multipart as declared (no boundary, cut off, malformed part headers) is a 400; a part, file or
 * field over a limit is a 413.
 */
function multipartProblem(error: unknown): unknown {
  if (error instanceof HttpProblem || !(error instanceof Error)) return error;
  const { code, statusCode } = error as { code?: string; statusCode?: number };
  if (statusCode === 413) return payloadTooLarge(error.message);
  if (code?.startsWith('FST_') && statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    return new HttpProblem(statusCode, 'Bad Request', error.message, { type: 'invalid-request' });
  }
  if (/^Multipart:|Unexpected end of|Malformed part header|boundary/i.test(error.message)) {
    return badRequest(`the multipart body is malformed: ${error.message}`);
  }
  return error;
}

function parseMetadata(text: string): ReceiveMetadata {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw badRequest(`metadata is not valid JSON: ${(error as Error).message}`);
  }
  refuseNulCharacters(parsed, 'metadata');
  if (metadataValidator.Check(parsed)) return parsed;
  const errors = [...metadataValidator.Errors(parsed)].slice(0, 10).map((issue) => ({
    field: ['metadata', ...issue.instancePath.split('/').filter(Boolean)].join('.'),
    message: issue.message,
  }));
  const first = errors[0];
  throw badRequest(first ? `${first.field} ${first.message}` : 'metadata is invalid', errors);
}

/** The detail page: the row, candidates while unmatched, one batched FHIR read, download URLs. */
async function describeRequest(deps: WorklistDependencies, row: RequestDetailRow): Promise<RequestDetail> {
  const extracted = row.extracted as Record<string, string | null> | null;
  const unmatched = row.patient === null && row.status !== 'rejected' && row.status !== 'cancelled';
  const documentTraits = traitsOfDocument(extracted);
  const candidates = unmatched
    ? await candidatePatients(deps.db, {
        facilityId: row.facility_id,
        ins: documentTraits.ins,
        birthLastName: documentTraits.birthLastName,
        birthDate: documentTraits.birthDate,
        sex: documentTraits.sex,
        firstBirthGivenName: documentTraits.firstBirthGivenName,
        birthplaceCode: documentTraits.birthplaceCode,
        usedLastName: documentTraits.usedLastName,
        ipp: documentTraits.ipp,
      })
    : [];
  const patientFhirId = (row.patient?.fhir_id as string | null | undefined) ?? null;
  const fhirIds = [patientFhirId, ...candidates.map((candidate) => candidate.fhir_id)].filter(
    (id): id is string => typeof id === 'string',
  );
  const enricher = new PatientEnricher(deps.fhir, deps.patientCache);
  const enrichment =
    fhirIds.length === 0
      ? { status: 'not-applicable' as const, patients: new Map<string, Patient>(), reason: undefined }
      : await enricher.enrich(row.ehr_enabled ? row.fhir_base_url : null, fhirIds);
  const fhirOf = (id: string | null) => (id ? summarizePatient(enrichment.patients.get(id)) : null);

  const window = downloadWindow(deps.config.downloadUrlTtlSeconds);
  const attachments = await Promise.all(
    row.attachments.map(async (attachment) => {
      const fileName = attachment.file_name;
      const [url, view] = await Promise.all([
        deps.store.downloadUrl(attachment.storage_key, {
          ...window,
          disposition: { type: 'attachment', fileName },
        }),
        viewableInline(attachment.content_type)
          ? deps.store.downloadUrl(attachment.storage_key, {
              ...window,
              disposition: { type: 'inline', fileName },
            })
          : undefined,
      ]);
      return {
        id: attachment.attachment_id,
        fileName,
        contentType: attachment.content_type,
        sizeBytes: attachment.size_bytes,
        sha256: attachment.sha256,
        pages: attachment.pages,
        downloadUrl: url.url,
        viewUrl: view?.url ?? null,
        downloadUrlExpiresAt: url.expiresAt.toISOString(),
      };
    }),
  );

  const message = row.message
    ? await deps.store.downloadUrl(row.message.storage_key, window).then((url) => ({
        id: Number(row.message?.message_id),
        listener: row.message?.listener as Listener,
        format: row.message?.format as NonNullable<RequestDetail['message']>['format'],
        sender: String(row.message?.sender),
        controlId: row.message?.control_id ?? null,
        messageType: row.message?.message_type ?? null,
        subject: row.message?.subject ?? null,
        contentType: String(row.message?.content_type),
        sizeBytes: Number(row.message?.size_bytes),
        receivedAt: new Date(String(row.message?.received_at)).toISOString(),
        downloadUrl: url.url,
        downloadUrlExpiresAt: url.expiresAt.toISOString(),
      }))
    : null;

  return {
    id: row.request_id,
    facilityId: row.facility_id,
    status: row.status,
    source: row.source,
    receivedAt: row.received_at.toISOString(),
    documentType: documentTypeOf(row.document_type_code, row.document_type_label),
    title: row.title,
    procedureDate: row.procedure_date,
    priority: row.priority,
    identityCheck: row.identity_check,
    author: row.author
      ? {
          id: row.author.provider_id,
          nationalId: row.author.national_id,
          name: `${row.author.first_name} ${row.author.last_name}`,
          specialty: row.author.specialty,
        }
      : null,
    integration: row.integration_state
      ? {
          state: row.integration_state,
          attempts: row.integration_attempts,
          error: row.integration_error,
          integratedAt: row.integrated_at?.toISOString() ?? null,
          ehrDocumentReference: row.ehr_document_reference,
          retryLimit: deps.config.integration.retryLimit,
        }
      : null,
    rejection:
      row.rejected_by && row.rejected_at
        ? { by: row.rejected_by, at: row.rejected_at.toISOString(), reason: row.rejection_reason ?? '' }
        : null,
    format: row.format,
    documentId: row.document_id,
    identityReliability: row.identity_reliability as RequestDetail['identityReliability'],
    mismatchReasons: row.mismatch_reasons,
    replaces: row.replaces
      ? {
          id: Number(row.replaces.request_id),
          documentId: row.replaces.document_id,
          status: row.replaces.status,
        }
      : null,
    replacedBy: row.replaced_by === null ? null : Number(row.replaced_by),
    cancellation: row.cancelled_at
      ? { at: row.cancelled_at.toISOString(), reason: row.cancellation_reason ?? '' }
      : null,
    message,
    extracted: extracted
      ? {
          extractor: String(extracted.extractor),
          ins: extracted.ins ?? null,
          insOid: extracted.ins_oid ?? null,
          birthLastName: extracted.birth_last_name ?? null,
          usedLastName: extracted.used_last_name ?? null,
          firstNames: extracted.first_names ?? null,
          birthDate: extracted.birth_date ?? null,
          sex: extracted.sex ?? null,
          birthplaceCode: extracted.birthplace_code ?? null,
          ipp: extracted.ipp ?? null,
          procedureDate: extracted.procedure_date ?? null,
          documentTypeCode: extracted.document_type_code ?? null,
          firstBirthGivenName: extracted.first_birth_given_name ?? null,
          usedGivenName: extracted.used_given_name ?? null,
          authorRpps: extracted.author_rpps ?? null,
          fields: (extracted.fields as unknown as NonNullable<RequestDetail['extracted']>['fields']) ?? {},
          confidence: (extracted.confidence as unknown as Record<string, number>) ?? {},
          extractedAt: new Date(String(extracted.extracted_at)).toISOString(),
        }
      : null,
    attachments,
    verifications: row.verifications.map((verification) => ({
      id: verification.verification_id,
      kind: verification.kind,
      outcome: verification.outcome,
      patientId: verification.patient_id,
      verifiedBy: verification.verified_by,
      verifiedAt: new Date(verification.verified_at).toISOString(),
      note: verification.note,
    })),
    patient: row.patient
      ? (() => {
          const record = patientRecord(row.patient);
          return {
            ...record,
            traits: compareTraits(extracted, documentTraits, row.patient_agreement, {
              ins: record.ins,
              birthLastName: record.birthLastName,
              firstBirthGivenName: firstWord(record.birthFirstNames),
              birthDate: record.birthDate,
              sex: record.sex,
              birthplaceCode: record.birthplaceCode,
              usedLastName: record.usedLastName,
              ipp: record.ipp,
            }),
            fhir: fhirOf(patientFhirId),
          };
        })()
      : null,
    enrichment: { status: enrichment.status, reason: enrichment.reason ?? null },
    candidates: candidates.map((candidate) => ({
      id: candidate.patient_id,
      ipp: candidate.ipp,
      ins: candidate.ins,
      firstName: candidate.first_name,
      birthLastName: candidate.birth_last_name,
      usedLastName: candidate.used_last_name,
      birthDate: candidate.birth_date,
      sex: candidate.sex,
      score: candidate.score,
      reasons: [
        candidate.same_ins ? 'same INS' : undefined,
        candidate.same_birth_date ? 'same birth date' : undefined,
        candidate.name_similarity >= 0.999
          ? 'same birth name'
          : candidate.name_similarity >= 0.3
            ? 'similar birth name'
            : undefined,
        candidate.same_sex ? 'same sex' : undefined,
      ].filter((reason): reason is string => reason !== undefined),
      traits: compareTraits(extracted, documentTraits, candidate.agreement, {
        ins: candidate.ins,
        birthLastName: candidate.birth_last_name,
        firstBirthGivenName: firstWord(candidate.birth_first_names),
        birthDate: candidate.birth_date,
        sex: candidate.sex,
        birthplaceCode: candidate.birthplace_code,
        usedLastName: candidate.used_last_name,
        ipp: candidate.ipp,
      }),
      fhir: fhirOf(candidate.fhir_id),
    })),
  };
}

/**
 * Files a browser shows in the page by itself (its PDF viewer, an image): those get an inline URL.
 * Anything else (HTML, SVG, XML…) is only ever saved, never shown from this origin.
 */
const INLINE_TYPES = new Set([
  'application/pdf',
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'text/plain',
]);

function viewableInline(contentType: string): boolean {
  return INLINE_TYPES.has(contentType.split(';')[0]?.trim().toLowerCase() ?? '');
}

/** The traits of identity (strict ones and what the matcher needs) and IPP. */
const STRICT_TRAITS: ReadonlySet<Trait> = new Set([
  'ins',
  'birthLastName',
  'firstBirthGivenName',
  'birthDate',
  'sex',
  'birthplaceCode',
]);

type TraitValues = Record<Trait, string | null>;

const firstWord = (names: string | null | undefined) => names?.trim().split(/\s+/)[0] || null;

/** What the document says of each trait (the extracted_metadata row, as JSON). */
function traitsOfDocument(extracted: Record<string, string | null> | null): TraitValues {
  const value = (key: string) => extracted?.[key] ?? null;
  return {
    ins: value('ins'),
    birthLastName: value('birth_last_name'),
    firstBirthGivenName: value('first_birth_given_name') ?? firstWord(value('first_names')),
    birthDate: value('birth_date'),
    sex: value('sex'),
    birthplaceCode: value('birthplace_code'),
    usedLastName: value('used_last_name'),
    ipp: value('ipp'),
  };
}

/** The document beside a patient record, trait by trait, with where each document value was read. */
function compareTraits(
  extracted: Record<string, unknown> | null,
  document: TraitValues,
  agreement: TraitAgreement | null,
  hospital: TraitValues,
): TraitComparison[] {
  if (!extracted) return [];
  const fields = (extracted.fields ?? {}) as Record<string, { source?: string; confidence?: number }>;
  const confidences = (extracted.confidence ?? {}) as Record<string, number>;
  return TRAITS.filter((trait) => document[trait] !== null || hospital[trait] !== null).map((trait) => {
    // A first given name read apart, else the first of all the given names read.
    const field =
      trait === 'firstBirthGivenName'
        ? (fields.firstBirthGivenName ?? fields.birthGivenNames)
        : fields[trait];
    const confidence = field?.confidence ?? confidences[trait];
    return {
      trait,
      strict: STRICT_TRAITS.has(trait),
      document: document[trait],
      hospital: hospital[trait],
      agrees: document[trait] === null || hospital[trait] === null ? null : (agreement?.[trait] ?? null),
      source: field?.source ?? null,
      confidence: typeof confidence === 'number' ? confidence : null,
    };
  });
}

/** The patient row (JSON from the detail statement) in the API's shape. */
function patientRecord(
  patient: Record<string, unknown>,
): Omit<NonNullable<RequestDetail['patient']>, 'fhir' | 'traits'> {
  const text = (key: string) => (patient[key] ?? null) as string | null;
  return {
    id: Number(patient.patient_id),
    facilityId: String(patient.facility_id),
    ipp: String(patient.ipp),
    ins: text('ins'),
    insOid: text('ins_oid'),
    identityStatus: patient.identity_status as NonNullable<RequestDetail['patient']>['identityStatus'],
    birthLastName: String(patient.birth_last_name),
    usedLastName: text('used_last_name'),
    birthFirstNames: String(patient.birth_first_names),
    firstName: String(patient.first_name),
    birthDate: String(patient.birth_date),
    sex: patient.sex as 'F' | 'M' | 'U',
    birthplaceCode: text('birthplace_code'),
    address: {
      line1: text('address_line1'),
      line2: text('address_line2'),
      postalCode: text('postal_code'),
      city: text('city'),
      countryCode: text('country_code'),
    },
    phoneMobile: text('phone_mobile'),
    phoneHome: text('phone_home'),
    email: text('email'),
    generalPractitioner: { name: text('gp_name'), rpps: text('gp_rpps') },
    insurance: { fundCode: text('insurance_fund_code'), number: text('insurance_number') },
    deceased: Boolean(patient.deceased),
    deceasedAt: text('deceased_at'),
    confidential: Boolean(patient.confidential),
    vip: Boolean(patient.vip),
    mergedIntoPatientId:
      patient.merged_into_patient_id === null ? null : Number(patient.merged_into_patient_id),
    fhirId: text('fhir_id'),
  };
}

function summarizePatient(patient: Patient | undefined) {
  if (!patient?.id) return null;
  const name = patient.name?.[0];
  return {
    id: patient.id,
    name: name ? (name.text ?? [...(name.given ?? []), name.family].filter(Boolean).join(' ')) : null,
    birthDate: patient.birthDate ?? null,
    gender: patient.gender ?? null,
    telecom: (patient.telecom ?? [])
      .map((contact) => contact.value)
      .filter((value): value is string => Boolean(value)),
    generalPractitioner: patient.generalPractitioner?.[0]?.display ?? null,
    lastUpdated: patient.meta?.lastUpdated ?? null,
  };
}
