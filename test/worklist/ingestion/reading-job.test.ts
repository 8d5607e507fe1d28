import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OcrError, OcrReader } from '../../../src/modules/worklist/ingestion/ocr.ts';
import { handleReadingJob, startReadingWorker } from '../../../src/modules/worklist/ingestion/reading-job.ts';
import {
  type PaperReport,
  scanPdf,
  scanPng,
} from '../../../src/modules/worklist/operations/paper-documents.ts';
import { textPdf } from '../../../src/platform/pdf.ts';
import { RequestLedger, withLedger } from '../../../src/platform/request-ledger.ts';
import { costOf, createTestContext, type TestContext } from '../../support/harness.ts';
import { CAMILLE_DUPONT, createFacility } from '../../support/worklist.ts';

/**
 * Scans go through the inbox at once as `received` and are read by the OCR job afterwards. The job is
 * run here as the worker runs it (real tesseract.js, real PostgreSQL, the real object store), attempt
 * by attempt, and once by the worker itself through pg-boss.
 */
const FACILITY = 'FAC-SCANS';
const camilleOnPaper: PaperReport = {
  patient: {
    birthLastName: 'DUPONT',
    givenNames: ['Camille'],
    birthDate: CAMILLE_DUPONT.birthDate,
    sex: 'F',
    ins: CAMILLE_DUPONT.ins,
  },
  kind: 'lab',
  layout: 'header',
  procedureDate: '2026-11-19',
  author: { name: 'Sophie LEROY' },
};
const stranger: PaperReport = {
  ...camilleOnPaper,
  patient: { birthLastName: 'ARNAUD', givenNames: ['Lucien'], birthDate: '1951-06-02', sex: 'M' },
  kind: 'imaging',
  seed: 7,
};

/** Statements `work` ran, as the ledger of the request (or job) it runs in counts them. */
async function measureStatements<T>(work: () => Promise<T>): Promise<{ result: T; statements: number }> {
  const ledger = new RequestLedger(false);
  const result = await withLedger(ledger, work);
  return { result, statements: ledger.db.count };
}

