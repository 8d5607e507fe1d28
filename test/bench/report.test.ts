import { describe, expect, it } from 'vitest';
import {
  budgetFailures,
  chartRows,
  type RunReport,
  reportMarkdown,
  resultsTable,
  shortfalls,
} from '../../bench/support/report.ts';
import type { ScenarioResult } from '../../bench/support/scenario.ts';

function row(overrides: Partial<ScenarioResult>): ScenarioResult {
  return {
    comparison: 'documents',
    role: 'hotpath',
    design: 'hotpath: registry',
    route: '/v1/documents/:logicalId',
    profile: 'loopback',
    connections: 100,
    stop: { seconds: 20 },
    requests: 40_000,
    errors: 0,
    non2xx: 0,
    seconds: 20,
    requestsPerSecond: 2_000,
    mean: 30,
    p50: 30,
    p90: 40,
    p95: 45,
    p99: 60,
    max: 90,
    bytesPerResponse: 1_500,
    failedStatuses: {},
    sqlPerRequest: 1,
    storagePerRequest: 0,
    externalPerRequest: 0,
    budgetViolations: 0,
    ...overrides,
  };
}

function report(results: ScenarioResult[]): RunReport {
  return {
    command: 'npm run bench',
    startedAt: '2026-11-22T00:00:00.000Z',
    seconds: 600,
    quick: false,
    machine: '2 × test cpu',
    postgres: 'PostgreSQL 17 (embedded)',
    load: { connections: 100, warmupSeconds: 5, seconds: 20, beforeRequests: 200 },
    profiles: [{ name: 'loopback', description: 'loopback: nothing added' }],
    data: {},
    results,
    details: {},
  };
}

const limitRow = row({
  comparison: 'limit',
  role: 'limit',
  design: 'limit: bare Fastify + pg, primary-key row',
  route: '/rows/:id',
  requestsPerSecond: 3_000,
});
const helloRow = row({
  comparison: 'limit',
  role: 'limit',
  design: 'limit: bare Fastify, constant answer',
  route: '/hello',
  sqlPerRequest: 0,
  requestsPerSecond: 12_000,
});

describe('benchmark report', () => {
  it('fails a hotpath route over its budget, caught by the N+1 guard, or answering errors', () => {
    const failures = budgetFailures([
      row({ budget: 1, sqlPerRequest: 1 }),
      row({ budget: 1, sqlPerRequest: 1.5, design: 'over budget' }),
      row({ budget: 1, budgetViolations: 3, design: 'n+1' }),
      row({ budget: 1, non2xx: 2, design: 'errors' }),
      row({ role: 'before', design: 'before failing', non2xx: 40, sqlPerRequest: 3_600 }),
      row({ role: 'before', design: 'before silent', requests: 0 }),
    ]);
    expect(failures).toEqual([
      'over budget (loopback): 1.5 statements a request, budget 1',
      "n+1 (loopback): hotpath's guard counted 3 budget or N+1 violations",
      'errors (loopback): 0 errors, 2 non-2xx answers',
      'before silent (loopback): no answer in the measured interval',
    ]);
  });

  it("names where hotpath missed a write-up's after figure or half the machine's limit", () => {
    const lines = shortfalls(
      report([
        row({ p50: 50, p95: 50, p99: 60, requestsPerSecond: 1_000 }),
        row({
          comparison: 'dashboard-hit',
          route: '/v1/merchants/:merchantId/dashboard',
          sqlPerRequest: 0,
          p50: 2,
          p95: 5,
          p99: 9,
          requestsPerSecond: 11_000,
        }),
        limitRow,
        helloRow,
      ]),
    );
    expect(lines).toEqual([
      "documents · latest approved (loopback): p50 50 ms, the write-up's after 42 ms",
      'documents · latest approved (loopback): 1,000 req/s, 33 % of the limit (bare Fastify + pg, primary-key row, 3,000 req/s)',
    ]);
  });

  it('pairs each hotpath row with its before design; the cached dashboard with the uncached V1', () => {
    const results = [
      row({ comparison: 'dashboard-miss', p50: 2 }),
      row({ comparison: 'dashboard-hit', p50: 0.5 }),
      row({ comparison: 'dashboard-miss', role: 'before', design: 'before: V1', p50: 1_000 }),
      row({ connections: 1, p50: 0.4, design: 'one connection' }),
    ];
    const table = resultsTable(report(results)).join('\n');
    expect(table).toContain('| 500× |');
    expect(table).toContain('| 2000× |'.replace('2000', '2,000'));
    expect(table).not.toContain('one connection');
    const chart = chartRows(report(results));
    expect(chart.map((entry) => [entry.scenario, entry.before?.p50, entry.after.p50])).toEqual([
      ['dashboard · cache miss', 1_000, 2],
      ['dashboard · cache hit', 1_000, 0.5],
    ]);
  });

  it('writes the command, the machine, the chart and the one-connection rows into the report', () => {
    const markdown = reportMarkdown(
      report([row({}), row({ connections: 1, p50: 0.5, design: 'one connection' }), limitRow, helloRow]),
      { chart: 'chart.svg', json: 'results/run.json' },
    );
    expect(markdown).toContain('Made by `npm run bench`');
    expect(markdown).toContain('2 × test cpu');
    expect(markdown).toContain('![p50 and p99, before vs hotpath, log scale](chart.svg)');
    expect(markdown).toContain('## One connection: latency without queueing');
    expect(markdown).toContain('| one connection |');
    expect(markdown).toContain('[results/run.json](results/run.json)');
  });
});
