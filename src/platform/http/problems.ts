import { Type } from 'typebox';

/**
 * An RFC 9457 problem the service means to return. Thrown from services and routes; the error handler
 * turns it into `application/problem+json`.
 */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly extra: { type?: string; headers?: Record<string, string>; errors?: FieldError[] } = {},
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }
}

export interface FieldError {
  field: string;
  message: string;
}

export const PROBLEM_TYPE_BASE = 'https://hotpath.dev/problems/';

export const badRequest = (detail: string, errors?: FieldError[]) =>
  new HttpProblem(400, 'Bad Request', detail, { type: 'invalid-request', ...(errors ? { errors } : {}) });
export const notFound = (detail: string) => new HttpProblem(404, 'Not Found', detail, { type: 'not-found' });
export const conflict = (detail: string) => new HttpProblem(409, 'Conflict', detail, { type: 'conflict' });
export const forbidden = (detail: string) => new HttpProblem(403, 'Forbidden', detail, { type: 'forbidden' });
export const unauthorized = (detail: string) =>
  new HttpProblem(401, 'Unauthorized', detail, {
    type: 'unauthorized',
    headers: { 'www-authenticate': 'Bearer' },
  });
/** The connection closes after a 413, so the rest of an oversize body is not read. */
export const payloadTooLarge = (detail: string) =>
  new HttpProblem(413, 'Payload Too Large', detail, {
    type: 'payload-too-large',
    headers: { connection: 'close' },
  });
export const serviceUnavailable = (detail: string, retryAfterSeconds = 5) =>
  new HttpProblem(503, 'Service Unavailable', detail, {
    type: 'unavailable',
    headers: { 'retry-after': String(retryAfterSeconds) },
  });

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'A URI naming the kind of problem' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    instance: Type.Optional(Type.String({ description: 'The request id' })),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details' },
);

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is malformed; `detail` and `errors` name the field',
  401: 'No valid bearer token',
  403: 'The token does not allow this',
  404: 'Not found',
  409: 'Conflicts with the current state',
  413: 'The body is over the size limit',
  415: 'Unsupported media type',
  503: 'A dependency is unavailable; retry after `Retry-After` seconds',
};

/** The problem responses a route can give, for its OpenAPI description. */
export function problemResponses(...statuses: number[]) {
  const responses: Record<number, unknown> = {};
  for (const status of statuses) {
    responses[status] = { $ref: 'Problem#', description: PROBLEM_DESCRIPTIONS[status] ?? 'Problem' };
  }
  return responses as Record<number, typeof ProblemSchema>;
}
