import { randomUUID } from 'node:crypto';
import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from '../../config.ts';
import { type Principal, type Role, roleAtLeast, type TokenAuthority, TokenError } from '../auth/tokens.ts';
import { judgeStatements } from '../db/query-budget.ts';
import { dbQueriesTotal, httpRequestDuration, queryBudgetViolationsTotal } from '../metrics/registry.ts';
import { RequestLedger, withLedger } from '../request-ledger.ts';
import { answerClientError, sendProblem, toProblem } from './errors.ts';
import {
  forbidden,
  HttpProblem,
  notFound,
  ProblemSchema,
  serviceUnavailable,
  unauthorized,
} from './problems.ts';
import { serverTiming } from './server-timing.ts';
import { serverTimeouts } from './timeouts.ts';
import { refuseNulCharacters, requestValidators, unboundedNumbers } from './validation.ts';

/** Who may call a route: a minimum role, anyone (`public`), or the holder of a signed URL. */
export type RouteAccess = Role | 'public' | 'signed-url';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
    /** The most SQL statements one request may issue. Required on every route. */
    queryBudget?: number;
    /** An HTML page for a browser: it gets the browser-facing security headers JSON answers do without. */
    page?: boolean;
  }
  interface FastifyRequest {
    ledger: RequestLedger;
    principal: Principal | undefined;
  }
}

export type RoutesPlugin = FastifyPluginAsyncTypebox;

export interface HttpAppOptions {
  config: Config;
  tokens: TokenAuthority;
  /** Route plugins: the platform's (health, metrics, objects) and each module's. */
  plugins: RoutesPlugin[];
  logger?: FastifyServerOptions['logger'];
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The Fastify app every module's routes run in: request ids, bearer auth by route, problem+json for
 * every error, Server-Timing on every response, the metrics, statement budgets and the N+1 guard, and
 * OpenAPI generated from the same TypeBox schemas that validate and serialise.
 */
export async function buildHttpApp(options: HttpAppOptions): Promise<FastifyInstance> {
  const { config, tokens } = options;
  const app = Fastify({
    logger: options.logger ?? { level: config.logLevel },
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { removeAdditional: false, useDefaults: true } },
    schemaController: { compilersFactory: { buildValidator: requestValidators() } },
    // Long enough for any id or object key hotpath makes; a longer path segment is a 414.
    routerOptions: { maxParamLength: 512 },
    // What the router and the HTTP parser refuse is a problem+json too.
    frameworkErrors: (error, request, reply) => sendProblem(reply, toProblem(error, request)),
    clientErrorHandler: answerClientError,
    // Our own 503 while closing (below), so it is a problem+json like every other error.
    return503OnClosing: false,
    ...serverTimeouts(config.http),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorateRequest('ledger', null as unknown as RequestLedger);
  app.decorateRequest('principal', undefined);
  app.addSchema(ProblemSchema);

  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/docs')) return;
    if (route.config?.queryBudget === undefined || route.config.access === undefined) {
      throw new Error(`route ${route.method} ${route.url} must declare config.access and config.queryBudget`);
    }
    const unbounded = (['params', 'querystring', 'body'] as const).flatMap((part) =>
      unboundedNumbers(route.schema?.[part], part),
    );
    if (unbounded.length > 0) {
      throw new Error(`route ${route.method} ${route.url} must bound its numbers: ${unbounded.join(', ')}`);
    }
  });

