import type { DashboardDataset, DashboardDetails } from '../dashboard/suite.ts';
import type { DocumentsDataset, MaintenanceReport } from '../documents/suite.ts';
import type { IngestionDataset } from '../ingestion/suite.ts';
import type { PaperDetails } from '../paper/suite.ts';
import type { PlatformDetails } from '../platform/suite.ts';
import type { WorklistDataset, WorklistDetails } from '../worklist/suite.ts';
import { formatMs, type LatencyComparison } from './chart.ts';
import type { LoadStop } from './load.ts';
import { type LatencyMetric, PUBLISHED } from './published.ts';
import type { Comparison, ScenarioResult } from './scenario.ts';

export interface RunReport {
  command: string;
  startedAt: string;
  seconds: number;
  quick: boolean;
  machine: string;
  postgres: string;
  load: {
    connections: number;
    warmupSeconds: number;
    seconds: number;
    beforeRequests: number;
    /** The ingestion suite's numbers of MLLP senders, each a scenario. */
    senders?: number[];
  };
  profiles: Array<{ name: string; description: string }>;
  data: {
    documents?: DocumentsDataset & { reused: boolean };
    worklist?: WorklistDataset & { reused: boolean };
    dashboard?: DashboardDataset & { reused: boolean };
    ingestion?: IngestionDataset & { reused: boolean };
  };
  results: ScenarioResult[];
  details: {
    maintenance?: MaintenanceReport;
    worklist?: WorklistDetails;
    dashboard?: DashboardDetails;
    platform?: PlatformDetails;
    paper?: PaperDetails;
  };
}

const TITLES: Record<Comparison, string> = {
  documents: 'documents · latest approved',
  worklist: 'worklist · page of 20',
  'dashboard-miss': 'dashboard · cache miss',
  'dashboard-hit': 'dashboard · cache hit',
  platform: 'platform',
  limit: 'limit of this machine',
  'ingestion-oru': 'ingestion · ORU^R01 + 40 KB PDF',
  'ingestion-mdm': 'ingestion · MDM^T02, CDA + 300 KB PDF',
};
const INGESTION: Comparison[] = ['ingestion-oru', 'ingestion-mdm'];
/** Ingestion rows count MLLP senders, not HTTP connections, and are reported in a table of their own. */
export const isIngestion = (row: Pick<ScenarioResult, 'comparison'>) => INGESTION.includes(row.comparison);
const COMPARED: Comparison[] = ['documents', 'worklist', 'dashboard-miss', 'dashboard-hit'];
const METRICS: LatencyMetric[] = ['mean', 'p50', 'p90', 'p95', 'p99'];

const count = (value: number, digits = 2) =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits }) : '-';
const ms = (value: number) => formatMs(value);
const ratio = (value: number) => (Number.isFinite(value) ? `${count(value, value < 10 ? 1 : 0)}×` : '-');
const failed = (row: ScenarioResult) => {
  const statuses = Object.entries(row.failedStatuses).map(([status, times]) => `${times} × ${status}`);
  if (row.errors > 0) statuses.push(`${row.errors} × no answer`);
  return statuses.length ? statuses.join(', ') : '0';
};
const stopText = (stop: LoadStop) => ('seconds' in stop ? `${stop.seconds} s` : `${stop.requests} answers`);

/** The HTTP rows measured at the run's concurrency; the one-connection rows are reported apart. */
const loaded = (report: RunReport) =>
  report.results.filter((row) => !isIngestion(row) && row.connections === report.load.connections);

/** Latency without queueing: every design at one connection, on loopback. */
export function unloadedTable(report: RunReport): string[] {
  const rows = report.results.filter(
    (row) => !isIngestion(row) && row.connections === 1 && report.load.connections !== 1,
  );
  if (rows.length === 0) return [];
  return [
    '| scenario | profile | design | answers | req/s | mean | p50 | p95 | p99 | SQL/req | before ÷ hotpath (p50) | req/s ÷ limit |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((row) => {
      const limit = limitOf(report.results, row);
      const share =
        limit && row.role === 'hotpath'
          ? `${count((100 * row.requestsPerSecond) / limit.requestsPerSecond, 0)} %`
          : '';
      const before = row.role === 'hotpath' ? beforeOf(rows, row.profile, row.comparison) : undefined;
      return `| ${TITLES[row.comparison]} | ${row.profile} | ${row.design} | ${count(row.requests, 0)} | ${count(row.requestsPerSecond, 0)} | ${ms(row.mean)} | ${ms(row.p50)} | ${ms(row.p95)} | ${ms(row.p99)} | ${count(row.sqlPerRequest)} | ${before ? ratio(before.p50 / row.p50) : ''} | ${share} |`;
    }),
  ];
}

