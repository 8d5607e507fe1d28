import type { NetworkProfile } from '../support/network.ts';
import { adminQuery, type BenchPostgres, type DatasetOptions, reusableDataset } from '../support/postgres.ts';
import {
  type LoadSettings,
  measureScenario,
  nothingCounted,
  type ScenarioResult,
} from '../support/scenario.ts';
import { startBenchServer } from '../support/servers.ts';

const ROWS = 100_000;

/** The limit server's table: rows of a typical width, looked up by primary key. */
export function prepareLimit(postgres: BenchPostgres, options: DatasetOptions) {
  return reusableDataset(
    postgres,
    'limit',
    { rows: ROWS },
    async (url) => {
      await adminQuery(url, 'CREATE TABLE limit_rows (id integer PRIMARY KEY, name text NOT NULL)');
      await adminQuery(
        url,
        "INSERT INTO limit_rows (id, name) SELECT n, 'row ' || n || ' ' || md5(n::text) FROM generate_series(1, $1) n",
        [ROWS],
      );
      await adminQuery(url, 'ANALYZE limit_rows');
      return { rows: ROWS };
    },
    options,
  );
}

/**
 * What the machine can do at all, under the same load: bare Fastify answering a constant, and a
 * single-row primary-key lookup over a pool of hotpath's size (bench/baselines/limit-server.ts).
 */
export async function measureLimit(input: {
  url: string;
  network: NetworkProfile;
  settings: LoadSettings[];
  log: (line: string) => void;
}): Promise<ScenarioResult[]> {
  const server = await startBenchServer(
    'limit',
    { DATABASE_URL: input.network.databaseUrl(input.url) },
    'limit',
  );
  try {
    const stats = async () =>
      (await (await fetch(`${server.baseUrl}/stats`)).json()) as {
        statements: number;
        answered: Record<string, number>;
      };
    const results: ScenarioResult[] = [];
    for (const [design, route, paths] of [
      ['limit: bare Fastify, constant answer', '/hello', ['/hello']],
      [
        'limit: bare Fastify + pg, primary-key row',
        '/rows/:id',
        Array.from({ length: 10_000 }, (_, n) => `/rows/${((n * 7919) % ROWS) + 1}`),
      ],
    ] as const) {
      results.push(
        ...(await measureScenario({
          scenario: { comparison: 'limit', role: 'limit', design, route },
          profile: input.network.name,
          baseUrl: server.baseUrl,
          paths: [...paths],
          headers: {},
          counters: {
            answers: async () => (await stats()).answered[route] ?? 0,
            sql: async () => (await stats()).statements,
            storage: nothingCounted,
            external: nothingCounted,
            budgetViolations: nothingCounted,
          },
          settings: input.settings,
          log: input.log,
        })),
      );
    }
    return results;
  } finally {
    await server.stop();
  }
}
