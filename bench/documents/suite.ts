import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { legacyKey, legacySectionPrefix } from '../../src/modules/documents/legacy-layout.ts';
import { backfillRegistry } from '../../src/modules/documents/operations/backfill.ts';
import { generateDocumentsDataset } from '../../src/modules/documents/operations/dataset.ts';
import { importBucket } from '../../src/modules/documents/operations/import-bucket.ts';
import { reconcileRegistry } from '../../src/modules/documents/operations/reconcile.ts';
import { inParallel } from '../../src/platform/concurrency.ts';
import type { AnyKysely } from '../../src/platform/db/database.ts';
import { progress } from '../../src/platform/progress.ts';
import { RequestLedger, withLedger } from '../../src/platform/request-ledger.ts';
import { FileSystemObjectStore } from '../../src/platform/storage/filesystem-store.ts';
import type { ObjectStore } from '../../src/platform/storage/object-store.ts';
import { parseS3Url, S3ObjectStore } from '../../src/platform/storage/s3-store.ts';
import { UrlSigner } from '../../src/platform/storage/url-signing.ts';
import { ACCESS_KEY_ID, SECRET_ACCESS_KEY, s3rverStorageUrl } from '../../testkit/local-s3.ts';
import type { NetworkProfile } from '../support/network.ts';
import {
  adminQuery,
  BENCH_DATA_DIR,
  type BenchPostgres,
  type DatasetOptions,
  openBenchDatabase,
  reusableDataset,
} from '../support/postgres.ts';
import { startService } from '../support/processes.ts';
import {
  hotpathCounters,
  type LoadSettings,
  measureScenario,
  type ScenarioResult,
} from '../support/scenario.ts';
import { BENCH_TOKEN_SECRET, benchAuthorization, startBenchServer } from '../support/servers.ts';

export interface DocumentsSizes {
  /** Sibling keys under each legacy section's prefix on S3: the listing path lists them all. */
  sectionSizes: number[];
  /** Version history generated in the database beside the imported sections. */
  history: { documents: number; versionsPerDocument: number; sectionSize: number };
  /** The backfill and reconcile measurement's own data set, in a scratch database. */
  maintenance: { documents: number; versionsPerDocument: number; sectionSize: number };
}

export interface DocumentsDataset {
  sections: Array<{ prefix: string; keys: number; documents: number; listPages: number }>;
  keys: number;
  legacyDocuments: number;
  versions: number;
  documents: number;
  importSeconds: number;
}

const BUCKET = 'hotpath-bench';
/** Per legacy document: two versions, a working copy and a review note, all under the section prefix. */
const KEYS_PER_DOCUMENT = 4;
const s3Directory = (database: string) => path.join(BENCH_DATA_DIR, 's3', database);
const COMPLETE = '.complete';

/** Legacy sections evenly spread from the smallest to the largest size. */
export function sectionSizes(count: number, smallest: number, largest: number): number[] {
  return Array.from({ length: count }, (_, n) =>
    count === 1 ? smallest : Math.round((smallest + ((largest - smallest) * n) / (count - 1)) / 4) * 4,
  );
}

const sectionId = (section: number) => `sec-${String(section + 1).padStart(2, '0')}`;
const logicalIdOf = (section: number, document: number) => `s${section + 1}-doc-${document + 1}`;

/**
 * The documents data set: legacy sections on S3 (s3rver, objects kept under .hotpath/bench/s3), the
 * registry built from them by `import-bucket` as a migration would, plus a version history generated
 * in the database so the registry has production's size. Reused while the sizes are unchanged.
 */