/** The uncached V1 dashboard is the "before" of both the miss and the hit rows, as in the write-up. */
export function beforeOf(results: ScenarioResult[], profile: string, comparison: Comparison) {
  const source = comparison === 'dashboard-hit' ? 'dashboard-miss' : comparison;
  return results.find((row) => row.profile === profile && row.comparison === source && row.role === 'before');
}
const hotpathOf = (results: ScenarioResult[], profile: string, comparison: Comparison) =>
  results.find((row) => row.profile === profile && row.comparison === comparison && row.role === 'hotpath');

/** The limit a route is held to: the bare primary-key lookup if it reads the database, else bare Fastify. */
export function limitOf(results: ScenarioResult[], row: ScenarioResult) {
  const limits = results.filter(
    (candidate) =>
      candidate.profile === row.profile &&
      candidate.role === 'limit' &&
      candidate.connections === row.connections,
  );
  return row.sqlPerRequest >= 0.5
    ? limits.find((candidate) => candidate.route === '/rows/:id')
    : limits.find((candidate) => candidate.route === '/hello');
}

export function chartRows(report: RunReport): LatencyComparison[] {
  const rows: LatencyComparison[] = [];
  for (const { name, description } of report.profiles) {
    for (const comparison of COMPARED) {
      const after = hotpathOf(loaded(report), name, comparison);
      if (!after) continue;
      const before = beforeOf(loaded(report), name, comparison);
      rows.push({
        scenario: TITLES[comparison],
        profile: description.split(':')[0] ?? name,
        before: before ? { label: 'before', p50: before.p50, p99: before.p99 } : undefined,
        after: { label: 'hotpath', p50: after.p50, p99: after.p99 },
      });
    }
  }
  return rows;
}

/** Where hotpath fell short: of a write-up's "after" figure, or of half the machine's limit. */
export function shortfalls(report: RunReport): string[] {
  const lines: string[] = [];
  for (const row of loaded(report).filter((candidate) => candidate.role === 'hotpath')) {
    const published = PUBLISHED[row.comparison];
    const where = `${TITLES[row.comparison]} (${row.profile})`;
    for (const metric of METRICS) {
      const theirs = published?.after.latency[metric];
      if (theirs !== undefined && !(row[metric] < theirs)) {
        lines.push(`${where}: ${metric} ${ms(row[metric])}, the write-up's after ${ms(theirs)}`);
      }
    }
    const limit = limitOf(loaded(report), row);
    if (limit && row.requestsPerSecond < limit.requestsPerSecond / 2) {
      lines.push(
        `${where}: ${count(row.requestsPerSecond, 0)} req/s, ${count((100 * row.requestsPerSecond) / limit.requestsPerSecond, 0)} % of the limit (${limit.design.replace('limit: ', '')}, ${count(limit.requestsPerSecond, 0)} req/s)`,
      );
    }
  }
  return lines;
}

/** A ratio of the platform issue: a route's throughput over the machine's limit, both loaded, same run. */
const THROUGHPUT_TARGETS: Array<{
  what: string;
  pick: (row: ScenarioResult) => boolean;
  limit: '/hello' | '/rows/:id';
  target: number;
}> = [
  {
    what: '/healthz ÷ bare Fastify (constant)',
    pick: (row) => row.design === 'hotpath /healthz · 1 worker',
    limit: '/hello',
    target: 0.8,
  },
  {
    what: 'cached dashboard ÷ bare Fastify (constant)',
    pick: (row) => row.design === 'hotpath cached dashboard · 1 worker',
    limit: '/hello',
    target: 0.6,
  },
  {
    what: 'latest approved document ÷ bare Fastify + pg (primary-key row)',
    pick: (row) => row.comparison === 'documents' && row.role === 'hotpath',
    limit: '/rows/:id',
    target: 0.85,
  },
  {
    what: 'worklist page of 20 ÷ bare Fastify + pg (primary-key row)',
    pick: (row) => row.comparison === 'worklist' && row.role === 'hotpath',
    limit: '/rows/:id',
    target: 0.6,
  },
];