  // The ledger is entered at the start and again before the handler: body parsing runs in the
  // socket's async context, which would otherwise lose it.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', (request, reply, done) => {
    request.ledger = new RequestLedger(config.strictQueryBudgets);
    reply.header('x-request-id', request.id);
    if (closing) {
      reply.header('connection', 'close');
      done(serviceUnavailable('the server is shutting down; retry on another instance', 1));
      return;
    }
    // The token is checked before the body is read: a request that may not write is not buffered.
    try {
      authorize(request, tokens);
    } catch (error) {
      if (hasBody(request)) reply.header('connection', 'close');
      done(error as Error);
      return;
    }
    withLedger(request.ledger, done);
  });
  app.addHook('preValidation', (request, _reply, done) => {
    try {
      refuseNulCharacters(request.params, 'params');
      refuseNulCharacters(request.query, 'querystring');
      refuseNulCharacters(request.body, 'body');
      done();
    } catch (error) {
      done(error as Error);
    }
  });
  app.addHook('preHandler', (request, _reply, done) => {
    withLedger(request.ledger, done);
  });

  app.addHook('onSend', async (request, reply, payload) => {
    // A response finished while closing ends its connection, so close() is not held by keep-alive.
    if (closing) reply.header('connection', 'close');
    const budget = request.routeOptions.config?.queryBudget;
    if (budget !== undefined && request.ledger) {
      const route = `${request.method} ${request.routeOptions.url}`;
      const violations = judgeStatements(request.ledger, budget, route);
      for (const violation of violations) {
        queryBudgetViolationsTotal.inc({ route, kind: violation.kind });
        request.log.warn({ violation: violation.kind }, violation.message);
      }
      if (violations.length > 0 && config.strictQueryBudgets) {
        reply.code(500).type('application/problem+json; charset=utf-8');
        reply.header('server-timing', serverTiming(request.ledger));
        return JSON.stringify({
          type: 'https://hotpath.dev/problems/query-budget',
          title: 'Query budget exceeded',
          status: 500,
          detail: violations.map((violation) => violation.message).join('\n'),
          instance: request.id,
        });
      }
    }
    if (request.ledger) reply.header('server-timing', serverTiming(request.ledger));
    return payload;
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    httpRequestDuration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    if (request.ledger?.db.count) dbQueriesTotal.inc({ route }, request.ledger.db.count);
  });

  app.setErrorHandler((error, request, reply) => sendProblem(reply, toProblem(error as Error, request)));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, notFound(`no route for ${request.method} ${request.url.split('?')[0]}`)),
  );

  await app.register(helmet, {
    contentSecurityPolicy: false,
    crossOriginResourcePolicy: { policy: 'same-site' },
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'hotpath',
        version: '0.1.0',
        description: 'Read-heavy APIs served fast. Every response carries Server-Timing.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    refResolver: {
      buildLocalReference: (json, _base, _fragment, index) => String(json.$id ?? `def-${index}`),
    },
  });
  // Its pages carry a Content-Security-Policy too (its inline script by hash).
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    // The demo is plain HTTP on 127.0.0.1: upgrading its requests to HTTPS would break the page.
    transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, ''),
  });
  app.get(
    '/openapi.json',
    { schema: { hide: true }, config: { access: 'public', queryBudget: 0 } },
    async () => app.swagger(),
  );

  for (const plugin of options.plugins) await app.register(plugin);
  return app;
}

function authorize(request: import('fastify').FastifyRequest, tokens: TokenAuthority): void {
  const access = request.routeOptions.config?.access;
  if (access === 'public' || access === 'signed-url' || access === undefined) return;
  const header = request.headers.authorization;
  if (!header) throw unauthorized('this route needs `Authorization: Bearer <token>`');
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match?.[1]) throw unauthorized('the Authorization header must be `Bearer <token>`');
  let principal: Principal;
  try {
    principal = tokens.verify(match[1]);
  } catch (error) {
    if (error instanceof TokenError) throw unauthorized(error.message);
    throw error;
  }
  if (!roleAtLeast(principal.role, access)) {
    throw forbidden(`this needs the ${access} role; the token has ${principal.role}`);
  }
  request.principal = principal;
}

/** Whether a request announces a body, which an early answer leaves unread. */
function hasBody(request: import('fastify').FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/** The caller of an authenticated route; routes call this instead of reading `request.principal`. */
export function principalOf(request: import('fastify').FastifyRequest): Principal {
  if (!request.principal) throw new HttpProblem(401, 'Unauthorized', 'no principal on this request');
  return request.principal;
}