describe('scans: recorded at once, read by the OCR job', () => {
  let context: TestContext;
  let reader: OcrReader;
  let camilleId: number;
  const firstAttempt = { retryCount: 0, retryLimit: 2 };
  const lastAttempt = { retryCount: 2, retryLimit: 2 };

  beforeAll(async () => {
    context = await createTestContext();
    [camilleId] = (await createFacility(context, FACILITY, {
      patients: [{ ipp: 'IPP-SCAN-1', ...CAMILLE_DUPONT }],
    })) as [number];
    reader = new OcrReader();
  });
  afterAll(async () => {
    await reader?.close();
    await context?.close();
  });

  const db = () => context.runtime.database.db;
  const deps = () => ({ db: db(), store: context.runtime.store, strictQueryBudgets: true });
  const post = (body: Buffer, contentType: string) =>
    context.app.inject({
      method: 'POST',
      url: `/v2/inbox?facilityId=${FACILITY}&source=paper`,
      headers: {
        ...context.auth('author', 'scanner', { facilities: [FACILITY] }),
        'content-type': contentType,
      },
      payload: body,
    });
  const requestOf = async (id: number) => {
    const { rows } = await sql<{
      status: string;
      identity_check: string;
      patient_id: number | null;
      document_type_code: string | null;
      procedure_date: string | null;
      format: string;
    }>`SELECT status, identity_check, patient_id, document_type_code, to_char(procedure_date, 'YYYY-MM-DD') AS procedure_date,
              format
       FROM integration_requests WHERE request_id = ${id}`.execute(db());
    return rows[0];
  };
  const historyOf = async (id: number) => {
    const { rows } = await sql<{ outcome: string; note: string }>`
      SELECT outcome, note FROM verifications WHERE request_id = ${id} ORDER BY verification_id`.execute(
      db(),
    );
    return rows;
  };
  const readingJobs = async (id: number) => {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'worklist-reading' AND data->>'requestId' = ${String(id)}`.execute(
      db(),
    );
    return rows[0]?.n;
  };
  const receiveScan = async (body: Buffer, contentType: string) => {
    const response = await post(body, contentType);
    expect(response.statusCode, response.body).toBe(202);
    const [id] = response.json().requestIds as [number];
    return { id, cost: costOf(response.headers) };
  };

  it('records a PNG scan as received, its OCR job queued in the same transaction, within 5 statements', async () => {
    const { id, cost } = await receiveScan(await scanPng(camilleOnPaper), 'image/png');
    expect(cost.queries).toBeLessThanOrEqual(5);
    expect(await requestOf(id)).toMatchObject({
      status: 'received',
      identity_check: 'pending',
      format: 'scan',
    });
    expect(await historyOf(id)).toEqual([{ outcome: 'pending', note: 'reading the scan (OCR)' }]);
    expect(await readingJobs(id)).toBe(1);

    const detail = await context.app.inject({
      method: 'GET',
      url: `/v2/worklist/${id}`,
      headers: context.auth('reader', 'clinician', { facilities: [FACILITY] }),
    });
    expect(detail.json().attachments).toEqual([
      expect.objectContaining({ fileName: 'scan.png', contentType: 'image/png' }),
    ]);

    const { result: reads, statements } = await measureStatements(() =>
      handleReadingJob(deps(), { requestId: id }, firstAttempt, reader),
    );
    expect(reads).toBeUndefined();
    expect(statements).toBeLessThanOrEqual(4);
    expect(await requestOf(id)).toMatchObject({
      status: 'verified',
      identity_check: 'ok',
      patient_id: camilleId,
      document_type_code: '11502-2',
      procedure_date: '2026-11-19',
    });
    expect((await historyOf(id)).map((check) => check.note)).toEqual([
      'reading the scan (OCR)',
      'matched by INS',
    ]);
    const { rows } = await sql<{
      extractor: string;
      ins: string;
      fields: Record<string, { source: string; confidence: number }>;
    }>`
      SELECT extractor, ins, fields FROM extracted_metadata WHERE request_id = ${id}`.execute(db());
    expect(rows[0]).toMatchObject({ extractor: 'scan', ins: CAMILLE_DUPONT.ins });
    const ins = rows[0]?.fields.ins;
    expect(ins?.source).toMatch(/page 1, line \d+/);
    // Read by OCR: never as sure as a coded header field, sure enough to match on.
    expect(ins?.confidence).toBeGreaterThanOrEqual(0.8);
    expect(ins?.confidence).toBeLessThan(1);

    // The job runs again (pg-boss redelivers after a crash): nothing changes.
    await handleReadingJob(deps(), { requestId: id }, firstAttempt, reader);
    expect(await historyOf(id)).toHaveLength(2);
  });

  it('reads an image-only PDF the same way; a patient the hospital does not know is left for a person', async () => {
    const { id } = await receiveScan(await scanPdf(stranger), 'application/pdf');
    expect(await requestOf(id)).toMatchObject({ status: 'received', format: 'pdf' });
    await handleReadingJob(deps(), { requestId: id }, firstAttempt, reader);
    expect(await requestOf(id)).toMatchObject({
      status: 'pending_verification',
      patient_id: null,
      document_type_code: '18748-4',
    });
    const { rows } = await sql<{ birth_last_name: string; birth_date: string }>`
      SELECT birth_last_name, to_char(birth_date, 'YYYY-MM-DD') AS birth_date FROM extracted_metadata
      WHERE request_id = ${id}`.execute(db());
    expect(rows[0]).toEqual({ birth_last_name: 'ARNAUD', birth_date: '1951-06-02' });
  });

  it('gives an undecodable image to a person at once, with the reason, without retrying', async () => {
    // A PNG's header saying 100 × 100 pixels, then bytes that decode to nothing.
    const header = Buffer.from('\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x64\0\0\0\x64', 'latin1');
    const broken = Buffer.concat([header, Buffer.alloc(4000, 7)]);
    const { id } = await receiveScan(broken, 'image/png');
    await handleReadingJob(deps(), { requestId: id }, firstAttempt, reader);
    expect(await requestOf(id)).toMatchObject({ status: 'pending_verification', identity_check: 'pending' });
    const [, failure] = await historyOf(id);
    expect(failure?.note).toMatch(/^the scan could not be read: /);
  });

  it('reads at once a typed report whose last page has no text (a blank or signed page): no OCR needed', async () => {
    const typed = textPdf([
      [
        "COMPTE RENDU D'EXAMENS BIOLOGIQUES",
        'Nom de naissance : DUPONT',
        'Prénom(s) : Camille',
        'Née le : 12/03/1979',
        'Sexe : F',
        `INS : ${CAMILLE_DUPONT.ins}`,
        'Prélevé le 19/11/2026',
      ],
      ['2/2'],
    ]);
    const response = await post(typed, 'application/pdf');
    expect(response.statusCode, response.body).toBe(202);
    const [id] = response.json().requestIds as [number];
    expect(await historyOf(id)).toEqual([{ outcome: 'ok', note: 'matched by INS' }]);
    expect(await requestOf(id)).toMatchObject({ status: 'verified', patient_id: camilleId, format: 'pdf' });
  });

  it('refuses at the door an image too large to decode, and bytes that are no image', async () => {
    const header = Buffer.from('\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR', 'latin1');
    const size = Buffer.alloc(8);
    size.writeUInt32BE(20_000, 0);
    size.writeUInt32BE(20_000, 4);
    const huge = await post(Buffer.concat([header, size, Buffer.alloc(64)]), 'image/png');
    expect(huge.statusCode).toBe(422);
    expect(huge.json().detail).toMatch(/20000 × 20000 pixels/);
    const text = await post(Buffer.from('not an image at all'), 'image/jpeg');
    expect(text.statusCode).toBe(422);
    expect(text.json().detail).toMatch(/not a TIFF, PNG or JPEG/);
  });

  it('retries a page over its time bound, and gives the scan to a person after the last attempt', async () => {
    const { id } = await receiveScan(await scanPng(stranger), 'image/png');
    const slow = {
      recognize: () => Promise.reject(new OcrError('page 1 took longer than 120 s', 'timeout', true, 1)),
    } as unknown as OcrReader;
    await expect(handleReadingJob(deps(), { requestId: id }, firstAttempt, slow)).rejects.toThrow(/longer/);
    expect(await requestOf(id)).toMatchObject({ status: 'received' });
    await handleReadingJob(deps(), { requestId: id }, lastAttempt, slow);
    expect(await requestOf(id)).toMatchObject({ status: 'pending_verification' });
    expect((await historyOf(id)).at(-1)?.note).toBe(
      'the scan could not be read: page 1 took longer than 120 s',
    );
  });

  it('leaves a scan a person verified while it waited as the person left it', async () => {
    const { id } = await receiveScan(await scanPng({ ...camilleOnPaper, seed: 3 }), 'image/png');
    await sql`UPDATE integration_requests SET status = 'rejected' WHERE request_id = ${id}`.execute(db());
    await handleReadingJob(deps(), { requestId: id }, firstAttempt, reader);
    expect(await requestOf(id)).toMatchObject({ status: 'rejected' });
    expect(await historyOf(id)).toHaveLength(1);
  });

  it('is read by the worker through the queue', async () => {
    const worker = await startReadingWorker({
      ...deps(),
      queue: context.runtime.integrationQueue,
      pollingIntervalSeconds: 1,
    });
    try {
      const { id } = await receiveScan(await scanPng({ ...camilleOnPaper, seed: 5 }), 'image/png');
      // OCR takes seconds a page, more on a loaded machine: wait for the outcome, not for a time.
      await vi.waitFor(async () => expect((await requestOf(id))?.status).toBe('verified'), {
        timeout: 180_000,
        interval: 250,
      });
    } finally {
      await worker.close();
    }
  }, 240_000);
});
