import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { MESSAGE_STATEMENT_BUDGET } from '../../src/modules/worklist/ingestion/inbox.ts';
import { generateWorklistDataset } from '../../src/modules/worklist/operations/dataset.ts';
import type { SamplePatient } from '../../src/modules/worklist/operations/sample-messages.ts';
import { freePort } from '../../src/platform/free-port.ts';
import { progress } from '../../src/platform/progress.ts';
import { cpuSeconds, postmasterOn } from '../support/cpu.ts';
import type { NetworkProfile } from '../support/network.ts';
import {
  adminQuery,
  type BenchPostgres,
  type DatasetOptions,
  openBenchDatabase,
  reusableDataset,
} from '../support/postgres.ts';
import { onCleanup } from '../support/processes.ts';
import { type ScenarioResult, sampleTotal } from '../support/scenario.ts';
import { startBenchServer } from '../support/servers.ts';
import type { MessageKind } from './messages.ts';
import type { SendersCommand, SendersReply, SendersResult } from './senders.ts';

export interface IngestionSizes {
  patients: number;
  /** Requests already in the worklist, so the inserts land in indexes of some size. */
  requests: number;
}

export interface IngestionDataset {
  facilityId: string;
  patients: number;
  requests: number;
  seconds: number;
}

/**
 * One facility (its id is what senders put in MSH-6) with its patients and a worklist history, made
 * by the worklist generator (set-based SQL) in a database of its own: ingestion writes, and the
 * worklist suite's data set must stay as generated.
 */
export function prepareIngestion(postgres: BenchPostgres, sizes: IngestionSizes, options: DatasetOptions) {
  return reusableDataset<IngestionDataset>(
    postgres,
    'ingestion',
    sizes,
    async (url) => {
      const db = await openBenchDatabase(url, { migrate: true });
      try {
        const generated = await generateWorklistDataset(db.db, {
          facilities: 1,
          patientsPerFacility: sizes.patients,
          requests: sizes.requests,
          days: 365,
          seed: 3,
          fhirBaseUrl: null,
        });
        return {
          facilityId: generated.facilityIds[0] as string,
          patients: generated.patients,
          requests: generated.requests,
          seconds: generated.seconds,
        };
      } finally {
        await db.close();
      }
    },
    options,
  );
}

/** What the benchmark's messages added: removed before and after, so every run starts from the data set. */
async function removeIngested(url: string): Promise<void> {
  const ingested = 'SELECT request_id FROM integration_requests WHERE message_id IS NOT NULL';
  for (const table of ['verifications', 'extracted_metadata', 'attachments']) {
    await adminQuery(url, `DELETE FROM ${table} WHERE request_id IN (${ingested})`);
  }
  await adminQuery(url, 'DELETE FROM integration_requests WHERE message_id IS NOT NULL');
  await adminQuery(url, 'DELETE FROM inbound_messages');
  await adminQuery(
    url,
    'VACUUM (ANALYZE) inbound_messages, integration_requests, attachments, extracted_metadata, verifications',
  );
}

/** The patients the messages name: spread over the facility, with and without an INS, as they come. */
async function samplePatients(url: string, facilityId: string, count: number): Promise<SamplePatient[]> {
  const db = await openBenchDatabase(url, { migrate: false });
  try {
    const { rows } = await sql<{
      ins: string | null;
      ins_oid: string | null;
      identity_status: string;
      ipp: string;
      birth_last_name: string;
      used_last_name: string | null;
      birth_first_names: string;
      birth_date: string;
      sex: 'F' | 'M' | 'U';
      birthplace_code: string | null;
    }>`SELECT ins, ins_oid, identity_status, ipp, birth_last_name, used_last_name, birth_first_names,
              birth_date::text AS birth_date, sex, birthplace_code
       FROM patients WHERE facility_id = ${facilityId} AND merged_into_patient_id IS NULL
       ORDER BY hashint8(patient_id) LIMIT ${count}`.execute(db.db);
    const reliability = {
      provisional: 'PROV',
      recovered: 'RECUP',
      validated: 'VALI',
      qualified: 'QUAL',
    } as const;
    return rows.map((row) => ({
      ins: row.ins ?? undefined,
      insOid: row.ins_oid ?? undefined,
      ipp: row.ipp,
      birthLastName: row.birth_last_name,
      usedLastName: row.used_last_name ?? undefined,
      givenNames: row.birth_first_names.split(' '),
      birthDate: row.birth_date,
      sex: row.sex,
      birthplaceCode: row.birthplace_code ?? undefined,
      reliability: reliability[row.identity_status as keyof typeof reliability] ?? 'PROV',
    }));
  } finally {
    await db.close();
  }
}

