import type { Config } from '../../config.ts';

/**
 * Fastify's server options for the timeouts in the config. Node checks header and request deadlines
 * on a timer, every 30 s by default: checked every second, a slow client is cut close to its deadline.
 */
export function serverTimeouts(timeouts: Config['http']) {
  return {
    connectionTimeout: timeouts.idleTimeoutMs,
    keepAliveTimeout: timeouts.keepAliveTimeoutMs,
    requestTimeout: timeouts.requestTimeoutMs,
    http: {
      headersTimeout: timeouts.headersTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      keepAliveTimeout: timeouts.keepAliveTimeoutMs,
      connectionsCheckingInterval: 1_000,
    },
  };
}
