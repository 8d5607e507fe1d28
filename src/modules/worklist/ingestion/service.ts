import { createHash, randomUUID } from 'node:crypto';
import path from 'node:path';
import { type Kysely, sql } from 'kysely';
import { inTransaction, sqlState } from '../../../platform/db/transactions.ts';
import { pdfPageCount } from '../../../platform/pdf.ts';
import type { ObjectStore } from '../../../platform/storage/object-store.ts';
import { objectsReferencedBy, type StoredObjects } from '../../../platform/storage/orphans.ts';
import type { DB } from '../../../tables.ts';
import { decideMatch, type MatchOutcome, type PatientTraits } from '../identity.ts';
import type { IntegrationQueue } from '../integration/queue.ts';
import type { IdentityCheck, LISTENERS, Status } from '../schemas.ts';
import {
  type DocumentReading,
  type Field,
  type Format,
  type IdentityReading,
  MessageRejection,
  type ReadingProblem,
} from './reading.ts';
import { confidentIdentity } from './report-text.ts';

/** Raw messages as received: written under `inbox/` before their row commits. */
export function inboxObjects(db: Kysely<DB>): StoredObjects {
  return objectsReferencedBy(db, 'inbox/', 'inbound_messages');
}

/** MSH-6 (or the facility an HTTP caller named) is no facility's: AR over MLLP, 404 over HTTP. */
export class UnknownFacility extends MessageRejection {
  constructor(named: string) {
    super('AR', [
      {
        location: 'MSH^1^6',
        code: 204,
        text: `no facility receives messages addressed to ${named || '(empty)'}`,
      },
    ]);
  }
}

export type Listener = (typeof LISTENERS)[number];
export type Source = 'mssante' | 'lab' | 'imaging' | 'device' | 'paper';

/** One message as a listener received it, read but not yet stored. */
export interface InboundMessage {
  listener: Listener;
  format: Format;
  contentType: string;
  raw: Buffer;
  /** MSH-4 for HL7 v2; for HTTP, who sent it (the token's subject). */
  sender: string;
  /** MSH-10; undefined where the format has none (CDA, FHIR). */
  controlId: string | undefined;
  messageType: string | undefined;
  /** A mail's subject, for what came from a mailbox. */
  subject?: string;
  /** HTTP names the facility (already checked against the token); MLLP gives MSH-6. */
  facility: { facilityId: string } | { receivingIdentifier: string };
  source: Source;
  readings: DocumentReading[];
}

export interface IngestionResult {
  outcome: 'accepted' | 'duplicate';
  facilityId: string;
  /** The requests the message made, replaced or cancelled: the same ones again for a duplicate. */
  requestIds: number[];
}

export interface IngestionDeps {
  db: Kysely<DB>;
  store: ObjectStore;
  queue: IntegrationQueue;
  /** For tests: runs after the files are stored and before the row commits, as a crash would fall. */
  beforeCommit?: () => void | Promise<void>;
  /** The test suite's strict budgets: a message over its statement budget fails. */
  strictQueryBudgets?: boolean;
  warn?: (message: string) => void;
}

interface KnownDocument {
  documentId: string;
  requestId: number;
  status: Status;
  integrationState: string | null;
  ehrDocumentReference: string | null;
}

interface IngestionContext {
  facility_id: string;
  duplicate_request_ids: number[] | null;
  known_documents: KnownDocument[];
  authors: Array<{ rpps: string; provider_id: number }>;
  request_ids: number[];
  /** The facility's patients each reading may name, by the reading's 1-based position. */
  candidates: Array<PatientTraits & { ordinal: number }>;
}

/** What each reading of a message becomes. */
type Disposition =
  | { kind: 'duplicate'; requestId: number }
  | { kind: 'record'; reading: DocumentReading; replaces: KnownDocument | undefined }
  | { kind: 'cancel'; target: KnownDocument; reason: string };

/**
 * Stores one received message and the documents it carries, once: the facility, a resend (same sender
 * and control id, or a document id already received), the documents a replacement or deletion names
 * and the patients each document may be are found in one statement; the raw message and the files are
 * written to the object store; then the message, its requests, their attachments, extracted fields and
 * identity checks, and the cancellations commit in a second statement. Only then may a listener
 * acknowledge. A concurrent resend that loses the race on the unique indexes is answered as the
 * duplicate it is.
 */
