import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { HOTPATH_BIN, startServeProcess } from '../../testkit/serve-process.ts';
import type { DashboardDataset } from '../dashboard/suite.ts';
import type { NetworkProfile } from '../support/network.ts';
import {
  hotpathCounters,
  type LoadSettings,
  measureScenario,
  nothingCounted,
  type ScenarioResult,
} from '../support/scenario.ts';
import { BENCH_TOKEN_SECRET, benchAuthorization, startBenchServer } from '../support/servers.ts';

const run = promisify(execFile);

/** A measured wall time beside the limit the platform issue set for it. */
export interface TimedStart {
  what: string;
  runs: number[];
  medianMs: number;
  targetMs: number;
}

export interface PlatformDetails {
  startup: TimedStart[];
}

const DASHBOARD_ROUTE = '/v1/merchants/:merchantId/dashboard';

/**
 * The pipeline's own cost and what more workers buy: `/healthz` (no work at all) and the cached
 * dashboard (no statement), each on `hotpath serve` with one worker and with two. The limit suite's
 * bare Fastify, in the same run, is what they are held to.
 */
export async function measurePlatform(input: {
  dataset: DashboardDataset & { url: string };
  network: NetworkProfile;
  settings: LoadSettings[];
  log: (line: string) => void;
}): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const workers of [1, 2]) {
    const server = await startBenchServer(`platform, ${workers} worker(s)`, {
      DATABASE_URL: input.network.databaseUrl(input.dataset.url),
      HOTPATH_WORKERS: String(workers),
    });
    try {
      const label = workers === 1 ? '1 worker' : `${workers} workers`;
      for (const [design, route, paths, headers] of [
        [`hotpath /healthz · ${label}`, '/healthz', ['/healthz'], {}],
        [
          `hotpath cached dashboard · ${label}`,
          DASHBOARD_ROUTE,
          input.dataset.typicalIds.map((id) => `/v1/merchants/${id}/dashboard`),
          benchAuthorization('admin'),
        ],
      ] as const) {
        results.push(
          ...(await measureScenario({
            scenario: {
              comparison: 'platform',
              role: 'hotpath',
              design,
              route,
              budget: route === DASHBOARD_ROUTE ? 1 : 0,
            },
            profile: input.network.name,
            baseUrl: server.baseUrl,
            paths: [...paths],
            headers,
            counters: hotpathCounters(server.baseUrl, route, nothingCounted),
            settings: input.settings,
            log: input.log,
          })),
        );
      }
    } finally {
      await server.stop();
    }
  }
  return results;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

/**
 * Wall time of each CLI command a newcomer types, and of `serve` until its banner on an existing data
 * dir (the embedded PostgreSQL started by it), on the Node this benchmark runs on.
 */
export async function startupTimes(options: {
  runs: number;
  log: (line: string) => void;
}): Promise<PlatformDetails> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hotpath-bench-start-'));
  // As root, the embedded server runs as `postgres`, which must reach its cluster here.
  chmodSync(dataDir, 0o755);
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const env = {
    ...inherited,
    HOTPATH_DATA_DIR: dataDir,
    HOTPATH_TOKEN_SECRET: BENCH_TOKEN_SECRET,
    LOG_LEVEL: 'warn',
  };
  const timed = async (work: () => Promise<unknown>) => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  const startup: TimedStart[] = [];
  const measure = async (what: string, targetMs: number, work: () => Promise<unknown>) => {
    const runs: number[] = [];
    for (let attempt = 0; attempt < options.runs; attempt += 1) runs.push(await timed(work));
    startup.push({ what, runs, medianMs: median(runs), targetMs });
    options.log(
      `  ${what}: median ${Math.round(median(runs))} ms over ${runs.length} runs (target ≤ ${targetMs} ms)`,
    );
  };
  try {
    const hotpath = (...args: string[]) => run(process.execPath, [HOTPATH_BIN, ...args], { env });
    await measure('hotpath --help', 250, () => hotpath('--help'));
    await measure('hotpath --version', 250, () => hotpath('--version'));
    await measure('hotpath token create', 500, () =>
      hotpath('token', 'create', '--role', 'reader', '--subject', 'bench'),
    );
    // The data dir exists and is migrated: what `serve` does on every start after the first.
    await hotpath('migrate');
    for (const workers of [1, 2]) {
      await measure(`hotpath serve --workers ${workers}: ready (banner)`, 2_000, async () => {
        const server = await startServeProcess({ ...env, HOTPATH_WORKERS: String(workers) });
        await server.stop();
      });
    }
    return { startup };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
