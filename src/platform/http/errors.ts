import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { sqlState } from '../db/transactions.ts';
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
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
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
  const fromDatabase = databaseProblem(error);
  if (fromDatabase) {
    if (fromDatabase.status >= 500) request.log.warn({ err: error }, 'the database could not answer');
    return fromDatabase;
  }
  if (isDependencyDown(error)) {
    request.log.warn({ err: error }, 'a dependency is unavailable');
    return serviceUnavailable(
      'a service this request needs (database or storage) is unavailable; retry shortly',
    );
  }
  const status = fastifyError.statusCode;
  if (status && status >= 400 && status < 500) {
    return new HttpProblem(status, TITLES[status] ?? 'Client Error', clientErrorDetail(fastifyError), {
      type: String(status),
    });
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

/** Network failures: retryable, not bugs. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
]);

function isDependencyDown(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  // pg-pool's and pg's own wording when no connection can be had, one is lost mid-query, or a
  // transaction's ROLLBACK finds its connection gone (Kysely then throws that instead).
  return /timeout exceeded when trying to connect|Connection terminated|is not queryable|connect ECONNREFUSED|Query read timeout/.test(
    error.message,
  );
}

/** What a client did wrong, in words: the framework's own messages echo whole URLs. */
function clientErrorDetail(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return 'the URL is not valid: a % must start an escape of two hexadecimal digits';
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return 'a path segment is longer than 512 characters';
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return `body is not valid JSON: ${error.message}`;
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'the body is empty; send a JSON object';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'the body is over the size limit';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return `this route does not take ${error.message.replace(/^Unsupported Media Type:?\s*/i, '') || 'that content type'}`;
    default:
      return error instanceof SyntaxError ? `body is not valid JSON: ${error.message}` : error.message;
  }
}

/**
 * PostgreSQL's refusals, mapped in one place. A statement over the timeout, a conflict that retrying
 * did not resolve, and a server out of connections or shutting down are 503s worth retrying; a unique
 * key taken is a 409; a value the database finds malformed (class 22) is a 400, the last line behind
 * the request schemas.
 */
function databaseProblem(error: Error): HttpProblem | undefined {
  const code = sqlState(error);
  if (!code || !(error as { severity?: unknown }).severity) return undefined;
  if (code === '57014') {
    return serviceUnavailable('the database took too long to answer; retry shortly', 2);
  }
  if (code === '40001' || code === '40P01') {
    return serviceUnavailable('the request conflicted with concurrent changes; retry it', 1);
  }
  if (code === '55P03') return serviceUnavailable('the data is locked by another change; retry it', 1);
  if (code === '23505') {
    return new HttpProblem(409, 'Conflict', 'it conflicts with something that already exists', {
      type: 'conflict',
    });
  }
  if (code === '23503') {
    return new HttpProblem(
      409,
      'Conflict',
      'it refers to something that does not exist, or is still referred to',
      {
        type: 'conflict',
      },
    );
  }
  if (code.startsWith('22') || code === '23502' || code === '23514') {
    return new HttpProblem(400, 'Bad Request', `a value is not valid: ${error.message}`, {
      type: 'invalid-request',
    });
  }
  if (code.startsWith('08') || code.startsWith('53') || code.startsWith('57P')) {
    return serviceUnavailable('the database is unavailable; retry shortly');
  }
  return undefined;
}

/**
 * What Node's HTTP parser refuses before there is a request (headers too large, broken chunked
 * encoding, a malformed Content-Length), answered as a problem+json on the raw socket, then closed.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable) return;
  const [status, detail] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'the request headers are over the size limit']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request took too long to arrive']
        : error.code === 'HPE_INVALID_CHUNK_SIZE' || error.code === 'HPE_INVALID_TRANSFER_ENCODING'
          ? [400, 'the chunked transfer encoding is malformed']
          : error.code === 'HPE_INVALID_CONTENT_LENGTH' || error.code === 'HPE_UNEXPECTED_CONTENT_LENGTH'
            ? [400, 'the Content-Length header is malformed or contradicts the framing']
            : [400, 'the request is not valid HTTP/1.1'];
  const title = TITLES[status] ?? 'Bad Request';
  const body = JSON.stringify({ type: `${PROBLEM_TYPE_BASE}${status}`, title, status, detail });
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
