import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Kysely, sql } from 'kysely';
import { progress } from '../../../platform/progress.ts';
import type { DB } from '../../../tables.ts';
import { type InboxKind, type MessageOutcome, receive, scanMediaTypeOf } from '../ingestion/inbox.ts';
import type { IngestionDeps, Source } from '../ingestion/service.ts';

/** What a file holds, from its first bytes (an extension can lie; a sender's `.txt` is often HL7). */
export function formatOfFile(fileName: string, content: Buffer): InboxKind | undefined {
  const scan = scanMediaTypeOf(content);
  if (scan) return 'scan';
  if (content.subarray(0, 4).equals(ZIP_MAGIC)) return 'xdm';
  const head = content
    .subarray(0, 512)
    .toString('latin1')
    .replace(/^\uFEFF|^\xEF\xBB\xBF/, '')
    .trimStart();
  if (/^(MSH|FHS|BHS)\|/.test(head)) return 'hl7v2';
  if (head.startsWith('%PDF-')) return 'pdf';
  if (head.startsWith('<')) return 'cda';
  if (head.startsWith('{')) return 'fhir';
  const extension = path.extname(fileName).toLowerCase();
  if (extension === '.hl7' || extension === '.er7') return 'hl7v2';
  if (extension === '.xml') return 'cda';
  if (extension === '.json') return 'fhir';
  if (extension === '.pdf') return 'pdf';
  return undefined;
}

const ZIP_MAGIC = Buffer.from('PK\x03\x04', 'latin1');

export interface FileOutcome {
  file: string;
  outcomes: MessageOutcome[];
  error?: string;
}

/**
 * `hotpath ingest FILE…`: each file through the same reading, checks and storage as the listeners,
 * one after the other, with a line per file saying what became of it.
 */
export async function ingestFiles(
  deps: IngestionDeps,
  files: string[],
  options: { facilityId: string; source: Source | undefined; report: (line: string) => void },
): Promise<FileOutcome[]> {
  const bar = progress('ingest', files.length, 'files');
  const results: FileOutcome[] = [];
  for (const file of files) {
    let result: FileOutcome;
    try {
      const content = await readFile(file);
      const format = formatOfFile(file, content);
      if (!format)
        throw new Error('neither HL7 v2, CDA (XML), FHIR (JSON), a PDF, a scan (TIFF, PNG, JPEG) nor a zip');
      const outcomes = await receive(
        deps,
        {
          listener: 'cli',
          facilityId: options.facilityId,
          sender: 'hotpath ingest',
          source: options.source,
          fileName: path.basename(file),
        },
        format,
        content,
      );
      result = { file, outcomes };
    } catch (error) {
      result = { file, outcomes: [], error: (error as Error).message };
    }
    results.push(result);
    bar.advance(1);
    options.report(describe(result));
  }
  bar.finish();
  return results;
}

function describe(result: FileOutcome): string {
  if (result.error) return `${result.file}: failed: ${result.error}`;
  const parts = result.outcomes.map((outcome) => {
    const what = outcome.controlId ? `message ${outcome.controlId}` : outcome.format;
    if (outcome.outcome === 'rejected') {
      const problems = outcome.problems.map((problem) => `${problem.location} ${problem.text}`).join('; ');
      return `${what} rejected (${outcome.acknowledgment}): ${problems}`;
    }
    const later = outcome.readLater ? ' (a scan: read by OCR in hotpath serve)' : '';
    return `${what} ${outcome.outcome}: request ${outcome.requestIds.join(', ')}${later}`;
  });
  return `${result.file}: ${parts.join('; ')}`;
}

/** The identifiers that route MSH-6 to a facility, besides its own id. */
export async function addReceivingIdentifiers(
  db: Kysely<DB>,
  facilityId: string,
  identifiers: string[],
): Promise<{ added: number; heldElsewhere: Array<{ identifier: string; facility_id: string }> }> {
  const { rows } = await sql<{
    identifier: string;
    facility_id: string;
    added: boolean;
  }>`/* worklist.addReceivingIdentifiers */
    WITH facility AS (SELECT facility_id FROM facilities WHERE facility_id = ${facilityId}),
    added AS (
      INSERT INTO facility_receiving_identifiers (identifier, facility_id)
      SELECT identifier, facility.facility_id FROM facility, unnest(${identifiers}::text[]) AS identifier
      WHERE NOT EXISTS (SELECT 1 FROM facilities f WHERE f.facility_id = identifier)
      ON CONFLICT (identifier) DO NOTHING
      RETURNING identifier, facility_id
    )
    SELECT identifier, facility_id, true AS added FROM added
    UNION ALL
    -- Another facility's own id always routes to it: it cannot be taken as a receiving identifier.
    SELECT other.facility_id, other.facility_id, false FROM facilities other
    WHERE other.facility_id = ANY(${identifiers}::text[]) AND other.facility_id <> ${facilityId}
    UNION ALL
    SELECT i.identifier, i.facility_id, false FROM facility_receiving_identifiers i
    WHERE i.identifier = ANY(${identifiers}::text[]) AND i.facility_id <> ${facilityId}
    UNION ALL
    SELECT NULL, NULL, false WHERE NOT EXISTS (SELECT 1 FROM facility)`.execute(db);
  if (rows.some((row) => row.identifier === null)) throw new Error(`facility ${facilityId} does not exist`);
  return {
    added: rows.filter((row) => row.added).length,
    heldElsewhere: rows.filter((row) => !row.added),
  };
}

export async function receivingIdentifiers(db: Kysely<DB>, facilityId: string): Promise<string[]> {
  const { rows } = await sql<{ identifier: string }>`/* worklist.receivingIdentifiers */
    SELECT identifier FROM facility_receiving_identifiers WHERE facility_id = ${facilityId} ORDER BY identifier`.execute(
    db,
  );
  return [facilityId, ...rows.map((row) => row.identifier)];
}
