import { type Kysely, sql } from 'kysely';
import { inParallel } from '../../../platform/concurrency.ts';
import { metricsRegistry, prometheus } from '../../../platform/metrics/registry.ts';
import { progress } from '../../../platform/progress.ts';
import type { ObjectStore } from '../../../platform/storage/object-store.ts';
import { objectsReferencedBy, type StoredObjects } from '../../../platform/storage/orphans.ts';
import type { DB } from '../../../tables.ts';
import { latestApprovedByListing, legacySectionPrefix } from '../legacy-layout.ts';
import { refreshRegistry } from '../registry-refresh.ts';

export interface ReconcileResult {
  checked: number;
  mismatches: number;
  fixed: number;
  seconds: number;
  /** One line per mismatch: the document and what disagrees. */
  findings: string[];
}

interface ComparedRow {
  logical_id: string;
  study_id: string;
  section_id: string;
  document_type: string;
  layout: string;
  has_registry_row: boolean;
  registry_matches: boolean;
  latest_version_key: string | null;
  approved_version: number | null;
  approved_key: string | null;
  approved_size_bytes: number | null;
  expected_approved_version: number | null;
}

const BATCH = 1000;
const STORAGE_CONCURRENCY = 16;

/**
 * Checks every document's registry row three ways: against what the versions table says it must be;
 * against storage (the objects it points at exist, the approved one with the recorded size); and, for
 * documents adopted from a legacy bucket, against what the listing resolver answers — each legacy
 * section is listed once, not once per document. `fix` rewrites drifted rows from the versions table;
 * drift in storage cannot be fixed from the database and stays a mismatch.
 */
export async function reconcileRegistry(
  db: Kysely<DB>,
  store: ObjectStore,
  options: { fix: boolean; showProgress: boolean; report?: (line: string) => void },
): Promise<ReconcileResult> {
  const startedAt = new Date();
  const started = performance.now();
  const findings: string[] = [];
  const note = (line: string) => {
    findings.push(line);
    options.report?.(line);
  };
  const { rows: totals } = await sql<{ documents: number }>`
    SELECT count(*)::bigint AS documents FROM documents`.execute(db);
  const bar = options.showProgress
    ? progress('reconcile', totals[0]?.documents ?? 0, 'documents')
    : undefined;

  let checked = 0;
  const drifted = new Set<string>();
  const legacyBySection = new Map<string, ComparedRow[]>();
  let after = '';
  for (;;) {
    const { rows } = await sql<ComparedRow>`/* documents.reconcileBatch */
      SELECT e.logical_id, e.study_id, e.section_id, e.document_type, e.layout,
             r.logical_id IS NOT NULL AS has_registry_row,
             (r.study_id, r.section_id, r.document_type, r.title, r.layout, r.latest_version, r.latest_version_key,
              r.approved_version, r.approved_key, r.approved_content_type, r.approved_size_bytes, r.approved_sha256,
              r.approved_at, r.approved_by)
             IS NOT DISTINCT FROM
             (e.study_id, e.section_id, e.document_type, e.title, e.layout, e.latest_version, e.latest_version_key,
              e.approved_version, e.approved_key, e.approved_content_type, e.approved_size_bytes, e.approved_sha256,
              e.approved_at, e.approved_by) AS registry_matches,
             r.latest_version_key, r.approved_version, r.approved_key, r.approved_size_bytes,
             e.approved_version AS expected_approved_version
      FROM (SELECT logical_id FROM documents WHERE logical_id > ${after} ORDER BY logical_id LIMIT ${BATCH}) batch
      JOIN document_registry_expected e ON e.logical_id = batch.logical_id
      LEFT JOIN document_registry r ON r.logical_id = batch.logical_id
      ORDER BY e.logical_id`.execute(db);
    const last = rows.at(-1);
    if (!last) break;
    after = last.logical_id;

    for (const row of rows) {
      if (!row.has_registry_row) {
        note(`${row.logical_id}: no registry row`);
        drifted.add(row.logical_id);
      } else if (!row.registry_matches) {
        note(
          `${row.logical_id}: registry differs from versions (registry approves v${row.approved_version ?? '-'}, versions say v${row.expected_approved_version ?? '-'})`,
        );
        drifted.add(row.logical_id);
      }
      if (row.layout === 'legacy') {
        groupBySection(legacyBySection, row);
      }
    }
    await inParallel(rows, STORAGE_CONCURRENCY, async (row) => {
      for (const finding of await checkStorage(store, row)) {
        note(finding);
        drifted.add(row.logical_id);
      }
    });
    checked += rows.length;
    bar?.advance(rows.length);
  }

  for (const [prefix, documents] of legacyBySection) {
    const { answers } = await latestApprovedByListing(store, prefix);
    for (const row of documents) {
      const listed = answers.get(row.logical_id)?.version ?? null;
      if (listed !== row.approved_version) {
        note(
          `${row.logical_id}: listing answers v${listed ?? '-'}, registry v${row.approved_version ?? '-'}`,
        );
        drifted.add(row.logical_id);
      }
    }
  }
  bar?.finish();

  let fixed = 0;
  if (options.fix && drifted.size > 0) {
    const ids = [...drifted].sort();
    for (let start = 0; start < ids.length; start += 500) {
      const batch = ids.slice(start, start + 500);
      await db.transaction().execute((trx) => refreshRegistry(trx, batch));
    }
    fixed = await countStillDrifted(db, store, ids).then((still) => ids.length - still);
  }

  const mismatches = drifted.size;
  await sql`INSERT INTO registry_reconcile_runs (started_at, checked, mismatches, fixed)
    VALUES (${startedAt}, ${checked}, ${mismatches}, ${fixed})`.execute(db);
  return { checked, mismatches, fixed, seconds: (performance.now() - started) / 1000, findings };
}

