import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Patient } from 'fhir/r4.js';
import { type Kysely, sql } from 'kysely';
import { onePagePdf } from '../../../platform/pdf.ts';
import { progress } from '../../../platform/progress.ts';
import type { ObjectStore } from '../../../platform/storage/object-store.ts';
import type { DB } from '../../../tables.ts';
import { facilityId, generateWorklistDataset, progressBars, type WorklistDatasetResult } from './dataset.ts';

const DEMO_SHAPE = { facilities: 3, patientsPerFacility: 500, requests: 3_000, days: 30, seed: 20250611 };
/** The demo's facilities on a database that had none before it. */
export const DEMO_FACILITIES: string[] = Array.from({ length: DEMO_SHAPE.facilities }, (_, n) =>
  facilityId(n + 1),
);
/** The newest requests, the ones a demo user opens first, get real files behind their download URLs. */
const REQUESTS_WITH_FILES = 200;
const PARALLEL_UPLOADS = 8;

export interface WorklistDemoResult extends WorklistDatasetResult {
  /** The requests whose attachments were written to the store. */
  requestsWithFiles: number[];
  objects: number;
}

/**
 * Three facilities, 1,500 patients and 3,000 requests over the last 30 days, from the dataset
 * generator; then a one-page PDF naming its document for every attachment of the newest requests, with
 * the attachment rows' size and hash made to match the file. Returns undefined when `onlyIfAbsent`
 * finds FAC-0001 already there.
 */
export async function loadWorklistDemo(
  deps: { db: Kysely<DB>; store: ObjectStore },
  options: { onlyIfAbsent: boolean; fhirBaseUrl: string | null },
): Promise<WorklistDemoResult | undefined> {
  const { db, store } = deps;
  if (options.onlyIfAbsent) {
    const { rows } = await sql`SELECT 1 FROM facilities WHERE facility_id = ${DEMO_FACILITIES[0]}`.execute(
      db,
    );
    if (rows.length > 0) return undefined;
  }
  const dataset = await generateWorklistDataset(db, {
    ...DEMO_SHAPE,
    fhirBaseUrl: options.fhirBaseUrl,
    onProgress: progressBars('demo worklist'),
  });
  const files = await writeAttachments(db, store, dataset.facilityIds);
  process.stderr.write(
    `worklist demo loaded: ${dataset.requests} requests for ${dataset.patients} patients in ${dataset.facilityIds.join(', ')}; files for the ${files.requestsWithFiles.length} newest\n`,
  );
  return { ...dataset, ...files };
}

/**
 * Points the demo facilities' EHR connector at this run's FHIR server: a demo loaded by an earlier run
 * keeps the address that run's server had.
 */
export async function connectDemoFacilities(db: Kysely<DB>, fhirBaseUrl: string): Promise<void> {
  await sql`UPDATE facilities SET fhir_base_url = ${fhirBaseUrl}, ehr_enabled = true
    WHERE facility_id = ANY(${DEMO_FACILITIES}::text[])`.execute(db);
}

async function writeAttachments(
  db: Kysely<DB>,
  store: ObjectStore,
  facilityIds: string[],
): Promise<{ requestsWithFiles: number[]; objects: number }> {
  const { rows } = await sql<{
    attachment_id: number;
    request_id: number;
    storage_key: string;
    title: string;
  }>`
    SELECT a.attachment_id, a.request_id, a.storage_key, r.title
    FROM (SELECT request_id, title FROM integration_requests
          WHERE facility_id = ANY(${facilityIds}::text[])
          ORDER BY received_at DESC, request_id DESC
          LIMIT ${REQUESTS_WITH_FILES}) r
    JOIN attachments a ON a.request_id = r.request_id
    ORDER BY a.attachment_id`.execute(db);
  const bar = progress('demo worklist files', rows.length, 'files');
  const written: Array<{ attachmentId: number; sizeBytes: number; sha256: string }> = [];
  let next = 0;
  const upload = async () => {
    for (let row = rows[next++]; row; row = rows[next++]) {
      const file = onePagePdf(row.title, `hotpath demo - ${row.storage_key}`);
      await store.put(row.storage_key, Readable.from([file]), {
        contentType: 'application/pdf',
        contentLength: file.length,
      });
      written.push({
        attachmentId: row.attachment_id,
        sizeBytes: file.length,
        sha256: createHash('sha256').update(file).digest('hex'),
      });
      bar.advance(1);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_UPLOADS }, upload));
  bar.finish();
  await sql`
    UPDATE attachments a SET size_bytes = f.size_bytes, sha256 = f.sha256, pages = 1
    FROM unnest(${written.map((w) => w.attachmentId)}::bigint[], ${written.map((w) => w.sizeBytes)}::bigint[],
                ${written.map((w) => w.sha256)}::text[]) AS f(attachment_id, size_bytes, sha256)
    WHERE a.attachment_id = f.attachment_id`.execute(db);
  return { requestsWithFiles: [...new Set(rows.map((row) => row.request_id))], objects: written.length };
}

/**
 * The demo hospitals' patients as their EHR would hold them, for the development FHIR server: the same
 * names and birth dates as the local rows, so the detail page's enrichment agrees with them.
 */
export async function demoEhrPatients(db: Kysely<DB>): Promise<Patient[]> {
  const { rows } = await sql<{
    fhir_id: string;
    first_name: string;
    birth_last_name: string;
    used_last_name: string | null;
    birth_date: string;
    sex: 'F' | 'M' | 'U';
    phone_mobile: string | null;
    email: string | null;
    gp_name: string | null;
    updated_at: Date;
  }>`SELECT fhir_id, first_name, birth_last_name, used_last_name, to_char(birth_date, 'YYYY-MM-DD') AS birth_date, sex,
            phone_mobile, email, gp_name, updated_at
     FROM patients WHERE facility_id = ANY(${DEMO_FACILITIES}::text[]) AND fhir_id IS NOT NULL`.execute(db);
  return rows.map((row) => ({
    resourceType: 'Patient',
    id: row.fhir_id,
    meta: { lastUpdated: row.updated_at.toISOString() },
    name: [{ use: 'official', family: row.used_last_name ?? row.birth_last_name, given: [row.first_name] }],
    birthDate: row.birth_date,
    gender: row.sex === 'F' ? 'female' : row.sex === 'M' ? 'male' : 'unknown',
    telecom: [
      ...(row.phone_mobile ? [{ system: 'phone' as const, value: row.phone_mobile }] : []),
      ...(row.email ? [{ system: 'email' as const, value: row.email }] : []),
    ],
    ...(row.gp_name ? { generalPractitioner: [{ display: row.gp_name }] } : {}),
  }));
}
