import path from 'node:path';
import { type Role, TokenAuthority } from '../../src/platform/auth/tokens.ts';
import { type ServeProcess, startServeProcess } from '../../testkit/serve-process.ts';
import { onCleanup } from './processes.ts';

export const BENCH_TOKEN_SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';
/** Headers carrying a bench token; an admin sees every facility and merchant, so one token serves a whole run. */
export function benchAuthorization(role: Role): Record<string, string> {
  const token = new TokenAuthority(BENCH_TOKEN_SECRET).issue({ subject: 'bench', role });
  return { authorization: `Bearer ${token}` };
}

/** Every server under test gets the same pool, as production would configure it. */
export const BENCH_POOL_MAX = 20;

const ENTRIES = {
  hotpath: { command: undefined, ready: 'hotpath is serving' },
  baselines: {
    command: ['--import', 'tsx', path.resolve('bench/baselines/server.ts')],
    ready: 'hotpath is serving',
  },
  limit: {
    command: ['--import', 'tsx', path.resolve('bench/baselines/limit-server.ts')],
    ready: 'limit server listening',
  },
  mllpLimit: {
    command: ['--import', 'tsx', path.resolve('bench/baselines/mllp-limit-server.ts')],
    ready: 'MLLP limit server listening',
  },
} as const;

/**
 * A server under test in its own process, apart from the load generator: `hotpath serve`, hotpath with
 * the write-ups' before designs mounted, or a bare limit server (HTTP, or MLLP on PORT). Stopped on
 * Ctrl-C too.
 */
export async function startBenchServer(
  label: string,
  env: Record<string, string>,
  entry: keyof typeof ENTRIES = 'hotpath',
): Promise<ServeProcess> {
  const { command, ready } = ENTRIES[entry];
  const server = await startServeProcess(
    {
      ...process.env,
      LOG_LEVEL: 'error',
      HOTPATH_TOKEN_SECRET: BENCH_TOKEN_SECRET,
      DB_POOL_MAX: String(BENCH_POOL_MAX),
      HOTPATH_INTEGRATION_WORKER: 'false',
      // One process, as the limit server is; the platform suite measures two workers apart.
      HOTPATH_WORKERS: '1',
      // The cache's in-process tier only, as the embedded default runs: the same in every run.
      REDIS_URL: '',
      // The before designs take minutes an answer under load, silent all the while: the 20 s idle
      // cut that protects hotpath from slow clients would end them.
      ...(entry === 'baselines' ? { HOTPATH_IDLE_TIMEOUT_MS: '600000' } : {}),
      ...env,
    },
    command ? [...command] : undefined,
    ready,
  );
  const stop = onCleanup(`server ${label}`, () => server.stop());
  return {
    ...server,
    stop: async () => {
      await stop();
      return server.child.exitCode;
    },
  };
}
