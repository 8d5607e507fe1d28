/**
 * The demo's paper: documents dropped into the folder `serve` watches for the demo hospital, as a
 * laboratory's export or a secretary's scanner would, for patients of the demo hospital. Three PDFs
 * with a text layer, read as they arrive (one naming its patient by INS, one by birth name, given name,
 * birth date and sex, one naming somebody the hospital does not know), and two scans (a PNG and an
 * image-only PDF) that wait, `received`, for the OCR job to read them.
 */
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Kysely, sql } from 'kysely';
import type { DB } from '../../../tables.ts';
import {
  type PaperPatient,
  type PaperReport,
  reportPdf,
  scanPdf,
  scanPng,
  withInsKey,
} from './paper-documents.ts';

export interface DemoPaperFile {
  /** What the demo shows with it: `text-layer PDF, a laboratory report naming its patient by INS`… */
  what: string;
  fileName: string;
  /** Read by the OCR job, not at once. */
  scan: boolean;
  /** The demo patient the document names (their IPP); null for the stranger. */
  ipp: string | null;
}

/** The patients demo-messages.ts writes to are a facility's first eight with an INS: these come after. */
const FIRST_PATIENT = 9;

/**
 * Drops the demo's paper documents into `folder.directory`, for patients of `folder.facilityId`: each
 * written under a temporary name and renamed, as a careful scanner does. Returns undefined when an
 * earlier run already dropped them (the facilities' inbox holds a PDF or a scan, or the folder holds
 * files not yet taken in), or when the facility has too few patients.
 */
export async function dropDemoPaper(
  db: Kysely<DB>,
  folder: { directory: string; facilityId: string },
  facilities: string[],
  options: { today?: string } = {},
): Promise<DemoPaperFile[] | undefined> {
  const { facilityId, directory } = folder;
  await mkdir(directory, { recursive: true });
  // The watcher's own .done/ and .failed/ aside, a file there is one not yet taken in.
  if ((await readdir(directory)).some((name) => !name.startsWith('.'))) return undefined;
  const { rows: already } = await sql`SELECT 1 FROM inbound_messages
    WHERE facility_id = ANY(${facilities}::text[]) AND format IN ('pdf', 'scan') LIMIT 1`.execute(db);
  if (already.length > 0) return undefined;
  const { rows } = await sql<{
    ins: string;
    ipp: string;
    birth_last_name: string;
    used_last_name: string | null;
    birth_first_names: string;
    birth_date: string;
    sex: 'F' | 'M';
  }>`SELECT ins, ipp, birth_last_name, used_last_name, birth_first_names, birth_date::text AS birth_date, sex
     FROM patients
     WHERE facility_id = ${facilityId} AND ins IS NOT NULL AND sex IN ('F', 'M') AND NOT deceased
     ORDER BY patient_id OFFSET ${FIRST_PATIENT - 1} LIMIT 4`.execute(db);
  if (rows.length < 4) return undefined;
  const [byIns, byTraits, scanned, scannedPdf] = rows.map(
    (row): PaperPatient => ({
      birthLastName: row.birth_last_name,
      ...(row.used_last_name ? { usedLastName: row.used_last_name } : {}),
      givenNames: row.birth_first_names.split(' '),
      birthDate: row.birth_date,
      sex: row.sex,
      ins: row.ins,
      ipp: row.ipp,
    }),
  ) as [PaperPatient, PaperPatient, PaperPatient, PaperPatient];
  const today = options.today ?? new Date().toISOString().slice(0, 10);
  const daysAgo = (days: number) => {
    const date = new Date(`${today}T12:00:00Z`);
    date.setUTCDate(date.getUTCDate() - days);
    return date.toISOString().slice(0, 10);
  };
  const stranger: PaperPatient = {
    birthLastName: 'VASSEUR',
    givenNames: ['Odile'],
    birthDate: '1948-09-23',
    sex: 'F',
    ins: withInsKey('2480962041118'),
  };
  // A laboratory outside the hospital knows neither its INS nor its IPP: it prints the traits.
  const { ins: _ins, ipp: _ipp, ...traitsOnly } = byTraits;
  const report = (
    patient: PaperPatient,
    kind: PaperReport['kind'],
    layout: PaperReport['layout'],
    days: number,
    author: string,
    seed: number,
  ): PaperReport => ({ patient, kind, layout, procedureDate: daysAgo(days), author: { name: author }, seed });

  const documents: Array<DemoPaperFile & { body: () => Buffer | Promise<Buffer> }> = [
    {
      what: 'text-layer PDF, a laboratory report naming its patient by INS',
      fileName: 'cr-biologie.pdf',
      scan: false,
      ipp: byIns.ipp ?? null,
      body: () => reportPdf(report(byIns, 'lab', 'header', 1, 'Anne ROUX', 11)),
    },
    {
      what: 'text-layer PDF, an imaging report naming its patient by traits (no INS)',
      fileName: 'cr-imagerie.pdf',
      scan: false,
      ipp: byTraits.ipp ?? null,
      body: () => reportPdf(report(traitsOnly, 'imaging', 'table', 2, 'Sophie LEROY', 12)),
    },
    {
      what: 'text-layer PDF, a consultation letter about a patient the hospital does not know',
      fileName: 'courrier-consultation.pdf',
      scan: false,
      ipp: null,
      body: () => reportPdf(report(stranger, 'consultation', 'letter', 3, 'Hélène FAURE', 13)),
    },
    {
      what: 'scan (PNG, 300 dpi) of an imaging report, for OCR',
      fileName: 'scan-imagerie.png',
      scan: true,
      ipp: scanned.ipp ?? null,
      body: () => scanPng(report(scanned, 'imaging', 'header', 4, 'Marc BENOIT', 14)),
    },
    {
      what: 'image-only PDF (a scanned laboratory report), for OCR',
      fileName: 'scan-biologie.pdf',
      scan: true,
      ipp: scannedPdf.ipp ?? null,
      body: () => scanPdf(report(scannedPdf, 'lab', 'header', 5, 'Luc FABRE', 15)),
    },
  ];

  for (const document of documents) {
    const staged = path.join(directory, `${document.fileName}.part`);
    await writeFile(staged, await document.body());
    await rename(staged, path.join(directory, document.fileName));
  }
  return documents.map(({ body: _body, ...file }) => file);
}
