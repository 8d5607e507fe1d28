import { buildApp, openRuntime } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { AnyKysely } from '../../src/platform/db/database.ts';
import type { RoutesPlugin } from '../../src/platform/http/app.ts';

/**
 * `hotpath serve` plus a module's "before" routes, for the benchmark only, run as the server process's
 * entry point (bench/<module>/server.ts).
 */
export async function serveWithBaselines(
  label: string,
  baseline: (db: AnyKysely) => RoutesPlugin,
): Promise<void> {
  const config = loadConfig();
  const runtime = await openRuntime(config, { applicationName: 'hotpath-bench-server' });
  const app = await buildApp(runtime, { level: config.logLevel }, [baseline(runtime.database.db)]);
  await app.listen({ port: config.port, host: config.host });
  process.stderr.write(`hotpath is serving ${config.publicUrl} (with ${label})\n`);
  const stop = async () => {
    await app.close();
    await runtime.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
