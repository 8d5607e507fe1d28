import { type Kysely, type RawBuilder, type Selectable, sql } from 'kysely';
import { badRequest } from '../../platform/http/problems.ts';
import type { DB, IntegrationRequests } from '../../tables.ts';
import type { WorklistFacilities } from './access.ts';
import {
  type IdentityCheck,
  STATUSES,
  type Status,
  type Trait,
  type WorklistItem,
  type WorklistQuery,
} from './schemas.ts';

/** The request's own columns as the table has them; text-valued ones narrowed, dates read as text. */
type WorklistRow = Pick<
  Selectable<IntegrationRequests>,
  | 'request_id'
  | 'facility_id'
  | 'received_at'
  | 'document_type_code'
  | 'document_type_label'
  | 'title'
  | 'attachment_count'
  | 'patient_id'
> & {
  status: Status;
  source: WorklistItem['source'];
  identity_check: IdentityCheck;
  procedure_date: string | null;
  first_name: string | null;
  last_name: string | null;
  birth_date: string | null;
};

/** The keyset position: received_at as microseconds since the epoch (exact), then the id. */
function encodeCursor(row: { received_micros: string; request_id: number }): string {
  return Buffer.from(`${row.received_micros}.${row.request_id}`).toString('base64url');
}

/** The microseconds of 0001-01-01 and of 9999-12-31T23:59:59.999999Z: the instants a cursor can name. */
const FIRST_MICROS = -62_135_596_800_000_000n;
const LAST_MICROS = 253_402_300_799_999_999n;

