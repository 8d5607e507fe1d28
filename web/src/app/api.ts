import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from '../api/schema.d.ts';
import { currentToken } from './session.ts';

export type { paths };

/** A route's JSON answer, by path and method: `Answer<'/v1/merchants', 'get'>`. */
export type Answer<
  Path extends keyof paths,
  Method extends keyof paths[Path] & ('get' | 'post' | 'put' | 'patch' | 'delete'),
> = paths[Path][Method] extends { responses: { 200: { content: { 'application/json': infer Body } } } }
  ? Body
  : paths[Path][Method] extends { responses: { 201: { content: { 'application/json': infer Body } } } }
    ? Body
    : never;

/** Where a response's time went, read from its Server-Timing header. */
export interface Timing {
  /** SQL statements the request ran. */
  queries: number | undefined;
  /** Whether a cache answered: `hit`, `miss`, or undefined where none was consulted. */
  cache: string | undefined;
  /** The server's time, in milliseconds. */
  totalMs: number | undefined;
}

export function timingOf(response: Response): Timing {
  const header = response.headers.get('server-timing') ?? '';
  const queries = /(?:^|,)\s*db;[^,]*desc="(\d+) quer/.exec(header)?.[1];
  const total = /(?:^|,)\s*total;dur=([\d.]+)/.exec(header)?.[1];
  return {
    queries: queries === undefined ? undefined : Number(queries),
    cache: /(?:^|,)\s*cache;desc="(\w+)"/.exec(header)?.[1],
    totalMs: total === undefined ? undefined : Number(total),
  };
}

/** An answer other than 2xx, with the problem+json the server sent (RFC 9457). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | undefined,
  ) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = 'ApiError';
  }
}

/**
 * The typed client every screen uses (openapi-fetch, typed from /openapi.json by web/src/api/schema.d.ts):
 * it sends this tab's token unless the call sets its own `authorization`.
 */
export const api = createClient<paths>({ baseUrl: window.location.origin });

const bearer: Middleware = {
  onRequest({ request }) {
    const token = currentToken();
    if (token && !request.headers.has('authorization')) {
      request.headers.set('authorization', `Bearer ${token}`);
    }
    return request;
  },
};
api.use(bearer);

/** The data of a call, with its timing; throws ApiError for any other answer, a network failure as is. */
export async function answer<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<{ data: T; timing: Timing }> {
  const { data, error, response } = await call;
  if (!response.ok || data === undefined) {
    const problem = (error ?? {}) as { title?: unknown; detail?: unknown };
    throw new ApiError(
      response.status,
      typeof problem.title === 'string' ? problem.title : response.statusText || `HTTP ${response.status}`,
      typeof problem.detail === 'string' ? problem.detail : undefined,
    );
  }
  return { data, timing: timingOf(response) };
}

/** Headers that make the server compute afresh rather than answer from its cache. */
export const FRESH = { 'cache-control': 'no-cache' } as const;
