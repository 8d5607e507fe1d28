/**
 * The OCR job: a scan (an image, or a PDF with pages of no text) is recorded at once as `received` and
 * read here, off the request path, one at a time per process, by tesseract.js with the French data
 * shipped in the package (ocr.ts). Its fields, identity check and state are then written as the inbox
 * would have for a PDF with a text layer (`completeReading`).
 *
 * A page has a bounded time; a failed attempt is retried by pg-boss with backoff; a scan that cannot be
 * read for good (an undecodable image, the last attempt failed) goes to a person as
 * `pending_verification`, with the reason in its verification history. Nothing is lost: the file stays
 * attached whatever happens.
 */
import { sql } from 'kysely';
import { withOwnBudget } from '../../../platform/db/query-budget.ts';
import { metricsRegistry, prometheus } from '../../../platform/metrics/registry.ts';
import type { IntegrationJob, LazyIntegrationQueue } from '../integration/queue.ts';
import type { OcrReader, ScanContentType } from './ocr.ts';
import type { TextPage } from './pdf-text.ts';
import { readReportText } from './report-text.ts';
import { completeReading, failReading, type IngestionDeps } from './service.ts';

/** Statements one job may cost: the scan's row and file, the candidates, the update. */
export const READING_STATEMENT_BUDGET = 4;

export interface ReadingOptions {
  /** A page over this is abandoned (the OCR thread restarted) and the attempt fails. */
  pageTimeoutMs: number;
  /** Pages read at most; a longer scan's first pages are read and the rest left to the person. */
  maxPages: number;
}

export const DEFAULT_READING_OPTIONS: ReadingOptions = { pageTimeoutMs: 120_000, maxPages: 30 };

export type ReadingDeps = Pick<IngestionDeps, 'db' | 'store' | 'strictQueryBudgets' | 'warn'> & {
  log?: (message: string) => void;
};

const readScans = new prometheus.Counter({
  name: 'hotpath_ocr_documents_total',
  help: 'Scans read by the OCR job, by outcome (read, failed, retried, gone)',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});
const ocrPageSeconds = new prometheus.Histogram({
  name: 'hotpath_ocr_page_seconds',
  help: 'Time to OCR one page of a scan',
  buckets: [0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120],
  registers: [metricsRegistry],
});

interface ScanRow {
  status: string;
  storage_key: string;
  content_type: string;
  file_name: string;
}

/** Reads `READING_QUEUE` jobs in this process; the OCR thread starts with the first scan. */
export async function startReadingWorker(
  deps: ReadingDeps & {
    queue: LazyIntegrationQueue;
    options?: ReadingOptions;
    pollingIntervalSeconds?: number;
  },
): Promise<{ close(): Promise<void> }> {
  let reader: Promise<OcrReader> | undefined;
  const readerOf = () => {
    // tesseract.js and pdf.js are large: loaded with the first scan, not at every server start.
    reader ??= import('./ocr.ts').then(({ OcrReader }) => new OcrReader());
    return reader;
  };
  await deps.queue.workReadings(
    async (job, attempt) => handleReadingJob(deps, job, attempt, await readerOf(), deps.options),
    deps.pollingIntervalSeconds === undefined ? {} : { pollingIntervalSeconds: deps.pollingIntervalSeconds },
  );
  return {
    async close() {
      if (reader) await (await reader).close();
    },
  };
}

/**
 * One attempt at one scan. Throws only for pg-boss to retry; a scan that cannot be read for good is
 * recorded so, and the job completes. Exported for tests, which run it under a ledger.
 */
export async function handleReadingJob(
  deps: ReadingDeps,
  job: IntegrationJob,
  attempt: { retryCount: number; retryLimit: number },
  reader: OcrReader,
  options: ReadingOptions = DEFAULT_READING_OPTIONS,
): Promise<void> {
  const { OcrError } = await import('./ocr.ts');
  try {
    const outcome = await withOwnBudget(
      READING_STATEMENT_BUDGET,
      'worklist reading job',
      { strict: deps.strictQueryBudgets ?? false, ...(deps.warn ? { warn: deps.warn } : {}) },
      () => readScan(deps, job.requestId, reader, options),
    );
    readScans.inc({ outcome });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const retryable = !(error instanceof OcrError) || error.retryable;
    if (retryable && attempt.retryCount < attempt.retryLimit) {
      readScans.inc({ outcome: 'retried' });
      deps.log?.(`request ${job.requestId}: reading the scan failed, will retry: ${message}`);
      throw error;
    }
    await failReading(deps, job.requestId, message);
    readScans.inc({ outcome: 'failed' });
    deps.log?.(`request ${job.requestId}: the scan could not be read, left for a person: ${message}`);
  }
}

async function readScan(
  deps: ReadingDeps,
  requestId: number,
  reader: OcrReader,
  options: ReadingOptions,
): Promise<'read' | 'gone'> {
  const { rows } = await sql<ScanRow>`/* worklist.scanToRead */
    SELECT r.status, a.storage_key, a.content_type, a.file_name
    FROM integration_requests r
    CROSS JOIN LATERAL (SELECT storage_key, content_type, file_name FROM attachments
                        WHERE request_id = r.request_id ORDER BY attachment_id LIMIT 1) a
    WHERE r.request_id = ${requestId}`.execute(deps.db);
  const scan = rows[0];
  if (scan?.status !== 'received') return 'gone';
  const content = await contentOf(deps, scan.storage_key);
  const pages = await pagesOf(content, scan.content_type as ScanContentType, reader, options);
  const reading = readReportText(pages, { format: 'scan', fileName: scan.file_name });
  const completed = await completeReading(deps, requestId, { ...reading, files: [] });
  return completed.outcome;
}

async function contentOf(deps: ReadingDeps, key: string): Promise<Buffer> {
  const object = await deps.store.get(key);
  if (!object) throw new Error(`its file ${key} is not in the object store`);
  const chunks: Buffer[] = [];
  for await (const chunk of object.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Every page's text: a PDF's text layer where it has one, OCR for its other pages and for images. */
async function pagesOf(
  content: Buffer,
  contentType: ScanContentType,
  reader: OcrReader,
  options: ReadingOptions,
): Promise<TextPage[]> {
  const [{ ocrDocument, tiffPages }, { pdfTextPages, pagesWithoutText }] = await Promise.all([
    import('./ocr.ts'),
    import('./pdf-text.ts'),
  ]);
  const bound = { timeoutMsPerPage: options.pageTimeoutMs, onPage: timedPages() };
  if (contentType === 'application/pdf') {
    const layer = await pdfTextPages(content);
    const missing = pagesWithoutText(layer).slice(0, options.maxPages);
    const read = await ocrDocument({ content, contentType, pages: missing }, reader, bound);
    return layer.map((page) => read.find((ocr) => ocr.page === page.page) ?? page);
  }
  const count = contentType === 'image/tiff' ? tiffPages(content).length : 1;
  const pages = Array.from({ length: Math.min(count, options.maxPages) }, (_, index) => index + 1);
  return ocrDocument({ content, contentType, pages }, reader, bound);
}

/** Observes each page's OCR time as it ends. */
function timedPages(): (done: number, total: number) => void {
  let last = performance.now();
  return () => {
    const now = performance.now();
    ocrPageSeconds.observe((now - last) / 1000);
    last = now;
  };
}
