import cluster from 'node:cluster';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import closeWithGrace from 'close-with-grace';
import { buildApp, openRuntime, type Runtime, startWorkers } from './app.ts';
import type { Config } from './config.ts';
import { DEMO_MERCHANTS, loadDashboardDemo } from './modules/dashboard/operations/demo.ts';
import { loadDocumentsDemo } from './modules/documents/operations/demo.ts';
import { type FhirDevServer, startFhirDevServer } from './modules/worklist/fhir/dev-server.ts';
import type { MllpListener } from './modules/worklist/ingestion/mllp-listener.ts';
import {
  connectDemoFacilities,
  DEMO_FACILITIES,
  demoEhrPatients,
  loadWorklistDemo,
} from './modules/worklist/operations/demo.ts';
import type { MailboxIngestion } from './modules/worklist/operations/mailbox-ingestion.ts';
import type { FolderWatch } from './modules/worklist/operations/watch-folder.ts';
import type { TokenAuthority } from './platform/auth/tokens.ts';
import { clusterSiblings, relayBetweenWorkers, workerReady } from './platform/cluster.ts';
import { migrateToLatest } from './platform/db/migrations.ts';

/**
 * `hotpath serve`: migrations, the demo when asked, the API, the background work, then the banner.
 * With more than one worker, this process (the primary) does the first two and the banner, and the
 * workers (node:cluster, sharing the port and the embedded database) serve.
 */
export async function serve(config: Config, options: { demo: boolean; log: (message: string) => void }) {
  if (cluster.isWorker) return serveAsWorker(config, options.log);
  if (config.workers > 1) return servePrimary(config, options);
  const { runtime, demoFhir } = await prepare(config, options);
  const app = await buildApp(runtime);
  let mllp: MllpListener | undefined;
  let mailbox: MailboxIngestion | undefined;
  let folder: FolderWatch | undefined;
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down: finishing in-flight requests and messages');
    await mllp?.close();
    await mailbox?.close();
    await folder?.close();
    await app.close();
    await runtime.close();
    await demoFhir?.close();
  });
  await app.listen({ port: config.port, host: config.host });
  mllp = await openMllp(runtime, mllpPortOf(config, options.demo), app.log);
  await startWorkers(runtime, (message) => app.log.warn(message));
  mailbox = await startMailbox(runtime, app.log);
  folder = await startFolderWatch(runtime, options.demo, app.log);
  if (options.demo && mllp) await sendDemoInbox(runtime, mllp.port, app.server.address(), options.log);
  printWelcome(config, runtime.tokens, demoFhir?.baseUrl, options.log, 1, mllp?.port);
}

/** The MLLP port: HOTPATH_MLLP_PORT, or for the demo the port after the FHIR server's. */
function mllpPortOf(config: Config, demo: boolean): number | undefined {
  if (config.mllp.port !== undefined) return config.mllp.port;
  if (!demo) return undefined;
  return config.port === 0 ? 0 : config.port + 2;
}

/** HL7 v2 over MLLP beside HTTP, when configured; every worker listens on the shared port. */
async function openMllp(
  runtime: Runtime,
  port: number | undefined,
  log: { info(message: string): void; warn(message: string): void },
): Promise<MllpListener | undefined> {
  if (port === undefined) return undefined;
  const [{ startMllpListener }, { ingestionDepsOf }] = await Promise.all([
    import('./modules/worklist/ingestion/mllp-listener.ts'),
    import('./app.ts'),
  ]);
  return startMllpListener(
    ingestionDepsOf(runtime, (message) => log.warn(message)),
    {
      port,
      host: runtime.config.host,
      maxMessageBytes: runtime.config.uploadLimitBytes,
      idleTimeoutMs: runtime.config.mllp.idleTimeoutMs,
      log: { info: (message) => log.info(message), warn: (message) => log.warn(message) },
    },
  );
}

/**
 * The MSSanté mailbox of HOTPATH_MAILBOX_IMAP_URL, polled where the background work runs (this
 * process, or worker 1). A line per mail (processed at info; failed or left at warn); a facility that
 * does not exist (yet) is said once, and its mails stay in the mailbox until it does.
 */
