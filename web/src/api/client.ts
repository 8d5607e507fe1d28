import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema.d.ts';

export type { paths };

/** Where the last response's time went, from its Server-Timing header. */
export interface Timing {
  queries: string;
  external: string;
  /** hit or miss where a cache was consulted. */
  cache: string | undefined;
  totalMs: string;
}

/** The API client the page uses, typed from the committed OpenAPI types. */
export function apiClient(token: () => string, onTiming: (timing: Timing) => void) {
  const client = createClient<paths>({ baseUrl: window.location.origin });
  const auth: Middleware = {
    onRequest({ request }) {
      request.headers.set('authorization', `Bearer ${token()}`);
      return request;
    },
    onResponse({ response }) {
      const header = response.headers.get('server-timing') ?? '';
      const desc = (name: string) => new RegExp(`${name};[^,]*desc="([^"]*)"`).exec(header)?.[1] ?? '?';
      const total = /total;dur=([\d.]+)/.exec(header)?.[1] ?? '?';
      const cache = /cache;desc="(\w+)"/.exec(header)?.[1];
      onTiming({ queries: desc('db'), external: desc('ext'), cache, totalMs: total });
      return response;
    },
  };
  client.use(auth);
  return client;
}
