/**
 * The demo's paper: documents that arrive as dropped PDFs and scans, posted to the running server's
 * inbox as a laboratory's software or a secretary's scanner would, for patients of the demo hospital.
 * Three PDFs with a text layer, read as they arrive (one naming its patient by INS, one by birth name,
 * given name, birth date and sex, one naming somebody the hospital does not know), and two scans (a
 * PNG and an image-only PDF) that wait, `received`, for OCR to read them.
 */
import { type Kysely, sql } from 'kysely';
import type { DB } from '../../../tables.ts';
import type { DemoInboxTarget } from './demo-messages.ts';
import {
  type PaperPatient,
  type PaperReport,
  reportPdf,
  scanPdf,
  scanPng,
  withInsKey,
} from './paper-documents.ts';

export interface DemoPaperDocument {
  /** What the demo shows with it: `text-layer PDF, patient named by INS`… */
  what: string;
  contentType: 'application/pdf' | 'image/png';
  source: 'lab' | 'paper';
  facilityId: string;
  /** The demo patient the document names (their IPP); null for the stranger. */
  ipp: string | null;
  /** 202 for a new document, 200 for one the inbox had already received. */
  status: number;
  requestIds: number[];
}

export interface DemoPaperResult {
  documents: DemoPaperDocument[];
}

/** The patients demo-messages.ts writes to are a facility's first eight with an INS: these come after. */
const FIRST_PATIENT = 9;

/**
 * Posts the demo's paper documents to `POST /v2/inbox` of the server at `target.httpBase` (an author's
 * token for the demo facilities), for patients of the first of `facilities`. Returns undefined when an
 * earlier run already sent them (the facilities' inbox holds a PDF or a scan) or when the facility has
 * too few patients; throws when the inbox refuses one.
 */
export async function sendDemoPaper(
  db: Kysely<DB>,
  facilities: string[],
  target: Pick<DemoInboxTarget, 'httpBase' | 'token'>,
  options: { today?: string } = {},
): Promise<DemoPaperResult | undefined> {
  const facilityId = facilities[0];
  if (facilityId === undefined) return undefined;
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

  const documents: Array<{
    what: string;
    contentType: DemoPaperDocument['contentType'];
    source: DemoPaperDocument['source'];
    ipp: string | null;
    body: () => Buffer | Promise<Buffer>;
  }> = [
    {
      what: 'text-layer PDF, a laboratory report naming its patient by INS',
      contentType: 'application/pdf',
      source: 'lab',
      ipp: byIns.ipp ?? null,
      body: () => reportPdf(report(byIns, 'lab', 'header', 1, 'Anne ROUX', 11)),
    },
    {
      what: 'text-layer PDF, an imaging report naming its patient by traits (no INS)',
      contentType: 'application/pdf',
      source: 'paper',
      ipp: byTraits.ipp ?? null,
      body: () => reportPdf(report(traitsOnly, 'imaging', 'table', 2, 'Sophie LEROY', 12)),
    },
    {
      what: 'text-layer PDF, a consultation letter about a patient the hospital does not know',
      contentType: 'application/pdf',
      source: 'paper',
      ipp: null,
      body: () => reportPdf(report(stranger, 'consultation', 'letter', 3, 'Hélène FAURE', 13)),
    },
    {
      what: 'scan (PNG, 300 dpi) of an imaging report, for OCR',
      contentType: 'image/png',
      source: 'paper',
      ipp: scanned.ipp ?? null,
      body: () => scanPng(report(scanned, 'imaging', 'header', 4, 'Marc BENOIT', 14)),
    },
    {
      what: 'image-only PDF (a scanned laboratory report), for OCR',
      contentType: 'application/pdf',
      source: 'paper',
      ipp: scannedPdf.ipp ?? null,
      body: () => scanPdf(report(scannedPdf, 'lab', 'header', 5, 'Luc FABRE', 15)),
    },
  ];

  const sent: DemoPaperDocument[] = [];
  for (const document of documents) {
    const response = await fetch(
      `${target.httpBase}/v2/inbox?facilityId=${encodeURIComponent(facilityId)}&source=${document.source}`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${target.token}`, 'content-type': document.contentType },
        body: await document.body(),
      },
    );
    const text = await response.text();
    if (response.status !== 202 && response.status !== 200)
      throw new Error(`the demo's ${document.what} was answered ${response.status}: ${text}`);
    const { requestIds } = JSON.parse(text) as { requestIds: number[] };
    sent.push({
      what: document.what,
      contentType: document.contentType,
      source: document.source,
      facilityId,
      ipp: document.ipp,
      status: response.status,
      requestIds,
    });
  }
  return { documents: sent };
}
