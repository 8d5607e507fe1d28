import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { type DashboardReport, dashboardBenchmark } from './dashboard/scenario.ts';
import { type DocumentsReport, documentsBenchmark } from './documents/scenario.ts';
import { type WorklistReport, worklistBenchmark } from './worklist/scenario.ts';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '1,10' },
    'registry-connections': { type: 'string', default: '100' },
    's3-latency-ms': { type: 'string', default: '50' },
    'fhir-latency-ms': { type: 'string', default: '20' },
    'worklist-facilities': { type: 'string', default: '800' },
    'worklist-requests': { type: 'string', default: '1000000' },
    'dashboard-merchants': { type: 'string', default: '500' },
    'dashboard-connections': { type: 'string', default: '100' },
    'dashboard-v1-duration': { type: 'string', default: '180' },
  },
});

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const fixed = (value: number | undefined, digits = 1) =>
  value !== undefined && Number.isFinite(value) ? value.toFixed(digits) : '-';
const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const where = `PostgreSQL: ${process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded'}; the load generator, the server, PostgreSQL and the stand-in services share the machine`;
const suites = values.only ? values.only.split(',') : ['documents', 'worklist', 'dashboard'];
const durationSeconds = Number(values.duration);
const sharedConnections = values.connections.split(',').map(Number);
mkdirSync('bench/results', { recursive: true });
log(machine);

const lines: string[] = [];

if (suites.includes('documents')) {
  const report = await documentsBenchmark({
    durationSeconds,
    sharedConnections,
    registryConnections: Number(values['registry-connections']),
    s3LatencyMs: Number(values['s3-latency-ms']),
    log,
  });
  writeFileSync('bench/results/documents.json', `${JSON.stringify({ machine, ...report }, null, 2)}\n`);
  lines.push(...documentsLines(report));
}
if (suites.includes('worklist')) {
  const report = await worklistBenchmark({
    durationSeconds,
    connections: sharedConnections,
    fhirLatencyMs: Number(values['fhir-latency-ms']),
    facilities: Number(values['worklist-facilities']),
    requests: Number(values['worklist-requests']),
    log,
  });
  writeFileSync('bench/results/worklist.json', `${JSON.stringify({ machine, ...report }, null, 2)}\n`);
  lines.push(...worklistLines(report));
}
if (suites.includes('dashboard')) {
  const report = await dashboardBenchmark({
    merchants: Number(values['dashboard-merchants']),
    bigMerchantMultiplier: 10,
    hotpathRequests: 300,
    v1Requests: { typical: 20, big: 3 },
    connections: Number(values['dashboard-connections']),
    durationSeconds,
    v1DurationSeconds: Number(values['dashboard-v1-duration']),
    log,
  });
  writeFileSync('bench/results/dashboard.json', `${JSON.stringify({ machine, ...report }, null, 2)}\n`);
  lines.push(...dashboardLines(report));
}
process.stdout.write(`${lines.join('\n')}\n`);
log('wrote bench/results/*.json');

function documentsLines(report: DocumentsReport): string[] {
  return [
    '# documents: latest approved version',
    '',
    `machine: ${machine}; ${where}`,
    `S3: s3rver behind a proxy adding ${report.s3LatencyMs} ms to every request; s3rver itself takes ${fixed(report.legacySection.s3rverPageMs, 0)} ms per 1,000-key page of this section`,
    '',
    `GET /v1/documents/{id} in a section of ${report.legacySection.keys} sibling keys (${report.legacySection.listPages} list pages):`,
    '',
    '| read path | connections | requests | req/s | p50 ms | p95 ms | p99 ms | SQL/req | storage req/req | bytes/resp | errors | Server-Timing (sample) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...report.latestApproved.map(
      (row) =>
        `| ${row.mode} | ${row.connections} | ${row.requests} | ${fixed(row.requestsPerSecond, 0)} | ${fixed(row.p50)} | ${fixed(row.p95)} | ${fixed(row.p99)} | ${fixed(row.queriesPerRequest, 2)} | ${fixed(row.storageRequestsPerRequest, 2)} | ${fixed(row.bytesPerResponse, 0)} | ${row.errors + row.non2xx} | ${row.sampleServerTiming} |`,
    ),
    '',
    `- backfill: ${report.backfill.versions} versions of ${report.backfill.documents} documents in ${fixed(report.backfill.seconds, 2)} s = ${fixed(report.backfill.versionsPerSecond, 0)} versions/s (rerun: ${fixed(report.backfill.rerunSeconds, 2)} s, ${report.backfill.rerunChanged} rows changed)`,
    `- reconcile: ${report.reconcile.documents} documents, ${report.reconcile.mismatches} mismatches, ${fixed(report.reconcile.seconds, 2)} s (${report.reconcile.storageRequests} storage requests, file-system store)`,
    `- import-bucket: ${report.legacySection.keys} keys, ${report.legacySection.documents} documents, ${report.legacySection.listPages} list pages, ${fixed(report.legacySection.importSeconds, 2)} s`,
    '',
  ];
}

