import { type Static, type TSchema, Type } from 'typebox';
import { RowId } from '../../platform/http/schemas.ts';

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** Where a message came in: MLLP, the HTTP inbox, `hotpath ingest`, an MSSanté mailbox, a watched folder. */
export const LISTENERS = ['mllp', 'http', 'cli', 'mailbox', 'folder'] as const;
export const SOURCES = ['mssante', 'lab', 'imaging', 'device', 'paper'] as const;
export const STATUSES = [
  'received',
  'pending_verification',
  'verified',
  'integrated',
  'rejected',
  'error',
  'cancelled',
] as const;
export const IDENTITY_CHECKS = ['ok', 'mismatch', 'pending'] as const;
export type Status = (typeof STATUSES)[number];
export type IdentityCheck = (typeof IDENTITY_CHECKS)[number];

const FACILITY_ID = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const LOINC = '^[0-9]{1,7}-[0-9]$';
const DATE = '^[0-9]{4}-[0-9]{2}-[0-9]{2}$';

export const FacilityId = Type.String({ pattern: FACILITY_ID, examples: ['FAC-0001'] });
export const Source = Type.Enum(SOURCES);
export const StatusSchema = Type.Enum(STATUSES);
export const IdentityCheckSchema = Type.Enum(IDENTITY_CHECKS);
export const DateOnly = Type.String({ pattern: DATE, format: 'date', examples: ['2026-11-20'] });

export const DocumentType = Type.Object(
  {
    code: Type.String({ pattern: LOINC, examples: ['11502-2'] }),
    label: Type.String({ examples: ['Laboratory report'] }),
  },
  { description: 'LOINC document type' },
);

export const WorklistQuery = Type.Object({
  facilityId: Type.Optional(
    Type.String({
      pattern: FACILITY_ID,
      description: 'One facility the token sees; omitted, every facility the token sees',
      examples: ['FAC-0001'],
    }),
  ),
  status: Type.Optional(StatusSchema),
  source: Type.Optional(Source),
  documentType: Type.Optional(
    Type.String({ pattern: LOINC, description: 'LOINC code', examples: ['11502-2'] }),
  ),
  receivedFrom: Type.Optional(Type.String({ format: 'date-time', description: 'inclusive' })),
  receivedTo: Type.Optional(Type.String({ format: 'date-time', description: 'exclusive' })),
  q: Type.Optional(
    Type.String({
      minLength: 3,
      maxLength: 100,
      description: 'Searches patient names and titles (accents and case ignored); at least 3 characters',
      examples: ['dupont'],
    }),
  ),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  cursor: Type.Optional(
    Type.String({ pattern: '^[A-Za-z0-9_-]{8,200}$', description: 'nextCursor of the previous page' }),
  ),
});
export type WorklistQuery = Static<typeof WorklistQuery>;

export const WorklistItem = Type.Object(
  {
    id: Type.Integer({ examples: [48213] }),
    facilityId: Type.String({ examples: ['FAC-0001'] }),
    status: StatusSchema,
    source: Source,
    receivedAt: Type.String({ format: 'date-time' }),
    documentType: nullable(DocumentType),
    title: Type.String({ examples: ['Laboratory report of 2026-11-19'] }),
    procedureDate: nullable(DateOnly),
    patient: nullable(
      Type.Object({
        id: Type.Integer(),
        firstName: Type.String({ examples: ['Camille'] }),
        lastName: Type.String({ examples: ['Dupont'] }),
        birthDate: DateOnly,
      }),
    ),
    attachmentCount: Type.Integer({ minimum: 0 }),
    identityCheck: IdentityCheckSchema,
  },
  { description: 'One row of the worklist: only what the page shows' },
);
export type WorklistItem = Static<typeof WorklistItem>;

export const WorklistPage = Type.Object({
  items: Type.Array(WorklistItem),
  nextCursor: nullable(Type.String({ description: 'Pass as `cursor` for the next (older) page' })),
});

export const StatusCountsQuery = Type.Object({
  facilityId: Type.Optional(
    Type.String({
      pattern: FACILITY_ID,
      description: 'One facility the token sees; omitted, every facility the token sees',
    }),
  ),
});

export const StatusCounts = Type.Object({
  cap: Type.Integer({ description: 'Counting stops there: a count with `capped` is at least this many' }),
  counts: Type.Array(
    Type.Object({
      status: StatusSchema,
      count: Type.Integer({ minimum: 0 }),
      capped: Type.Boolean({ description: 'There are more than `count`' }),
    }),
    { description: 'Every status, in the order of the workflow' },
  ),
});