export async function prepareDocuments(
  postgres: BenchPostgres,
  sizes: DocumentsSizes,
  options: DatasetOptions,
) {
  const dataset = await reusableDataset<DocumentsDataset>(
    postgres,
    'documents',
    { sectionSizes: sizes.sectionSizes, history: sizes.history, layout: 2 },
    async (url, database) => {
      rmSync(s3Directory(database), { recursive: true, force: true });
      mkdirSync(s3Directory(database), { recursive: true });
      // The writes below are the benchmark's own, signed with s3rver's account.
      process.env.AWS_ACCESS_KEY_ID = ACCESS_KEY_ID;
      process.env.AWS_SECRET_ACCESS_KEY = SECRET_ACCESS_KEY;
      const s3 = await startDocumentsS3(database);
      const db = await openBenchDatabase(url, { migrate: true });
      try {
        options.log(
          `documents: ${sizes.history.documents * sizes.history.versionsPerDocument} versions of history`,
        );
        await generateDocumentsDataset(db.db, sizes.history);
        const store = new S3ObjectStore(parseS3Url(s3rverStorageUrl(s3.ready.endpoint, BUCKET)));
        const sections = await writeLegacySections(store, sizes.sectionSizes);
        const started = performance.now();
        await importBucket(db.db, store, { prefix: 'studies/', showProgress: true });
        const importSeconds = (performance.now() - started) / 1000;
        await store.close();
        await sql`ANALYZE`.execute(db.db);
        const { rows } = await sql<{ versions: number; documents: number }>`
          SELECT (SELECT count(*) FROM document_versions)::int AS versions,
                 (SELECT count(*) FROM document_registry)::int AS documents`.execute(db.db);
        writeFileSync(path.join(s3Directory(database), COMPLETE), `${new Date().toISOString()}\n`);
        return {
          sections,
          keys: sections.reduce((sum, section) => sum + section.keys, 0),
          legacyDocuments: sections.reduce((sum, section) => sum + section.documents, 0),
          versions: rows[0]!.versions,
          documents: rows[0]!.documents,
          importSeconds,
        };
      } finally {
        await db.close();
        await s3.stop();
      }
    },
    {
      ...options,
      intact: (database) => existsSync(path.join(s3Directory(database), COMPLETE)),
      dropped: (database) => rmSync(s3Directory(database), { recursive: true, force: true }),
    },
  );
  return { ...dataset, s3Directory: s3Directory(dataset.database) };
}

/** s3rver over the data set's objects, in its own process. */
export function startDocumentsS3(database: string) {
  return startService<{ endpoint: string; port: number }>('s3', [
    '--dir',
    s3Directory(database),
    '--bucket',
    BUCKET,
  ]);
}

/**
 * Each section as the old system kept it: two versions of each document, named by state, among as many
 * keys that are not versions. Versions are not zero-padded, so answering lists the whole prefix.
 */
async function writeLegacySections(
  store: ObjectStore,
  sizes: number[],
): Promise<DocumentsDataset['sections']> {
  const total = sizes.reduce((sum, size) => sum + size, 0);
  const bar = progress('documents: writing legacy sections to S3', total, 'objects');
  const sections: DocumentsDataset['sections'] = [];
  for (const [section, size] of sizes.entries()) {
    const documents = size / KEYS_PER_DOCUMENT;
    const base = {
      studyId: 'LEGACY-1',
      documentType: 'CSR',
      sectionId: sectionId(section),
      extension: 'pdf',
    };
    const prefix = legacySectionPrefix(base.studyId, base.documentType, base.sectionId);
    const keys: string[] = [];
    for (let document = 0; document < documents; document++) {
      const logicalId = logicalIdOf(section, document);
      keys.push(legacyKey({ ...base, logicalId, version: 1, state: 'approved' }));
      keys.push(
        legacyKey({ ...base, logicalId, version: 2, state: document % 3 === 0 ? 'draft' : 'approved' }),
      );
      keys.push(`${prefix}${logicalId}.working-copy.docx`);
      keys.push(`${prefix}review-notes/${logicalId}.txt`);
    }
    await inParallel(keys, 32, async (key) => {
      await store.put(key, Readable.from([Buffer.from(`bench ${key}\n`)]), {
        contentType: 'application/octet-stream',
      });
      bar.advance(1);
    });
    sections.push({ prefix, keys: keys.length, documents, listPages: Math.ceil(keys.length / 1000) });
  }
  bar.finish();
  return sections;
}

/**
 * GET latest approved under load, on every legacy document in turn (so every section size is asked
 * for): hotpath's registry, then the old listing resolver (hotpath's own `DOCUMENTS_READ_PATH=listing`).
 */
