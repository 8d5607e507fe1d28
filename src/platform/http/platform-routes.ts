import { Type } from 'typebox';
import { clusterSiblings } from '../cluster.ts';
import type { Database } from '../db/database.ts';
import { pendingMigrations } from '../db/migrations.ts';
import { metricsRegistry } from '../metrics/registry.ts';
import { contentDispositionHeader, isValidKey, type ObjectStore } from '../storage/object-store.ts';
import { signedDisposition, type UrlSigner } from '../storage/url-signing.ts';
import type { RoutesPlugin } from './app.ts';
import { HttpProblem, notFound, problemResponses, serviceUnavailable } from './problems.ts';

export function healthRoutes(database: Database, redisState: () => 'off' | 'ok' | 'degraded'): RoutesPlugin {
  return async (app) => {
    app.get(
      '/healthz',
      {
        schema: {
          tags: ['operations'],
          summary: 'The process is alive',
          security: [],
          response: { 200: Type.Object({ status: Type.Literal('ok') }) },
        },
        config: { access: 'public', queryBudget: 0 },
      },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/readyz',
      {
        schema: {
          tags: ['operations'],
          summary: 'The database is reachable and every migration is applied',
          description:
            'Redis is an accelerator: while it is unreachable the service stays ready and says `redis: degraded`.',
          security: [],
          response: {
            200: Type.Object({
              status: Type.Literal('ready'),
              redis: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('off')]),
            }),
            ...problemResponses(503),
          },
        },
        config: { access: 'public', queryBudget: 4 },
      },
      async (request) => {
        let pending: string[];
        try {
          pending = await pendingMigrations(database.db);
        } catch (error) {
          // The address and the driver's words go to the log, not to whoever asks.
          request.log.warn({ err: error }, 'readiness: the database is unreachable');
          throw serviceUnavailable('the database is unreachable');
        }
        if (pending.length > 0) throw serviceUnavailable(`migrations not applied: ${pending.join(', ')}`);
        return { status: 'ready' as const, redis: redisState() };
      },
    );

    app.get(
      '/metrics',
      {
        schema: { tags: ['operations'], summary: 'Prometheus metrics', security: [], hide: true },
        config: { access: 'public', queryBudget: 2 },
      },
      async (_request, reply) => {
        reply.type(metricsRegistry.contentType);
        // Under `serve --workers N`, every worker's, summed: a scrape reaches one worker at random.
        return clusterSiblings()?.scrape() ?? metricsRegistry.metrics();
      },
    );
  };
}

/**
 * Serves the file-system store's signed download URLs. The signature covers key and expiry: a changed
 * byte is 403, a genuine URL past its expiry is 410.
 */
export function signedObjectRoutes(store: ObjectStore, signer: UrlSigner): RoutesPlugin {
  return async (app) => {
    app.get(
      '/v1/objects/*',
      {
        schema: {
          tags: ['operations'],
          summary: 'Download an object through a signed URL (file-system store only)',
          security: [],
          querystring: Type.Object({
            expires: Type.Optional(Type.String()),
            disposition: Type.Optional(Type.Union([Type.Literal('inline'), Type.Literal('attachment')])),
            filename: Type.Optional(Type.String({ maxLength: 1000 })),
            signature: Type.Optional(Type.String()),
          }),
          response: {
            200: Type.Unknown({ description: 'The object, with its content type' }),
            ...problemResponses(403, 404, 410),
          },
        },
        config: { access: 'signed-url', queryBudget: 0 },
      },
      async (request, reply) => {
        const key = (request.params as { '*': string })['*'];
        const { disposition: type, filename } = request.query;
        // A URL names a disposition with its file name, or neither (the key's last segment, saved).
        const disposition =
          type !== undefined && filename !== undefined ? { type, fileName: filename } : undefined;
        const verdict =
          (type === undefined) !== (filename === undefined)
            ? 'tampered'
            : signer.check(
                key,
                request.query.expires,
                request.query.signature,
                Date.now(),
                disposition && signedDisposition(disposition),
              );
        if (verdict === 'tampered') {
          throw new HttpProblem(403, 'Forbidden', 'the download URL signature is not valid', {
            type: 'bad-signature',
          });
        }
        if (verdict === 'expired') {
          throw new HttpProblem(410, 'Gone', 'the download URL has expired; ask the API for a new one', {
            type: 'url-expired',
          });
        }
        // A key no object can have (validly signed all the same, by whoever holds the secret) names nothing.
        if (!isValidKey(key)) throw notFound('no object has this key');
        const found = await store.get(key);
        if (!found) throw notFound('the object no longer exists');
        reply
          .type(found.object.contentType)
          .header('content-length', found.object.sizeBytes)
          .header('cache-control', 'private, max-age=60')
          .header(
            'content-disposition',
            contentDispositionHeader(
              disposition ?? { type: 'attachment', fileName: key.split('/').at(-1) ?? '' },
            ),
          );
        // Shown in a page only by this origin's own pages.
        if (disposition?.type === 'inline') reply.header('content-security-policy', "frame-ancestors 'self'");
        return reply.send(found.body);
      },
    );
  };
}
