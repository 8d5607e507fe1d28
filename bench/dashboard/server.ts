import { buildApp, openRuntime } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { baselineDashboardRoutes } from './baseline-routes.ts';

/** `hotpath serve` plus the write-up's two dashboards (V1 and the single-JOIN rewrite), for the benchmark only. */
const config = loadConfig();
const runtime = await openRuntime(config, { applicationName: 'hotpath-bench-server' });
const app = await buildApp(runtime, { level: config.logLevel }, [
  baselineDashboardRoutes(runtime.database.db),
]);
await app.listen({ port: config.port, host: config.host });
process.stderr.write(`hotpath is serving ${config.publicUrl} (with the V1 and single-JOIN dashboards)\n`);
const stop = async () => {
  await app.close();
  await runtime.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
