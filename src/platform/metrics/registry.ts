import client from 'prom-client';

/**
 * The process's Prometheus registry and the metrics every module shares, named as DESIGN.md names
 * them. Modules register their own metrics on `metricsRegistry`.
 */
export const metricsRegistry = new client.Registry();
client.collectDefaultMetrics({ register: metricsRegistry });
// Gauges that prom-client names like counters: Prometheus' own lint (`promtool check metrics`, run by
// CI) refuses them, and the event loop lag and heap series say more.
for (const misnamed of [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
]) {
  metricsRegistry.removeSingleMetric(misnamed);
}

export const httpRequestDuration = new client.Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP request duration by route pattern',
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [metricsRegistry],
});

export const dbQueriesTotal = new client.Counter({
  name: 'hotpath_db_queries_total',
  help: 'SQL statements issued, by the route that issued them',
  labelNames: ['route'] as const,
  registers: [metricsRegistry],
});

export const dbQueryDuration = new client.Histogram({
  name: 'hotpath_db_query_duration_seconds',
  help: 'SQL statement duration, by statement name',
  labelNames: ['query'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
  registers: [metricsRegistry],
});

export const storageRequestsTotal = new client.Counter({
  name: 'hotpath_storage_requests_total',
  help: 'Requests made to the object store, by operation',
  labelNames: ['operation'] as const,
  registers: [metricsRegistry],
});

export const externalRequestsTotal = new client.Counter({
  name: 'hotpath_external_requests_total',
  help: 'Requests made to external HTTP services, by service',
  labelNames: ['service'] as const,
  registers: [metricsRegistry],
});

export const cacheRequestsTotal = new client.Counter({
  name: 'hotpath_cache_requests_total',
  help: 'Cache lookups, by cache and result',
  labelNames: ['cache', 'result'] as const,
  registers: [metricsRegistry],
});

export const queryBudgetViolationsTotal = new client.Counter({
  name: 'hotpath_query_budget_violations_total',
  help: 'Requests that overran their statement budget or repeated a statement shape (N+1), by route',
  labelNames: ['route', 'kind'] as const,
  registers: [metricsRegistry],
});

export { client as prometheus };

const trackedPools = new Set<import('pg').Pool>();

/** Pool gauges read the pools at scrape time; tests open several pools in one process, so they sum. */
export function trackPool(pool: import('pg').Pool): () => void {
  trackedPools.add(pool);
  return () => trackedPools.delete(pool);
}

const sumPools = (read: (pool: import('pg').Pool) => number) =>
  [...trackedPools].reduce((total, pool) => total + read(pool), 0);

new client.Gauge({
  name: 'hotpath_db_pool_in_use',
  help: 'Pooled connections checked out',
  registers: [metricsRegistry],
  collect() {
    this.set(sumPools((pool) => pool.totalCount - pool.idleCount));
  },
});
new client.Gauge({
  name: 'hotpath_db_pool_idle',
  help: 'Pooled connections idle',
  registers: [metricsRegistry],
  collect() {
    this.set(sumPools((pool) => pool.idleCount));
  },
});
new client.Gauge({
  name: 'hotpath_db_pool_waiting',
  help: 'Requests waiting for a pooled connection',
  registers: [metricsRegistry],
  collect() {
    this.set(sumPools((pool) => pool.waitingCount));
  },
});
