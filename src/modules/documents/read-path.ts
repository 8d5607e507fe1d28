import { type Kysely, sql } from 'kysely';
import type { DocumentsReadPath } from '../../config.ts';
import { metricsRegistry, prometheus } from '../../platform/metrics/registry.ts';
import { detachedFromLedger } from '../../platform/request-ledger.ts';
import type { ObjectStore } from '../../platform/storage/object-store.ts';
import type { DB } from '../../tables.ts';
import { latestApprovedByListing, legacySectionPrefix } from './legacy-layout.ts';
import { type ApprovedRegistryRow, latestApproved, type RegistryRow, registryRow } from './queries.ts';

const shadowReads = new prometheus.Counter({
  name: 'hotpath_documents_shadow_reads_total',
  help: 'Shadow-mode comparisons of the registry answer with the listing answer, by outcome',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

/** Shadow comparisons run after the response; past this many at once, new ones are skipped and counted. */
const MAX_SHADOW_COMPARISONS = 4;

/**
 * "Latest approved", answered the way DOCUMENTS_READ_PATH says:
 * - registry: one probe of the registry (the default);
 * - listing: the old way, for documents in the legacy layout — load the document, list its section
 *   prefix page by page, load the chosen version; documents uploaded through hotpath have no legacy
 *   names and are answered from the registry;
 * - shadow: answer from the registry, then compare with the listing in the background.
 */
export class LatestApprovedReader {
  private shadowInFlight = 0;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly store: ObjectStore,
    readonly mode: DocumentsReadPath,
  ) {}

  /** The statements one answer may take: the route's budget. */
  get statementBudget(): number {
    return this.mode === 'listing' ? 2 : 1;
  }

  async read(logicalId: string): Promise<ApprovedRegistryRow | undefined> {
    if (this.mode === 'listing') return this.readByListing(logicalId);
    if (this.mode === 'shadow') return this.readWithShadow(logicalId);
    return latestApproved(this.db, logicalId);
  }

  /**
   * The registry's answer, from one probe that also returns the row of a document with nothing
   * approved: "nothing" is an answer too, and a registry that lost an approval the listing still shows
   * is the disagreement most worth finding before the switch (readers would get 404).
   */
  private async readWithShadow(logicalId: string): Promise<ApprovedRegistryRow | undefined> {
    const row = await registryRow(this.db, logicalId);
    if (row?.layout === 'legacy') this.compareInBackground(row);
    return row && row.approved_version !== null ? (row as ApprovedRegistryRow) : undefined;
  }

  private async readByListing(logicalId: string): Promise<ApprovedRegistryRow | undefined> {
    const { rows } = await sql<{
      study_id: string;
      section_id: string;
      document_type: string;
      layout: string;
    }>`
      /* documents.loadDocumentRecord */
      SELECT d.study_id, d.section_id, s.document_type, d.layout
      FROM documents d JOIN sections s ON s.study_id = d.study_id AND s.section_id = d.section_id
      WHERE d.logical_id = ${logicalId}`.execute(this.db);
    const document = rows[0];
    if (!document) return undefined;
    if (document.layout !== 'legacy') return latestApproved(this.db, logicalId);
    const prefix = legacySectionPrefix(document.study_id, document.document_type, document.section_id);
    const answer = (await latestApprovedByListing(this.store, prefix)).answers.get(logicalId);
    if (!answer) return undefined;
    const { rows: versions } = await sql<ApprovedRegistryRow>`/* documents.versionForListing */
      SELECT d.logical_id, d.study_id, d.section_id, ${document.document_type}::text AS document_type, d.title,
             d.layout, v.version AS approved_version, v.storage_key AS approved_key,
             v.content_type AS approved_content_type, v.size_bytes AS approved_size_bytes,
             v.sha256 AS approved_sha256, coalesce(v.approved_at, v.uploaded_at) AS approved_at,
             coalesce(v.approved_by, v.uploaded_by) AS approved_by, 0::bigint AS revision
      FROM documents d JOIN document_versions v ON v.logical_id = d.logical_id
      WHERE d.logical_id = ${logicalId} AND v.version = ${answer.version}`.execute(this.db);
    return versions[0];
  }

  private compareInBackground(row: RegistryRow): void {
    if (this.shadowInFlight >= MAX_SHADOW_COMPARISONS) {
      shadowReads.inc({ outcome: 'skipped' });
      return;
    }
    this.shadowInFlight += 1;
    const prefix = legacySectionPrefix(row.study_id, row.document_type, row.section_id);
    detachedFromLedger(() =>
      latestApprovedByListing(this.store, prefix)
        .then(({ answers }) => {
          const agrees = (answers.get(row.logical_id)?.version ?? null) === row.approved_version;
          shadowReads.inc({ outcome: agrees ? 'agree' : 'disagree' });
        })
        .catch(() => shadowReads.inc({ outcome: 'error' }))
        .finally(() => {
          this.shadowInFlight -= 1;
        }),
    );
  }
}
