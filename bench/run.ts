import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { documentsBenchmark } from './documents/scenario.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '1,10' },
    'registry-connections': { type: 'string', default: '100' },
    's3-latency-ms': { type: 'string', default: '50' },
  },
});

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const fixed = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
log(machine);

const report = await documentsBenchmark({
  durationSeconds: Number(values.duration),
  sharedConnections: values.connections.split(',').map(Number),
  registryConnections: Number(values['registry-connections']),
  s3LatencyMs: Number(values['s3-latency-ms']),
  log,
});

const lines = [
  `# hotpath benchmark — documents`,
  '',
  `machine: ${machine}; PostgreSQL: ${process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded'}; load generator, server, PostgreSQL and s3rver share the machine`,
  `S3: s3rver behind a proxy adding ${report.s3LatencyMs} ms to every request; s3rver itself takes ${fixed(report.legacySection.s3rverPageMs, 0)} ms per 1,000-key page of this section`,
  '',
  '## GET /v1/documents/{id}: latest approved, section of ' +
    `${report.legacySection.keys} sibling keys (${report.legacySection.listPages} list pages)`,
  '',
  '| read path | connections | requests | req/s | p50 ms | p95 ms | p99 ms | SQL/req | storage req/req | bytes/resp | errors | Server-Timing (sample) |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...report.latestApproved.map(
    (row) =>
      `| ${row.mode} | ${row.connections} | ${row.requests} | ${fixed(row.requestsPerSecond, 0)} | ${fixed(row.p50)} | ${fixed(row.p95)} | ${fixed(row.p99)} | ${fixed(row.queriesPerRequest, 2)} | ${fixed(row.storageRequestsPerRequest, 2)} | ${fixed(row.bytesPerResponse, 0)} | ${row.errors + row.non2xx} | ${row.sampleServerTiming} |`,
  ),
  '',
  '## Operations',
  '',
  `- backfill: ${report.backfill.versions} versions of ${report.backfill.documents} documents in ${fixed(report.backfill.seconds, 2)} s = ${fixed(report.backfill.versionsPerSecond, 0)} versions/s (rerun: ${fixed(report.backfill.rerunSeconds, 2)} s, ${report.backfill.rerunChanged} rows changed)`,
  `- reconcile: ${report.reconcile.documents} documents, ${report.reconcile.mismatches} mismatches, ${fixed(report.reconcile.seconds, 2)} s (${report.reconcile.storageRequests} storage requests, file-system store)`,
  `- import-bucket: ${report.legacySection.keys} keys, ${report.legacySection.documents} documents, ${report.legacySection.listPages} list pages, ${fixed(report.legacySection.importSeconds, 2)} s`,
  '',
];
process.stdout.write(`${lines.join('\n')}\n`);
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/documents.json', `${JSON.stringify({ machine, ...report }, null, 2)}\n`);
log('wrote bench/results/documents.json');