function worklistLines(report: WorklistReport): string[] {
  return [
    '# worklist',
    '',
    `machine: ${machine}; ${where}`,
    `data: ${report.dataset.facilities} facilities, ${report.dataset.patients} patients, ${report.dataset.requests} requests, ${report.dataset.attachments} attachments, generated in ${fixed(report.dataset.seconds, 0)} s; busiest facility ${report.facility.id} with ${report.facility.requests} requests`,
    `FHIR: the development server answering after ${report.fhirLatencyMs} ms`,
    '',
    'Statements, FHIR requests and bytes per page (busiest facility, first page):',
    '',
    '| design | limit | SQL statements | FHIR requests | bytes |',
    '|---|---|---|---|---|',
    ...report.statementsPerPage.map(
      (row) => `| ${row.design} | ${row.limit} | ${row.queries} | ${row.external} | ${row.bytes} |`,
    ),
    '',
    `Detail page of an unmatched request: ${report.detail.cold.queries} statements and ${report.detail.cold.external} FHIR request cold; ${report.detail.warm.queries} statements, ${report.detail.warm.external} FHIR requests from the cache (${report.detail.warm.cache}).`,
    '',
    'Page of 20 under load:',
    '',
    '| design | connections | requests | req/s | p50 ms | p95 ms | p99 ms | SQL/req | FHIR req/req | bytes/resp | errors |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...report.load.map(
      (row) =>
        `| ${row.design} | ${row.connections} | ${row.requests} | ${fixed(row.requestsPerSecond, 0)} | ${fixed(row.p50)} | ${fixed(row.p95)} | ${fixed(row.p99)} | ${fixed(row.queriesPerRequest, 1)} | ${fixed(row.externalPerRequest, 1)} | ${fixed(row.bytesPerResponse, 0)} | ${row.errors + row.non2xx} |`,
    ),
    '',
    'The worklist statement at this scale (EXPLAIN ANALYZE):',
    '',
    ...report.plans.flatMap((plan) => [
      `- ${plan.label}: ${fixed(plan.executionMs, 2)} ms`,
      '```',
      plan.planText,
      '```',
    ]),
    '',
  ];
}

function dashboardLines(report: DashboardReport): string[] {
  const { typical, big } = report.merchants;
  const merchantOf = (which: 'typical' | 'big') =>
    which === 'typical'
      ? `typical (${typical.id})`
      : `${Math.round(big.orders / typical.orders)}× (${big.id})`;
  const { fanOut } = report;
  // Minor units to the currency's major ones: cents for USD, none for JPY or KRW.
  const money = (minor: number) => {
    const format = new Intl.NumberFormat('en-US', { style: 'currency', currency: fanOut.example.currency });
    return format.format(minor / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
  };
  return [
    '# dashboard: how is this merchant doing',
    '',
    `machine: ${machine}; ${where}`,
    `data: ${report.dataset.merchants} merchants, ${report.dataset.products} products, ${report.dataset.customers} customers, ${report.dataset.orders} orders, ${report.dataset.orderItems} order items, ${report.dataset.reviews} reviews, generated (with the projections rebuilt) in ${fixed(report.dataset.seconds, 0)} s`,
    `merchants measured: typical ${typical.id} (${typical.orders} orders, ${typical.orderItems} items, ${typical.reviews} reviews, ${typical.customers} customers); big ${big.id} (${big.orders} orders, ${big.orderItems} items, ${big.reviews} reviews, ${big.customers} customers)`,
    '',
    'Sequential requests, time in the server from Server-Timing `total` (a miss is forced with `Cache-Control: no-cache`):',
    '',
    '| design | merchant | cache | requests | SQL/req | p50 ms | p95 ms | max ms | client p50 ms | bytes |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...report.sequential.map(
      (row) =>
        `| ${row.design} | ${merchantOf(row.merchant)} | ${row.cache} | ${row.requests} | ${row.queries} | ${fixed(row.p50, 2)} | ${fixed(row.p95, 2)} | ${fixed(row.max, 2)} | ${fixed(row.clientP50, 2)} | ${row.bytes} |`,
    ),
    '',
    `Under load (typical merchants in turn, ${report.load[0]?.connections ?? '-'} connections):`,
    '',
    '| design | connections | requests | req/s | p50 ms | p95 ms | p99 ms | SQL/req | cache hits | bytes/resp | errors |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...report.load.map(
      (row) =>
        `| ${row.design} | ${row.connections} | ${row.requests} | ${fixed(row.requestsPerSecond, 0)} | ${fixed(row.p50)} | ${fixed(row.p95)} | ${fixed(row.p99)} | ${fixed(row.queriesPerRequest, 2)} | ${row.cacheHitRatio === undefined ? '-' : `${fixed(row.cacheHitRatio * 100, 1)} %`} | ${fixed(row.bytesPerResponse, 0)} | ${row.errors + row.non2xx} |`,
    ),
    '',
    `The write-up's single-JOIN product query for ${fanOut.merchant}: of its top ${fanOut.compared} products, ${fanOut.unitsDiffer} have wrong units and ${fanOut.revenueDiffer} wrong revenue, inflated ${fixed(fanOut.medianInflation, 1)}× (median) to ${fixed(fanOut.maxInflation, 1)}× (max); ${fanOut.notInTrueTop} of them are not in the true top ${fanOut.compared}.`,
    `Its first product, "${fanOut.example.name}" (${fanOut.example.reviews} reviews): ${fanOut.example.joinedUnits} units and ${money(fanOut.example.joinedRevenue)} in revenue, where the truth is ${fanOut.example.trueUnits} units and ${money(fanOut.example.trueRevenue)}.`,
    '',
  ];
}
