import { type LoadResult, type LoadStop, load } from './load.ts';

/** Which write-up table a row belongs to; a before row and a hotpath row of one comparison are paired. */
export type Comparison =
  | 'documents'
  | 'worklist'
  | 'dashboard-miss'
  | 'dashboard-hit'
  | 'platform'
  | 'limit'
  | 'ingestion-oru'
  | 'ingestion-mdm';

export interface Scenario {
  comparison: Comparison;
  role: 'before' | 'hotpath' | 'limit';
  /** What served it, in a few words. */
  design: string;
  /** The route as hotpath's metrics label it, for counting its statements. */
  route: string;
  /** Statements a request may cost (hotpath rows): the route's declared budget. */
  budget?: number;
}

export interface ScenarioResult extends Scenario, LoadResult {
  profile: string;
  connections: number;
  stop: LoadStop;
  sqlPerRequest: number;
  storagePerRequest: number;
  externalPerRequest: number;
  /** Budget and N+1 violations hotpath's own guard counted during the run (0 expected for hotpath rows). */
  budgetViolations: number;
  /** Ingestion rows: `connections` are MLLP senders, `requests` messages, `failedStatuses` ACK codes. */
  ingestion?: IngestionFigures;
}

export interface IngestionFigures {
  /** Bytes of each message sent, without the MLLP envelope. */
  messageBytes: number;
  /** ACKs by MSA-1 (AA expected for every message). */
  acks: Record<string, number>;
  /** Mean time in hotpath from a message read to its requests committed (hotpath_ingest_duration_seconds). */
  serverMs: number | undefined;
  /** Mean time a message's statements took, summed (hotpath_db_query_duration_seconds). */
  sqlMs: number | undefined;
  /** By statement name: how many a message issued, and their mean time. */
  statements?: Record<string, { perMessage: number; meanMs: number }>;
  /**
   * CPU a message cost, in ms, where it could be read (Linux /proc): the server under test, the
   * PostgreSQL cluster (every backend, on this machine only) and the load generator.
   */
  cpuMs?: { server?: number; postgres?: number; senders?: number };
}

/** Running totals read before and after a measurement; their difference is the measurement's cost. */
export interface Counters {
  /** Answers the server sent, counted by the server: a client's count misses those in flight at the end. */
  answers(): Promise<number>;
  sql(): Promise<number>;
  storage(): Promise<number>;
  external(): Promise<number>;
  budgetViolations(): Promise<number>;
}

export interface LoadSettings {
  connections: number;
  /** Unmeasured load first, so neither the server's code nor PostgreSQL's caches are cold. */
  warmup: LoadStop | undefined;
  stop: LoadStop;
}

/**
 * Warms up, then measures one scenario under load and divides its counters by the answers; once per
 * load setting (the benchmark's concurrency, and one connection for latency without queueing).
 */
export async function measureScenario(input: {
  scenario: Scenario;
  profile: string;
  baseUrl: string;
  paths: string[];
  headers: Record<string, string>;
  counters: Counters;
  settings: LoadSettings | LoadSettings[];
  log: (line: string) => void;
}): Promise<ScenarioResult[]> {
  const rows: ScenarioResult[] = [];
  for (const settings of Array.isArray(input.settings) ? input.settings : [input.settings]) {
    rows.push(await measureOnce({ ...input, settings }));
  }
  return rows;
}

async function measureOnce(input: {
  scenario: Scenario;
  profile: string;
  baseUrl: string;
  paths: string[];
  headers: Record<string, string>;
  counters: Counters;
  settings: LoadSettings;
  log: (line: string) => void;
}): Promise<ScenarioResult> {
  const { scenario, settings, counters } = input;
  const target = { baseUrl: input.baseUrl, paths: input.paths, headers: input.headers };
  const label = `${scenario.comparison} · ${scenario.design} · ${settings.connections} conn.`;
  if (settings.warmup) {
    await load({
      ...target,
      label,
      connections: settings.connections,
      stop: settings.warmup,
      showProgress: false,
    });
  }
  const before = await readCounters(counters);
  const result = await load({ ...target, label, connections: settings.connections, stop: settings.stop });
  const after = await readCounters(counters);
  const answers = Math.max(after.answers - before.answers, 1);
  const per = (key: keyof typeof before) => (after[key] - before[key]) / answers;
  const row: ScenarioResult = {
    ...scenario,
    ...result,
    profile: input.profile,
    connections: settings.connections,
    stop: settings.stop,
    sqlPerRequest: per('sql'),
    storagePerRequest: per('storage'),
    externalPerRequest: per('external'),
    budgetViolations: after.budgetViolations - before.budgetViolations,
  };
  input.log(
    `  ${label}: ${row.requests} answers, p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms, ${row.requestsPerSecond.toFixed(0)} req/s, ${row.sqlPerRequest.toFixed(2)} SQL/req`,
  );
  return row;
}

async function readCounters(counters: Counters) {
  const [answers, sql, storage, external, budgetViolations] = await Promise.all([
    counters.answers(),
    counters.sql(),
    counters.storage(),
    counters.external(),
    counters.budgetViolations(),
  ]);
  return { answers, sql, storage, external, budgetViolations };
}

/** Sums a Prometheus counter's samples whose labels match. */
export async function counterTotal(
  baseUrl: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  return sampleTotal(await (await fetch(`${baseUrl}/metrics`)).text(), name, labels);
}

/** Sums the samples of one metric in a scrape (the Prometheus text format) whose labels match. */
export function sampleTotal(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const matches = Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`));
    if (matches) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** A hotpath server's counters for one route; external requests counted where they arrive. */
export function hotpathCounters(baseUrl: string, route: string, external: () => Promise<number>): Counters {
  return {
    answers: () => counterTotal(baseUrl, 'http_request_duration_seconds_count', { route }),
    sql: () => counterTotal(baseUrl, 'hotpath_db_queries_total', { route }),
    storage: () => counterTotal(baseUrl, 'hotpath_storage_requests_total'),
    external,
    budgetViolations: () => counterTotal(baseUrl, 'hotpath_query_budget_violations_total'),
  };
}

export const nothingCounted = async () => 0;