export const RequestParams = Type.Object({
  id: RowId(),
});

const PatientRecord = Type.Object(
  {
    id: Type.Integer(),
    facilityId: Type.String(),
    ipp: Type.String({ description: "The hospital's local patient id" }),
    ins: nullable(Type.String({ description: 'National health identifier (INS)' })),
    insOid: nullable(Type.String()),
    identityStatus: Type.Enum(['provisional', 'recovered', 'validated', 'qualified']),
    birthLastName: Type.String(),
    usedLastName: nullable(Type.String()),
    birthFirstNames: Type.String(),
    firstName: Type.String(),
    birthDate: DateOnly,
    sex: Type.Enum(['F', 'M', 'U']),
    birthplaceCode: nullable(Type.String()),
    address: Type.Object({
      line1: nullable(Type.String()),
      line2: nullable(Type.String()),
      postalCode: nullable(Type.String()),
      city: nullable(Type.String()),
      countryCode: nullable(Type.String()),
    }),
    phoneMobile: nullable(Type.String()),
    phoneHome: nullable(Type.String()),
    email: nullable(Type.String()),
    generalPractitioner: Type.Object({ name: nullable(Type.String()), rpps: nullable(Type.String()) }),
    insurance: Type.Object({ fundCode: nullable(Type.String()), number: nullable(Type.String()) }),
    deceased: Type.Boolean(),
    deceasedAt: nullable(DateOnly),
    confidential: Type.Boolean(),
    vip: Type.Boolean(),
    mergedIntoPatientId: nullable(Type.Integer()),
    fhirId: nullable(Type.String()),
  },
  { description: "The patient as the hospital's own table has it" },
);

const FhirPatientSummary = Type.Object(
  {
    id: Type.String(),
    name: nullable(Type.String()),
    birthDate: nullable(Type.String()),
    gender: nullable(Type.String()),
    telecom: Type.Array(Type.String()),
    generalPractitioner: nullable(Type.String()),
    lastUpdated: nullable(Type.String()),
  },
  { description: "What the facility's FHIR server says of the patient" },
);

export const Enrichment = Type.Object({
  status: Type.Enum(['ok', 'unavailable', 'not-configured', 'not-applicable']),
  reason: nullable(Type.String()),
});

/** The identity traits a document and a patient record are compared on, strict ones first. */
export const TRAITS = [
  'ins',
  'birthLastName',
  'firstBirthGivenName',
  'birthDate',
  'sex',
  'birthplaceCode',
  'usedLastName',
  'ipp',
] as const;
export type Trait = (typeof TRAITS)[number];

