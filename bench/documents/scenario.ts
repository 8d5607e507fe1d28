import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { loadConfig } from '../../src/config.ts';
import {
  latestApprovedByListing,
  legacyKey,
  legacySectionPrefix,
} from '../../src/modules/documents/legacy-layout.ts';
import { backfillRegistry } from '../../src/modules/documents/operations/backfill.ts';
import { importBucket } from '../../src/modules/documents/operations/import-bucket.ts';
import { reconcileRegistry } from '../../src/modules/documents/operations/reconcile.ts';
import { TokenAuthority } from '../../src/platform/auth/tokens.ts';
import { inParallel } from '../../src/platform/concurrency.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { migrateToLatest } from '../../src/platform/db/migrations.ts';
import { parseServerTiming } from '../../src/platform/http/server-timing.ts';
import { RequestLedger, withLedger } from '../../src/platform/request-ledger.ts';
import { FileSystemObjectStore } from '../../src/platform/storage/filesystem-store.ts';
import type { ObjectStore } from '../../src/platform/storage/object-store.ts';
import { parseS3Url, S3ObjectStore } from '../../src/platform/storage/s3-store.ts';
import { UrlSigner } from '../../src/platform/storage/url-signing.ts';
import { ACCESS_KEY_ID, SECRET_ACCESS_KEY, startLocalS3 } from '../../test/support/local-s3.ts';
import { benchDatabase } from '../support/database.ts';
import { type LoadResult, load } from '../support/load.ts';
import { counterTotal, startServer } from '../support/server.ts';
import { generateDocumentsDataset } from './dataset.ts';

export interface DocumentsBenchOptions {
  durationSeconds: number;
  /** Load levels run for both read paths. */
  sharedConnections: number[];
  /** A level run for the registry alone (the listing path cannot finish a request at it). */
  registryConnections: number;
  s3LatencyMs: number;
  log: (line: string) => void;
}

export interface DocumentsReport {
  s3LatencyMs: number;
  backfill: {
    versions: number;
    documents: number;
    seconds: number;
    versionsPerSecond: number;
    rerunSeconds: number;
    rerunChanged: number;
  };
  reconcile: { documents: number; mismatches: number; seconds: number; storageRequests: number };
  legacySection: {
    keys: number;
    documents: number;
    listPages: number;
    importSeconds: number;
    /** s3rver's own time for one 1,000-key page of the section, without the injected delay. */
    s3rverPageMs: number;
  };
  latestApproved: Array<
    LoadResult & {
      mode: string;
      connections: number;
      queriesPerRequest: number;
      storageRequestsPerRequest: number;
      sampleServerTiming: string;
    }
  >;
}

const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';
const BACKFILL_SHAPE = { documents: 12_000, versionsPerDocument: 10, sectionSize: 1_000 };
const LEGACY = {
  studyId: 'LEGACY-1',
  documentType: 'CSR',
  sectionId: 'sec-14',
  documents: 1_500,
  siblingsPerDocument: 2,
};

/**
 * The documents benchmark, on one machine and one dataset:
 * 1. backfill of 120,000 versions and reconcile of 12,000 documents (objects on the file system);
 * 2. a legacy section of 6,000 sibling keys on S3 (s3rver behind a delaying proxy), imported, then
 *    GET latest approved under load, answered by the registry and by the old listing resolver.
 */
export async function documentsBenchmark(options: DocumentsBenchOptions): Promise<DocumentsReport> {
  const { log } = options;
  const database = await benchDatabase();
  const objectsDir = mkdtempSync(path.join(os.tmpdir(), 'hotpath-bench-objects-'));
  const s3 = await startLocalS3({ bucket: 'hotpath-bench', delayMs: options.s3LatencyMs });
  const db = await openDatabase(loadConfig({ DATABASE_URL: database.url }), {
    applicationName: 'hotpath-bench',
  });
  try {
    await migrateToLatest(db.db);

    log(
      `generating ${BACKFILL_SHAPE.documents * BACKFILL_SHAPE.versionsPerDocument} versions of ${BACKFILL_SHAPE.documents} documents`,
    );
    await generateDocumentsDataset(db.db, BACKFILL_SHAPE);
    const files = new FileSystemObjectStore(objectsDir, 'http://127.0.0.1', new UrlSigner(SECRET));
    await writeRegistryObjects(db.db, files);

    log('backfill: wiping the registry and rebuilding it from the versions table');
    await sql`DELETE FROM document_registry`.execute(db.db);
    const backfill = await backfillRegistry(db.db, { batchSize: 500, showProgress: false });
    const rerun = await backfillRegistry(db.db, { batchSize: 500, showProgress: false });

    log('reconcile: every document against the versions table and storage');
    const reconcileLedger = new RequestLedger(false);
    const reconciled = await withLedger(reconcileLedger, () =>
      reconcileRegistry(db.db, files, { fix: false, showProgress: false }),
    );

    log(`writing a legacy section of ${LEGACY.documents * (2 + LEGACY.siblingsPerDocument)} keys to S3`);
    const direct = new S3ObjectStore(parseS3Url(s3.storageUrl()));
    const keys = await writeLegacySection(direct);
    const delayed = new S3ObjectStore(parseS3Url(s3.storageUrl({ delayed: true })));
    const importStarted = performance.now();
    const imported = await importBucket(db.db, delayed, { prefix: 'studies/', showProgress: false });
    const importSeconds = (performance.now() - importStarted) / 1000;
    const prefix = legacySectionPrefix(LEGACY.studyId, LEGACY.documentType, LEGACY.sectionId);
    const { pages } = await latestApprovedByListing(delayed, prefix);
    const pageStarted = performance.now();
    await latestApprovedByListing(direct, prefix);
    const s3rverPageMs = (performance.now() - pageStarted) / pages;
    await direct.close();
    await delayed.close();

    const latestApproved: DocumentsReport['latestApproved'] = [];
    for (const mode of ['registry', 'listing'] as const) {
      const levels = [
        ...options.sharedConnections,
        ...(mode === 'registry' ? [options.registryConnections] : []),
      ];
      latestApproved.push(
        ...(await loadLatestApproved(mode, levels, database.url, s3.storageUrl({ delayed: true }), options)),
      );
    }

    return {
      s3LatencyMs: options.s3LatencyMs,
      backfill: {
        versions: backfill.versions,
        documents: backfill.documents,
        seconds: backfill.seconds,
        versionsPerSecond: backfill.versions / backfill.seconds,
        rerunSeconds: rerun.seconds,
        rerunChanged: rerun.changed,
      },
      reconcile: {
        documents: reconciled.checked,
        mismatches: reconciled.mismatches,
        seconds: reconciled.seconds,
        storageRequests: reconcileLedger.storage.count,
      },
      legacySection: { keys, documents: imported.documents, listPages: pages, importSeconds, s3rverPageMs },
      latestApproved,
    };
  } finally {
    await db.close();
    await s3.close();
    await database.drop();
    rmSync(objectsDir, { recursive: true, force: true });
  }
}