/** The load generator's process (bench/ingestion/senders.ts), driven over IPC. */
class Senders {
  private nextId = 0;
  private readonly waiting = new Map<
    number,
    { resolve(result: SendersResult): void; reject(error: Error): void }
  >();
  private prepared:
    | { resolve(reply: Extract<SendersReply, { type: 'prepared' }>): void; reject(error: Error): void }
    | undefined;
  readonly stop: () => Promise<void>;

  get pid() {
    return this.child.pid;
  }

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: SendersReply) => {
      if (reply.type === 'prepared') this.prepared?.resolve(reply);
      else {
        const waiter = this.waiting.get(reply.id);
        this.waiting.delete(reply.id);
        if (reply.type === 'result') waiter?.resolve(reply.result);
        else waiter?.reject(new Error(`the MLLP senders failed: ${reply.error}`));
      }
    });
    child.once('exit', (code) => {
      const exited = new Error(`the MLLP senders exited (${code})`);
      this.prepared?.reject(exited);
      for (const waiter of this.waiting.values()) waiter.reject(exited);
      this.waiting.clear();
    });
    this.stop = onCleanup('MLLP senders', async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    });
  }

  static start(): Senders {
    const child = fork(path.resolve('bench/ingestion/senders.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Senders(child);
  }

  prepare(command: Extract<SendersCommand, { type: 'prepare' }>) {
    return new Promise<Extract<SendersReply, { type: 'prepared' }>>((resolve, reject) => {
      this.prepared = { resolve, reject };
      this.child.send(command);
    });
  }

  run(command: Omit<Extract<SendersCommand, { type: 'run' }>, 'type' | 'id'>): Promise<SendersResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ type: 'run', id, ...command } satisfies SendersCommand);
    });
  }
}

/** Running totals of hotpath's own metrics, one scrape. */
async function scrape(baseUrl: string) {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const mllp = { listener: 'mllp' };
  return {
    messages: sampleTotal(text, 'hotpath_ingest_messages_total', mllp),
    // A duplicate is acknowledged AA too: counted apart, as none is expected.
    duplicates: sampleTotal(text, 'hotpath_ingest_messages_total', { ...mllp, outcome: 'duplicate' }),
    // Every statement the process issued, whoever issued it: the MLLP listener's have no route label,
    // and nothing else runs (no integration worker, no HTTP traffic but these scrapes, counted apart).
    statements: sampleTotal(text, 'hotpath_db_query_duration_seconds_count'),
    statementSeconds: sampleTotal(text, 'hotpath_db_query_duration_seconds_sum'),
    puts: sampleTotal(text, 'hotpath_storage_requests_total', { operation: 'PutObject' }),
    ingestSeconds: sampleTotal(text, 'hotpath_ingest_duration_seconds_sum', mllp),
    ingestCount: sampleTotal(text, 'hotpath_ingest_duration_seconds_count', mllp),
    violations: sampleTotal(text, 'hotpath_query_budget_violations_total'),
    byStatement: byStatement(text),
  };
}
type Scrape = Awaited<ReturnType<typeof scrape>>;
type Totals = Omit<Scrape, 'byStatement'>;

/** Statements and their time by name (`/* worklist.recordIngestion *\/`, or verb and table). */
function byStatement(text: string): Map<string, { count: number; seconds: number }> {
  const totals = new Map<string, { count: number; seconds: number }>();
  const sample = /^hotpath_db_query_duration_seconds_(count|sum)\{query="((?:[^"\\]|\\.)*)"\} (\S+)$/;
  for (const line of text.split('\n')) {
    const match = sample.exec(line);
    if (!match) continue;
    const entry = totals.get(match[2] as string) ?? { count: 0, seconds: 0 };
    if (match[1] === 'count') entry.count += Number(match[3]);
    else entry.seconds += Number(match[3]);
    totals.set(match[2] as string, entry);
  }
  return totals;
}

const TITLE: Record<MessageKind, string> = {
  oru: 'ORU^R01 + 40 KB PDF',
  mdm: 'MDM^T02, CDA + 300 KB PDF',
};

/**
 * HL7 v2 over MLLP: `hotpath serve` with its MLLP listener (one worker, the bench pool, objects on
 * the file system under a scratch directory), and beside it the bare MLLP server that ACKs without
 * storing, measured by the same generator with the same messages: ORU^R01 and MDM^T02 apart, at each
 * number of senders. Statements and storage writes per message are hotpath's own counts over the
 * messages it acknowledged.
 */