/**
 * Every target of the platform issue beside what this run measured: throughput ratios (loopback, at
 * the run's concurrency), start-up times, and what a second worker adds.
 */
export function platformTargets(report: RunReport): string[] {
  const rows = loaded(report).filter((row) => row.profile === 'loopback');
  const lines: string[] = [];
  for (const { what, pick, limit: limitRoute, target } of THROUGHPUT_TARGETS) {
    const row = rows.find(pick);
    const limit = rows.find((candidate) => candidate.role === 'limit' && candidate.route === limitRoute);
    if (!row || !limit) continue;
    const share = row.requestsPerSecond / limit.requestsPerSecond;
    lines.push(
      `| ${what} | ≥ ${count(100 * target, 0)} % | ${count(100 * share, 0)} % (${count(row.requestsPerSecond, 0)} ÷ ${count(limit.requestsPerSecond, 0)} req/s) | ${share >= target ? 'met' : 'missed'} |`,
    );
  }
  for (const start of report.details.platform?.startup ?? []) {
    lines.push(
      `| ${start.what} | ≤ ${count(start.targetMs, 0)} ms | ${count(start.medianMs, 0)} ms (median of ${start.runs.length}) | ${start.medianMs <= start.targetMs ? 'met' : 'missed'} |`,
    );
  }
  for (const kind of ['/healthz', 'cached dashboard']) {
    const one = rows.find((row) => row.design === `hotpath ${kind} · 1 worker`);
    const two = rows.find((row) => row.design === `hotpath ${kind} · 2 workers`);
    if (one && two) {
      lines.push(
        `| ${kind}: 2 workers ÷ 1 worker | (stated) | ${count(two.requestsPerSecond / one.requestsPerSecond, 2)}× (${count(two.requestsPerSecond, 0)} vs ${count(one.requestsPerSecond, 0)} req/s) | |`,
      );
    }
  }
  return lines.length === 0 ? [] : ['| target | limit | measured | |', '|---|---|---|---|', ...lines];
}

/** The ingestion row's limit: the bare MLLP server, same messages, same senders, same run. */
export function ingestionLimitOf(results: ScenarioResult[], row: ScenarioResult) {
  return results.find(
    (candidate) =>
      candidate.role === 'limit' &&
      candidate.comparison === row.comparison &&
      candidate.profile === row.profile &&
      candidate.connections === row.connections,
  );
}

/** HL7 v2 over MLLP: every message kind at every number of senders, hotpath beside the bare server. */
export function ingestionTable(report: RunReport): string[] {
  const rows = report.results.filter(isIngestion);
  if (rows.length === 0) return [];
  const ordered = INGESTION.flatMap((comparison) =>
    rows
      .filter((row) => row.comparison === comparison)
      .sort((a, b) => a.connections - b.connections || (a.role === 'hotpath' ? -1 : 1)),
  );
  return [
    '| message | profile | senders | design | messages | not AA | msg/s | mean | p50 | p95 | p99 | statements/msg | storage writes/msg | in hotpath (mean) | CPU/msg: server · PostgreSQL | msg/s ÷ limit |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...ordered.map((row) => {
      const limit = row.role === 'hotpath' ? ingestionLimitOf(rows, row) : undefined;
      const share = limit ? `${count((100 * row.requestsPerSecond) / limit.requestsPerSecond, 0)} %` : '';
      const inHotpath =
        row.ingestion?.serverMs !== undefined
          ? `${ms(row.ingestion.serverMs)}${row.ingestion.sqlMs !== undefined ? ` (SQL ${ms(row.ingestion.sqlMs)})` : ''}`
          : '';
      const statements = row.role === 'limit' ? '0' : count(row.sqlPerRequest);
      const writes = row.role === 'limit' ? '0' : count(row.storagePerRequest);
      const cpu = row.ingestion?.cpuMs;
      const cpuText =
        cpu?.server === undefined
          ? ''
          : `${ms(cpu.server)}${cpu.postgres === undefined ? '' : ` · ${ms(cpu.postgres)}`}`;
      return `| ${TITLES[row.comparison].replace('ingestion · ', '')} | ${row.profile} | ${row.connections} | ${row.design} | ${count(row.requests, 0)} | ${failed(row)} | ${count(row.requestsPerSecond, 0)} | ${ms(row.mean)} | ${ms(row.p50)} | ${ms(row.p95)} | ${ms(row.p99)} | ${statements} | ${writes} | ${inHotpath} | ${cpuText} | ${share} |`;
    }),
  ];
}

