import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Config } from './config.ts';
import { documentsRoutes } from './modules/documents/routes.ts';
import { TokenAuthority } from './platform/auth/tokens.ts';
import { localSecrets } from './platform/data-dir.ts';
import { type Database, openDatabase } from './platform/db/database.ts';
import { buildHttpApp } from './platform/http/app.ts';
import { healthRoutes, signedObjectRoutes } from './platform/http/platform-routes.ts';
import type { ObjectStore } from './platform/storage/object-store.ts';
import { openObjectStore } from './platform/storage/open-store.ts';
import { UrlSigner } from './platform/storage/url-signing.ts';

/** What every command and the server share: the database, the object store and the token authority. */
export interface Runtime {
  config: Config;
  database: Database;
  store: ObjectStore;
  tokens: TokenAuthority;
  urlSigner: UrlSigner;
  close(): Promise<void>;
}

export function tokenSecretOf(config: Config): string {
  return config.tokenSecret ?? localSecrets(config.dataDir).tokenSecret;
}

export async function openRuntime(
  config: Config,
  options: { applicationName: string; log?: (message: string) => void; store?: ObjectStore },
): Promise<Runtime> {
  const secret = tokenSecretOf(config);
  const database = await openDatabase(config, options);
  const store = options.store ?? openObjectStore(config, secret);
  return {
    config,
    database,
    store,
    tokens: new TokenAuthority(secret),
    urlSigner: new UrlSigner(secret),
    async close() {
      await store.close();
      await database.close();
    },
  };
}

/** The composition root: the platform's routes and every module's, on one app. */
export function buildApp(
  runtime: Runtime,
  logger?: FastifyServerOptions['logger'],
): Promise<FastifyInstance> {
  const { config, database, store } = runtime;
  return buildHttpApp({
    config,
    tokens: runtime.tokens,
    ...(logger === undefined ? {} : { logger }),
    plugins: [
      healthRoutes(database),
      ...(store.kind === 'filesystem' ? [signedObjectRoutes(store, runtime.urlSigner)] : []),
      documentsRoutes({ db: database.db, store, config }),
    ],
  });
}
