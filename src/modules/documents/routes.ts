import type { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import type { Config } from '../../config.ts';
import { roleAtLeast } from '../../platform/auth/tokens.ts';
import { principalOf, type RoutesPlugin } from '../../platform/http/app.ts';
import { badRequest, forbidden, notFound, problemResponses } from '../../platform/http/problems.ts';
import { matchesTag } from '../../platform/http/serialized-answer.ts';
import { downloadWindow } from '../../platform/storage/download-window.ts';
import type { ObjectStore } from '../../platform/storage/object-store.ts';
import type { DB } from '../../tables.ts';
import { exportReconcileMetrics } from './operations/reconcile.ts';
import {
  type ApprovedRegistryRow,
  latestApprovedMany,
  toVersionView,
  versionHistory,
  versionOf,
} from './queries.ts';
import { LatestApprovedReader } from './read-path.ts';
import {
  BatchGetInput,
  BatchGetResultSchema,
  DocumentInput,
  DocumentParams,
  DocumentSchema,
  HistoryQuery,
  LatestApprovedSchema,
  type LatestApprovedView,
  ReasonInput,
  UploadResultSchema,
  VersionHistorySchema,
  VersionParams,
  VersionSchema,
  VersionWithUrlSchema,
} from './schemas.ts';
import { type TransitionAction, transitionVersion, uploadVersion, upsertDocument } from './service.ts';

export interface DocumentsDependencies {
  db: Kysely<DB>;
  store: ObjectStore;
  config: Config;
}

const TAGS = ['documents'];

export function documentsRoutes({ db, store, config }: DocumentsDependencies): RoutesPlugin {
  const reader = new LatestApprovedReader(db, store, config.documentsReadPath);
  const urlFor = (key: string, window = downloadWindow(config.downloadUrlTtlSeconds)) =>
    store.downloadUrl(key, window);
  const latestApprovedView = async (
    row: ApprovedRegistryRow,
    window = downloadWindow(config.downloadUrlTtlSeconds),
  ): Promise<LatestApprovedView> => {
    const download = await urlFor(row.approved_key, window);
    return {
      logicalId: row.logical_id,
      studyId: row.study_id,
      sectionId: row.section_id,
      documentType: row.document_type,
      title: row.title,
      version: row.approved_version,
      approvedAt: row.approved_at.toISOString(),
      approvedBy: row.approved_by,
      contentType: row.approved_content_type,
      sizeBytes: row.approved_size_bytes,
      sha256: row.approved_sha256,
      downloadUrl: download.url,
      downloadUrlExpiresAt: download.expiresAt.toISOString(),
    };
  };

  return async (app) => {
    const stopExporting = exportReconcileMetrics(db);
    app.addHook('onClose', async () => stopExporting());

    app.put(
      '/v1/documents/:logicalId',
      {
        schema: {
          tags: TAGS,
          summary: 'Create or retitle a logical document',
          params: DocumentParams,
          body: DocumentInput,
          response: { 200: DocumentSchema, 201: DocumentSchema, ...problemResponses(400, 401, 403, 409) },
        },
        config: { access: 'author', queryBudget: 7 },
      },
      async (request, reply) => {
        const { document, created } = await upsertDocument(db, request.params.logicalId, request.body);
        return reply.code(created ? 201 : 200).send(document);
      },
    );

    app.get(
      '/v1/documents/:logicalId',
      {
        schema: {
          tags: TAGS,
          summary: 'The latest approved version, with a download URL',
          description:
            'One registry probe: one SQL statement, no storage request. Send `If-None-Match` with the ETag to get 304 while nothing changed (the URL is stable within a one-minute window).',
          params: DocumentParams,
          response: { 200: LatestApprovedSchema, 304: Type.Null(), ...problemResponses(400, 401, 403, 404) },
        },
        config: { access: 'reader', queryBudget: reader.statementBudget },
      },
      async (request, reply) => {
        const row = await reader.read(request.params.logicalId);
        if (!row) throw notFound(`document ${request.params.logicalId} has no approved version`);
        const window = downloadWindow(config.downloadUrlTtlSeconds);
        const etag = `"${row.approved_version}.${row.revision}.${window.signedAt.getTime() / 1000}"`;
        reply.header('etag', etag).header('cache-control', 'private, no-cache');
        if (matchesTag(request.headers['if-none-match'], etag)) return reply.code(304).send(null);
        return latestApprovedView(row, window);
      },
    );

    app.post(
      '/v1/documents/batch-get',
      {
        schema: {
          tags: TAGS,
          summary: 'The latest approved version of up to 100 documents, in one statement',
          body: BatchGetInput,
          response: { 200: BatchGetResultSchema, ...problemResponses(400, 401, 403) },
        },
        config: { access: 'reader', queryBudget: 1 },
      },
      async (request) => {
        const wanted = [...new Set(request.body.logicalIds)];
        const window = downloadWindow(config.downloadUrlTtlSeconds);
        const rows = await latestApprovedMany(db, wanted);
        const byId = new Map(rows.map((row) => [row.logical_id, row]));
        const documents: LatestApprovedView[] = [];
        const missing: string[] = [];
        for (const logicalId of wanted) {
          const row = byId.get(logicalId);
          if (row) documents.push(await latestApprovedView(row, window));
          else missing.push(logicalId);
        }
        return { documents, missing };
      },
    );

    app.get(
      '/v1/documents/:logicalId/versions',
      {
        schema: {
          tags: TAGS,
          summary: 'Version history, newest first, keyset-paginated',
          description: 'Readers see every version but drafts; authors and above see drafts too.',
          params: DocumentParams,
          querystring: HistoryQuery,
          response: { 200: VersionHistorySchema, ...problemResponses(400, 401, 403, 404) },
        },
        config: { access: 'reader', queryBudget: 1 },
      },
      async (request) => {
        const { logicalId } = request.params;
        const { limit, cursor } = request.query;
        const beforeVersion = cursor ? Number(cursor.slice(1)) : undefined;
        // Versions are PostgreSQL integers: a cursor past the largest is not one this API issued.
        if (beforeVersion !== undefined && beforeVersion > 2_147_483_647) {
          throw badRequest('cursor is not one this API issued', [
            { field: 'querystring.cursor', message: 'is invalid' },
          ]);
        }
        const history = await versionHistory(db, {
          logicalId,
          beforeVersion,
          limit: limit + 1,
          includeDrafts: roleAtLeast(principalOf(request).role, 'author'),
        });
        if (!history.exists) throw notFound(`document ${logicalId} does not exist`);
        const page = history.versions.slice(0, limit);
        const last = page.at(-1);
        return {
          logicalId,
          versions: page.map(toVersionView),
          nextCursor: history.versions.length > limit && last ? `v${last.version}` : null,
        };
      },
    );

    app.get(
      '/v1/documents/:logicalId/versions/:version',
      {
        schema: {
          tags: TAGS,
          summary: 'One version, with a download URL (drafts need the author role)',
          params: VersionParams,
          response: { 200: VersionWithUrlSchema, ...problemResponses(400, 401, 403, 404) },
        },
        config: { access: 'reader', queryBudget: 1 },
      },
      async (request) => {
        const { logicalId, version } = request.params;
        const row = await versionOf(db, logicalId, version);
        if (!row) throw notFound(`document ${logicalId} has no version ${version}`);
        if (row.state === 'draft' && !roleAtLeast(principalOf(request).role, 'author')) {
          throw forbidden('draft versions are visible to authors and above');
        }
        const download = await urlFor(row.storage_key);
        return {
          ...toVersionView(row),
          downloadUrl: download.url,
          downloadUrlExpiresAt: download.expiresAt.toISOString(),
        };
      },
    );

    const transition = (action: TransitionAction, summary: string, needsReason: boolean) =>
      app.post(
        `/v1/documents/:logicalId/versions/:version/${action}`,
        {
          schema: {
            tags: TAGS,
            summary,
            params: VersionParams,
            ...(needsReason ? { body: ReasonInput } : {}),
            response: { 200: VersionSchema, ...problemResponses(400, 401, 403, 404, 409) },
          },
          config: { access: 'approver', queryBudget: 6 },
        },
        async (request) => {
          const changed = await transitionVersion(db, {
            logicalId: request.params.logicalId,
            version: request.params.version,
            action,
            actor: principalOf(request).subject,
            reason: needsReason ? (request.body as { reason: string }).reason : undefined,
          });
          return toVersionView(changed);
        },
      );
    transition('approve', 'Approve a draft version', false);
    transition('reject', 'Reject a draft version, with a reason', true);
    transition('withdraw', 'Withdraw an approved version, with a reason', true);

    // Uploads take the raw body as a stream of any content type, so they live in a scope of their own
    // where no parser buffers or interprets it.
    await app.register(async (scope) => {
      const uploads = scope.withTypeProvider<TypeBoxTypeProvider>();
      uploads.removeAllContentTypeParsers();
      uploads.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
      uploads.post(
        '/v1/documents/:logicalId/versions',
        {
          schema: {
            tags: TAGS,
            summary: 'Upload a new version: the body is the file, streamed to storage',
            description:
              "The request's Content-Type is kept. Bodies over HOTPATH_UPLOAD_LIMIT_BYTES (default 100 MB) are refused with 413. Concurrent uploads get consecutive version numbers.",
            params: DocumentParams,
            consumes: ['application/pdf', 'application/octet-stream', '*/*'],
            body: Type.String({
              format: 'binary',
              minLength: 1,
              description: 'The file, as sent: at least one byte; its Content-Type is kept',
            }),
            response: { 201: UploadResultSchema, ...problemResponses(400, 401, 403, 404, 413) },
          },
          // The body is a stream the service reads and checks (size, limit, digest); the schema above is
          // the OpenAPI description.
          validatorCompiler: () => () => true,
          config: { access: 'author', queryBudget: 2 },
        },
        async (request, reply) => {
          // No Content-Length and no chunked encoding: HTTP/1.1 says there is no body.
          if (
            !request.body ||
            (request.headers['content-length'] === undefined && !request.headers['transfer-encoding'])
          ) {
            throw badRequest(
              'the body is empty: send the file as the request body (curl --data-binary @file.pdf)',
            );
          }
          const uploaded = await uploadVersion(db, store, {
            logicalId: request.params.logicalId,
            body: request.body as unknown as Readable,
            contentType: request.headers['content-type'] ?? 'application/octet-stream',
            contentLength: declaredLength(request),
            limitBytes: config.uploadLimitBytes,
            uploadedBy: principalOf(request).subject,
          });
          return reply.code(201).send({
            ...uploaded,
            state: 'draft' as const,
            uploadedAt: uploaded.uploadedAt.toISOString(),
          });
        },
      );
    });
  };
}

function declaredLength(request: FastifyRequest): number | undefined {
  const header = request.headers['content-length'];
  return header === undefined || !/^\d+$/.test(header) ? undefined : Number(header);
}