/** The ingestion issue's targets, at this many senders. */
export const INGESTION_TARGETS = { senders: 10, oruPerSecond: 1_000, p99Ms: 25, shareOfLimit: 0.5 } as const;

/**
 * Every target of the ingestion issue beside what this run measured (loopback): ORU^R01 throughput,
 * ACK p99 and share of the bare MLLP server at 10 senders, statements per message on every row; the
 * MDM^T02 figures at 10 senders are stated beside them.
 */
export function ingestionTargets(report: RunReport): string[] {
  const rows = report.results.filter((row) => isIngestion(row) && row.profile === 'loopback');
  const at = (comparison: Comparison, role: 'hotpath' | 'limit') =>
    rows.find(
      (row) =>
        row.comparison === comparison && row.role === role && row.connections === INGESTION_TARGETS.senders,
    );
  const lines: string[] = [];
  const verdict = (met: boolean) => (met ? 'met' : 'missed');
  const senders = `${INGESTION_TARGETS.senders} senders`;
  const oru = at('ingestion-oru', 'hotpath');
  const oruLimit = at('ingestion-oru', 'limit');
  if (oru) {
    lines.push(
      `| ORU^R01 messages/s at ${senders} | ≥ ${count(INGESTION_TARGETS.oruPerSecond, 0)} | ${count(oru.requestsPerSecond, 0)} msg/s | ${verdict(oru.requestsPerSecond >= INGESTION_TARGETS.oruPerSecond)} |`,
      `| ORU^R01 ACK p99 at ${senders} | ≤ ${INGESTION_TARGETS.p99Ms} ms | ${ms(oru.p99)} (p50 ${ms(oru.p50)}, p95 ${ms(oru.p95)}) | ${verdict(oru.p99 <= INGESTION_TARGETS.p99Ms)} |`,
    );
    if (oruLimit) {
      const share = oru.requestsPerSecond / oruLimit.requestsPerSecond;
      lines.push(
        `| ORU^R01 at ${senders} ÷ bare MLLP server | ≥ ${count(100 * INGESTION_TARGETS.shareOfLimit, 0)} % | ${count(100 * share, 0)} % (${count(oru.requestsPerSecond, 0)} ÷ ${count(oruLimit.requestsPerSecond, 0)} msg/s) | ${verdict(share >= INGESTION_TARGETS.shareOfLimit)} |`,
      );
    }
  }
  const mdm = at('ingestion-mdm', 'hotpath');
  const mdmLimit = at('ingestion-mdm', 'limit');
  if (mdm) {
    lines.push(
      `| MDM^T02 (CDA + 300 KB PDF) at ${senders} | (stated) | ${count(mdm.requestsPerSecond, 0)} msg/s, ACK p99 ${ms(mdm.p99)}${mdmLimit ? `, ${count((100 * mdm.requestsPerSecond) / mdmLimit.requestsPerSecond, 0)} % of the bare server's ${count(mdmLimit.requestsPerSecond, 0)} msg/s` : ''} | |`,
    );
  }
  const budgeted = rows.filter((row) => row.role === 'hotpath' && row.budget !== undefined);
  if (budgeted.length > 0) {
    const worst = budgeted.reduce((a, b) => (b.sqlPerRequest > a.sqlPerRequest ? b : a));
    const budget = Math.min(...budgeted.map((row) => row.budget as number));
    lines.push(
      `| statements per message, every row | ≤ ${budget} | at most ${count(worst.sqlPerRequest)} (${TITLES[worst.comparison].replace('ingestion · ', '')}, ${worst.connections} sender${worst.connections === 1 ? '' : 's'}) | ${verdict(worst.sqlPerRequest <= budget)} |`,
    );
  }
  return lines.length === 0 ? [] : ['| target | limit | measured | |', '|---|---|---|---|', ...lines];
}