export async function ingestMessage(
  deps: IngestionDeps,
  message: InboundMessage,
  raced = false,
): Promise<IngestionResult> {
  assertStorable(message);
  const context = await loadContext(deps.db, message);
  if (context.duplicate_request_ids) {
    return {
      outcome: 'duplicate',
      facilityId: context.facility_id,
      requestIds: context.duplicate_request_ids.map(Number),
    };
  }
  const dispositions = message.readings.map((reading) => dispose(reading, context.known_documents));
  if (dispositions.every((disposition) => disposition.kind === 'duplicate')) {
    return {
      outcome: 'duplicate',
      facilityId: context.facility_id,
      requestIds: dispositions.map((disposition) => disposition.requestId),
    };
  }
  const recorded = dispositions.filter((disposition) => disposition.kind === 'record');
  const matches = decideMatches(
    recorded.map(({ reading }) => reading),
    message.readings,
    context.candidates,
  );
  const stored = await storeFiles(deps.store, context.facility_id, message, recorded);
  let committed: 'no' | 'unknown' = 'no';
  try {
    await deps.beforeCommit?.();
    committed = 'unknown';
    const requestIds = await record(deps, message, context, dispositions, matches, stored);
    return { outcome: 'accepted', facilityId: context.facility_id, requestIds };
  } catch (error) {
    const refused = sqlState(error) !== undefined && (error as { severity?: unknown }).severity !== undefined;
    // The database refused the statement: nothing points at the objects. A connection lost in flight
    // may have committed: then the rows need them, and the orphan sweep (reconcile) has the rest.
    if (committed === 'no' || refused) {
      await Promise.all(stored.keys.map((key) => deps.store.delete(key).catch(() => {})));
    }
    // A resend on another connection committed first: read again, as if this one came second.
    if (sqlState(error) === '23505' && !raced) return ingestMessage(deps, message, true);
    const code = sqlState(error) ?? '';
    if (refused && (code.startsWith('22') || code === '54000' || code === '23505')) {
      throw new MessageRejection('AE', [
        { location: 'MSH', code: 102, text: `a value cannot be stored: ${(error as Error).message}` },
      ]);
    }
    throw error;
  }
}