/** The objects reconcile checks: each document's approved and latest version, at the recorded size. */
async function writeRegistryObjects(
  db: import('../../src/platform/db/database.ts').AnyKysely,
  store: ObjectStore,
) {
  const { rows } = await sql<{ key: string; size_bytes: number }>`
    SELECT approved_key AS key, approved_size_bytes AS size_bytes FROM document_registry WHERE approved_key IS NOT NULL
    UNION
    SELECT v.storage_key, v.size_bytes FROM document_registry r
    JOIN document_versions v ON v.logical_id = r.logical_id AND v.version = r.latest_version`.execute(db);
  await inParallel(rows, 16, (row) =>
    store.put(row.key, Readable.from([Buffer.alloc(row.size_bytes, 7)]), { contentType: 'application/pdf' }),
  );
}

/**
 * One section as the old system kept it: two versions of each document, named by state, among as many
 * working files that are not versions. Versions are not zero-padded, so the whole prefix is listed.
 */
async function writeLegacySection(store: ObjectStore): Promise<number> {
  const keys: string[] = [];
  for (let n = 1; n <= LEGACY.documents; n++) {
    const logicalId = `legacy-${n}`;
    const base = {
      studyId: LEGACY.studyId,
      documentType: LEGACY.documentType,
      sectionId: LEGACY.sectionId,
      logicalId,
      extension: 'pdf',
    };
    keys.push(legacyKey({ ...base, version: 1, state: 'approved' }));
    keys.push(legacyKey({ ...base, version: 2, state: n % 3 === 0 ? 'draft' : 'approved' }));
    const prefix = legacySectionPrefix(LEGACY.studyId, LEGACY.documentType, LEGACY.sectionId);
    keys.push(`${prefix}${logicalId}.working-copy.docx`);
    keys.push(`${prefix}review-notes/${logicalId}.txt`);
  }
  await inParallel(keys, 32, (key) =>
    store.put(key, Readable.from([Buffer.from(`bench ${key}\n`)]), {
      contentType: 'application/octet-stream',
    }),
  );
  return keys.length;
}

async function loadLatestApproved(
  mode: 'registry' | 'listing',
  levels: number[],
  databaseUrl: string,
  storageUrl: string,
  options: DocumentsBenchOptions,
): Promise<DocumentsReport['latestApproved']> {
  const server = await startServer({
    DATABASE_URL: databaseUrl,
    STORAGE_URL: storageUrl,
    HOTPATH_TOKEN_SECRET: SECRET,
    DOCUMENTS_READ_PATH: mode,
    DB_POOL_MAX: '20',
    AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
  });
  try {
    const token = new TokenAuthority(SECRET).issue({ subject: 'bench', role: 'reader' });
    const headers = { authorization: `Bearer ${token}` };
    const paths = Array.from({ length: LEGACY.documents }, (_, n) => `/v1/documents/legacy-${n + 1}`);
    const sample = await fetch(`${server.baseUrl}${paths[0]}`, { headers });
    if (sample.status !== 200)
      throw new Error(`sample request answered ${sample.status}: ${await sample.text()}`);
    const timing = parseServerTiming(sample.headers.get('server-timing') ?? '');
    await sample.arrayBuffer();

    const results: DocumentsReport['latestApproved'] = [];
    const route = '/v1/documents/:logicalId';
    for (const connections of levels) {
      options.log(
        `GET latest approved, ${mode} read path: ${connections} connections for ${options.durationSeconds} s`,
      );
      const queriesBefore = await counterTotal(server.baseUrl, 'hotpath_db_queries_total', { route });
      const storageBefore = await counterTotal(server.baseUrl, 'hotpath_storage_requests_total');
      const result = await load({
        label: `GET /v1/documents/{id} (${mode})`,
        url: server.baseUrl,
        headers,
        connections,
        durationSeconds: options.durationSeconds,
        paths,
      });
      const queries =
        (await counterTotal(server.baseUrl, 'hotpath_db_queries_total', { route })) - queriesBefore;
      const storage = (await counterTotal(server.baseUrl, 'hotpath_storage_requests_total')) - storageBefore;
      results.push({
        ...result,
        mode,
        connections,
        queriesPerRequest: queries / Math.max(result.requests, 1),
        storageRequestsPerRequest: storage / Math.max(result.requests, 1),
        sampleServerTiming: `db ${timing.db?.desc}, storage ${timing.storage?.desc}`,
      });
    }
    return results;
  } finally {
    await server.stop();
  }
}
