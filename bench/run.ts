import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dashboardDetails, measureDashboard, prepareDashboard } from './dashboard/suite.ts';
import {
  documentsMaintenance,
  measureDocuments,
  prepareDocuments,
  sectionSizes,
  startDocumentsS3,
} from './documents/suite.ts';
import { measureIngestion, prepareIngestion } from './ingestion/suite.ts';
import { measureLimit, prepareLimit } from './limit/suite.ts';
import { measurePaper } from './paper/suite.ts';
import { measurePlatform, startupTimes } from './platform/suite.ts';
import { latencyChart } from './support/chart.ts';
import { openNetwork } from './support/network.ts';
import { benchPostgres } from './support/postgres.ts';
import { cleanUp, cleanUpOnSignals, onCleanup, startService } from './support/processes.ts';
import {
  budgetFailures,
  chartRows,
  ingestionTable,
  ingestionTargets,
  paperTable,
  platformTargets,
  type RunReport,
  reportMarkdown,
  resultsTable,
  shortfalls,
} from './support/report.ts';
import type { LoadSettings, ScenarioResult } from './support/scenario.ts';
import { measureWorklist, prepareWorklist, worklistDetails } from './worklist/suite.ts';

const USAGE = `npm run bench -- [options]

  --quick                 small data, loopback only, short intervals (what CI runs; under 3 minutes)
  --only <suites>         documents,worklist,dashboard,platform,limit,ingestion,paper (default: all;
                          platform needs the dashboard's data; platform and ingestion run on loopback;
                          paper runs in the benchmark's process)
  --profiles <names>      loopback,cloud (default: both; --quick: loopback)
  --connections <n>       concurrent connections (default 100)
  --warmup <s>            unmeasured load before each measurement (default 5; --quick 1)
  --duration <s>          measured interval (default 20; --quick 3)
  --before-requests <n>   answers to wait for from the listing and V1 dashboard designs, at least
                          --connections (default 200; --quick 100)
  --pg-rtt-ms <ms>        cloud: round trip added to PostgreSQL (default 0.5)
  --s3-rtt-ms <ms>        cloud: round trip added to S3 (default 40)
  --fhir-rtt-ms <ms>      cloud: round trip added to the FHIR server (default 100)
  --sections <n>          documents: legacy sections, 1,000 to 8,000 objects each (default 16; --quick 2)
  --facilities <n>        worklist facilities (default 800; --quick 20)
  --worklist-requests <n> worklist requests (default 1000000; --quick 20000)
  --merchants <n>         dashboard merchants (default 500; --quick 8)
  --senders <list>        ingestion: MLLP senders, a scenario each (default 1,10,50; --quick 1,10)
  --ingestion-patients <n> ingestion: the facility's patients (default 5000; --quick 2000)
  --paper-pdfs <n>        paper: text-layer PDFs read (default 1000; --quick 200)
  --ocr-pages <n>         paper: 300 dpi scans OCRed (default 10; --quick 3), and a third as many
                          image-only PDFs (at least 1)
  --fresh                 generate the data again even when an earlier run's can be reused
`;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    profiles: { type: 'string' },
    connections: { type: 'string', default: '100' },
    warmup: { type: 'string' },
    duration: { type: 'string' },
    'before-requests': { type: 'string' },
    'pg-rtt-ms': { type: 'string', default: '0.5' },
    's3-rtt-ms': { type: 'string', default: '40' },
    'fhir-rtt-ms': { type: 'string', default: '100' },
    sections: { type: 'string' },
    facilities: { type: 'string' },
    'worklist-requests': { type: 'string' },
    merchants: { type: 'string' },
    senders: { type: 'string' },
    'ingestion-patients': { type: 'string' },
    'paper-pdfs': { type: 'string' },
    'ocr-pages': { type: 'string' },
    fresh: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const quick = values.quick;
