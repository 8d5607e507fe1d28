import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { inject } from 'vitest';
import { buildApp, openRuntime, type Runtime } from '../../src/app.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import type { Role } from '../../src/platform/auth/tokens.ts';
import { freePort } from '../../src/platform/free-port.ts';
import { parseServerTiming, serverTimingCount } from '../../src/platform/http/server-timing.ts';
import type { ObjectStore } from '../../src/platform/storage/object-store.ts';
import { adminQuery, withDatabase } from '../../testkit/postgres-server.ts';

export const TEST_TOKEN_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

export interface TestContext {
  config: Config;
  runtime: Runtime;
  app: FastifyInstance;
  /** `Authorization` header for a token with this role. */
  auth(
    role: Role,
    subject?: string,
    scopes?: { facilities?: string[]; merchants?: string[] },
  ): { authorization: string };
  /** Base URL when started with `listen: true`. */
  baseUrl: string;
  close(): Promise<void>;
}

/**
 * A fresh database cloned from the migrated template, a temporary data dir for the file-system store,
 * and the app with strict statement budgets: a route that overruns its budget or runs an N+1 answers
 * 500 and the test fails.
 */
export async function createTestContext(
  options: { env?: Record<string, string>; listen?: boolean; store?: (config: Config) => ObjectStore } = {},
): Promise<TestContext> {
  const database = `hotpath_t_${randomBytes(5).toString('hex')}`;
  await adminQuery(
    inject('databaseAdminUrl'),
    `CREATE DATABASE ${database} TEMPLATE ${inject('templateDatabase')}`,
  );
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hotpath-data-'));
  const port = options.listen ? await freePort() : 3000;
  const config = loadConfig({
    DATABASE_URL: withDatabase(inject('databaseAdminUrl'), database),
    HOTPATH_DATA_DIR: dataDir,
    HOTPATH_TOKEN_SECRET: TEST_TOKEN_SECRET,
    HOTPATH_STRICT_QUERY_BUDGETS: 'true',
    LOG_LEVEL: 'silent',
    PORT: String(port),
    ...options.env,
  });
  const runtime = await openRuntime(config, {
    applicationName: 'hotpath-test',
    ...(options.store ? { store: options.store(config) } : {}),
  });
  const app = await buildApp(runtime, false);
  if (options.listen) await app.listen({ port, host: '127.0.0.1' });
  else await app.ready();
  return {
    config,
    runtime,
    app,
    baseUrl: `http://127.0.0.1:${port}`,
    auth(role, subject = `${role}-1`, scopes = {}) {
      return { authorization: `Bearer ${runtime.tokens.issue({ subject, role, ...scopes })}` };
    },
    async close() {
      await app.close();
      await runtime.close();
      await adminQuery(inject('databaseAdminUrl'), `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Statement, storage and external request counts from a response's Server-Timing header. */
export function costOf(headers: Record<string, unknown>): { queries: number; storage: number; ext: number } {
  const timing = parseServerTiming(String(headers['server-timing'] ?? ''));
  return {
    queries: serverTimingCount(timing, 'db'),
    storage: serverTimingCount(timing, 'storage'),
    ext: serverTimingCount(timing, 'ext'),
  };
}

export { freePort };