export async function measureIngestion(input: {
  dataset: IngestionDataset & { url: string };
  network: NetworkProfile;
  senders: number[];
  /** Both by default. */
  kinds?: MessageKind[];
  warmupSeconds: number;
  seconds: number;
  log: (line: string) => void;
}): Promise<ScenarioResult[]> {
  const { dataset, network } = input;
  await removeIngested(dataset.url);
  const storage = mkdtempSync(path.join(os.tmpdir(), 'hotpath-bench-ingestion-'));
  const removeStorage = onCleanup('ingestion objects', async () =>
    rmSync(storage, { recursive: true, force: true }),
  );
  const senders = Senders.start();
  try {
    const patients = await samplePatients(dataset.url, dataset.facilityId, 64);
    const prepared = await senders.prepare({
      type: 'prepare',
      facilityId: dataset.facilityId,
      patients,
      procedureDate: new Date().toISOString().slice(0, 10),
    });
    input.log(
      `  ${prepared.templates} patients; ORU^R01 ${Math.round(prepared.messageBytes.oru / 1024)} KB, MDM^T02 ${Math.round(prepared.messageBytes.mdm / 1024)} KB a message`,
    );
    const mllpPort = await freePort();
    const hotpath = await startBenchServer('ingestion', {
      DATABASE_URL: network.databaseUrl(dataset.url),
      HOTPATH_MLLP_PORT: String(mllpPort),
      STORAGE_URL: pathToFileURL(storage).href,
    });
    const limit = await startBenchServer('MLLP limit', {}, 'mllpLimit');
    const limitPort = Number(new URL(limit.baseUrl).port);
    const database = new URL(network.databaseUrl(dataset.url));
    const postmaster = ['127.0.0.1', 'localhost', '[::1]'].includes(database.hostname)
      ? postmasterOn(Number(database.port || 5432))
      : undefined;
    const cpu = (role: 'hotpath' | 'limit') => ({
      server: cpuSeconds((role === 'hotpath' ? hotpath : limit).child.pid),
      postgres: role === 'hotpath' ? cpuSeconds(postmaster) : undefined,
      senders: cpuSeconds(senders.pid),
    });
    const results: ScenarioResult[] = [];
    try {
      for (const kind of input.kinds ?? (['oru', 'mdm'] as const)) {
        for (const count of input.senders) {
          // Back to back, so the noise of this machine falls on both alike.
          for (const role of ['hotpath', 'limit'] as const) {
            const load = {
              kind,
              host: '127.0.0.1',
              port: role === 'hotpath' ? mllpPort : limitPort,
              senders: count,
            };
            const label = `ingestion · ${TITLE[kind]} · ${role} · ${count} sender${count === 1 ? '' : 's'}`;
            if (input.warmupSeconds > 0) await senders.run({ ...load, seconds: input.warmupSeconds });
            // A scrape issues a statement of its own (a gauge's): read twice to know what one costs.
            const first = role === 'hotpath' ? await scrape(hotpath.baseUrl) : undefined;
            const before = role === 'hotpath' ? await scrape(hotpath.baseUrl) : undefined;
            const scrapeStatements = first && before ? before.statements - first.statements : 0;
            const cpuBefore = cpu(role);
            const bar = progress(`  ${label}`, input.seconds, 's');
            const ticker = setInterval(() => bar.advance(1), 1000).unref();
            let measured: SendersResult;
            try {
              measured = await senders.run({ ...load, seconds: input.seconds });
            } finally {
              clearInterval(ticker);
              bar.finish();
            }
            const cpuAfter = cpu(role);
            const after = role === 'hotpath' ? await scrape(hotpath.baseUrl) : undefined;
            if (after) after.statements -= scrapeStatements;
            const cpuMs = Object.fromEntries(
              (['server', 'postgres', 'senders'] as const).flatMap((key) => {
                const [from, to] = [cpuBefore[key], cpuAfter[key]];
                return from === undefined || to === undefined
                  ? []
                  : [[key, (1000 * (to - from)) / Math.max(measured.messages, 1)]];
              }),
            );
            const row = ingestionRow({
              kind,
              role,
              senders: count,
              profile: network.name,
              input,
              measured,
              before,
              after,
              cpuMs,
            });
            if (before && after && after.messages - before.messages !== measured.messages) {
              input.log(
                `  warning: hotpath counted ${after.messages - before.messages} messages, the senders ${measured.messages} ACKs`,
              );
            }
            if (measured.errorSamples.length > 0) {
              input.log(`  ${measured.errors} messages without an ACK: ${measured.errorSamples.join('; ')}`);
            }
            input.log(`  ${label}: ${describeRow(row)}`);
            results.push(row);
            // The objects are not read again; a full run would otherwise leave gigabytes behind.
            if (role === 'hotpath') rmSync(path.join(storage, 'objects'), { recursive: true, force: true });
          }
        }
      }
      return results;
    } finally {
      await limit.stop();
      await hotpath.stop();
    }
  } finally {
    await senders.stop();
    await removeStorage();
    await removeIngested(dataset.url);
  }
}

