import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Config } from './config.ts';
import { dashboardRoutes } from './modules/dashboard/routes.ts';
import type { CachedDashboard } from './modules/dashboard/service.ts';
import { documentsRoutes } from './modules/documents/routes.ts';
import { FhirClient } from './modules/worklist/fhir/client.ts';
import { startReadingWorker } from './modules/worklist/ingestion/reading-job.ts';
import { inboxRoutes } from './modules/worklist/ingestion/routes.ts';
import type { IngestionDeps } from './modules/worklist/ingestion/service.ts';
import { LazyIntegrationQueue } from './modules/worklist/integration/queue.ts';
import { startIntegrationWorker } from './modules/worklist/integration/worker.ts';
import { worklistRoutes } from './modules/worklist/routes.ts';
import { TokenAuthority } from './platform/auth/tokens.ts';
import { HotpathCache } from './platform/cache/cache.ts';
import { clusterSiblings } from './platform/cluster.ts';
import { tokenSecretOf } from './platform/data-dir.ts';
import { type Database, openDatabase } from './platform/db/database.ts';
import { buildHttpApp, type RoutesPlugin } from './platform/http/app.ts';
import { healthRoutes, signedObjectRoutes } from './platform/http/platform-routes.ts';
import { webApp } from './platform/http/web-pages.ts';
import { downloadWindow } from './platform/storage/download-window.ts';
import type { ObjectStore } from './platform/storage/object-store.ts';
import { openObjectStore } from './platform/storage/open-store.ts';
import { UrlSigner } from './platform/storage/url-signing.ts';
import type { DB } from './tables.ts';

/** What every command and the server share: the database, the object store and the token authority. */
export interface Runtime {
  config: Config;
  database: Database<DB>;
  store: ObjectStore;
  tokens: TokenAuthority;
  urlSigner: UrlSigner;
  cache: HotpathCache;
  /** pg-boss, started on first use. */
  integrationQueue: LazyIntegrationQueue;
  fhir: FhirClient;
  close(): Promise<void>;
}

export async function openRuntime(
  config: Config,
  options: { applicationName: string; log?: (message: string) => void; store?: ObjectStore },
): Promise<Runtime> {
  const secret = tokenSecretOf(config);
  const database = await openDatabase<DB>(config, options);
  const store = options.store ?? openObjectStore(config, secret);
  const cache = new HotpathCache({
    redisUrl: config.redisUrl,
    database: { url: database.url, db: database.db },
    ...(options.log ? { log: options.log } : {}),
    siblings: clusterSiblings(),
  });
  const integrationQueue = new LazyIntegrationQueue(database.url, {
    retryLimit: config.integration.retryLimit,
    retryDelaySeconds: config.integration.retryDelaySeconds,
    reading: {
      retryLimit: config.ocr.retryLimit,
      retryDelaySeconds: 30,
      // Every page may take its whole time bound, and the OCR thread a minute to start.
      expireInSeconds: 60 + config.ocr.pageTimeoutSeconds * config.ocr.maxPages,
    },
    ...(options.log ? { log: options.log } : {}),
  });
  return {
    config,
    database,
    store,
    tokens: new TokenAuthority(secret),
    urlSigner: new UrlSigner(secret),
    cache,
    integrationQueue,
    fhir: new FhirClient({ timeoutMs: config.fhir.timeoutMs }),
    async close() {
      await integrationQueue.close();
      await cache.close();
      await store.close();
      await database.close();
    },
  };
}

/**
 * Where hotpath answers with the web apps (web/, one index.html; the router in the browser picks the
 * screen). A screen added to web/src/app/router.tsx adds its path here.
 */
export const APP_PATHS = ['/', '/sign-in', '/dashboard', '/worklist', '/worklist/*'];

/** Where the store's download URLs point (this server for the file-system store, the bucket's endpoint for S3). */
async function downloadOrigins(store: ObjectStore): Promise<string[]> {
  const probe = await store.downloadUrl('content-security-policy/probe', downloadWindow(60));
  return [new URL(probe.url).origin];
}

/** The composition root: the platform's routes and every module's, on one app. */
export function buildApp(
  runtime: Runtime,
  logger?: FastifyServerOptions['logger'],
  /** More routes: the benchmark's "before" designs. */
  extraPlugins: RoutesPlugin[] = [],
): Promise<FastifyInstance> {
  const { config, database, store } = runtime;
  return buildHttpApp({
    config,
    tokens: runtime.tokens,
    ...(logger === undefined ? {} : { logger }),
    plugins: [
      healthRoutes(database, () => runtime.cache.redisState()),
      ...(store.kind === 'filesystem' ? [signedObjectRoutes(store, runtime.urlSigner)] : []),
      documentsRoutes({ db: database.db, store, config }),
      worklistRoutes({
        db: database.db,
        store,
        config,
        queue: runtime.integrationQueue,
        fhir: runtime.fhir,
        patientCache: runtime.cache.region('fhir-patient', { ttl: config.fhir.cacheTtlSeconds * 1000 }),
      }),
      inboxRoutes({ ...ingestionDepsOf(runtime), uploadLimitBytes: config.uploadLimitBytes }),
      dashboardRoutes({
        db: database.db,
        config,
        cache: dashboardCacheOf(runtime),
      }),
      // The worklist shows documents from the object store in the page: its download URLs' origin.
      webApp(APP_PATHS, { documentOrigins: downloadOrigins(store) }),
      ...extraPlugins,
    ],
  });
}

/** What the ingestion listeners (HTTP, MLLP, the CLI) store with. */
export function ingestionDepsOf(runtime: Runtime, warn?: (message: string) => void): IngestionDeps {
  return {
    db: runtime.database.db,
    store: runtime.store,
    queue: runtime.integrationQueue,
    strictQueryBudgets: runtime.config.strictQueryBudgets,
    ...(warn ? { warn } : {}),
  };
}

/** The merchants' dashboards, cached until a write moves their generation (or the TTL runs out). */
export function dashboardCacheOf(runtime: Runtime) {
  return runtime.cache.versioned<CachedDashboard>('dashboard', {
    ttl: runtime.config.dashboardCacheTtlSeconds * 1000,
  });
}

/** The background work `serve` runs beside the API. */
export async function startWorkers(runtime: Runtime, log: (message: string) => void): Promise<void> {
  if (!runtime.config.integration.workerEnabled) return;
  await startIntegrationWorker({
    db: runtime.database.db,
    store: runtime.store,
    queue: runtime.integrationQueue,
    fhir: runtime.fhir,
    log,
  });
  const { ocr } = runtime.config;
  await startReadingWorker({
    ...ingestionDepsOf(runtime, log),
    queue: runtime.integrationQueue,
    log,
    options: { pageTimeoutMs: ocr.pageTimeoutSeconds * 1000, maxPages: ocr.maxPages },
  });
}