async function startMailbox(
  runtime: Runtime,
  log: { info(message: string): void; warn(message: string): void },
): Promise<MailboxIngestion | undefined> {
  const settings = runtime.config.mailbox;
  if (!settings) return undefined;
  const [{ startMailboxIngestion, facilityExists, describeMail }, { ingestionDepsOf }] = await Promise.all([
    import('./modules/worklist/operations/mailbox-ingestion.ts'),
    import('./app.ts'),
  ]);
  if (!(await facilityExists(runtime.database.db, settings.facilityId))) {
    log.warn(
      `HOTPATH_MAILBOX_FACILITY: facility ${settings.facilityId} does not exist; its mails stay in the mailbox until it does`,
    );
  }
  const mailbox = startMailboxIngestion(
    ingestionDepsOf(runtime, (message) => log.warn(message)),
    {
      ...settings,
      // The report's lines say what the poller's info lines would, with the request ids; a failed
      // mail is the poller's warning.
      log: { info: () => {}, warn: (message) => log.warn(message) },
      report: (mail) => {
        if (mail.outcome === 'processed') log.info(describeMail(mail));
        else if (mail.outcome === 'left') log.warn(describeMail(mail));
      },
    },
  );
  log.info(
    `polling the mailbox ${mailbox.mailbox} every ${settings.intervalSeconds} s for facility ${settings.facilityId}`,
  );
  return mailbox;
}

/** The folder `serve` watches: HOTPATH_WATCH_DIR, or for the demo `<data dir>/drop` for its first facility. */
function watchedFolderOf(config: Config, demo: boolean): Config['watch'] {
  if (config.watch || !demo) return config.watch;
  return {
    directory: path.join(config.dataDir, 'drop'),
    facilityId: DEMO_FACILITIES[0] as string,
    source: 'paper',
  };
}

async function startFolderWatch(
  runtime: Runtime,
  demo: boolean,
  log: { info(message: string): void; warn(message: string): void },
): Promise<FolderWatch | undefined> {
  const settings = watchedFolderOf(runtime.config, demo);
  if (!settings) return undefined;
  const [{ watchFolder }, { ingestionDepsOf }] = await Promise.all([
    import('./modules/worklist/operations/watch-folder.ts'),
    import('./app.ts'),
  ]);
  await mkdir(settings.directory, { recursive: true });
  const folder = await watchFolder(
    ingestionDepsOf(runtime, (message) => log.warn(message)),
    {
      ...settings,
      maxFileBytes: runtime.config.uploadLimitBytes,
      log: (line) => log.info(`folder ${settings.directory}: ${line}`),
      warn: (line) => log.warn(`folder ${settings.directory}: ${line}`),
    },
  );
  log.info(`watching ${folder.directory} for facility ${settings.facilityId} (source ${settings.source})`);
  return folder;
}

/** The demo's HL7 messages through the real MLLP listener, and a CDA and a FHIR Bundle over HTTP. */
async function sendDemoInbox(
  runtime: Runtime,
  mllpPort: number,
  httpAddress: ReturnType<import('node:net').Server['address']>,
  log: (message: string) => void,
): Promise<void> {
  const [{ sendDemoMessages }, { dropDemoPaper }] = await Promise.all([
    import('./modules/worklist/operations/demo-messages.ts'),
    import('./modules/worklist/operations/demo-paper.ts'),
  ]);
  const httpPort = typeof httpAddress === 'object' && httpAddress ? httpAddress.port : runtime.config.port;
  const token = runtime.tokens.issue({
    subject: 'demo-inbox',
    role: 'author',
    facilities: DEMO_FACILITIES,
    expiresInSeconds: 600,
  });
  const httpBase = `http://${runtime.config.host.includes(':') ? `[${runtime.config.host}]` : runtime.config.host}:${httpPort}`;
  const sent = await sendDemoMessages(runtime.database.db, DEMO_FACILITIES, {
    host: runtime.config.host,
    mllpPort,
    httpBase,
    token,
  });
  if (sent) {
    const acks = Object.entries(sent.acks)
      .map(([code, count]) => `${count} ${code}`)
      .join(', ');
    log(
      `demo inbox: ${sent.hl7Messages} HL7 v2 messages sent over MLLP (acknowledged ${acks}), ${sent.httpDocuments} documents (CDA, FHIR) over HTTP`,
    );
  }
  // After the messages: their "already sent" check looks for any inbound message at all.
  const folder = watchedFolderOf(runtime.config, true) as NonNullable<Config['watch']>;
  const dropped = await dropDemoPaper(runtime.database.db, folder, DEMO_FACILITIES);
  if (dropped) {
    const scans = dropped.filter((document) => document.scan).length;
    log(
      `demo drop folder: ${dropped.length} paper documents dropped into ${folder.directory} (${dropped.length - scans} PDFs read from their text, ${scans} scans read by the OCR job); drop your own PDFs or scans there`,
    );
  }
}

