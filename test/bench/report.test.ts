import { describe, expect, it } from 'vitest';
import {
  budgetFailures,
  chartRows,
  ingestionTable,
  ingestionTargets,
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

/** An ingestion row: MLLP senders in `connections`, messages in `requests`. */
function ingestion(overrides: Partial<ScenarioResult>): ScenarioResult {
  const hotpath = overrides.role !== 'limit';
  return row({
    comparison: 'ingestion-oru',
    role: 'hotpath',
    design: hotpath
      ? 'hotpath: MLLP listener, PostgreSQL + file store'
      : 'limit: bare MLLP server, AA without storing',
    route: 'mllp hl7v2 message',
    ...(hotpath ? { budget: 4 } : {}),
    connections: 10,
    requests: 24_000,
    requestsPerSecond: 1_200,
    p50: 8,
    p95: 15,
    p99: 20,
    sqlPerRequest: hotpath ? 3 : 0,
    storagePerRequest: hotpath ? 2 : 0,
    ...overrides,
  });
}
const ingestionRows = [
  ingestion({}),
  ingestion({ role: 'limit', requestsPerSecond: 4_000, p99: 5 }),
  ingestion({ comparison: 'ingestion-mdm', requestsPerSecond: 90, p99: 300, storagePerRequest: 3 }),
  ingestion({ comparison: 'ingestion-mdm', role: 'limit', requestsPerSecond: 800 }),
  ingestion({ connections: 1, requestsPerSecond: 150, p99: 9 }),
  ingestion({ connections: 1, role: 'limit', requestsPerSecond: 1_500 }),
];

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

  it('reports ingestion rows in a table of their own, each beside the bare MLLP server at its senders', () => {
    const table = ingestionTable(report([...ingestionRows, row({}), limitRow]));
    expect(table).toHaveLength(2 + ingestionRows.length);
    expect(table[2]).toContain('| ORU^R01 + 40 KB PDF | loopback | 1 | hotpath: MLLP listener');
    expect(table[2]).toContain('| 10 % |');
    expect(table[4]).toContain('| 10 | hotpath');
    expect(table[4]).toContain('| 3 | 2 |');
    expect(table[4]).toContain('| 30 % |');
    // Senders are not HTTP connections: the HTTP tables leave ingestion rows out.
    const http = resultsTable(report([ingestion({ connections: 100 }), row({})])).join('\n');
    expect(http).not.toContain('MLLP');
    const markdown = reportMarkdown(report(ingestionRows), { chart: 'chart.svg', json: 'run.json' });
    expect(markdown).toContain('## Ingestion: HL7 v2 over MLLP');
    expect(markdown).not.toContain('## One connection');
  });

  it("prints each of the ingestion issue's targets beside what was measured at 10 senders", () => {
    expect(ingestionTargets(report(ingestionRows))).toEqual([
      '| target | limit | measured | |',
      '|---|---|---|---|',
      '| ORU^R01 messages/s at 10 senders | ≥ 1,000 | 1,200 msg/s | met |',
      '| ORU^R01 ACK p99 at 10 senders | ≤ 25 ms | 20 ms (p50 8 ms, p95 15 ms) | met |',
      '| ORU^R01 at 10 senders ÷ bare MLLP server | ≥ 50 % | 30 % (1,200 ÷ 4,000 msg/s) | missed |',
      "| MDM^T02 (CDA + 300 KB PDF) at 10 senders | (stated) | 90 msg/s, ACK p99 300 ms, 11 % of the bare server's 800 msg/s | |",
      '| statements per message, every row | ≤ 4 | at most 3 (ORU^R01 + 40 KB PDF, 10 senders) | met |',
    ]);
    expect(ingestionTargets(report([row({})]))).toEqual([]);
  });

  it('fails an ingestion row with an ACK other than AA, a message left unacknowledged, or over budget', () => {
    expect(
      budgetFailures([
        ingestion({ non2xx: 2, failedStatuses: { AE: 2 } }),
        ingestion({ errors: 1 }),
        ingestion({ sqlPerRequest: 4.5 }),
        ingestion({ role: 'limit' }),
      ]),
    ).toEqual([
      'hotpath: MLLP listener, PostgreSQL + file store (loopback), 10 senders: 0 messages without an ACK, 2 not acknowledged AA (2 × AE)',
      'hotpath: MLLP listener, PostgreSQL + file store (loopback), 10 senders: 1 messages without an ACK, 0 not acknowledged AA (1 × no answer)',
      'hotpath: MLLP listener, PostgreSQL + file store (loopback): 4.5 statements a message, budget 4',
    ]);
  });
});