function decodeCursor(cursor: string): { micros: string; id: number } {
  const match = /^(-?\d{1,18})\.(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  const micros = match ? BigInt(match[1] as string) : undefined;
  const id = match ? Number(match[2]) : undefined;
  if (
    micros === undefined ||
    id === undefined ||
    micros < FIRST_MICROS ||
    micros > LAST_MICROS ||
    !Number.isSafeInteger(id) ||
    id < 1
  ) {
    throw badRequest('cursor is not one this API issued', [
      { field: 'querystring.cursor', message: 'is invalid' },
    ]);
  }
  return { micros: micros.toString(), id };
}

/** The request columns a page row shows, read inside the per-facility probes and outside them. */
const PAGE_COLUMNS =
  sql.raw(`r.request_id, r.facility_id, r.status, r.source, r.received_at, r.document_type_code,
           r.document_type_label, r.title, r.procedure_date, r.attachment_count, r.identity_check, r.patient_id`);

/**
 * One worklist page in one statement: the page's rows, newest first by (received_at, request_id), with
 * the four patient fields the page shows joined in and the attachment count and identity check read
 * from the request's own projections. No OFFSET: the cursor is the last row's position, so ties on
 * received_at never repeat or skip a row. Dates are read as `::text` (ISO, the DateStyle node-postgres
 * already relies on for timestamps): to_char cost PostgreSQL a quarter of the page's time.
 *
 * One facility reads its own index range; every facility (an admin) the arrival-time index. Several
 * facilities (a token's, "all" of them) are read as one probe per facility, each taking at most a
 * page from its own index range (a LATERAL join), merged and cut to a page: a facility with few
 * documents among many busy ones costs its probe, not a walk through the others' rows.
 */
export async function worklistPage(
  db: Kysely<DB>,
  filter: WorklistQuery & { facilities?: WorklistFacilities },
): Promise<{ items: WorklistItem[]; nextCursor: string | null }> {
  const conditions: RawBuilder<unknown>[] = [];
  if (filter.status !== undefined) conditions.push(sql`r.status = ${filter.status}`);
  if (filter.source !== undefined) conditions.push(sql`r.source = ${filter.source}`);
  if (filter.documentType !== undefined) conditions.push(sql`r.document_type_code = ${filter.documentType}`);
  if (filter.receivedFrom !== undefined)
    conditions.push(sql`r.received_at >= ${filter.receivedFrom}::timestamptz`);
  if (filter.receivedTo !== undefined)
    conditions.push(sql`r.received_at < ${filter.receivedTo}::timestamptz`);
  if (filter.q !== undefined) {
    conditions.push(sql`r.search_text LIKE '%' || identity_key(${filter.q}) || '%'`);
  }
  if (filter.cursor !== undefined) {
    const { micros, id } = decodeCursor(filter.cursor);
    conditions.push(
      sql`(r.received_at, r.request_id) < (to_timestamp(0) + ${micros}::bigint * interval '1 microsecond', ${id}::bigint)`,
    );
  }
  const and = (more: RawBuilder<unknown>[]) =>
    more.length > 0 ? sql`WHERE ${sql.join(more, sql` AND `)}` : sql``;
  // Without `facilities`, `facilityId` says it: one facility, or (undefined) every one.
  const scope: WorklistFacilities =
    filter.facilities ??
    (filter.facilityId === undefined ? { kind: 'all' } : { kind: 'some', facilities: [filter.facilityId] });
  const several = scope.kind === 'some' && scope.facilities.length > 1;
  const requests = several
    ? sql`(SELECT ${PAGE_COLUMNS}
           FROM unnest(${scope.facilities}::text[]) AS f(facility_id)
           CROSS JOIN LATERAL (
             SELECT ${PAGE_COLUMNS} FROM integration_requests r
             ${and([sql`r.facility_id = f.facility_id`, ...conditions])}
             ORDER BY r.received_at DESC, r.request_id DESC
             LIMIT ${filter.limit + 1}) r
           ORDER BY r.received_at DESC, r.request_id DESC
           LIMIT ${filter.limit + 1}) r`
    : sql`integration_requests r`;
  const where = several
    ? sql``
    : and(scope.kind === 'some' ? [sql`r.facility_id = ${scope.facilities[0]}`, ...conditions] : conditions);
  const { rows } = await sql<WorklistRow & { received_micros: string }>`/* worklist.page */
    SELECT r.request_id, r.facility_id, r.status, r.source, r.received_at, r.document_type_code, r.document_type_label,
           r.title, r.procedure_date::text AS procedure_date, r.attachment_count, r.identity_check,
           (extract(epoch FROM r.received_at) * 1000000)::bigint::text AS received_micros,
           p.patient_id, p.first_name, coalesce(p.used_last_name, p.birth_last_name) AS last_name,
           p.birth_date::text AS birth_date
    FROM ${requests}
    LEFT JOIN patients p ON p.patient_id = r.patient_id
    ${where}
    ORDER BY r.received_at DESC, r.request_id DESC
    LIMIT ${filter.limit + 1}`.execute(db);
  const page = rows.slice(0, filter.limit);
  const last = page.at(-1);
  return {
    items: page.map(toItem),
    nextCursor: rows.length > filter.limit && last ? encodeCursor(last) : null,
  };
}

/** How far a status is counted: beyond it, the answer is "at least this many". */
export const STATUS_COUNT_CAP = 1000;

/**
 * How many requests of the facilities are in each status, each count stopping at `cap` + 1 rows, in
 * one statement: per status, an index-only walk of the (facility, status, …) index that ends after
 * cap + 1 entries, whatever the facilities' history. Every facility (an admin) is the list of them.
 */
export async function statusCounts(
  db: Kysely<DB>,
  facilities: WorklistFacilities,
  cap = STATUS_COUNT_CAP,
): Promise<Array<{ status: Status; count: number }>> {
  const ids =
    facilities.kind === 'all'
      ? sql`ARRAY(SELECT facility_id FROM facilities)`
      : sql`${facilities.facilities}::text[]`;
  const { rows } = await sql<{ status: Status; count: number }>`/* worklist.statusCounts */
    SELECT s.status,
           (SELECT count(*)::int FROM (
              SELECT 1 FROM integration_requests r
              WHERE r.facility_id = ANY(${ids}) AND r.status = s.status
              LIMIT ${cap + 1}) capped) AS count
    FROM unnest(${[...STATUSES]}::text[]) WITH ORDINALITY AS s(status, ordinal)
    ORDER BY s.ordinal`.execute(db);
  return rows;
}

export function documentTypeOf(code: string | null, label: string | null): WorklistItem['documentType'] {
  return code === null ? null : { code, label: label ?? '' };
}

function toItem(row: WorklistRow): WorklistItem {
  return {
    id: row.request_id,
    facilityId: row.facility_id,
    status: row.status,
    source: row.source,
    receivedAt: row.received_at.toISOString(),
    documentType: documentTypeOf(row.document_type_code, row.document_type_label),
    title: row.title,
    procedureDate: row.procedure_date,
    patient:
      row.patient_id === null
        ? null
        : {
            id: row.patient_id,
            firstName: row.first_name ?? '',
            lastName: row.last_name ?? '',
            birthDate: row.birth_date ?? '',
          },
    attachmentCount: row.attachment_count,
    identityCheck: row.identity_check,
  };
}

/** The request with everything the detail page shows, in one statement (nested rows as JSON). */
export interface RequestDetailRow {
  request_id: number;
  facility_id: string;
  status: Status;
  source: WorklistItem['source'];
  received_at: Date;
  document_type_code: string | null;
  document_type_label: string | null;
  title: string;
  procedure_date: string | null;
  priority: 'routine' | 'urgent';
  identity_check: IdentityCheck;
  integration_state: 'queued' | 'running' | 'done' | 'failed' | null;
  integration_attempts: number;
  integration_error: string | null;
  integrated_at: Date | null;
  ehr_document_reference: string | null;
  rejected_by: string | null;
  rejected_at: Date | null;
  rejection_reason: string | null;
  format: 'upload' | 'hl7v2' | 'cda' | 'fhir' | 'pdf' | 'scan';
  document_id: string | null;
  identity_reliability: string | null;
  mismatch_reasons: string[];
  cancelled_at: Date | null;
  cancellation_reason: string | null;
  replaces: { request_id: number; document_id: string | null; status: Status } | null;
  replaced_by: number | null;
  message: {
    message_id: number;
    listener: string;
    format: string;
    sender: string;
    control_id: string | null;
    message_type: string | null;
    subject: string | null;
    content_type: string;
    size_bytes: number;
    storage_key: string;
    received_at: string;
  } | null;
  fhir_base_url: string | null;
  ehr_enabled: boolean;
  author: {
    provider_id: number;
    national_id: string;
    first_name: string;
    last_name: string;
    specialty: string | null;
  } | null;
  patient: Record<string, unknown> | null;
  /** How the patient's traits compare with the document's (null without both). */
  patient_agreement: TraitAgreement | null;
  extracted: Record<string, unknown> | null;
  attachments: Array<{
    attachment_id: number;
    file_name: string;
    content_type: string;
    size_bytes: number;
    sha256: string;
    pages: number | null;
    storage_key: string;
  }>;
  verifications: Array<{
    verification_id: number;
    kind: 'identity' | 'procedure_date' | 'document_type';
    outcome: IdentityCheck;
    patient_id: number | null;
    verified_by: string;
    verified_at: string;
    note: string | null;
  }>;
}

export async function requestDetail(
  db: Kysely<DB>,
  requestId: number,
): Promise<RequestDetailRow | undefined> {
  const { rows } = await sql<RequestDetailRow>`/* worklist.detail */
    SELECT r.request_id, r.facility_id, r.status, r.source, r.received_at, r.document_type_code,
           r.document_type_label, r.title, r.procedure_date::text AS procedure_date, r.priority,
           r.identity_check, r.integration_state, r.integration_attempts, r.integration_error, r.integrated_at,
           r.ehr_document_reference, r.rejected_by, r.rejected_at, r.rejection_reason,
           r.format, r.document_id, r.identity_reliability, r.mismatch_reasons, r.cancelled_at, r.cancellation_reason,
           (SELECT jsonb_build_object('request_id', o.request_id, 'document_id', o.document_id, 'status', o.status)
            FROM integration_requests o WHERE o.request_id = r.replaces_request_id) AS replaces,
           (SELECT min(n.request_id) FROM integration_requests n WHERE n.replaces_request_id = r.request_id) AS replaced_by,
           (SELECT jsonb_build_object('message_id', m.message_id, 'listener', m.listener, 'format', m.format,
                     'sender', m.sender, 'control_id', m.control_id, 'message_type', m.message_type,
                     'subject', m.subject, 'content_type', m.content_type, 'size_bytes', m.size_bytes, 'storage_key', m.storage_key,
                     'received_at', m.received_at)
            FROM inbound_messages m WHERE m.message_id = r.message_id) AS message,
           f.fhir_base_url, f.ehr_enabled,
           (SELECT to_jsonb(a) FROM (SELECT provider_id, national_id, first_name, last_name, specialty
                                     FROM providers WHERE provider_id = r.author_provider_id) a) AS author,
           (SELECT to_jsonb(p) - 'birth_last_name_key' - 'first_given_name_key' FROM patients p
            WHERE p.patient_id = r.patient_id) AS patient,
           (SELECT ${traitAgreement({
             ins: sql`m.ins`,
             birthLastName: sql`m.birth_last_name`,
             firstBirthGivenName: sql`coalesce(m.first_birth_given_name, nullif(split_part(m.first_names, ' ', 1), ''))`,
             birthDate: sql`m.birth_date`,
             sex: sql`m.sex`,
             birthplaceCode: sql`m.birthplace_code`,
             usedLastName: sql`m.used_last_name`,
             ipp: sql`m.ipp`,
           })}
            FROM patients p JOIN extracted_metadata m ON m.request_id = r.request_id
            WHERE p.patient_id = r.patient_id) AS patient_agreement,
           (SELECT to_jsonb(m) FROM extracted_metadata m WHERE m.request_id = r.request_id) AS extracted,
           coalesce((SELECT jsonb_agg(a ORDER BY a.attachment_id) FROM (
              SELECT attachment_id, file_name, content_type, size_bytes, sha256, pages, storage_key
              FROM attachments WHERE request_id = r.request_id) a), '[]'::jsonb) AS attachments,
           coalesce((SELECT jsonb_agg(v ORDER BY v.verified_at DESC, v.verification_id DESC) FROM (
              SELECT verification_id, kind, outcome, patient_id, verified_by, verified_at, note
              FROM verifications WHERE request_id = r.request_id) v), '[]'::jsonb) AS verifications
    FROM integration_requests r
    JOIN facilities f ON f.facility_id = r.facility_id
    WHERE r.request_id = ${requestId}`.execute(db);
  return rows[0];
}

/**
 * Each trait of a patient (`p`) against the document's, compared as the matcher compares them (names
 * through identity_key()): true, false, or null where either side has no value.
 */
export type TraitAgreement = Record<Trait, boolean | null>;

function traitAgreement(document: Record<Trait, RawBuilder<unknown>>) {
  return sql`jsonb_build_object(
             'ins', p.ins = ${document.ins},
             'birthLastName', p.birth_last_name_key = identity_key(${document.birthLastName}),
             'firstBirthGivenName', p.first_given_name_key = identity_key(${document.firstBirthGivenName}),
             'birthDate', p.birth_date = ${document.birthDate},
             'sex', p.sex = ${document.sex},
             'birthplaceCode', p.birthplace_code = ${document.birthplaceCode},
             'usedLastName', identity_key(p.used_last_name) = identity_key(${document.usedLastName}),
             'ipp', p.ipp = ${document.ipp})`;
}

export interface CandidateRow {
  patient_id: number;
  ipp: string;
  ins: string | null;
  first_name: string;
  birth_first_names: string;
  birth_last_name: string;
  used_last_name: string | null;
  birth_date: string;
  sex: string;
  birthplace_code: string | null;
  fhir_id: string | null;
  agreement: TraitAgreement;
  score: number;
  same_ins: boolean;
  same_birth_date: boolean;
  name_similarity: number;
  same_sex: boolean;
}

/**
 * Patients of the facility who may be the one a document names, best first: same INS, same birth
 * date, or a birth name within trigram distance. One statement over the INS, traits and trigram
 * indexes.
 */
export async function candidatePatients(
  db: Kysely<DB>,
  input: {
    facilityId: string;
    ins: string | null;
    birthLastName: string | null;
    birthDate: string | null;
    sex: string | null;
    firstBirthGivenName?: string | null;
    birthplaceCode?: string | null;
    usedLastName?: string | null;
    ipp?: string | null;
  },
  limit = 5,
): Promise<CandidateRow[]> {
  const name = input.birthLastName ?? '';
  const { rows } = await sql<CandidateRow>`/* worklist.candidates */
    SELECT patient_id, ipp, ins, first_name, birth_first_names, birth_last_name, used_last_name,
           birth_date::text AS birth_date, sex, birthplace_code, fhir_id,
           ${traitAgreement({
             ins: sql`${input.ins}::text`,
             birthLastName: sql`${input.birthLastName}::text`,
             firstBirthGivenName: sql`${input.firstBirthGivenName ?? null}::text`,
             birthDate: sql`${input.birthDate}::date`,
             sex: sql`${input.sex}::text`,
             birthplaceCode: sql`${input.birthplaceCode ?? null}::text`,
             usedLastName: sql`${input.usedLastName ?? null}::text`,
             ipp: sql`${input.ipp ?? null}::text`,
           })} AS agreement,
           coalesce(ins = ${input.ins}, false) AS same_ins,
           coalesce(birth_date = ${input.birthDate}::date, false) AS same_birth_date,
           similarity(birth_last_name_key, identity_key(${name})) AS name_similarity,
           coalesce(sex = ${input.sex}, false) AS same_sex,
           round(least(1, (CASE WHEN ins = ${input.ins} THEN 0.5 ELSE 0 END)
             + (CASE WHEN birth_date = ${input.birthDate}::date THEN 0.25 ELSE 0 END)
             + similarity(birth_last_name_key, identity_key(${name})) * 0.2
             + (CASE WHEN sex = ${input.sex} THEN 0.05 ELSE 0 END))::numeric, 3)::float8 AS score
    FROM patients p
    WHERE facility_id = ${input.facilityId}
      AND (ins = ${input.ins}
           OR birth_date = ${input.birthDate}::date
           OR birth_last_name_key % identity_key(${name}))
    ORDER BY score DESC, patient_id
    LIMIT ${limit}`.execute(db);
  return rows;
}

export interface FacilityRow {
  facility_id: string;
  name: string;
  fhir_base_url: string | null;
  ehr_enabled: boolean;
  ehr_last_error: string | null;
  ehr_last_error_at: Date | null;
}

export async function facilities(db: Kysely<DB>, only: string[] | undefined): Promise<FacilityRow[]> {
  const { rows } = await sql<FacilityRow>`/* worklist.facilities */
    SELECT facility_id, name, fhir_base_url, ehr_enabled, ehr_last_error, ehr_last_error_at
    FROM facilities
    WHERE ${only === undefined} OR facility_id = ANY(${only ?? []}::text[])
    ORDER BY facility_id`.execute(db);
  return rows;
}
