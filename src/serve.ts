import closeWithGrace from 'close-with-grace';
import { buildApp, openRuntime, type Runtime, startWorkers } from './app.ts';
import type { Config } from './config.ts';
import { DEMO_MERCHANTS, loadDashboardDemo } from './modules/dashboard/operations/demo.ts';
import { loadDocumentsDemo } from './modules/documents/operations/demo.ts';
import { type FhirDevServer, startFhirDevServer } from './modules/worklist/fhir/dev-server.ts';
import {
  connectDemoFacilities,
  DEMO_FACILITIES,
  demoEhrPatients,
  loadWorklistDemo,
} from './modules/worklist/operations/demo.ts';
import type { TokenAuthority } from './platform/auth/tokens.ts';
import { migrateToLatest } from './platform/db/migrations.ts';

/** `hotpath serve`: migrations, the demo when asked, the API, the background work, then the banner. */
export async function serve(config: Config, options: { demo: boolean; log: (message: string) => void }) {
  const { log } = options;
  const runtime = await openRuntime(config, { applicationName: 'hotpath-serve', log });
  const applied = await migrateToLatest(runtime.database.db);
  if (applied.length > 0) log(`applied migrations: ${applied.join(', ')}`);
  const demoFhir = options.demo ? await loadDemo(runtime) : undefined;
  const app = await buildApp(runtime);
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    await app.close();
    await runtime.close();
    await demoFhir?.close();
  });
  await app.listen({ port: config.port, host: config.host });
  await startWorkers(runtime, (message) => app.log.warn(message));
  printWelcome(config, runtime.tokens, demoFhir?.baseUrl, log);
}

/**
 * The demo's data, once. Its facilities talk to a development FHIR server beside the API, so
 * enrichment and integration into the EHR work with nothing else installed.
 */
async function loadDemo(runtime: Runtime): Promise<FhirDevServer> {
  const { config, store } = runtime;
  const { db } = runtime.database;
  const demoFhir = await startFhirDevServer({
    host: config.host,
    port: demoFhirPort(config),
    synthesizePatients: true,
  });
  await loadDocumentsDemo({ db, store, config }, { onlyIfAbsent: true });
  await loadWorklistDemo({ db, store }, { onlyIfAbsent: true, fhirBaseUrl: demoFhir.baseUrl });
  await connectDemoFacilities(db, demoFhir.baseUrl);
  for (const patient of await demoEhrPatients(db)) demoFhir.patients.set(patient.id as string, patient);
  await loadDashboardDemo(db, { onlyIfAbsent: true });
  return demoFhir;
}

/** Where `serve --demo` runs its development FHIR server: the next port up. */
export function demoFhirPort(config: Config): number {
  return config.port === 0 ? 0 : config.port + 1;
}

function printWelcome(
  config: Config,
  tokens: TokenAuthority,
  demoFhirUrl: string | undefined,
  say: (message: string) => void,
): void {
  const base = config.publicUrl;
  const reader = tokens.issue({ subject: 'demo-reader', role: 'reader', expiresInSeconds: 24 * 3600 });
  say(
    `\nhotpath is serving ${base} on Node.js ${process.version}  (API docs: ${base}/docs, metrics: ${base}/metrics)`,
  );
  say(`a reader token for the next 24 h:\n  export TOKEN=${reader}`);
  if (demoFhirUrl) {
    const clinician = tokens.issue({
      subject: 'demo-clinician',
      role: 'approver',
      facilities: DEMO_FACILITIES,
      expiresInSeconds: 24 * 3600,
    });
    say(
      `try the hot path:\n  curl -si -H "Authorization: Bearer $TOKEN" ${base}/v1/documents/ONC-2024-001-csr-14-2-001`,
    );
    say(
      `the worklist page, signed in as a clinician of ${DEMO_FACILITIES.join(', ')}:\n  ${base}/worklist#token=${clinician}`,
    );
    const owner = tokens.issue({
      subject: 'demo-owner',
      role: 'author',
      merchants: DEMO_MERCHANTS,
      expiresInSeconds: 24 * 3600,
    });
    say(
      `the dashboard page, signed in as the owner of ${DEMO_MERCHANTS.join(', ')}:\n  ${base}/dashboard#token=${owner}`,
    );
    say(`the demo hospitals' EHR is a development FHIR server at ${demoFhirUrl}`);
  }
  say('stop with Ctrl-C (in-flight requests finish first)\n');
}
