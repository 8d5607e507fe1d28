import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { type FieldError, HttpProblem, PROBLEM_TYPE_BASE, serviceUnavailable } from './problems.ts';

interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  errors?: FieldError[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function sendProblem(reply: FastifyReply, problem: HttpProblem): FastifyReply {
  const body: ProblemBody = {
    type: `${PROBLEM_TYPE_BASE}${problem.extra.type ?? String(problem.status)}`,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    instance: String(reply.request.id),
    ...(problem.extra.errors ? { errors: problem.extra.errors } : {}),
  };
  for (const [name, value] of Object.entries(problem.extra.headers ?? {})) reply.header(name, value);
  // Serialised here, not by the route's schema, so every problem keeps the same shape.
  return reply
    .code(problem.status)
    .type('application/problem+json; charset=utf-8')
    .serializer((payload: unknown) => JSON.stringify(payload))
    .send(body);
}

/**
 * Every error becomes a problem: ours as thrown, Fastify's validation and parsing errors as 4xx naming
 * the field, anything else as a 500 with no internals (the stack goes to the log, not the client).
 */
export function toProblem(error: FastifyError | HttpProblem | Error, request: FastifyRequest): HttpProblem {
  if (error instanceof HttpProblem) return error;
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const where = fastifyError.validationContext ?? 'request';
    const errors: FieldError[] = fastifyError.validation.map((issue) => {
      const params = issue.params as Record<string, unknown>;
      const path = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
      const leaf = (params.missingProperty ?? params.additionalProperty) as string | undefined;
      const field = [where, path, leaf].filter(Boolean).join('.');
      const message =
        params.additionalProperty !== undefined ? 'is not a known field' : (issue.message ?? 'is invalid');
      return { field, message };
    });
    const first = errors[0];
    return new HttpProblem(
      400,
      'Bad Request',
      first ? `${first.field} ${first.message}` : 'invalid request',
      {
        type: 'invalid-request',
        errors,
      },
    );
  }
  if (isDependencyDown(error)) {
    request.log.warn({ err: error }, 'a dependency is unavailable');
    return serviceUnavailable(
      'a service this request needs (database or storage) is unavailable; retry shortly',
    );
  }
  const status = fastifyError.statusCode;
  if (status && status >= 400 && status < 500) {
    const detail =
      fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError
        ? `body is not valid JSON: ${error.message}`
        : error.message;
    return new HttpProblem(status, TITLES[status] ?? 'Client Error', detail, { type: String(status) });
  }
  request.log.error({ err: error }, 'request failed');
  return new HttpProblem(
    500,
    'Internal Server Error',
    'The server failed to answer; the request id is in `instance`.',
    {
      type: 'internal',
    },
  );
}

/** Network failures, and PostgreSQL refusing work (shutting down, out of connections): retryable, not bugs. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

function isDependencyDown(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  // pg-pool's and pg's own wording when no connection can be had or one is lost mid-query.
  return /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED/.test(
    error.message,
  );
}