/** What makes the run fail: a hotpath route over its statement budget or caught in an N+1, or errors. */
export function budgetFailures(results: ScenarioResult[]): string[] {
  const failures: string[] = [];
  for (const row of results) {
    const where = `${row.design} (${row.profile})`;
    if (row.requests === 0) failures.push(`${where}: no answer in the measured interval`);
    // A before design failing under load is a finding (reported), not a broken benchmark.
    if (row.role === 'before') continue;
    if (row.errors + row.non2xx > 0)
      failures.push(
        isIngestion(row)
          ? `${where}, ${row.connections} senders: ${row.errors} messages without an ACK, ${row.non2xx} not acknowledged AA (${failed(row)})`
          : `${where}: ${row.errors} errors, ${row.non2xx} non-2xx answers`,
      );
    if (row.budget === undefined) continue;
    if (row.sqlPerRequest > row.budget)
      failures.push(
        `${where}: ${count(row.sqlPerRequest)} statements a ${isIngestion(row) ? 'message' : 'request'}, budget ${row.budget}`,
      );
    if (row.budgetViolations > 0)
      failures.push(`${where}: hotpath's guard counted ${row.budgetViolations} budget or N+1 violations`);
  }
  return failures;
}

export function resultsTable(report: RunReport): string[] {
  const lines = [
    '| scenario | profile | design | answers | failed | req/s | mean | p50 | p90 | p95 | p99 | SQL/req | S3/req | FHIR/req | bytes/answer | before ÷ hotpath (p50) | write-up: before → after |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { name } of report.profiles) {
    for (const comparison of [...COMPARED, 'platform', 'limit'] as Comparison[]) {
      const rows = loaded(report).filter((row) => row.profile === name && row.comparison === comparison);
      for (const row of rows) {
        const before = beforeOf(loaded(report), name, comparison);
        const published = PUBLISHED[comparison];
        const paired = row.role === 'hotpath' && before ? ratio(before.p50 / row.p50) : '';
        const writeUp =
          row.role === 'limit' || !published
            ? ''
            : METRICS.filter(
                (metric) => published[row.role === 'before' ? 'before' : 'after'].latency[metric],
              )
                .map((metric) => {
                  const side = published[row.role === 'before' ? 'before' : 'after'].latency[metric]!;
                  return `${metric} ${ms(side)}`;
                })
                .join(', ');
        lines.push(
          `| ${TITLES[comparison]} | ${name} | ${row.design} | ${count(row.requests, 0)} | ${failed(row)} | ${count(row.requestsPerSecond, row.requestsPerSecond < 10 ? 2 : 0)} | ${ms(row.mean)} | ${ms(row.p50)} | ${ms(row.p90)} | ${ms(row.p95)} | ${ms(row.p99)} | ${count(row.sqlPerRequest)} | ${count(row.storagePerRequest)} | ${count(row.externalPerRequest)} | ${count(row.bytesPerResponse, 0)} | ${paired} | ${writeUp} |`,
        );
      }
    }
  }
  return lines;
}

/**
 * The paper suite's rows: text extraction per page (text layer + report rules), OCR per page (PNG scans,
 * image-only PDFs), folder-drop throughput; empty when the suite did not run.
 */
export function paperTable(report: RunReport): string[] {
  const paper = report.details.paper;
  if (!paper) return [];
  const { extraction, ocr, folderDrop } = paper;
  const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '-');
  return [
    '| paper | samples | p50 | p95 | mean or rate | read right |',
    '|---|---|---|---|---|---|',
    `| extraction, text-layer PDF (pdf.js + report rules), ms/page | ${extraction.pages} pages | ${fixed(extraction.msPerPage.p50, 2)} | ${fixed(extraction.msPerPage.p95, 2)} | ${fixed(extraction.msPerPage.mean, 2)} | ${extraction.readRight}/${extraction.msPerPage.samples} |`,
    `| OCR, 300 dpi PNG scan, s/page | ${ocr.png.samples} pages | ${fixed(ocr.png.p50, 2)} | ${fixed(ocr.png.p95, 2)} | ${fixed(ocr.png.mean, 2)} | ${ocr.readRight}/${ocr.pages} (INS and birth name, both kinds) |`,
    `| OCR, image-only PDF (render + OCR), s/page | ${ocr.pdf.samples} pages | ${fixed(ocr.pdf.p50, 2)} | ${fixed(ocr.pdf.p95, 2)} | ${fixed(ocr.pdf.mean, 2)} | |`,
    `| folder drop (hotpath ingest watch), files/s | ${folderDrop.files} files in ${fixed(folderDrop.seconds, 1)} s | | | ${fixed(folderDrop.filesPerSecond, 1)} | ${folderDrop.files - folderDrop.failed}/${folderDrop.files} in .done |`,
  ];
}

