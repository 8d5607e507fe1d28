/**
 * Paper: what reading a document that came as a file costs, in this process, without HTTP or SQL in
 * the way. (a) A PDF's text layer read (pdf.js) and the French report rules applied, per page, over
 * generated reports of every kind and layout; (b) OCR of 300 dpi scans (tesseract.js, French LSTM
 * data from its npm package), per page, the OCR thread started beforehand and timed apart, and image-
 * only PDFs (render + OCR); (c) folder drop: files a second from a watched folder into the worklist
 * (bench/paper/folder-drop.ts, when present).
 */
import { OcrReader, ocrDocument } from '../../src/modules/worklist/ingestion/ocr.ts';
import { pdfTextPages } from '../../src/modules/worklist/ingestion/pdf-text.ts';
import { CONFIDENT, readReportText } from '../../src/modules/worklist/ingestion/report-text.ts';
import {
  type PaperReport,
  reportPdf,
  sampleReport,
  scanPdf,
  scanPng,
} from '../../src/modules/worklist/operations/paper-documents.ts';
import type { BenchPostgres, DatasetOptions } from '../support/postgres.ts';
import { measureFolderDrop, prepareFolderDrop } from './folder-drop.ts';

export interface PaperSizes {
  /** Text-layer PDFs read (one page each). */
  pdfs: number;
  /** 300 dpi PNG scans OCRed, a page each. */
  ocrPages: number;
  /** Image-only PDFs rendered and OCRed, a page each. */
  ocrPdfPages: number;
}

export interface Distribution {
  samples: number;
  mean: number;
  p50: number;
  p95: number;
  max: number;
}

export type FolderDropFigures = Awaited<ReturnType<typeof measureFolderDrop>>;

export interface PaperDetails {
  extraction: {
    /** Milliseconds a page: text layer + report rules. */
    msPerPage: Distribution;
    pages: number;
    /** Reports whose INS (when printed), birth name, birth date, type, date and author read right, confidently. */
    readRight: number;
  };
  ocr: {
    /** Starting the OCR thread (wasm, French data): once per reader, not counted in the pages. */
    startSeconds: number;
    /** Seconds a page, 300 dpi PNG scans. */
    png: Distribution;
    /** Seconds a page, image-only PDFs at 300 dpi: render with pdf.js, then OCR. */
    pdf: Distribution;
    /** Pages whose INS and birth name OCR and the rules read back confidently. */
    readRight: number;
    pages: number;
  };
  folderDrop: FolderDropFigures;
}