const number = (name: keyof typeof values, fullDefault: number, quickDefault = fullDefault) => {
  const raw = values[name];
  const value = raw === undefined ? (quick ? quickDefault : fullDefault) : Number(raw);
  if (typeof raw === 'boolean' || !Number.isFinite(value) || value < 0) {
    process.stderr.write(`bench: --${name} must be a non-negative number (got '${raw}')\n\n${USAGE}`);
    process.exit(2);
  }
  return value;
};
const listOf = (raw: string | undefined, allowed: readonly string[], fallback: readonly string[]) => {
  const chosen = raw ? raw.split(',').map((item) => item.trim()) : [...fallback];
  const unknown = chosen.filter((item) => !allowed.includes(item));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown ${unknown.join(', ')}; choose from ${allowed.join(', ')}\n`);
    process.exit(2);
  }
  return chosen;
};
const suites = new Set(
  listOf(
    values.only,
    ['documents', 'worklist', 'dashboard', 'platform', 'limit', 'ingestion', 'paper'],
    ['documents', 'worklist', 'dashboard', 'platform', 'limit', 'ingestion', 'paper'],
  ),
);
const profiles = listOf(
  values.profiles,
  ['loopback', 'cloud'],
  quick ? ['loopback'] : ['loopback', 'cloud'],
) as Array<'loopback' | 'cloud'>;
const connections = number('connections', 100);
const warmupSeconds = number('warmup', 5, 1);
const seconds = number('duration', 20, 3);
const beforeRequests = number('before-requests', 200, 100);
if (beforeRequests < connections) {
  process.stderr.write(
    `bench: --before-requests (${beforeRequests}) must be at least --connections (${connections}): every connection sends one\n`,
  );
  process.exit(2);
}
const senders = (values.senders ?? (quick ? '1,10' : '1,10,50'))
  .split(',')
  .map((item) => Number(item.trim()));
if (senders.some((count) => !Number.isSafeInteger(count) || count < 1)) {
  process.stderr.write(
    `bench: --senders must be a list of positive integers (got '${values.senders}')\n\n${USAGE}`,
  );
  process.exit(2);
}
const delays = {
  postgresMs: number('pg-rtt-ms', 0.5),
  s3Ms: number('s3-rtt-ms', 40),
  fhirMs: number('fhir-rtt-ms', 100),
};
const sizes = {
  documents: {
    sectionSizes: sectionSizes(number('sections', 16, 2), 1_000, quick ? 2_000 : 8_000),
    history: quick
      ? { documents: 1_000, versionsPerDocument: 10, sectionSize: 500 }
      : { documents: 30_000, versionsPerDocument: 10, sectionSize: 1_000 },
    maintenance: quick
      ? { documents: 1_000, versionsPerDocument: 10, sectionSize: 500 }
      : { documents: 12_000, versionsPerDocument: 10, sectionSize: 1_000 },
  },
  worklist: {
    facilities: number('facilities', 800, 20),
    patientsPerFacility: quick ? 500 : 2_000,
    requests: number('worklist-requests', 1_000_000, 20_000),
  },
  // The write-up's typical merchant (200 products, 3,000 customers, 15,000 orders of ~3 lines, 8,000
  // reviews); a tenth of it for --quick.
  dashboard: {
    merchants: number('merchants', 500, 8),
    productsPerMerchant: quick ? 20 : 200,
    customersPerMerchant: quick ? 300 : 3_000,
    ordersPerMerchant: quick ? 1_500 : 15_000,
    itemsPerOrder: 3,
    reviewsPerMerchant: quick ? 800 : 8_000,
    bigMerchantMultiplier: 10,
  },
  ingestion: {
    patients: number('ingestion-patients', 5_000, 2_000),
    requests: quick ? 5_000 : 50_000,
  },
  paper: {
    pdfs: Math.max(1, number('paper-pdfs', 1_000, 200)),
    ocrPages: Math.max(1, number('ocr-pages', 10, 3)),
    ocrPdfPages: Math.max(1, Math.round(number('ocr-pages', 10, 3) / 3)),
  },
};
const hotpathLoad: LoadSettings = { connections, warmup: { seconds: warmupSeconds }, stop: { seconds } };
// One connection too, on loopback: latency without queueing behind 99 other connections.
const oneConnection: LoadSettings = {
  connections: 1,
  warmup: { seconds: Math.min(warmupSeconds, 2) },
  stop: { seconds: Math.min(seconds, 5) },
};
const hotpathLoads = (profile: string) =>
  profile === 'loopback' && connections > 1 ? [hotpathLoad, oneConnection] : [hotpathLoad];
const beforeByAnswers: LoadSettings = { connections, warmup: undefined, stop: { requests: beforeRequests } };
// The before designs one request at a time too: their cost without queueing, the fairest match for
// the write-ups' production figures.
const beforeAlone: LoadSettings = {
  connections: 1,
  warmup: { requests: 2 },
  stop: { requests: quick ? 5 : 20 },
};
const beforeLoads = (profile: string) =>
  profile === 'loopback' && connections > 1 ? [beforeByAnswers, beforeAlone] : [beforeByAnswers];

const startedAt = new Date();
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const machine = `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
cleanUpOnSignals(log);

/** The phases in order, so the log says where the run is and roughly how long is left. */
const scenarioSeconds = (settings: LoadSettings, perAnswer = 1) =>
  'seconds' in settings.stop
    ? settings.stop.seconds +
      (settings.warmup && 'seconds' in settings.warmup ? settings.warmup.seconds : 0) +
      4
    : settings.stop.requests * perAnswer;
const perProfileSeconds =
  (suites.has('documents')
    ? scenarioSeconds(hotpathLoad) + scenarioSeconds(beforeByAnswers, quick ? 0.2 : 0.8)
    : 0) +
  (suites.has('worklist')
    ? scenarioSeconds(hotpathLoad) + scenarioSeconds(beforeByAnswers, quick ? 0.05 : 0.1)
    : 0) +
  (suites.has('dashboard')
    ? 2 * scenarioSeconds(hotpathLoad) + scenarioSeconds(beforeByAnswers, quick ? 0.1 : 0.9)
    : 0) +
  (suites.has('platform') ? 4 * scenarioSeconds(hotpathLoad) : 0) +
  (suites.has('limit') ? 2 * scenarioSeconds(hotpathLoad) : 0) +
  // Loopback only: two message kinds, hotpath and the bare server, at each number of senders.
  (suites.has('ingestion') ? (4 * senders.length * (seconds + warmupSeconds + 1)) / profiles.length : 0);
let measuredSoFar = 0;
const phase = (name: string) => {
  const left = Math.max(0, profiles.length * perProfileSeconds - measuredSoFar);
  log(`── ${name} (about ${Math.ceil(left / 60)} min of measuring left)`);
};

const report: RunReport = {
  command,
  startedAt: startedAt.toISOString(),
  seconds: 0,
  quick,
  machine,
  postgres: '',
  load: {
    connections,
    warmupSeconds,
    seconds,
    beforeRequests,
    ...(suites.has('ingestion') ? { senders } : {}),
  },
  profiles: [],
  data: {},
  results: [],
  details: {},
};

try {
  log(machine);
  phase('data: PostgreSQL and the data sets (reused when the sizes are unchanged)');
  const postgres = await benchPostgres();
  onCleanup('PostgreSQL', () => postgres.release());
  report.postgres = postgres.description;
  const prepare = { fresh: values.fresh, log, namespace: quick ? 'quick_' : '' };
  const documents = suites.has('documents')
    ? await prepareDocuments(postgres, sizes.documents, prepare)
    : undefined;
  const worklist = suites.has('worklist')
    ? await prepareWorklist(postgres, sizes.worklist, prepare)
    : undefined;
  const dashboard =
    suites.has('dashboard') || suites.has('platform')
      ? await prepareDashboard(postgres, sizes.dashboard, prepare)
      : undefined;
  const limit = suites.has('limit') ? await prepareLimit(postgres, prepare) : undefined;
  const ingestion = suites.has('ingestion')
    ? await prepareIngestion(postgres, sizes.ingestion, prepare)
    : undefined;
  if (documents) report.data.documents = { ...documents.summary, reused: documents.reused };
  if (worklist) report.data.worklist = { ...worklist.summary, reused: worklist.reused };
  if (dashboard) report.data.dashboard = { ...dashboard.summary, reused: dashboard.reused };
  if (ingestion) report.data.ingestion = { ...ingestion.summary, reused: ingestion.reused };

  const s3 = documents ? await startDocumentsS3(documents.database) : undefined;
  const fhir = worklist ? await startService<{ baseUrl: string }>('fhir', []) : undefined;

  for (const profile of profiles) {
    const network = await openNetwork(
      profile,
      {
        postgresUrl: postgres.adminUrl,
        ...(s3 ? { s3Endpoint: s3.ready.endpoint } : {}),
        ...(fhir ? { fhirBaseUrl: fhir.ready.baseUrl } : {}),
      },
      delays,
    );
    report.profiles.push({ name: profile, description: network.description });
    const measured = (rows: ScenarioResult[]) => {
      report.results.push(...rows);
      measuredSoFar += rows.reduce((sum, row) => sum + row.seconds, 0);
    };
    try {
      if (documents) {
        phase(`${profile}: documents`);
        measured(
          await measureDocuments({
            dataset: { ...documents.summary, url: documents.url },
            network,
            settings: { hotpath: hotpathLoads(profile), before: beforeLoads(profile) },
            log,
          }),
        );
      }
      if (worklist && fhir) {
        phase(`${profile}: worklist`);
        measured(
          await measureWorklist({
            dataset: { ...worklist.summary, url: worklist.url },
            network,
            fhirDirect: fhir.ready.baseUrl,
            settings: { hotpath: hotpathLoads(profile), before: beforeLoads(profile) },
            log,
          }),
        );
      }
      if (dashboard && suites.has('dashboard')) {
        phase(`${profile}: dashboard`);
        measured(
          await measureDashboard({
            dataset: { ...dashboard.summary, url: dashboard.url },
            network,
            settings: { hotpath: hotpathLoads(profile), before: beforeLoads(profile) },
            log,
          }),
        );
      }
      if (dashboard && suites.has('platform') && profile === 'loopback') {
        phase(`${profile}: the platform (/healthz and the cached dashboard, 1 and 2 workers)`);
        measured(
          await measurePlatform({
            dataset: { ...dashboard.summary, url: dashboard.url },
            network,
            settings: hotpathLoads(profile),
            log,
          }),
        );
      }
      if (limit) {
        phase(`${profile}: the machine's limit`);
        measured(await measureLimit({ url: limit.url, network, settings: hotpathLoads(profile), log }));
      }
      if (ingestion && profile === 'loopback') {
        phase(
          `${profile}: ingestion (HL7 v2 over MLLP at ${senders.join(', ')} senders, beside a bare MLLP server)`,
        );
        measured(
          await measureIngestion({
            dataset: { ...ingestion.summary, url: ingestion.url },
            network,
            senders,
            warmupSeconds,
            seconds,
            log,
          }),
        );
      }
    } finally {
      await network.close();
    }
  }

  phase('details on loopback: plans, per-page costs, backfill and reconcile');
  if (worklist && fhir) {
    report.details.worklist = await worklistDetails({
      dataset: { ...worklist.summary, url: worklist.url },
      fhirDirect: fhir.ready.baseUrl,
    });
  }
  if (suites.has('platform')) {
    log('start-up times: the CLI commands and serve until its banner');
    report.details.platform = await startupTimes({ runs: quick ? 3 : 7, log });
  }
  if (dashboard && suites.has('dashboard')) {
    report.details.dashboard = await dashboardDetails({
      dataset: { ...dashboard.summary, url: dashboard.url },
      requests: quick ? 50 : 300,
    });
  }
  if (documents)
    report.details.maintenance = await documentsMaintenance(postgres, sizes.documents.maintenance, log);
  if (suites.has('paper')) {
    log(
      `paper: ${sizes.paper.pdfs} text-layer PDFs, ${sizes.paper.ocrPages} scans and ${sizes.paper.ocrPdfPages} image-only PDFs OCRed, folder drop`,
    );
    report.details.paper = await measurePaper({ sizes: sizes.paper, quick, postgres, prepare, log });
  }
} finally {
  await cleanUp(log);
}

report.seconds = (Date.now() - startedAt.getTime()) / 1000;
// A quick run, or a full run of some suites (--only), reports beside its JSON, so it never replaces
// the committed report of a full run of them all.
const partial = values.only !== undefined;
const resultsDir = quick ? path.resolve('bench/results/quick') : path.resolve('bench/results');
const reportDir = quick
  ? resultsDir
  : partial
    ? path.join(resultsDir, `only-${[...suites].join('-')}`)
    : path.resolve('bench');
const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
mkdirSync(resultsDir, { recursive: true });
mkdirSync(reportDir, { recursive: true });
const jsonFile = path.join(resultsDir, `${stamp}.json`);
writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(path.join(reportDir, 'chart.svg'), latencyChart(chartRows(report)));
writeFileSync(
  path.join(reportDir, 'REPORT.md'),
  reportMarkdown(report, { chart: 'chart.svg', json: path.relative(reportDir, jsonFile) }),
);
const httpRows = resultsTable(report);
if (httpRows.length > 2) process.stdout.write(`${httpRows.join('\n')}\n\n`);
const ingestionRows = ingestionTable(report);
if (ingestionRows.length > 0) process.stdout.write(`${ingestionRows.join('\n')}\n\n`);
const paperRows = paperTable(report);
if (paperRows.length > 0) process.stdout.write(`${paperRows.join('\n')}\n\n`);
for (const line of shortfalls(report)) process.stdout.write(`short of the mark: ${line}\n`);
const targets = platformTargets(report);
if (targets.length > 0) process.stdout.write(`\nplatform targets:\n${targets.join('\n')}\n`);
const ingestionLines = ingestionTargets(report);
if (ingestionLines.length > 0) process.stdout.write(`\ningestion targets:\n${ingestionLines.join('\n')}\n`);
log(
  `wrote ${path.relative('.', path.join(reportDir, 'REPORT.md'))}, ${path.relative('.', path.join(reportDir, 'chart.svg'))} and ${path.relative('.', jsonFile)}`,
);

const failures = budgetFailures(report.results);
if (failures.length > 0) {
  for (const failure of failures) process.stderr.write(`bench: FAILED ${failure}\n`);
  process.exit(1);
}
log(`statement budgets held on every hotpath route; done in ${(report.seconds / 60).toFixed(1)} min`);
