import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OcrReader } from '../../src/modules/worklist/ingestion/ocr.ts';
import { pagesWithoutText, pdfTextPages } from '../../src/modules/worklist/ingestion/pdf-text.ts';
import { CONFIDENT, readReportText } from '../../src/modules/worklist/ingestion/report-text.ts';
import { generateWorklistDataset } from '../../src/modules/worklist/operations/dataset.ts';
import { dropDemoPaper } from '../../src/modules/worklist/operations/demo-paper.ts';
import {
  PAPER_KINDS,
  PAPER_LAYOUTS,
  type PaperReport,
  reportPdf,
  sampleReport,
  scanPdf,
  scanPng,
  spacedIns,
  withInsKey,
} from '../../src/modules/worklist/operations/paper-documents.ts';
import { watchFolder } from '../../src/modules/worklist/operations/watch-folder.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

const HELENE: PaperReport = {
  patient: {
    birthLastName: 'BERTRAND',
    usedLastName: 'LEMAIRE',
    givenNames: ['Hélène', 'Marie'],
    birthDate: '1979-03-12',
    sex: 'F',
    ins: withInsKey('2790375056123'),
    ipp: '0012345',
  },
  kind: 'lab',
  layout: 'header',
  procedureDate: '2026-11-27',
  author: { name: 'Sophie LEROY', rpps: '10001234567' },
  seed: 7,
};

async function readBack(pdf: Buffer) {
  return readReportText(await pdfTextPages(pdf), { format: 'pdf', fileName: 'report.pdf', pdf });
}

/** The value of every field read at or above CONFIDENT, by name. */
function confidentValues(reading: Awaited<ReturnType<typeof readBack>>): Record<string, string> {
  const fields = {
    ...reading.identity,
    documentTypeCode: reading.documentTypeCode,
    procedureDate: reading.procedureDate,
    authorName: reading.authorName,
    authorRpps: reading.authorRpps,
  };
  const values: Record<string, string> = {};
  for (const [name, field] of Object.entries(fields)) {
    if (field && field.confidence >= CONFIDENT) values[name] = String(field.value);
  }
  return values;
}

describe('paper documents: text-layer PDFs', () => {
  it('prints the INS spaced as on a card, with a valid key', () => {
    expect(HELENE.patient.ins).toMatch(/^2790375056123\d{2}$/);
    expect(spacedIns(HELENE.patient.ins!)).toBe(`2 79 03 75 056 123 ${HELENE.patient.ins!.slice(13)}`);
  });

  it('reads back, in every layout, the identity, date, type and author it was made with', async () => {
    for (const layout of PAPER_LAYOUTS) {
      const report = { ...HELENE, layout };
      const pdf = reportPdf(report);
      const pages = await pdfTextPages(pdf);
      expect(pages).toHaveLength(1);
      expect(pages[0]!.hasTextLayer).toBe(true);
      const reading = await readBack(pdf);
      expect(reading.mismatchReasons, layout).toEqual([]);
      expect(confidentValues(reading), layout).toMatchObject({
        ins: HELENE.patient.ins,
        birthLastName: 'BERTRAND',
        usedLastName: 'LEMAIRE',
        birthDate: '1979-03-12',
        sex: 'F',
        documentTypeCode: PAPER_KINDS.lab.code,
        procedureDate: '2026-11-27',
        authorName: 'Sophie LEROY',
        // A letter names its patient in sentences: the IPP and every given name are a header's.
        ...(layout === 'letter' ? {} : { ipp: '0012345', birthGivenNames: 'Hélène Marie' }),
      });
      expect(reading.identity.firstBirthGivenName?.value, layout).toBe('Hélène');
    }
  });

  it('makes the same bytes from the same report, and reads back a series of them', async () => {
    expect(reportPdf(sampleReport(4)).equals(reportPdf(sampleReport(4)))).toBe(true);
    for (let n = 0; n < 18; n++) {
      const report = sampleReport(n);
      const { patient } = report;
      const reading = await readBack(reportPdf(report));
      expect(reading.mismatchReasons, `report ${n}`).toEqual([]);
      expect(confidentValues(reading), `report ${n} (${report.kind}, ${report.layout})`).toMatchObject({
        ...(patient.ins ? { ins: patient.ins } : {}),
        birthLastName: patient.birthLastName,
        ...(patient.usedLastName ? { usedLastName: patient.usedLastName } : {}),
        birthDate: patient.birthDate,
        sex: patient.sex,
        documentTypeCode: PAPER_KINDS[report.kind].code,
        procedureDate: report.procedureDate,
        authorName: report.author.name,
      });
    }
  });
});