function distribution(values: number[]): Distribution {
  const sorted = [...values].sort((left, right) => left - right);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return {
    samples: sorted.length,
    mean: sorted.length ? sorted.reduce((sum, value) => sum + value, 0) / sorted.length : Number.NaN,
    p50: at(0.5),
    p95: at(0.95),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

const confident = (field: { value: unknown; confidence: number } | undefined, value: unknown) =>
  field !== undefined && field.value === value && field.confidence >= CONFIDENT;

/** The report's identity and document read back as it was made. */
function readRight(report: PaperReport, reading: ReturnType<typeof readReportText>): boolean {
  const { patient } = report;
  return (
    (patient.ins === undefined || confident(reading.identity.ins, patient.ins)) &&
    confident(reading.identity.birthLastName, patient.birthLastName) &&
    confident(reading.identity.birthDate, patient.birthDate) &&
    reading.procedureDate?.value === report.procedureDate &&
    reading.authorName?.value === report.author.name
  );
}

export async function measurePaper(input: {
  sizes: PaperSizes;
  quick: boolean;
  postgres: BenchPostgres;
  prepare: DatasetOptions;
  log: (line: string) => void;
}): Promise<PaperDetails> {
  const { sizes, log } = input;

  // (a) Text layer + report rules. The PDFs are made first; a few are read before timing (pdf.js loads).
  const reports = Array.from({ length: sizes.pdfs }, (_, n) => sampleReport(n));
  const pdfs = reports.map((report) => reportPdf(report));
  for (const pdf of pdfs.slice(0, 5))
    readReportText(await pdfTextPages(pdf), { format: 'pdf', fileName: 'w.pdf' });
  const perPage: number[] = [];
  let extractionRight = 0;
  let pages = 0;
  for (const [index, pdf] of pdfs.entries()) {
    const started = performance.now();
    const textPages = await pdfTextPages(pdf);
    const reading = readReportText(textPages, { format: 'pdf', fileName: 'report.pdf', pdf });
    perPage.push((performance.now() - started) / textPages.length);
    pages += textPages.length;
    if (readRight(reports[index]!, reading)) extractionRight += 1;
  }
  const extraction = { msPerPage: distribution(perPage), pages, readRight: extractionRight };
  log(
    `paper: ${pages} text-layer pages read, p50 ${extraction.msPerPage.p50.toFixed(2)} ms a page, ${extractionRight}/${pdfs.length} read right`,
  );

  // (b) OCR. Scans are drawn before timing; the thread is started (and one page read) unmeasured.
  const scanReports = Array.from({ length: sizes.ocrPages + sizes.ocrPdfPages }, (_, n) =>
    sampleReport(1000 + n),
  ).map((report) => ({ ...report, layout: 'header' as const }));
  const pngs = await Promise.all(scanReports.slice(0, sizes.ocrPages).map((report) => scanPng(report)));
  const scannedPdfs = await Promise.all(scanReports.slice(sizes.ocrPages).map((report) => scanPdf(report)));
  const reader = new OcrReader();
  let ocr: PaperDetails['ocr'];
  try {
    const startedAt = performance.now();
    await reader.recognize(await scanPng(sampleReport(999)), { timeoutMs: 300_000 });
    const startSeconds = (performance.now() - startedAt) / 1000;
    const pngSeconds: number[] = [];
    const pdfSeconds: number[] = [];
    let ocrRight = 0;
    const check = (report: PaperReport, pagesRead: Awaited<ReturnType<typeof ocrDocument>>) => {
      const reading = readReportText(pagesRead, { format: 'scan', fileName: 'scan' });
      if (
        (report.patient.ins === undefined || confident(reading.identity.ins, report.patient.ins)) &&
        confident(reading.identity.birthLastName, report.patient.birthLastName)
      )
        ocrRight += 1;
    };
    for (const [index, png] of pngs.entries()) {
      const started = performance.now();
      const read = await ocrDocument({ content: png, contentType: 'image/png' }, reader, {
        timeoutMsPerPage: 300_000,
      });
      pngSeconds.push((performance.now() - started) / 1000 / read.length);
      check(scanReports[index]!, read);
    }
    for (const [index, pdf] of scannedPdfs.entries()) {
      const started = performance.now();
      const read = await ocrDocument({ content: pdf, contentType: 'application/pdf' }, reader, {
        timeoutMsPerPage: 300_000,
      });
      pdfSeconds.push((performance.now() - started) / 1000 / read.length);
      check(scanReports[sizes.ocrPages + index]!, read);
    }
    ocr = {
      startSeconds,
      png: distribution(pngSeconds),
      pdf: distribution(pdfSeconds),
      readRight: ocrRight,
      pages: pngs.length + scannedPdfs.length,
    };
  } finally {
    await reader.close();
  }
  log(
    `paper: OCR p50 ${ocr.png.p50.toFixed(2)} s a PNG page, ${ocr.pdf.p50.toFixed(2)} s an image-only PDF page; INS and birth name read on ${ocr.readRight}/${ocr.pages}`,
  );

  // (c) Folder drop.
  const folderDrop = await measureFolderDropRow(input);
  return { extraction, ocr, folderDrop };
}

/** Files dropped into a folder watched by `hotpath ingest watch`, until every one is in `.done/`. */
async function measureFolderDropRow(input: {
  quick: boolean;
  postgres: BenchPostgres;
  prepare: DatasetOptions;
  log: (line: string) => void;
}): Promise<FolderDropFigures> {
  const dataset = await prepareFolderDrop(input.postgres, input.prepare);
  return measureFolderDrop({
    databaseUrl: dataset.url,
    facilityId: dataset.summary.facilityId,
    files: input.quick ? 200 : 1000,
    log: input.log,
  });
}