export async function measureDocuments(input: {
  dataset: DocumentsDataset & { url: string };
  network: NetworkProfile;
  settings: { hotpath: LoadSettings[]; before: LoadSettings[] };
  log: (line: string) => void;
}): Promise<ScenarioResult[]> {
  const { dataset, network } = input;
  const headers = benchAuthorization('reader');
  // Interleaved across sections, so consecutive requests ask for sections of different sizes.
  const paths: string[] = [];
  const longest = Math.max(...dataset.sections.map((section) => section.documents));
  for (let document = 0; document < longest; document++) {
    for (const [section, { documents }] of dataset.sections.entries()) {
      if (document < documents) paths.push(`/v1/documents/${logicalIdOf(section, document)}`);
    }
  }
  const route = '/v1/documents/:logicalId';
  const results: ScenarioResult[] = [];
  for (const [mode, role, design, settings] of [
    ['registry', 'hotpath', 'hotpath: registry (1 index probe)', input.settings.hotpath],
    ['listing', 'before', 'before: list the section prefix on S3', input.settings.before],
  ] as const) {
    const server = await startBenchServer(`documents (${mode})`, {
      DATABASE_URL: network.databaseUrl(dataset.url),
      STORAGE_URL: s3rverStorageUrl(network.s3Endpoint!, BUCKET),
      DOCUMENTS_READ_PATH: mode,
      AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
    });
    try {
      const sample = await fetch(`${server.baseUrl}${paths[0]}`, { headers });
      if (sample.status !== 200)
        throw new Error(`${paths[0]} answered ${sample.status}: ${await sample.text()}`);
      await sample.arrayBuffer();
      results.push(
        ...(await measureScenario({
          scenario: {
            comparison: 'documents',
            role,
            design,
            route,
            ...(role === 'hotpath' ? { budget: 1 } : {}),
          },
          profile: network.name,
          baseUrl: server.baseUrl,
          paths,
          headers,
          counters: hotpathCounters(server.baseUrl, route, async () => 0),
          settings,
          log: input.log,
        })),
      );
    } finally {
      await server.stop();
    }
  }
  return results;
}

export interface MaintenanceReport {
  backfill: {
    versions: number;
    documents: number;
    seconds: number;
    rerunSeconds: number;
    rerunChanged: number;
  };
  reconcile: { documents: number; mismatches: number; seconds: number; storageRequests: number };
}

/**
 * Backfill and reconcile on their own data set in a scratch database (objects on the file system): the
 * registry wiped and rebuilt from the versions table, then every document checked against storage.
 */
export async function documentsMaintenance(
  postgres: BenchPostgres,
  shape: DocumentsSizes['maintenance'],
  log: (line: string) => void,
): Promise<MaintenanceReport> {
  const database = `hotpath_bench_scratch_${process.pid}`;
  await adminQuery(postgres.adminUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await adminQuery(postgres.adminUrl, `CREATE DATABASE ${database}`);
  const objectsDir = mkdtempSync(path.join(os.tmpdir(), 'hotpath-bench-objects-'));
  const db = await openBenchDatabase(postgres.databaseUrl(database), { migrate: true });
  try {
    log(
      `backfill and reconcile: ${shape.documents * shape.versionsPerDocument} versions of ${shape.documents} documents`,
    );
    await generateDocumentsDataset(db.db, shape);
    const files = new FileSystemObjectStore(
      objectsDir,
      'http://127.0.0.1',
      new UrlSigner(BENCH_TOKEN_SECRET),
    );
    await writeRegistryObjects(db.db, files);
    await sql`DELETE FROM document_registry`.execute(db.db);
    const backfill = await backfillRegistry(db.db, { batchSize: 500, showProgress: false });
    const rerun = await backfillRegistry(db.db, { batchSize: 500, showProgress: false });
    const ledger = new RequestLedger(false);
    const reconciled = await withLedger(ledger, () =>
      reconcileRegistry(db.db, files, { fix: false, showProgress: false }),
    );
    return {
      backfill: {
        versions: backfill.versions,
        documents: backfill.documents,
        seconds: backfill.seconds,
        rerunSeconds: rerun.seconds,
        rerunChanged: rerun.changed,
      },
      reconcile: {
        documents: reconciled.checked,
        mismatches: reconciled.mismatches,
        seconds: reconciled.seconds,
        storageRequests: ledger.storage.count,
      },
    };
  } finally {
    await db.close();
    await adminQuery(postgres.adminUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    rmSync(objectsDir, { recursive: true, force: true });
  }
}

/** The objects reconcile checks: each document's approved and latest version, at the recorded size. */
async function writeRegistryObjects(db: AnyKysely, store: ObjectStore) {
  const { rows } = await sql<{ key: string; size_bytes: number }>`
    SELECT approved_key AS key, approved_size_bytes AS size_bytes FROM document_registry WHERE approved_key IS NOT NULL
    UNION
    SELECT v.storage_key, v.size_bytes FROM document_registry r
    JOIN document_versions v ON v.logical_id = r.logical_id AND v.version = r.latest_version`.execute(db);
  await inParallel(rows, 16, (row) =>
    store.put(row.key, Readable.from([Buffer.alloc(row.size_bytes, 7)]), { contentType: 'application/pdf' }),
  );
}