describe('paper documents: scans', () => {
  const reader = new OcrReader();
  afterAll(() => reader.close());

  it('draws an A4 page at 300 dpi as a PNG, and the same page into an image-only PDF', async () => {
    const png = await scanPng(HELENE);
    expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(
      true,
    );
    // IHDR: width and height, big-endian, right after the signature and the chunk's length and type.
    expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([2480, 3508]);
    expect((await scanPng(HELENE)).equals(png)).toBe(true);
    expect((await scanPng(HELENE, { dpi: 150 })).readUInt32BE(16)).toBe(1240);

    const pdf = await scanPdf(HELENE);
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(pagesWithoutText(await pdfTextPages(pdf))).toEqual([1]);
  });

  it('reads back, once OCRed, the INS and the birth name', { timeout: 180_000 }, async () => {
    const page = await reader.recognize(await scanPng(HELENE), { timeoutMs: 150_000 });
    const text = page.lines.map((line) => line.text).join('\n');
    expect(text.replace(/\s+/g, '')).toContain(HELENE.patient.ins);
    expect(text).toContain('BERTRAND');
    const reading = readReportText([page], { format: 'scan', fileName: 'scan.png' });
    expect(reading.identity.ins?.value).toBe(HELENE.patient.ins);
    expect(reading.identity.birthLastName?.value).toBe('BERTRAND');
  });
});

describe("the demo's paper, dropped into the folder serve watches", () => {
  let context: TestContext;
  let facilityId: string;
  let directory: string;
  beforeAll(async () => {
    context = await createTestContext();
    const dataset = await generateWorklistDataset(context.runtime.database.db, {
      facilities: 1,
      patientsPerFacility: 60,
      requests: 20,
      days: 30,
      seed: 20250611,
      fhirBaseUrl: null,
    });
    facilityId = dataset.facilityIds[0]!;
    directory = await mkdtemp(path.join(tmpdir(), 'hotpath-demo-drop-'));
  });
  afterAll(async () => {
    await context?.close();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it('drops three text-layer PDFs and two scans once, which the watched folder takes in', async () => {
    const db = context.runtime.database.db;
    const folder = { directory, facilityId };
    const dropped = await dropDemoPaper(db, folder, [facilityId], { today: '2026-12-03' });
    expect(dropped?.map((file) => [file.fileName, file.scan])).toEqual([
      ['cr-biologie.pdf', false],
      ['cr-imagerie.pdf', false],
      ['courrier-consultation.pdf', false],
      ['scan-imagerie.png', true],
      ['scan-biologie.pdf', true],
    ]);
    // Written whole under a temporary name, then renamed: no partial file is ever visible.
    expect((await readdir(directory)).sort()).toEqual(dropped!.map((file) => file.fileName).sort());

    const watch = await watchFolder(
      { db, store: context.runtime.store, queue: context.runtime.integrationQueue },
      { ...folder, source: 'paper', maxFileBytes: 50_000_000, stabilityThresholdMs: 100, log: () => {} },
    );
    try {
      await vi.waitFor(async () => expect(await readdir(path.join(directory, '.done'))).toHaveLength(5), {
        timeout: 120_000,
        interval: 100,
      });
    } finally {
      await watch.close();
    }
    const { rows } = await sql<{ file_name: string; status: string; ipp: string | null; format: string }>`
      SELECT a.file_name, r.status, p.ipp, r.format FROM integration_requests r
      JOIN attachments a ON a.request_id = r.request_id
      LEFT JOIN patients p ON p.patient_id = r.patient_id
      WHERE r.facility_id = ${facilityId} AND r.source = 'paper' AND r.message_id IS NOT NULL`.execute(db);
    const byFile = new Map(rows.map((row) => [row.file_name, row]));
    expect(byFile.get('cr-biologie.pdf')).toMatchObject({
      status: 'verified',
      ipp: dropped![0]!.ipp,
      format: 'pdf',
    });
    expect(byFile.get('cr-imagerie.pdf')).toMatchObject({ status: 'verified', ipp: dropped![1]!.ipp });
    expect(byFile.get('courrier-consultation.pdf')).toMatchObject({
      status: 'pending_verification',
      ipp: null,
    });
    // The scans wait for the OCR job.
    expect(byFile.get('scan-imagerie.png')).toMatchObject({ status: 'received', format: 'scan' });
    expect(byFile.get('scan-biologie.pdf')).toMatchObject({ status: 'received', format: 'pdf' });

    expect(await dropDemoPaper(db, folder, [facilityId])).toBeUndefined();
  });
});