/** One row in a log line: what it measured, and for hotpath where a message's time and CPU went. */
function describeRow(row: ScenarioResult): string {
  const figures = row.ingestion;
  const fixed = (value: number | undefined, digits = 1) =>
    value === undefined ? '?' : value.toFixed(digits);
  const parts = [
    `${row.requests} messages, ${row.requestsPerSecond.toFixed(0)} msg/s, p50 ${fixed(row.p50)} ms, p99 ${fixed(row.p99)} ms, ACKs ${JSON.stringify(figures?.acks ?? {})}`,
  ];
  if (row.role === 'hotpath') {
    parts.push(
      `${fixed(row.sqlPerRequest, 2)} statements and ${fixed(row.storagePerRequest, 2)} writes a message`,
      `${fixed(figures?.serverMs)} ms in hotpath, ${fixed(figures?.sqlMs)} ms of it in statements (${Object.entries(
        figures?.statements ?? {},
      )
        .map(([name, { perMessage, meanMs }]) => `${name} ${perMessage.toFixed(2)}× ${meanMs.toFixed(2)} ms`)
        .join(', ')})`,
    );
  }
  const cpu = figures?.cpuMs;
  if (cpu && Object.keys(cpu).length > 0) {
    parts.push(
      `CPU a message: ${row.role} ${fixed(cpu.server, 2)} ms${cpu.postgres === undefined ? '' : `, PostgreSQL ${fixed(cpu.postgres, 2)} ms`}, senders ${fixed(cpu.senders, 2)} ms`,
    );
  }
  return parts.join('; ');
}

function ingestionRow(options: {
  kind: MessageKind;
  role: 'hotpath' | 'limit';
  senders: number;
  profile: string;
  input: { seconds: number };
  measured: SendersResult;
  before: Scrape | undefined;
  after: Scrape | undefined;
  cpuMs: NonNullable<ScenarioResult['ingestion']>['cpuMs'];
}): ScenarioResult {
  const { measured, before, after, role } = options;
  const delta = (key: keyof Totals) => (before && after ? after[key] - before[key] : 0);
  const answered = before && after ? Math.max(delta('messages'), 1) : Math.max(measured.messages, 1);
  const notAccepted: Record<string, number> = Object.fromEntries(
    Object.entries(measured.acks).filter(([code]) => code !== 'AA'),
  );
  if (delta('duplicates') > 0) notAccepted['AA, as a duplicate'] = delta('duplicates');
  return {
    comparison: options.kind === 'oru' ? 'ingestion-oru' : 'ingestion-mdm',
    role,
    design:
      role === 'hotpath'
        ? 'hotpath: MLLP listener, PostgreSQL + file store'
        : 'limit: bare MLLP server, AA without storing',
    route: 'mllp hl7v2 message',
    ...(role === 'hotpath' ? { budget: MESSAGE_STATEMENT_BUDGET } : {}),
    profile: options.profile,
    connections: options.senders,
    stop: { seconds: options.input.seconds },
    requests: measured.messages,
    errors: measured.errors,
    non2xx: Object.values(notAccepted).reduce((sum, count) => sum + count, 0),
    seconds: measured.seconds,
    requestsPerSecond: measured.messages / measured.seconds,
    mean: measured.mean,
    p50: measured.p50,
    p90: measured.p90,
    p95: measured.p95,
    p99: measured.p99,
    max: measured.max,
    bytesPerResponse: measured.ackBytes,
    failedStatuses: notAccepted,
    sqlPerRequest: delta('statements') / answered,
    storagePerRequest: delta('puts') / answered,
    externalPerRequest: 0,
    budgetViolations: delta('violations'),
    ingestion: {
      messageBytes: measured.messageBytes,
      acks: measured.acks,
      serverMs:
        role === 'hotpath' ? (1000 * delta('ingestSeconds')) / Math.max(delta('ingestCount'), 1) : undefined,
      sqlMs: role === 'hotpath' ? (1000 * delta('statementSeconds')) / answered : undefined,
      cpuMs: options.cpuMs,
      ...(before && after
        ? {
            statements: Object.fromEntries(
              [...after.byStatement].flatMap(([name, total]) => {
                const earlier = before.byStatement.get(name) ?? { count: 0, seconds: 0 };
                const count = total.count - earlier.count;
                if (count === 0) return [];
                return [
                  [
                    name,
                    {
                      perMessage: count / answered,
                      meanMs: (1000 * (total.seconds - earlier.seconds)) / count,
                    },
                  ],
                ];
              }),
            ),
          }
        : {}),
    },
  };
}
