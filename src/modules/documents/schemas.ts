import { type Static, type TSchema, Type } from 'typebox';

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const LOGICAL_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';
const SCOPE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

export const LogicalId = Type.String({
  pattern: LOGICAL_ID_PATTERN,
  description: 'A logical document id: a letter or digit, then up to 127 letters, digits, `.`, `_` or `-`',
  examples: ['csr-14-2-efficacy'],
});

export const DocumentParams = Type.Object({ logicalId: LogicalId });
export const VersionParams = Type.Object({
  logicalId: LogicalId,
  version: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }),
});

export const VersionState = Type.Union([
  Type.Literal('draft'),
  Type.Literal('approved'),
  Type.Literal('rejected'),
  Type.Literal('withdrawn'),
]);
export type VersionState = Static<typeof VersionState>;

export const DocumentInput = Type.Object(
  {
    studyId: Type.String({ pattern: SCOPE_ID_PATTERN, examples: ['ONC-2024-001'] }),
    sectionId: Type.String({ pattern: SCOPE_ID_PATTERN, examples: ['14-2'] }),
    documentType: Type.String({
      pattern: '^[A-Z][A-Z0-9_]{1,31}$',
      description: 'CSR, DSUR, PLPS, IB, PROTOCOL…; fixed for a section once set',
      examples: ['CSR'],
    }),
    title: Type.String({ minLength: 1, maxLength: 500 }),
  },
  { additionalProperties: false },
);
export type DocumentInput = Static<typeof DocumentInput>;

export const DocumentSchema = Type.Object(
  {
    logicalId: Type.String(),
    studyId: Type.String(),
    sectionId: Type.String(),
    documentType: Type.String(),
    title: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { description: 'A logical document' },
);
export type DocumentView = Static<typeof DocumentSchema>;

export const LatestApprovedSchema = Type.Object(
  {
    logicalId: Type.String(),
    studyId: Type.String(),
    sectionId: Type.String(),
    documentType: Type.String(),
    title: Type.String(),
    version: Type.Integer(),
    approvedAt: Type.String({ format: 'date-time' }),
    approvedBy: Type.String(),
    contentType: Type.String(),
    sizeBytes: Type.Integer(),
    sha256: nullable(
      Type.String({ description: 'Hex SHA-256; null for versions adopted from a legacy bucket' }),
    ),
    downloadUrl: Type.String({ format: 'uri' }),
    downloadUrlExpiresAt: Type.String({ format: 'date-time' }),
  },
  { description: 'The latest approved version of a document, with a download URL' },
);
export type LatestApprovedView = Static<typeof LatestApprovedSchema>;

export const VersionSchema = Type.Object(
  {
    logicalId: Type.String(),
    version: Type.Integer(),
    state: VersionState,
    contentType: Type.String(),
    sizeBytes: Type.Integer(),
    sha256: nullable(Type.String()),
    uploadedBy: Type.String(),
    uploadedAt: Type.String({ format: 'date-time' }),
    approvedBy: nullable(Type.String()),
    approvedAt: nullable(Type.String({ format: 'date-time' })),
    rejectedBy: nullable(Type.String()),
    rejectedAt: nullable(Type.String({ format: 'date-time' })),
    withdrawnBy: nullable(Type.String()),
    withdrawnAt: nullable(Type.String({ format: 'date-time' })),
    reason: nullable(Type.String()),
  },
  { description: 'One version of a document and its review history' },
);
export type VersionView = Static<typeof VersionSchema>;

export const VersionWithUrlSchema = Type.Object({
  ...VersionSchema.properties,
  downloadUrl: Type.String({ format: 'uri' }),
  downloadUrlExpiresAt: Type.String({ format: 'date-time' }),
});
export type VersionWithUrlView = Static<typeof VersionWithUrlSchema>;

export const VersionHistorySchema = Type.Object({
  logicalId: Type.String(),
  versions: Type.Array(VersionSchema),
  nextCursor: nullable(Type.String({ description: 'Pass as `cursor` for the next (older) page' })),
});

export const HistoryQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  cursor: Type.Optional(Type.String({ pattern: '^v[1-9][0-9]{0,9}$', description: 'From `nextCursor`' })),
});

export const ReasonInput = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 2000 }) },
  { additionalProperties: false },
);

export const UploadResultSchema = Type.Object({
  logicalId: Type.String(),
  version: Type.Integer(),
  state: Type.Literal('draft'),
  contentType: Type.String(),
  sizeBytes: Type.Integer(),
  sha256: Type.String(),
  uploadedBy: Type.String(),
  uploadedAt: Type.String({ format: 'date-time' }),
});

export const BatchGetInput = Type.Object(
  { logicalIds: Type.Array(LogicalId, { minItems: 1, maxItems: 100 }) },
  { additionalProperties: false },
);

export const BatchGetResultSchema = Type.Object({
  documents: Type.Array(LatestApprovedSchema),
  missing: Type.Array(Type.String(), { description: 'Requested ids with no approved version (or unknown)' }),
});