export const TraitComparison = Type.Object(
  {
    trait: Type.Enum(TRAITS),
    strict: Type.Boolean({ description: 'A strict identity trait (the INS, and what it must agree with)' }),
    document: nullable(Type.String({ description: 'What the document says' })),
    hospital: nullable(Type.String({ description: "What the hospital's record says" })),
    agrees: nullable(
      Type.Boolean({
        description:
          'Compared as the matcher compares (names with accents, case and punctuation ignored); null when one side has no value',
      }),
    ),
    source: nullable(
      Type.String({ description: 'Where the document value was read', examples: ['PID-5[1].1'] }),
    ),
    confidence: nullable(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { description: 'One trait, the document beside the record' },
);
export type TraitComparison = Static<typeof TraitComparison>;

const Candidate = Type.Object({
  id: Type.Integer(),
  ipp: Type.String(),
  ins: nullable(Type.String()),
  firstName: Type.String(),
  birthLastName: Type.String(),
  usedLastName: nullable(Type.String()),
  birthDate: DateOnly,
  sex: Type.String(),
  score: Type.Number({ minimum: 0, maximum: 1, description: 'Higher is closer' }),
  reasons: Type.Array(Type.String(), { examples: [['same INS', 'same birth date']] }),
  traits: Type.Array(TraitComparison, { description: 'The document beside this patient, trait by trait' }),
  fhir: nullable(FhirPatientSummary),
});

export const RequestDetail = Type.Object({
  id: Type.Integer(),
  facilityId: Type.String(),
  status: StatusSchema,
  source: Source,
  receivedAt: Type.String({ format: 'date-time' }),
  documentType: nullable(DocumentType),
  title: Type.String(),
  procedureDate: nullable(DateOnly),
  priority: Type.Enum(['routine', 'urgent']),
  identityCheck: IdentityCheckSchema,
  author: nullable(
    Type.Object({
      id: Type.Integer(),
      nationalId: Type.String(),
      name: Type.String(),
      specialty: nullable(Type.String()),
    }),
  ),
  integration: nullable(
    Type.Object({
      state: Type.Enum(['queued', 'running', 'done', 'failed']),
      attempts: Type.Integer(),
      error: nullable(Type.String()),
      integratedAt: nullable(Type.String({ format: 'date-time' })),
      ehrDocumentReference: nullable(Type.String()),
      retryLimit: Type.Integer({
        description: 'Retries after a failed attempt the EHR may recover from, before the request is `error`',
      }),
    }),
  ),
  rejection: nullable(
    Type.Object({ by: Type.String(), at: Type.String({ format: 'date-time' }), reason: Type.String() }),
  ),
  format: Type.Enum(['upload', 'hl7v2', 'cda', 'fhir', 'pdf', 'scan'], {
    description: 'How it arrived: a multipart upload, or a message read by hotpath',
  }),
  documentId: nullable(
    Type.String({
      description: 'TXA-12, ClinicalDocument/id (root^extension), DocumentReference.masterIdentifier',
    }),
  ),
  identityReliability: nullable(Type.Enum(['PROV', 'RECUP', 'VALI', 'QUAL'])),
  mismatchReasons: Type.Array(Type.String(), {
    description:
      'What a person must look at before verifying: the envelope and the content disagree, an INS key is wrong…',
  }),
  replaces: nullable(
    Type.Object({ id: Type.Integer(), documentId: nullable(Type.String()), status: StatusSchema }),
  ),
  replacedBy: nullable(Type.Integer({ description: 'The request that replaces this one' })),
  cancellation: nullable(Type.Object({ at: Type.String({ format: 'date-time' }), reason: Type.String() })),
  message: nullable(
    Type.Object(
      {
        id: Type.Integer(),
        listener: Type.Enum(LISTENERS),
        format: Type.Enum(['hl7v2', 'cda', 'fhir', 'pdf', 'scan']),
        sender: Type.String(),
        controlId: nullable(Type.String()),
        messageType: nullable(Type.String()),
        subject: nullable(Type.String({ description: "A mail's subject, for a document from a mailbox" })),
        contentType: Type.String(),
        sizeBytes: Type.Integer(),
        receivedAt: Type.String({ format: 'date-time' }),
        downloadUrl: Type.String({ format: 'uri' }),
        downloadUrlExpiresAt: Type.String({ format: 'date-time' }),
      },
      { description: 'The message as received, kept as it came' },
    ),
  ),
  extracted: nullable(
    Type.Object({
      extractor: Type.String(),
      ins: nullable(Type.String()),
      insOid: nullable(Type.String()),
      birthLastName: nullable(Type.String()),
      usedLastName: nullable(Type.String()),
      firstNames: nullable(Type.String()),
      birthDate: nullable(DateOnly),
      sex: nullable(Type.String()),
      birthplaceCode: nullable(Type.String()),
      ipp: nullable(Type.String()),
      procedureDate: nullable(DateOnly),
      documentTypeCode: nullable(Type.String()),
      firstBirthGivenName: nullable(Type.String()),
      usedGivenName: nullable(Type.String()),
      authorRpps: nullable(Type.String()),
      confidence: Type.Record(Type.String(), Type.Number()),
      fields: Type.Record(
        Type.String(),
        Type.Object({
          value: Type.Unknown(),
          source: Type.String({
            examples: ['PID-3[1]', 'ClinicalDocument/recordTarget/patientRole/id[0]/@extension'],
          }),
          confidence: Type.Number({ minimum: 0, maximum: 1 }),
        }),
        { description: 'Every field read, with where it was read and how sure the reader was' },
      ),
      extractedAt: Type.String({ format: 'date-time' }),
    }),
  ),
  attachments: Type.Array(
    Type.Object({
      id: Type.Integer(),
      fileName: Type.String(),
      contentType: Type.String(),
      sizeBytes: Type.Integer(),
      sha256: Type.String(),
      pages: nullable(Type.Integer()),
      downloadUrl: Type.String({
        format: 'uri',
        description: 'Saves the file under its name (Content-Disposition: attachment)',
      }),
      viewUrl: nullable(
        Type.String({
          format: 'uri',
          description:
            'Shows the file in the page under its name (Content-Disposition: inline), for a PDF or an image; null for other types',
        }),
      ),
      downloadUrlExpiresAt: Type.String({ format: 'date-time' }),
    }),
  ),
  verifications: Type.Array(
    Type.Object({
      id: Type.Integer(),
      kind: Type.Enum(['identity', 'procedure_date', 'document_type']),
      outcome: IdentityCheckSchema,
      patientId: nullable(Type.Integer()),
      verifiedBy: Type.String(),
      verifiedAt: Type.String({ format: 'date-time' }),
      note: nullable(Type.String()),
    }),
    { description: 'Newest first' },
  ),
  patient: nullable(
    Type.Object({
      ...PatientRecord.properties,
      traits: Type.Array(TraitComparison, {
        description: 'The document beside this patient, trait by trait',
      }),
      fhir: nullable(FhirPatientSummary),
    }),
  ),
  enrichment: Enrichment,
  candidates: Type.Array(Candidate, { description: 'Ranked patients who may be this one, while unmatched' }),
});
export type RequestDetail = Static<typeof RequestDetail>;

export const ExtractedInput = Type.Object(
  {
    extractor: Type.Enum(['cda', 'hl7', 'ocr', 'manual']),
    ins: Type.Optional(
      Type.String({ pattern: '^[0-9]{5}([0-9]{2}|2A|2B)[0-9]{8}$', examples: ['279035121518989'] }),
    ),
    insOid: Type.Optional(Type.String({ examples: ['1.2.250.1.213.1.4.8'] })),
    birthLastName: Type.Optional(Type.String({ minLength: 1, maxLength: 200, examples: ['Dupont'] })),
    usedLastName: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    firstNames: Type.Optional(Type.String({ minLength: 1, maxLength: 200, examples: ['Camille Marie'] })),
    birthDate: Type.Optional(DateOnly),
    sex: Type.Optional(Type.Enum(['F', 'M', 'U'])),
    birthplaceCode: Type.Optional(Type.String({ pattern: '^[0-9AB]{5}$' })),
    ipp: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    procedureDate: Type.Optional(DateOnly),
    documentTypeCode: Type.Optional(Type.String({ pattern: LOINC })),
    confidence: Type.Optional(
      Type.Record(Type.String(), Type.Number({ minimum: 0, maximum: 1 }), {
        description: 'Per field, 0 to 1',
        examples: [{ ins: 0.99, birthDate: 0.97 }],
      }),
    ),
  },
  { additionalProperties: false, description: 'What extraction read from the document' },
);
export type ExtractedInput = Static<typeof ExtractedInput>;

export const ReceiveMetadata = Type.Object(
  {
    facilityId: FacilityId,
    source: Source,
    title: Type.String({ minLength: 1, maxLength: 500 }),
    documentType: Type.Optional(DocumentType),
    procedureDate: Type.Optional(DateOnly),
    priority: Type.Optional(Type.Enum(['routine', 'urgent'])),
    authorNationalId: Type.Optional(
      Type.String({ pattern: '^[0-9]{11}$', description: 'RPPS of the author' }),
    ),
    extracted: Type.Optional(ExtractedInput),
  },
  { additionalProperties: false },
);
export type ReceiveMetadata = Static<typeof ReceiveMetadata>;

export const ReceiveResult = Type.Object({
  id: Type.Integer(),
  status: StatusSchema,
  identityCheck: IdentityCheckSchema,
  patientId: nullable(Type.Integer()),
  attachments: Type.Integer(),
  match: Type.String({
    description: 'How the identity was matched, or why it was not',
    examples: ['matched by INS'],
  }),
});

export const VerifyInput = Type.Object(
  {
    patientId: RowId(),
    acknowledgedDifferences: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
        maxItems: 10,
        description:
          'The differences between the document and the patient the person confirmed despite them, kept in the verification history',
        examples: [['birth name: DURAND / DUPONT']],
      }),
    ),
  },
  { additionalProperties: false },
);
export const RejectInput = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 2000 }) },
  { additionalProperties: false },
);
export const ActionResult = Type.Object({
  id: Type.Integer(),
  status: StatusSchema,
  identityCheck: IdentityCheckSchema,
  patientId: nullable(Type.Integer()),
  integrationState: nullable(Type.Enum(['queued', 'running', 'done', 'failed'])),
});

export const Facility = Type.Object({
  id: Type.String(),
  name: Type.String(),
  ehr: Type.Object({
    fhirBaseUrl: nullable(Type.String()),
    enabled: Type.Boolean(),
    lastError: nullable(Type.String()),
    lastErrorAt: nullable(Type.String({ format: 'date-time' })),
  }),
});
export const FacilityList = Type.Object({ facilities: Type.Array(Facility) });
