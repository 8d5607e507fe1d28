import { buildApp, openRuntime } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { baselineDashboardRoutes } from './dashboard.ts';
import { baselineWorklistRoutes } from './worklist.ts';

/**
 * `hotpath serve` plus the write-ups' "before" designs, for the benchmark only: the V1 worklist under
 * /bench/v1/worklist, the V1 and single-JOIN dashboards under /bench/v1 and /bench/joined. Both run in
 * hotpath's process, on its pool and its statement accounting, so they are measured the same way.
 */
const config = loadConfig();
const runtime = await openRuntime(config, { applicationName: 'hotpath-bench-server' });
const app = await buildApp(runtime, { level: config.logLevel }, [
  baselineWorklistRoutes(runtime.database.db),
  baselineDashboardRoutes(runtime.database.db),
]);
await app.listen({ port: config.port, host: config.host });
process.stderr.write(`hotpath is serving ${config.publicUrl} (with the write-ups' before designs)\n`);
const stop = async () => {
  await app.close();
  await runtime.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