export function reportMarkdown(report: RunReport, files: { chart: string; json: string }): string {
  const { data, details } = report;
  const lines: string[] = [
    `# hotpath benchmark${report.quick ? ' (quick run: small data, loopback, short intervals)' : ''}`,
    '',
    `Made by \`${report.command}\` on ${report.startedAt}, in ${count(report.seconds / 60, 1)} min.`,
    '',
    `- Machine: ${report.machine}. The load generator (autocannon), the server under test, PostgreSQL and the stand-in services (s3rver, the development FHIR server, the delaying proxies, each in its own process) share it.`,
    `- ${report.postgres}.`,
    `- Load: ${report.load.connections} connections. hotpath and the limit: ${report.load.warmupSeconds} s of warm-up, then ${report.load.seconds} s measured. The before designs take seconds an answer under this load, so each runs until ${report.load.beforeRequests} answers arrive (all ${report.load.connections} connections busy, every answer counted, none cut off), without warm-up. On loopback every design is also measured at one connection (hotpath and the limit: a short interval; the before designs: 20 answers after 2).`,
    '- Requests are spread: every legacy document, every facility, every typical merchant in turn.',
    ...report.profiles.map((profile) => `- Network profile ${profile.description}.`),
    "- Counts per request come from the server under test: hotpath's own statement and storage counters (the before designs run inside hotpath, on its pool and accounting); FHIR requests are counted by the FHIR server as they arrive.",
    '',
    '## Data',
    '',
  ];
  if (data.documents) {
    const sizes = data.documents.sections.map((section) => section.keys);
    lines.push(
      `- documents: ${data.documents.sections.length} legacy sections on S3 holding ${count(Math.min(...sizes), 0)}–${count(Math.max(...sizes), 0)} sibling objects each (${count(data.documents.keys, 0)} objects, ${count(data.documents.legacyDocuments, 0)} documents), imported with \`import-bucket\` in ${count(data.documents.importSeconds, 1)} s; the registry holds ${count(data.documents.documents, 0)} documents and ${count(data.documents.versions, 0)} versions in all.${data.documents.reused ? ' Reused from an earlier run.' : ''}`,
    );
  }
  if (data.worklist) {
    lines.push(
      `- worklist: ${count(data.worklist.facilityIds.length, 0)} facilities, ${count(data.worklist.patients, 0)} patients, ${count(data.worklist.requests, 0)} requests, ${count(data.worklist.attachments, 0)} attachments (generated in ${count(data.worklist.seconds, 0)} s); busiest facility ${data.worklist.busiest.id}, ${count(data.worklist.busiest.requests, 0)} requests.${data.worklist.reused ? ' Reused from an earlier run.' : ''}`,
    );
  }
  if (data.dashboard) {
    const { typical, big } = data.dashboard;
    lines.push(
      `- dashboard: ${count(data.dashboard.merchants, 0)} merchants, ${count(data.dashboard.products, 0)} products, ${count(data.dashboard.customers, 0)} customers, ${count(data.dashboard.orders, 0)} orders, ${count(data.dashboard.orderItems, 0)} order items, ${count(data.dashboard.reviews, 0)} reviews (generated in ${count(data.dashboard.seconds, 0)} s); a typical merchant has ${count(typical.orders, 0)} orders, ${count(typical.orderItems, 0)} items, ${count(typical.reviews, 0)} reviews, ${count(typical.customers, 0)} customers; ${big.id} has ${count(big.orders / typical.orders, 0)}× that history.${data.dashboard.reused ? ' Reused from an earlier run.' : ''}`,
    );
  }
  if (data.ingestion) {
    lines.push(
      `- ingestion: facility ${data.ingestion.facilityId} (MSH-6 of every message) with ${count(data.ingestion.patients, 0)} patients and ${count(data.ingestion.requests, 0)} requests already in its worklist (generated in ${count(data.ingestion.seconds, 0)} s); what the benchmark's messages add is deleted before and after the suite.${data.ingestion.reused ? ' Reused from an earlier run.' : ''}`,
    );
  }
  lines.push(
    '',
    '## Before vs hotpath',
    '',
    ...resultsTable(report),
    '',
    `![p50 and p99, before vs hotpath, log scale](${files.chart})`,
    '',
  );

  lines.push("## Against the write-ups' published figures and the machine's limit", '');
  for (const row of loaded(report).filter((candidate) => candidate.role === 'hotpath')) {
    const published = PUBLISHED[row.comparison];
    const limit = limitOf(loaded(report), row);
    const against = METRICS.filter((metric) => published?.after.latency[metric] !== undefined).map(
      (metric) => `${metric} ${ms(row[metric])} vs ${ms(published!.after.latency[metric]!)}`,
    );
    lines.push(
      `- ${TITLES[row.comparison]} (${row.profile}): ${against.join(', ')}${published ? ` (${published.source}: ${published.what})` : ''}; ${count(row.requestsPerSecond, 0)} req/s = ${limit ? `${count((100 * row.requestsPerSecond) / limit.requestsPerSecond, 0)} % of ${limit.design.replace('limit: ', '')} (${count(limit.requestsPerSecond, 0)} req/s)` : 'no limit measured'}.`,
    );
  }
  const short = shortfalls(report);
  lines.push(
    '',
    short.length === 0
      ? 'hotpath beat every published "after" figure and reached at least half of the machine\'s limit on every route.'
      : 'Where hotpath did not beat the write-up\'s "after" figure or reach half of the machine\'s limit:',
    ...short.map((line) => `- ${line}`),
    '',
    ...(unloadedTable(report).length
      ? [
          '## One connection: latency without queueing',
          '',
          `At ${report.load.connections} closed-loop connections a request waits behind the others: by Little's law p50 is about connections ÷ throughput, whatever the route. One connection shows what a single request costs, and is the fairer match for the write-ups' production figures.`,
          '',
          ...unloadedTable(report),
          '',
        ]
      : []),
    ...(platformTargets(report).length
      ? [
          '## Platform targets',
          '',
          `The platform's own cost, each figure beside the limit set for it, from this run. A second worker shares this machine's ${report.machine.split(' ')[0]} cores with the load generator, PostgreSQL and the other processes, so its gain here is a floor.`,
          '',
          ...platformTargets(report),
          '',
        ]
      : []),
    ...(ingestionTable(report).length
      ? [
          '## Ingestion: HL7 v2 over MLLP',
          '',
          `Each sender is one MLLP connection that sends a message and waits for its ACK before the next, as interface engines do; the senders run in a process of their own (bench/ingestion/senders.ts). Every message is new (its own MSH-10 and document id) and names one of the facility's patients. hotpath is \`hotpath serve\` with its MLLP listener (1 worker, objects on the file system); the limit is a bare MLLP server that reads each frame and answers AA from its MSH without storing anything (bench/baselines/mllp-limit-server.ts), measured back to back with the same messages. ACK latency is from a message handed to its connection to its ACK read, every message counted. Statements and storage writes per message are hotpath's own counters (every statement the process issued; PutObject requests) over the messages it acknowledged; "in hotpath" is the listener's time from a message read to its requests committed (SQL: its statements' share). CPU a message is read from /proc for the server's process and for the whole PostgreSQL cluster (every backend), over the measured interval.`,
          '',
          ...ingestionTable(report),
          '',
          ...(ingestionTargets(report).length
            ? ["The ingestion issue's targets:", '', ...ingestionTargets(report), '']
            : []),
        ]
      : []),
    ...(paperTable(report).length
      ? [
          '## Paper: text layers, OCR and folder drops',
          '',
          `In the benchmark's own process, one document at a time: generated French reports (bench/paper/suite.ts, src/modules/worklist/operations/paper-documents.ts) of every kind (laboratory, imaging, consultation) and layout (header block, table, letter). Extraction is pdf.js reading the text layer plus the report rules (identity, type, date, author), per page. OCR is tesseract.js with the French LSTM data from its npm package, one thread, over header-block reports of each kind scanned at 300 dpi (drawn in DejaVu Sans with a scanner's specks), as PNGs and as image-only PDFs (JPEG pages pdf.js renders first); its start (${report.details.paper!.ocr.startSeconds.toFixed(1)} s, wasm and language data, one page read) is not counted. "Read right": the INS when printed, birth name and birth date read at or above the confidence the identity matcher requires (OCR: INS and birth name).Folder drop: ${report.details.paper!.folderDrop.description}`,
          '',
          ...paperTable(report),
          '',
        ]
      : []),
    '## Statement budgets',
    '',
    ...report.results
      .filter((row) => row.budget !== undefined)
      .map((row) =>
        isIngestion(row)
          ? `- ${TITLES[row.comparison]} (${row.profile}, ${row.connections} sender${row.connections === 1 ? '' : 's'}): ${count(row.sqlPerRequest)} statements a message, budget ${row.budget}, ${row.budgetViolations} violations counted by hotpath's guard.`
          : `- ${row.design} (${row.profile}, ${row.connections} conn.): ${count(row.sqlPerRequest)} statements a request, budget ${row.budget}, ${row.budgetViolations} violations counted by hotpath's guard.`,
      ),
    '',
  );

  if (details.worklist) {
    const { statementsPerPage, detail, plans } = details.worklist;
    lines.push(
      '## Worklist details (loopback)',
      '',
      '| design | limit | SQL statements | FHIR requests | body bytes |',
      '|---|---|---|---|---|',
      ...statementsPerPage.map(
        (row) =>
          `| ${row.design} | ${row.limit} | ${row.queries} | ${row.external} | ${count(row.bytes, 0)} |`,
      ),
      '',
      `Detail page of an unmatched request: ${detail.cold.queries} statements and ${detail.cold.external} FHIR request cold; ${detail.warm.queries} statements and ${detail.warm.external} FHIR requests warm (cache ${detail.warm.cache}).`,
      '',
      ...plans.flatMap((plan) => [
        `- ${plan.label}: ${count(plan.executionMs ?? Number.NaN, 2)} ms`,
        '```',
        plan.planText,
        '```',
      ]),
      '',
    );
  }
  if (details.dashboard) {
    const { sequential, fanOut } = details.dashboard;
    lines.push(
      '## Dashboard details (loopback, one request at a time, time in the server)',
      '',
      '| merchant | cache | requests | SQL/req | p50 | p95 | body bytes |',
      '|---|---|---|---|---|---|---|',
      ...sequential.map(
        (row) =>
          `| ${row.merchant} | ${row.cache} | ${row.requests} | ${row.queries} | ${ms(row.p50)} | ${ms(row.p95)} | ${count(row.bytes, 0)} |`,
      ),
      '',
      `The write-up's single-JOIN product query for ${fanOut.merchant}: of its top ${fanOut.compared} products, ${fanOut.unitsDiffer} have wrong units and ${fanOut.revenueDiffer} wrong revenue, inflated ${count(fanOut.medianInflation, 1)}× (median) to ${count(fanOut.maxInflation, 1)}× (max); ${fanOut.notInTrueTop} do not belong in the true top ${fanOut.compared}.`,
      '',
    );
  }
  if (details.maintenance) {
    const { backfill, reconcile } = details.maintenance;
    lines.push(
      '## Documents maintenance (loopback, file-system store)',
      '',
      `- backfill: ${count(backfill.versions, 0)} versions of ${count(backfill.documents, 0)} documents in ${count(backfill.seconds, 2)} s = ${count(backfill.versions / backfill.seconds, 0)} versions/s; rerun ${count(backfill.rerunSeconds, 2)} s, ${backfill.rerunChanged} rows changed.`,
      `- reconcile: ${count(reconcile.documents, 0)} documents in ${count(reconcile.seconds, 2)} s, ${reconcile.mismatches} mismatches, ${count(reconcile.storageRequests, 0)} storage requests.`,
      '',
    );
  }
  lines.push(
    '## Measured how',
    '',
    `Every scenario: ${stopText({ seconds: report.load.seconds })} (hotpath, limit) or ${stopText({ requests: report.load.beforeRequests })} (the before designs) at ${report.load.connections} connections. Percentiles are exact, over every answer's response time as autocannon saw it. "bytes/answer" is on the wire, headers included. The raw figures of this run: [${files.json}](${files.json}).`,
    ...(report.results.some(isIngestion)
      ? [
          '',
          `Ingestion: each message kind at ${(report.load.senders ?? [...new Set(report.results.filter(isIngestion).map((row) => row.connections))]).join(', ')} senders, ${report.load.warmupSeconds} s of warm-up then ${stopText({ seconds: report.load.seconds })} measured, hotpath and the bare MLLP server back to back; percentiles are exact, over every message's ACK latency as the senders saw it.`,
        ]
      : []),
    '',
  );
  return `${lines.join('\n')}\n`;
}