/** What the database cannot keep is refused as the sender's error (AE), not failed as ours. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
const CONTROL_CHARACTER = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const LONGEST_IDENTIFIER = 200;
const LONGEST_VALUE = 2000;

function assertStorable(message: InboundMessage): void {
  const problems: ReadingProblem[] = [];
  const check = (value: string, location: string, longest: number, what: string) => {
    if (CONTROL_CHARACTER.test(value))
      problems.push({ location, code: 102, text: `${what} holds a control character` });
    if (value.length > longest)
      problems.push({ location, code: 102, text: `${what} is over ${longest} characters` });
  };
  if (message.controlId !== undefined)
    check(message.controlId, 'MSH^1^10', LONGEST_IDENTIFIER, 'the control id');
  check(message.sender, 'MSH^1^4', LONGEST_IDENTIFIER, 'the sender');
  if (message.readings.length === 0) {
    problems.push({ location: 'MSH', code: 101, text: 'the message carries no document' });
  }
  const ids = new Set<string>();
  for (const reading of message.readings) {
    for (const [name, field] of Object.entries(fieldsOf(reading))) {
      if (typeof field.value !== 'string') continue;
      const location = hl7Location(field.source) ?? field.source;
      const identifier = name === 'documentId' || name === 'replacesDocumentId' || name === 'setId';
      check(field.value, location, identifier ? LONGEST_IDENTIFIER : LONGEST_VALUE, name);
    }
    const id = reading.action === 'delete' ? undefined : reading.documentId;
    if (id && ids.has(id.value)) {
      problems.push({
        location: hl7Location(id.source) ?? id.source,
        code: 205,
        text: `document ${id.value} is in the message twice`,
      });
    }
    if (id) ids.add(id.value);
  }
  if (problems.length > 0) throw new MessageRejection('AE', problems);
}

async function loadContext(db: Kysely<DB>, message: InboundMessage): Promise<IngestionContext> {
  const documentIds = message.readings.flatMap((reading) =>
    [reading.documentId?.value, reading.replacesDocumentId?.value].filter(
      (id): id is string => id !== undefined,
    ),
  );
  const rpps = message.readings.flatMap((reading) => (reading.authorRpps ? [reading.authorRpps.value] : []));
  const { rows } = await sql<IngestionContext>`/* worklist.ingestionContext */
    SELECT f.facility_id,
           coalesce((SELECT m.request_ids FROM inbound_messages m
                     WHERE m.facility_id = f.facility_id AND m.sender = ${message.sender}
                       AND m.control_id = ${message.controlId ?? null}),
                     (SELECT m.request_ids FROM inbound_messages m
                      WHERE m.facility_id = f.facility_id AND m.control_id IS NULL
                        AND m.sha256 = ${message.controlId === undefined ? sha256Of(message.raw) : null})) AS duplicate_request_ids,
           coalesce((SELECT json_agg(json_build_object('documentId', r.document_id, 'requestId', r.request_id,
                              'status', r.status, 'integrationState', r.integration_state,
                              'ehrDocumentReference', r.ehr_document_reference))
                     FROM integration_requests r
                     WHERE r.facility_id = f.facility_id AND r.document_id = ANY(${documentIds}::text[])), '[]') AS known_documents,
           coalesce((SELECT json_agg(json_build_object('rpps', p.national_id, 'provider_id', p.provider_id))
                     FROM providers p WHERE p.national_id = ANY(${rpps}::text[])), '[]') AS authors,
           ARRAY(SELECT nextval(pg_get_serial_sequence('integration_requests', 'request_id'))
                 FROM generate_series(1, ${message.readings.length}::int)) AS request_ids,
           ${candidatesOf(message.readings)} AS candidates
    FROM facilities f WHERE f.facility_id = ${facilityOf(message)}`.execute(db);
  const context = rows[0];
  if (!context) {
    const named =
      'facilityId' in message.facility ? message.facility.facilityId : message.facility.receivingIdentifier;
    throw new UnknownFacility(named);
  }
  return { ...context, request_ids: context.request_ids.map(Number) };
}

/** The facility a message is for: named over HTTP, MSH-6 through the receiving identifiers over MLLP. */
function facilityOf(message: InboundMessage) {
  return 'facilityId' in message.facility
    ? sql`${message.facility.facilityId}::text`
    : // A facility's own id routes to it before any receiving identifier could.
      sql`coalesce((SELECT facility_id FROM facilities WHERE facility_id = ${message.facility.receivingIdentifier}),
                   (SELECT facility_id FROM facility_receiving_identifiers WHERE identifier = ${message.facility.receivingIdentifier}))`;
}

function dispose(reading: DocumentReading, known: KnownDocument[]): Disposition {
  const find = (id: Field | undefined) =>
    id ? known.find((document) => document.documentId === id.value) : undefined;
  if (reading.action === 'delete') {
    const targetId = reading.replacesDocumentId ?? reading.documentId;
    const target = find(targetId);
    if (!target) throw unknownDocument(targetId, 'a deletion');
    if (target.status === 'cancelled') return { kind: 'duplicate', requestId: target.requestId };
    return { kind: 'cancel', target, reason: `deleted by its sender (${targetId?.source})` };
  }
  const same = find(reading.documentId);
  if (same) return { kind: 'duplicate', requestId: same.requestId };
  if (reading.action === 'replace') {
    const replaced = find(reading.replacesDocumentId);
    if (!replaced) throw unknownDocument(reading.replacesDocumentId, 'a replacement');
    return { kind: 'record', reading, replaces: replaced };
  }
  return { kind: 'record', reading, replaces: undefined };
}

function unknownDocument(id: Field | undefined, what: string): MessageRejection {
  return new MessageRejection('AE', [
    {
      location: hl7Location(id?.source) ?? id?.source ?? 'TXA^1^13',
      code: 204,
      text: id
        ? `${what} of document ${id.value}, which was never received`
        : `${what} that does not name the document it applies to`,
    },
  ]);
}

/** `TXA-13` → `TXA^1^13`, the ERR-2 form; undefined for a source that is not an HL7 field. */
function hl7Location(source: string | undefined): string | undefined {
  const match = source ? /^([A-Z][A-Z0-9]{2})-(\d+)/.exec(source) : null;
  return match ? `${match[1]}^1^${match[2]}` : undefined;
}

/** What the matcher may use: read from a document's text, only the fields its reader is sure of. */
function identityForMatching(reading: DocumentReading): IdentityReading {
  return reading.format === 'pdf' || reading.format === 'scan'
    ? confidentIdentity(reading.identity)
    : reading.identity;
}

const matchable = (reading: DocumentReading) => {
  const identity = identityForMatching(reading);
  return (
    reading.action !== 'delete' &&
    !reading.readLater &&
    Boolean(identity.ins || (identity.birthLastName && identity.birthDate))
  );
};

/**
 * The facility's patients each reading may name, by INS or by birth date and birth name (the two
 * indexes of migration 0002), with how their strict traits compare: a column of the context statement,
 * so a message's identity check costs no statement of its own.
 */
function candidatesOf(readings: DocumentReading[]) {
  const column = (pick: (identity: IdentityReading) => Field<string> | undefined) =>
    readings.map((reading) =>
      matchable(reading) ? (pick(identityForMatching(reading))?.value ?? null) : null,
    );
  const firstGiven = (identity: IdentityReading) =>
    identity.firstBirthGivenName?.value ?? identity.birthGivenNames?.value.split(' ')[0] ?? null;
  return sql`coalesce((
    SELECT json_agg(json_build_object('ordinal', d.ordinal, 'patient_id', p.patient_id, 'ins', p.ins,
             'same_ins', coalesce(p.ins = d.ins, false),
             'same_name', coalesce(p.birth_last_name_key = identity_key(d.birth_last_name), false),
             'same_first_name', coalesce(p.first_given_name_key = identity_key(d.first_given_name), false),
             'same_birth_date', coalesce(p.birth_date = d.birth_date, false),
             'same_sex', coalesce(p.sex = d.sex, false),
             'same_birthplace', p.birthplace_code = d.birthplace_code))
    FROM unnest(${column((i) => i.ins)}::text[], ${column((i) => i.birthLastName)}::text[],
                ${readings.map((r) => (matchable(r) ? firstGiven(identityForMatching(r)) : null))}::text[],
                ${column((i) => i.birthDate)}::date[], ${column((i) => i.sex)}::text[],
                ${column((i) => i.birthplaceCode)}::text[])
         WITH ORDINALITY AS d(ins, birth_last_name, first_given_name, birth_date, sex, birthplace_code, ordinal)
    CROSS JOIN LATERAL (
      SELECT patient_id, ins, birth_last_name_key, first_given_name_key, birth_date, sex, birthplace_code
      FROM patients
      WHERE facility_id = f.facility_id
        AND (ins = d.ins OR (birth_date = d.birth_date AND birth_last_name_key = identity_key(d.birth_last_name)))
      -- The INS holder first: twenty namesakes born the same day must not crowd it out.
      ORDER BY ins IS NOT DISTINCT FROM d.ins DESC
      LIMIT 20
    ) p), '[]')`;
}

/** The worklist's matching rules applied to each recorded reading and the candidates found for it. */
function decideMatches(
  recorded: DocumentReading[],
  all: DocumentReading[],
  candidates: IngestionContext['candidates'],
): Array<MatchOutcome | undefined> {
  return recorded.map((reading) => {
    if (!matchable(reading)) return undefined;
    const ordinal = all.indexOf(reading) + 1;
    const identity = identityForMatching(reading);
    return decideMatch(
      {
        ins: identity.ins?.value,
        birthLastName: identity.birthLastName?.value,
        firstNames: identity.birthGivenNames?.value,
        firstBirthGivenName: identity.firstBirthGivenName?.value,
        birthDate: identity.birthDate?.value,
        sex: identity.sex?.value,
        birthplaceCode: identity.birthplaceCode?.value,
      },
      candidates.filter((row) => Number(row.ordinal) === ordinal),
    );
  });
}

/** The raw message's digest, computed once however often it is asked for. */
const digests = new WeakMap<Buffer, string>();
function sha256Of(raw: Buffer): string {
  let digest = digests.get(raw);
  if (digest === undefined) {
    digest = createHash('sha256').update(raw).digest('hex');
    digests.set(raw, digest);
  }
  return digest;
}

/** A sender's media type as stored and served: well formed, or octet-stream. */
function storableMediaType(contentType: string): string {
  return /^[a-z0-9][\w.+-]*\/[\w.+-]+$/i.test(contentType)
    ? contentType.toLowerCase()
    : 'application/octet-stream';
}

/** A file name a download can carry: no path, no control characters, not empty. */
function storableFileName(fileName: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced.
  const name = path.basename(fileName.replace(/[\u0000-\u001f\u007f\\]+/g, '_')).slice(-200);
  return name === '' || name === '.' || name === '..' ? 'document' : name;
}

interface StoredFile {
  fileName: string;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  pages: number | null;
  storageKey: string;
}

interface StoredMessage {
  rawKey: string;
  rawSha256: string;
  /** Per recorded reading, its files in order. */
  files: StoredFile[][];
  keys: string[];
}

/** Writes the raw message and every carried file, side by side, before any row points at them. */
async function storeFiles(
  store: ObjectStore,
  facilityId: string,
  message: InboundMessage,
  recorded: Array<Extract<Disposition, { kind: 'record' }>>,
): Promise<StoredMessage> {
  const rawKey = `inbox/${facilityId}/${randomUUID()}`;
  const files = recorded.map(({ reading }) =>
    reading.files.map(
      (file): StoredFile => ({
        fileName: storableFileName(file.fileName),
        contentType: storableMediaType(file.contentType),
        sizeBytes: file.content.length,
        sha256: createHash('sha256').update(file.content).digest('hex'),
        pages: file.contentType === 'application/pdf' ? pdfPageCount(file.content) : null,
        storageKey: `worklist/${facilityId}/${randomUUID()}`,
      }),
    ),
  );
  const writes: Array<{ key: string; content: Buffer; contentType: string }> = [
    { key: rawKey, content: message.raw, contentType: message.contentType },
    ...recorded.flatMap(({ reading }, index) =>
      reading.files.map((file, position) => ({
        key: (files[index] as StoredFile[])[position]?.storageKey as string,
        content: file.content,
        contentType: storableMediaType(file.contentType),
      })),
    ),
  ];
  const keys = writes.map((write) => write.key);
  const outcomes = await Promise.allSettled(
    writes.map((write) =>
      store.put(write.key, write.content, {
        contentType: write.contentType,
        contentLength: write.content.length,
      }),
    ),
  );
  const failed = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failed) {
    await Promise.all(keys.map((key) => store.delete(key).catch(() => {})));
    throw (failed as PromiseRejectedResult).reason;
  }
  return {
    rawKey,
    rawSha256: sha256Of(message.raw),
    files,
    keys,
  };
}

interface RequestRow {
  requestId: number;
  status: Status;
  identityCheck: IdentityCheck;
  patientId: number | null;
  verifiedPatientId: number | null;
  recordVerification: boolean;
  note: string;
}

/** The request's state from its match and the reasons a person must see. */
function requestState(
  requestId: number,
  reading: DocumentReading,
  match: MatchOutcome | undefined,
): RequestRow {
  const reasons = reading.mismatchReasons;
  if (reading.readLater) {
    return {
      requestId,
      status: 'received',
      identityCheck: 'pending',
      patientId: null,
      verifiedPatientId: null,
      recordVerification: true,
      note: 'reading the scan (OCR)',
    };
  }
  if (!match) {
    return {
      requestId,
      status: 'pending_verification',
      identityCheck: reasons.length > 0 ? 'mismatch' : 'pending',
      patientId: null,
      verifiedPatientId: null,
      recordVerification: true,
      note: reasons[0] ?? 'not enough identity traits to match',
    };
  }
  if (match.kind === 'matched' && reasons.length === 0) {
    return {
      requestId,
      status: 'verified',
      identityCheck: 'ok',
      patientId: match.patientId,
      verifiedPatientId: match.patientId,
      recordVerification: true,
      note: match.by === 'ins' ? 'matched by INS' : 'matched by strict traits',
    };
  }
  // A match the document itself casts doubt on is a candidate, not a verification.
  const candidate = match.kind === 'pending' ? null : match.patientId;
  const note = match.kind === 'matched' ? reasons.join('; ') : [match.note, ...reasons].join('; ');
  return {
    requestId,
    status: 'pending_verification',
    identityCheck: match.kind === 'pending' && reasons.length === 0 ? 'pending' : 'mismatch',
    patientId: null,
    verifiedPatientId: candidate,
    recordVerification: true,
    note,
  };
}

/** Every field a reader extracted, for the detail: `{ name: { value, source, confidence } }`. */
function fieldsOf(reading: DocumentReading): Record<string, Field<unknown>> {
  const fields: Record<string, Field<unknown>> = {};
  for (const [name, field] of Object.entries(reading.identity)) if (field) fields[name] = field;
  for (const name of [
    'documentId',
    'setId',
    'versionNumber',
    'replacesDocumentId',
    'documentTypeCode',
    'documentTypeLabel',
    'title',
    'procedureDate',
    'authorRpps',
    'authorName',
    'priority',
  ] as const) {
    const field = reading[name];
    if (field) fields[name] = field;
  }
  return fields;
}

function titleOf(reading: DocumentReading): string {
  const title = reading.title?.value ?? reading.documentTypeLabel?.value;
  if (title) return title.slice(0, 500);
  const date = reading.procedureDate ? ` of ${reading.procedureDate.value}` : '';
  return `Document${date}`;
}

async function record(
  deps: IngestionDeps,
  message: InboundMessage,
  context: IngestionContext,
  dispositions: Disposition[],
  matches: Array<MatchOutcome | undefined>,
  stored: StoredMessage,
): Promise<number[]> {
  const recorded = dispositions.filter((disposition) => disposition.kind === 'record');
  const cancelled = dispositions.filter((disposition) => disposition.kind === 'cancel');
  const rows = recorded.map(({ reading }, index) =>
    requestState(context.request_ids[index] as number, reading, matches[index]),
  );
  // A replaced document not yet in the EHR leaves the worklist; one already there stays integrated until
  // its replacement is integrated, which supersedes it in the EHR.
  const replacedBefore = recorded.flatMap(({ replaces }, index) =>
    replaces && replaces.status !== 'integrated' && replaces.status !== 'cancelled'
      ? [{ requestId: replaces.requestId, reason: `replaced by request ${rows[index]?.requestId}` }]
      : [],
  );
  const cancellations = [
    ...replacedBefore.map((replaced) => ({ ...replaced, deleted: false })),
    ...cancelled.map(({ target, reason }) => ({ requestId: target.requestId, reason, deleted: true })),
  ];
  const requestIds = [
    ...rows.map((row) => row.requestId),
    ...dispositions.flatMap((disposition) =>
      disposition.kind === 'duplicate' ? [disposition.requestId] : [],
    ),
    ...cancelled.map(({ target }) => target.requestId),
  ];
  const authorOf = (reading: DocumentReading) =>
    context.authors.find((author) => author.rpps === reading.authorRpps?.value)?.provider_id ?? null;
  const readings = recorded.map(({ reading }) => reading);
  const files = stored.files.flatMap((list, index) =>
    list.map((file) => ({ ...file, requestId: rows[index]?.requestId as number })),
  );
  const statement = sql`/* worklist.recordIngestion */
    WITH message AS (
      INSERT INTO inbound_messages (facility_id, listener, format, sender, control_id, message_type, content_type,
        size_bytes, sha256, storage_key, request_ids, subject)
      VALUES (${context.facility_id}, ${message.listener}, ${message.format}, ${message.sender}, ${message.controlId ?? null},
              ${message.messageType ?? null}, ${message.contentType}, ${message.raw.length}, ${stored.rawSha256},
              ${stored.rawKey}, ${requestIds}::bigint[], ${message.subject?.slice(0, 998) ?? null})
      RETURNING message_id
    ),
    document AS (${documentRows(
      rows,
      readings,
      authorOf,
      recorded.map(({ replaces }) => replaces?.requestId ?? null),
    )}),
    requests AS (
      INSERT INTO integration_requests (request_id, facility_id, source, status,
        document_type_code, document_type_label, title, procedure_date, patient_id, author_provider_id, priority,
        identity_check, attachment_count, search_text, message_id, format, document_id, replaces_request_id,
        identity_reliability, mismatch_reasons)
      -- The ids were drawn from the sequence beforehand, so every CTE below knows its request's.
      OVERRIDING SYSTEM VALUE
      SELECT d.request_id, ${context.facility_id}, ${message.source}, d.status, d.document_type_code,
             d.document_type_label, coalesce(d.title, 'Document'), d.procedure_date, d.patient_id, d.author_provider_id,
             d.priority, d.identity_check, d.attachment_count, d.search_text,
             message.message_id, ${message.format}, d.document_id, d.replaces_request_id, d.identity_reliability,
             ARRAY(SELECT jsonb_array_elements_text(d.mismatch_reasons))
      FROM document d, message
      RETURNING request_id
    ),
    files AS (
      INSERT INTO attachments (request_id, file_name, content_type, size_bytes, sha256, pages, storage_key)
      SELECT f.request_id, f.file_name, f.content_type, f.size_bytes, f.sha256, f.pages, f.storage_key
      FROM unnest(${files.map((f) => f.requestId)}::bigint[], ${files.map((f) => f.fileName)}::text[],
                  ${files.map((f) => f.contentType)}::text[], ${files.map((f) => f.sizeBytes)}::bigint[],
                  ${files.map((f) => f.sha256)}::text[], ${files.map((f) => f.pages)}::int[],
                  ${files.map((f) => f.storageKey)}::text[]) WITH ORDINALITY
           AS f(request_id, file_name, content_type, size_bytes, sha256, pages, storage_key, position)
      WHERE f.request_id IN (SELECT request_id FROM requests)
      -- Ids in the message's order: the detail lists a document's files by id (the CDA before its PDF).
      ORDER BY f.position
    ),
    extracted AS (${insertExtracted(rows, readings, message.format, sql.raw('requests'))}),
    checks AS (${insertChecks(rows, sql.raw('requests'))}),
    -- Decided on the row as it is now, not as the context read it: the integration worker may have
    -- pushed it since. A replaced document integrated meanwhile stays (its replacement supersedes it
    -- in the EHR); a deleted one in the EHR is withdrawn there, by a job queued below.
    cancelled AS (
      UPDATE integration_requests r
      SET status = 'cancelled', cancelled_at = now(), cancellation_reason = c.reason, updated_at = now(),
          integration_state = CASE WHEN r.ehr_document_reference IS NULL THEN r.integration_state ELSE 'queued' END
      FROM unnest(${cancellations.map((c) => c.requestId)}::bigint[], ${cancellations.map((c) => c.reason)}::text[],
                  ${cancellations.map((c) => c.deleted)}::boolean[]) AS c(request_id, reason, deleted)
      WHERE r.request_id = c.request_id AND r.facility_id = ${context.facility_id} AND r.status <> 'cancelled'
        AND (c.deleted OR r.status <> 'integrated')
      RETURNING r.request_id, r.ehr_document_reference IS NOT NULL AS withdraw
    )
    SELECT request_id FROM cancelled WHERE withdraw`;
  const toRead = rows.filter((_, index) => readings[index]?.readLater).map((row) => row.requestId);
  if (cancellations.length === 0 && toRead.length === 0) {
    await statement.execute(deps.db);
    return requestIds;
  }
  await inTransaction(deps.db, async (trx) => {
    const { rows: withdrawals } = await statement.execute(trx);
    for (const { request_id } of withdrawals as Array<{ request_id: number }>) {
      await deps.queue.enqueue(trx, Number(request_id));
    }
    for (const requestId of toRead) await deps.queue.enqueueReading(trx, requestId);
  });
  return requestIds;
}

/**
 * Each recorded reading as a row with the request's state and, joined, the matched patient's names:
 * what the insert of the requests (and the update of a scan read later) take their columns from.
 */
function documentRows(
  rows: RequestRow[],
  readings: DocumentReading[],
  authorOf: (reading: DocumentReading) => number | null,
  replaces: Array<number | null>,
) {
  const each = <T>(pick: (reading: DocumentReading) => T) => readings.map(pick);
  return sql`
      SELECT d.*, identity_key(concat_ws(' ', d.title, p.first_name, coalesce(p.used_last_name, p.birth_last_name),
                                         p.birth_last_name, d.extracted_names)) AS search_text
      FROM unnest(${rows.map((row) => row.requestId)}::bigint[], ${rows.map((row) => row.status)}::text[],
                  ${rows.map((row) => row.identityCheck)}::text[], ${rows.map((row) => row.patientId)}::bigint[],
                  ${each((r) => r.documentTypeCode?.value ?? null)}::text[], ${each((r) => r.documentTypeLabel?.value ?? null)}::text[],
                  ${each(titleOf)}::text[], ${each((r) => r.procedureDate?.value ?? null)}::date[],
                  ${each(authorOf)}::bigint[], ${each((r) => r.priority?.value ?? 'routine')}::text[],
                  ${each((r) => String(r.files.length))}::int[], ${each((r) => r.documentId?.value ?? null)}::text[],
                  ${replaces}::bigint[],
                  ${each((r) => r.identity.reliability?.value ?? null)}::text[],
                  ${each((r) => JSON.stringify(r.mismatchReasons))}::jsonb[],
                  ${each((r) => [r.identity.usedGivenName?.value, r.identity.firstBirthGivenName?.value, r.identity.usedLastName?.value, r.identity.birthLastName?.value].filter(Boolean).join(' '))}::text[])
           AS d(request_id, status, identity_check, patient_id, document_type_code, document_type_label, title,
                procedure_date, author_provider_id, priority, attachment_count, document_id, replaces_request_id,
                identity_reliability, mismatch_reasons, extracted_names)
      -- Matched or not, the names the document gives are searchable.
      LEFT JOIN patients p ON p.patient_id = d.patient_id`;
}

/** The fields each reading gave, for the requests the CTE `gate` wrote; a scan not yet read has none. */
function insertExtracted(
  rows: RequestRow[],
  readings: DocumentReading[],
  extractor: string,
  gate: ReturnType<typeof sql.raw>,
) {
  const each = <T>(pick: (reading: DocumentReading) => T) => readings.map(pick);
  return sql`
      INSERT INTO extracted_metadata (request_id, extractor, ins, ins_oid, birth_last_name, used_last_name, first_names,
        first_birth_given_name, used_given_name, birth_date, sex, birthplace_code, ipp, procedure_date,
        document_type_code, author_rpps, confidence, fields)
      SELECT e.request_id, ${extractor}, e.ins, e.ins_oid, e.birth_last_name, e.used_last_name, e.first_names,
             e.first_birth_given_name, e.used_given_name, e.birth_date, e.sex, e.birthplace_code, e.ipp,
             e.procedure_date, e.document_type_code, e.author_rpps,
             (SELECT coalesce(jsonb_object_agg(key, value -> 'confidence'), '{}') FROM jsonb_each(e.fields)), e.fields
      FROM unnest(${rows.map((row) => row.requestId)}::bigint[], ${each((r) => r.identity.ins?.value ?? null)}::text[],
                  ${each((r) => r.identity.insOid?.value ?? null)}::text[], ${each((r) => r.identity.birthLastName?.value ?? null)}::text[],
                  ${each((r) => r.identity.usedLastName?.value ?? null)}::text[], ${each((r) => r.identity.birthGivenNames?.value ?? null)}::text[],
                  ${each((r) => r.identity.firstBirthGivenName?.value ?? null)}::text[], ${each((r) => r.identity.usedGivenName?.value ?? null)}::text[],
                  ${each((r) => r.identity.birthDate?.value ?? null)}::date[], ${each((r) => r.identity.sex?.value ?? null)}::text[],
                  ${each((r) => r.identity.birthplaceCode?.value ?? null)}::text[], ${each((r) => r.identity.ipp?.value ?? null)}::text[],
                  ${each((r) => r.procedureDate?.value ?? null)}::date[], ${each((r) => r.documentTypeCode?.value ?? null)}::text[],
                  ${each((r) => r.authorRpps?.value ?? null)}::text[], ${each((r) => JSON.stringify(fieldsOf(r)))}::jsonb[],
                  ${each((r) => r.readLater === true)}::boolean[])
           AS e(request_id, ins, ins_oid, birth_last_name, used_last_name, first_names, first_birth_given_name,
                used_given_name, birth_date, sex, birthplace_code, ipp, procedure_date, document_type_code, author_rpps,
                fields, read_later)
      WHERE e.request_id IN (SELECT request_id FROM ${gate}) AND NOT e.read_later`;
}

/** The matcher's identity check of each request the CTE `gate` wrote, for its verification history. */
function insertChecks(rows: RequestRow[], gate: ReturnType<typeof sql.raw>) {
  return sql`
      INSERT INTO verifications (request_id, kind, outcome, patient_id, verified_by, note)
      SELECT v.request_id, 'identity', v.outcome, v.patient_id, 'matcher', v.note
      FROM unnest(${rows.map((row) => row.requestId)}::bigint[], ${rows.map((row) => row.identityCheck)}::text[],
                  ${rows.map((row) => row.verifiedPatientId)}::bigint[], ${rows.map((row) => row.note)}::text[])
           AS v(request_id, outcome, patient_id, note)
      WHERE v.request_id IN (SELECT request_id FROM ${gate})`;
}

/** What a scan became once read: matched or left for a person, or no longer waiting (`gone`). */
export type ReadingCompletion =
  | { outcome: 'read'; status: Status; identityCheck: IdentityCheck }
  | { outcome: 'gone' };

/**
 * Records what the OCR job read of a scan recorded as `received`: its fields, the identity check and
 * the request's new state, as `ingestMessage` would have at once for a document with a text layer. The
 * candidates are found in one statement and the update written in a second; a request no longer
 * `received` (a person verified it meanwhile, its sender withdrew it) is left as it is.
 */
export async function completeReading(
  deps: Pick<IngestionDeps, 'db'>,
  requestId: number,
  reading: DocumentReading,
): Promise<ReadingCompletion> {
  const { rows: found } = await sql<
    Pick<IngestionContext, 'authors' | 'candidates'>
  >`/* worklist.readingContext */
    SELECT coalesce((SELECT json_agg(json_build_object('rpps', p.national_id, 'provider_id', p.provider_id))
                     FROM providers p WHERE p.national_id = ${reading.authorRpps?.value ?? null}), '[]') AS authors,
           ${candidatesOf([reading])} AS candidates
    FROM integration_requests r JOIN facilities f ON f.facility_id = r.facility_id
    WHERE r.request_id = ${requestId} AND r.status = 'received'`.execute(deps.db);
  const context = found[0];
  if (!context) return { outcome: 'gone' };
  const [match] = decideMatches([reading], [reading], context.candidates);
  const row = requestState(requestId, reading, match);
  const authorOf = () => context.authors[0]?.provider_id ?? null;
  const { rows: updated } = await sql<{ request_id: number }>`/* worklist.recordReading */
    WITH document AS (${documentRows([row], [reading], authorOf, [null])}),
    updated AS (
      UPDATE integration_requests r
      SET status = d.status, identity_check = d.identity_check, patient_id = d.patient_id,
          document_type_code = coalesce(d.document_type_code, r.document_type_code),
          document_type_label = coalesce(d.document_type_label, r.document_type_label),
          title = d.title, procedure_date = coalesce(d.procedure_date, r.procedure_date),
          author_provider_id = coalesce(d.author_provider_id, r.author_provider_id),
          identity_reliability = d.identity_reliability,
          mismatch_reasons = ARRAY(SELECT jsonb_array_elements_text(d.mismatch_reasons)),
          search_text = d.search_text, updated_at = now()
      FROM document d
      WHERE r.request_id = d.request_id AND r.status = 'received'
      RETURNING r.request_id
    ),
    extracted AS (${insertExtracted([row], [reading], reading.format, sql.raw('updated'))}),
    checks AS (${insertChecks([row], sql.raw('updated'))})
    SELECT request_id FROM updated`.execute(deps.db);
  if (updated.length === 0) return { outcome: 'gone' };
  return { outcome: 'read', status: row.status, identityCheck: row.identityCheck };
}

/** A scan OCR could not read, for good: a person reads it; the history says why. */
export async function failReading(
  deps: Pick<IngestionDeps, 'db'>,
  requestId: number,
  reason: string,
): Promise<boolean> {
  const { rows } = await sql<{ request_id: number }>`/* worklist.failReading */
    WITH updated AS (
      UPDATE integration_requests SET status = 'pending_verification', updated_at = now()
      WHERE request_id = ${requestId} AND status = 'received'
      RETURNING request_id
    )
    INSERT INTO verifications (request_id, kind, outcome, patient_id, verified_by, note)
    SELECT request_id, 'identity', 'pending', NULL, 'matcher', ${`the scan could not be read: ${reason}`.slice(0, 2000)}
    FROM updated
    RETURNING request_id`.execute(deps.db);
  return rows.length > 0;
}