/** What comes before serving: the runtime, pending migrations, the demo when asked. */
async function prepare(config: Config, options: { demo: boolean; log: (message: string) => void }) {
  const runtime = await openRuntime(config, { applicationName: 'hotpath-serve', log: options.log });
  const applied = await migrateToLatest(runtime.database.db);
  if (applied.length > 0) options.log(`applied migrations: ${applied.join(', ')}`);
  const demoFhir = options.demo ? await loadDemo(runtime) : undefined;
  return { runtime, demoFhir };
}

/** How long a worker has to finish its in-flight requests once told to stop. */
const WORKER_GRACE_MS = 10_000;
/** A worker that fell over is started again after this long. */
const RESTART_DELAY_MS = 1_000;

/**
 * The primary keeps the embedded database's lease (the workers attach to the same server), starts
 * the workers, starts again one that dies, and stops them all on SIGINT, SIGTERM or SIGHUP.
 */
async function servePrimary(config: Config, options: { demo: boolean; log: (message: string) => void }) {
  const { log } = options;
  // The workers load and build the app while this process starts the database and migrates; each
  // listens once it is told the schema is ready.
  const gate = relayBetweenWorkers();
  let stopping = false;
  let prepared: Awaited<ReturnType<typeof prepare>> | undefined;
  // The background work (integration into the EHR) runs in worker 1 alone.
  const start = (index: number) => {
    const worker = cluster.fork({
      HOTPATH_WORKER_INDEX: String(index),
      HOTPATH_DEMO: options.demo ? '1' : '0',
    });
    worker.on('exit', (code, signal) => {
      if (stopping) return;
      log(`worker ${index} ended (${signal ?? `exit code ${code}`}); starting it again`);
      setTimeout(() => {
        if (!stopping) start(index);
      }, RESTART_DELAY_MS);
    });
    return worker;
  };
  const stop = async (reason: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    log(`shutting down (${reason}): the workers finish their in-flight requests`);
    const workers = Object.values(cluster.workers ?? {}).filter((worker) => worker !== undefined);
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            const deadline = setTimeout(() => worker.process.kill('SIGKILL'), WORKER_GRACE_MS + 5_000);
            worker.once('exit', () => {
              clearTimeout(deadline);
              resolve();
            });
            worker.process.kill('SIGTERM');
          }),
      ),
    );
    await prepared?.demoFhir?.close();
    await prepared?.runtime.close();
    process.exit(exitCode);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => void stop(signal, 0));
  }
  const allReady = Promise.all(
    Array.from({ length: config.workers }, (_, index) => workerReady(start(index + 1))),
  );
  // Awaited below; a worker that fails while the database is still starting is reported there.
  allReady.catch(() => {});
  try {
    prepared = await prepare(config, options);
  } catch (error) {
    log(`${(error as Error).message}; stopping`);
    await stop('the database could not be prepared', 1);
    return;
  }
  gate.open();
  try {
    await allReady;
  } catch (error) {
    log(`${(error as Error).message}; stopping`);
    await stop('a worker could not start', 1);
    return;
  }
  const mllpPort = mllpPortOf(config, options.demo);
  // Port 0 gives the workers a port this process cannot see; the demo's messages need to know it.
  if (options.demo && mllpPort) await sendDemoInbox(prepared.runtime, mllpPort, null, log);
  printWelcome(
    config,
    prepared.runtime.tokens,
    prepared.demoFhir?.baseUrl,
    log,
    config.workers,
    mllpPort || undefined,
  );
}