async function checkStorage(store: ObjectStore, row: ComparedRow): Promise<string[]> {
  const problems: string[] = [];
  if (row.approved_key) {
    const head = await store.head(row.approved_key);
    if (!head) problems.push(`${row.logical_id}: approved object ${row.approved_key} is missing`);
    else if (head.sizeBytes !== row.approved_size_bytes) {
      problems.push(
        `${row.logical_id}: approved object ${row.approved_key} is ${head.sizeBytes} bytes, registry says ${row.approved_size_bytes}`,
      );
    }
  }
  if (row.latest_version_key && row.latest_version_key !== row.approved_key) {
    if (!(await store.head(row.latest_version_key))) {
      problems.push(`${row.logical_id}: latest object ${row.latest_version_key} is missing`);
    }
  }
  return problems;
}

/**
 * After a fix: how many of these documents still disagree with the versions table, storage or, for
 * legacy documents, the listing. A refresh cannot change what the bucket lists, so a listing that
 * disagrees is still drift and must not be counted fixed.
 */
async function countStillDrifted(db: Kysely<DB>, store: ObjectStore, logicalIds: string[]): Promise<number> {
  const { rows } = await sql<ComparedRow & { registry_matches: boolean }>`
    SELECT e.logical_id, e.study_id, e.section_id, e.document_type, e.layout,
           r.latest_version_key, r.approved_key, r.approved_size_bytes, r.approved_version,
           (r.approved_version, r.approved_key, r.latest_version, r.latest_version_key)
             IS NOT DISTINCT FROM (e.approved_version, e.approved_key, e.latest_version, e.latest_version_key)
             AS registry_matches
    FROM document_registry_expected e JOIN document_registry r ON r.logical_id = e.logical_id
    WHERE e.logical_id = ANY(${logicalIds}::text[])`.execute(db);
  let still = logicalIds.length - rows.length;
  const legacyBySection = new Map<string, ComparedRow[]>();
  for (const row of rows) {
    if (!row.registry_matches || (await checkStorage(store, row)).length > 0) still += 1;
    else if (row.layout === 'legacy') {
      groupBySection(legacyBySection, row);
    }
  }
  for (const [prefix, documents] of legacyBySection) {
    const { answers } = await latestApprovedByListing(store, prefix);
    for (const row of documents) {
      if ((answers.get(row.logical_id)?.version ?? null) !== row.approved_version) still += 1;
    }
  }
  return still;
}

/** Adds a legacy document to its section's list (pushed, not copied: sections can hold many thousands). */
function groupBySection(bySection: Map<string, ComparedRow[]>, row: ComparedRow): void {
  const section = legacySectionPrefix(row.study_id, row.document_type, row.section_id);
  const documents = bySection.get(section);
  if (documents) documents.push(row);
  else bySection.set(section, [row]);
}

/** Versions' objects: every upload writes one under `documents/` before its row commits. */
export function documentObjects(db: Kysely<DB>): StoredObjects {
  return objectsReferencedBy(db, 'documents/', 'document_versions');
}

let reconcileRunsDb: Kysely<DB> | undefined;
let latestRunQuery: Promise<{ drift: number; finished: number } | undefined> | undefined;

/**
 * Exports the latest reconcile outcome, which the CLI recorded in the database, at each scrape.
 * prom-client collects gauges concurrently; both share one in-flight statement.
 */
export function exportReconcileMetrics(db: Kysely<DB>): () => void {
  reconcileRunsDb = db;
  return () => {
    if (reconcileRunsDb === db) reconcileRunsDb = undefined;
  };
}

function latestRun(): Promise<{ drift: number; finished: number } | undefined> {
  const db = reconcileRunsDb;
  if (!db) return Promise.resolve(undefined);
  latestRunQuery ??= sql<{ drift: number; finished: number }>`/* documents.lastReconcile */
    SELECT mismatches - fixed AS drift, extract(epoch FROM finished_at)::float8 AS finished
    FROM registry_reconcile_runs ORDER BY run_id DESC LIMIT 1`
    .execute(db)
    .then(({ rows }) => rows[0])
    // A scrape while the database is down still answers, with the gauges as they were.
    .catch(() => undefined)
    .finally(() => {
      latestRunQuery = undefined;
    });
  return latestRunQuery;
}

new prometheus.Gauge({
  name: 'hotpath_documents_registry_mismatches',
  help: 'Registry rows the latest `hotpath reconcile` found drifted and did not fix',
  registers: [metricsRegistry],
  async collect() {
    const run = await latestRun();
    if (run) this.set(run.drift);
  },
});

new prometheus.Gauge({
  name: 'hotpath_documents_reconcile_last_run_timestamp_seconds',
  help: 'When the latest `hotpath reconcile` finished (0: never)',
  registers: [metricsRegistry],
  async collect() {
    const run = await latestRun();
    if (run) this.set(run.finished);
  },
});
