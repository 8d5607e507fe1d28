import { randomBytes } from 'node:crypto';
import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Config } from '../../config.ts';
import { type Principal, type Role, roleAtLeast, type TokenAuthority, TokenError } from '../auth/tokens.ts';
import { judgeStatements } from '../db/query-budget.ts';
import { dbQueriesTotal, httpRequestDuration, queryBudgetViolationsTotal } from '../metrics/registry.ts';
import { RequestLedger, withLedger } from '../request-ledger.ts';
import { answerClientError, sendProblem, toProblem } from './errors.ts';
import { loggerOptions, RequestLog } from './logging.ts';
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
    logger: options.logger ?? loggerOptions(config.logLevel, config.logFormat),
    logController: new RequestLog(config.logLevel),
    genReqId: requestIds(),
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

  // What a route needs is decided once, when it is registered, not on every request: the browser's
  // security headers for pages, the NUL check where there is input, the ledger again after a body.
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/docs')) {
      route.helmet = PAGE_HEADERS;
      return;
    }
    if (route.config?.queryBudget === undefined || route.config.access === undefined) {
      throw new Error(`route ${route.method} ${route.url} must declare config.access and config.queryBudget`);
    }
    const unbounded = (['params', 'querystring', 'body'] as const).flatMap((part) =>
      unboundedNumbers(route.schema?.[part], part),
    );
    if (unbounded.length > 0) {
      throw new Error(`route ${route.method} ${route.url} must bound its numbers: ${unbounded.join(', ')}`);
    }
    if (route.config.page) route.helmet = PAGE_HEADERS;
    const takesInput = route.schema?.params || route.schema?.querystring || route.schema?.body;
    const methods = [route.method].flat();
    const mayHaveBody = methods.some((method) => method !== 'GET' && method !== 'HEAD');
    if (takesInput || mayHaveBody) route.preValidation = [...hooksOf(route.preValidation), refuseNul];
    // Body parsing runs in the socket's async context, which loses the ledger entered at onRequest.
    if (mayHaveBody) route.preHandler = [reenterLedger, ...hooksOf(route.preHandler)];
  });

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', (request, reply, done) => {
    request.ledger = new RequestLedger(config.strictQueryBudgets);
    reply.header('x-request-id', request.id);
    // What a JSON API needs of the browser-facing headers; pages get the full set (PAGE_HEADERS).
    reply.header('x-content-type-options', 'nosniff');
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
  // Callback hooks, not async ones: no promise per request on every route.
  app.addHook('onSend', (request, reply, payload, done) => {
    // A response finished while closing ends its connection, so close() is not held by keep-alive.
    if (closing) reply.header('connection', 'close');
    const ledger = request.ledger;
    if (!ledger) {
      done(null, payload);
      return;
    }
    const budget = request.routeOptions.config?.queryBudget;
    // Nothing to judge for a request that issued no statement.
    if (budget !== undefined && ledger.db.count > 0) {
      const route = `${request.method} ${request.routeOptions.url}`;
      const violations = judgeStatements(ledger, budget, route);
      for (const violation of violations) {
        queryBudgetViolationsTotal.inc({ route, kind: violation.kind });
        request.log.warn({ violation: violation.kind }, violation.message);
      }
      if (violations.length > 0 && config.strictQueryBudgets) {
        reply.code(500).type('application/problem+json; charset=utf-8');
        reply.header('server-timing', serverTiming(ledger));
        done(
          null,
          JSON.stringify({
            type: 'https://hotpath.dev/problems/query-budget',
            title: 'Query budget exceeded',
            status: 500,
            detail: violations.map((violation) => violation.message).join('\n'),
            instance: request.id,
          }),
        );
        return;
      }
    }
    reply.header('server-timing', serverTiming(ledger));
    done(null, payload);
  });

  app.addHook('onResponse', (request, reply, done) => {
    const meters = metersOf(request);
    meters.duration(request.method, reply.statusCode).observe(reply.elapsedTime / 1000);
    if (request.ledger?.db.count) meters.queries.inc(request.ledger.db.count);
    done();
  });

  app.setErrorHandler((error, request, reply) => sendProblem(reply, toProblem(error as Error, request)));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, notFound(`no route for ${request.method} ${request.url.split('?')[0]}`)),
  );

  // Only on routes that ask for it (pages, /docs): see onRoute.
  await app.register(helmet, { global: false });
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

/** Helmet's full set for HTML pages; their Content-Security-Policy is set by the page itself. */
const PAGE_HEADERS = {
  contentSecurityPolicy: false,
  crossOriginResourcePolicy: { policy: 'same-site' as const },
};

function hooksOf<T>(hooks: T | T[] | undefined): T[] {
  return hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks];
}

function refuseNul(request: FastifyRequest, _reply: unknown, done: (error?: Error) => void): void {
  try {
    refuseNulCharacters(request.params, 'params');
    refuseNulCharacters(request.query, 'querystring');
    refuseNulCharacters(request.body, 'body');
    done();
  } catch (error) {
    done(error as Error);
  }
}

function reenterLedger(request: FastifyRequest, _reply: unknown, done: () => void): void {
  withLedger(request.ledger, done);
}

/**
 * Request ids: the caller's `x-request-id` when it is a sane one, else this process's prefix and a
 * counter (unique per process, cheap: no random bytes per request).
 */
function requestIds(): (request: { headers: Record<string, unknown> }) => string {
  const prefix = randomBytes(4).toString('hex');
  let next = 0;
  return (request) => {
    const given = request.headers['x-request-id'];
    if (typeof given === 'string' && REQUEST_ID.test(given)) return given;
    next += 1;
    return `${prefix}-${next.toString(36)}`;
  };
}

interface RouteMeters {
  duration(method: string, status: number): { observe(seconds: number): void };
  queries: { inc(count: number): void };
}

/**
 * The metric series a route reports to, looked up once per route and status and kept on the route's
 * config: observing a labelled histogram by label values costs a label hash on every request.
 */
function metersOf(request: FastifyRequest): RouteMeters {
  const config = request.routeOptions.config as { meters?: RouteMeters } | undefined;
  if (config?.meters) return config.meters;
  const route = request.routeOptions.url ?? 'unmatched';
  const byStatus = new Map<string, { observe(seconds: number): void }>();
  const meters: RouteMeters = {
    duration(method, status) {
      const key = `${method} ${status}`;
      let series = byStatus.get(key);
      if (!series) {
        series = httpRequestDuration.labels({ method, route, status_code: String(status) });
        byStatus.set(key, series);
      }
      return series;
    },
    queries: dbQueriesTotal.labels({ route }),
  };
  if (config) config.meters = meters;
  return meters;
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