/** One of the primary's workers: the API on the shared port, and the background work in worker 1. */
async function serveAsWorker(config: Config, log: (message: string) => void) {
  const runtime = await openRuntime(config, { applicationName: 'hotpath-serve', log });
  const app = await buildApp(runtime);
  let mllp: MllpListener | undefined;
  let mailbox: MailboxIngestion | undefined;
  let folder: FolderWatch | undefined;
  // The primary decides when to stop. Ctrl-C reaches every process of the terminal, and a service
  // manager may signal the whole group as well as the primary, which then sends its own SIGTERM: a
  // worker takes the first SIGTERM and ignores SIGINT and any repeat, so it always gets its grace.
  const graceful = closeWithGrace(
    { delay: WORKER_GRACE_MS, skip: ['SIGINT', 'SIGTERM'] },
    async ({ err }) => {
      if (err) app.log.error({ err }, 'worker shutting down after an error');
      await mllp?.close();
      await mailbox?.close();
      await folder?.close();
      await app.close();
      await runtime.close();
    },
  );
  process.on('SIGINT', () => {});
  let closing = false;
  process.on('SIGTERM', () => {
    if (closing) return;
    closing = true;
    void graceful.close();
  });
  await clusterSiblings()?.cleared();
  await app.listen({ port: config.port, host: config.host });
  mllp = await openMllp(runtime, mllpPortOf(config, process.env.HOTPATH_DEMO === '1'), app.log);
  if (process.env.HOTPATH_WORKER_INDEX === '1') {
    await startWorkers(runtime, (message) => app.log.warn(message));
    mailbox = await startMailbox(runtime, app.log);
    folder = await startFolderWatch(runtime, process.env.HOTPATH_DEMO === '1', app.log);
  }
  clusterSiblings()?.ready();
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
  workers = 1,
  mllpPort?: number,
): void {
  const base = config.publicUrl;
  const reader = tokens.issue({ subject: 'demo-reader', role: 'reader', expiresInSeconds: 24 * 3600 });
  say(
    `\nhotpath is serving ${base} on Node.js ${process.version}, ${workers === 1 ? 'in one process' : `${workers} worker processes`}  (the apps: ${base}/, API docs: ${base}/docs, metrics: ${base}/metrics)`,
  );
  say(`a reader token for the next 24 h:\n  export TOKEN=${reader}`);
  if (mllpPort !== undefined) {
    say(`HL7 v2 over MLLP on ${config.host}:${mllpPort} (the receiving facility, MSH-6, picks the hospital)`);
  }
  const folder = watchedFolderOf(config, demoFhirUrl !== undefined);
  if (folder) {
    say(`PDFs and scans dropped into ${folder.directory} arrive in ${folder.facilityId}'s worklist`);
  }
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
      `the clinicians' worklist, signed in as a clinician of ${DEMO_FACILITIES.join(', ')}:\n  ${base}/worklist#token=${clinician}`,
    );
    const owner = tokens.issue({
      subject: 'demo-owner',
      role: 'author',
      merchants: DEMO_MERCHANTS,
      expiresInSeconds: 24 * 3600,
    });
    say(
      `the merchants' dashboard, signed in as the owner of ${DEMO_MERCHANTS.join(', ')} (or paste a token at ${base}/sign-in):\n  ${base}/dashboard#token=${owner}`,
    );
    say(`the demo hospitals' EHR is a development FHIR server at ${demoFhirUrl}`);
  }
  say('stop with Ctrl-C (in-flight requests finish first)\n');
}
