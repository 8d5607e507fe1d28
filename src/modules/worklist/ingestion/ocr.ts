/**
 * OCR for scans: image-only PDF pages and TIFF/PNG/JPEG scans read by tesseract.js with the French data
 * that ships in the `@tesseract.js-data/fra` package, into the same pages and lines as a PDF's text layer
 * (pdf-text.ts), so the same report rules read both.
 *
 * Nothing is fetched, ever: the language data is read from the package's directory (`langPath`, no
 * cache), tesseract.js-core loads its wasm from its own directory, and the OCR thread starts from an
 * entry of ours that replaces `fetch` with a function that refuses before tesseract.js's worker script
 * captures it, so a misconfiguration fails loudly instead of downloading from a CDN.
 *
 * One tesseract.js worker (one thread, one wasm instance) per OcrReader, created on first use and kept:
 * starting one costs about a second, a page about one to three. Pages are read one at a time, each under
 * its own time bound; a page over it is abandoned, the thread terminated (a wasm call cannot be
 * interrupted otherwise) and a new one started for the next page.
 */
import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Worker as ThreadWorker } from 'node:worker_threads';
import Tesseract from 'tesseract.js';
import { getDocumentProxy, renderPageAsImage } from 'unpdf';
import type { TextLine, TextPage } from './pdf-text.ts';

export type { TextLine, TextPage } from './pdf-text.ts';

const require = createRequire(import.meta.url);

/**
 * The package's LSTM-only French model (`4.0.0_best_int`, 0.7 MB): what tesseract.js itself would
 * download for `OEM.LSTM_ONLY`. The package's `4.0.0` directory holds the same LSTM model plus the
 * legacy engine's data (6 MB), which LSTM-only recognition does not use; either reads the same text.
 */
export const FRENCH_LANG_PATH = path.join(
  path.dirname(require.resolve('@tesseract.js-data/fra/package.json')),
  '4.0.0_best_int',
);

/** tesseract.js's own worker script for Node, which our thread entry runs. */
const TESSERACT_WORKER_SCRIPT = require.resolve('tesseract.js/src/worker-script/node/index.js');

/** 300 dpi, what tesseract reads best; a PDF's user space is 72 units an inch. */
export const DEFAULT_RENDER_DPI = 300;
/** A rendered page's longest side at most: a poster-sized page is rendered at a lower resolution. */
const MAX_RENDER_SIDE_PX = 5000;

export type OcrFailure = 'timeout' | 'worker-failed' | 'start-failed' | 'unreadable-image';

/**
 * A page OCR could not read. `retryable`: the same input may succeed another time (a page over its time
 * bound on a busy machine, a crashed worker); not for an image tesseract cannot decode.
 */
export class OcrError extends Error {
  /** Pages read before the failure, when the error comes from ocrDocument: a retry may skip them. */
  completedPages: TextPage[] = [];

  constructor(
    message: string,
    readonly reason: OcrFailure,
    readonly retryable: boolean,
    readonly page?: number,
  ) {
    super(message);
    this.name = 'OcrError';
  }
}

export interface OcrReaderOptions {
  /** A directory holding `fra.traineddata.gz`; the package's LSTM-only data unless told. */
  langPath?: string;
  /** How long the worker may take to start (load the wasm and the language data). 60 s unless told. */
  startTimeoutMs?: number;
  /**
   * Tesseract page segmentation mode: '3' (automatic layout: columns, blocks; the default) or '6' (the
   * page as one block of text), '4' (one column)…
   */
  pageSegMode?: string;
  /**
   * A CommonJS file the OCR thread requires before tesseract.js's worker script (tests install network
   * recorders with it).
   */
  workerPrelude?: string;
  /** Keep what tesseract and leptonica print from the OCR thread (silenced by default). */
  verbose?: boolean;
}

export interface RecognizeOptions {
  /** The page's time bound: past it the page is abandoned and the call fails with a retryable OcrError. */
  timeoutMs: number;
  /** The page number the result carries (1-based); 1 unless told. */
  page?: number;
  /** The image's resolution when its file does not say (a page rendered from a PDF). */
  dpi?: number;
}

interface TesseractLine {
  text: string;
  confidence: number;
  bbox: { x0: number; y0: number; x1: number; y1: number };
  baseline?: { y0: number; y1: number };
  rowAttributes?: { rowHeight?: number };
  words?: Array<{ text: string; bbox: { x0: number; x1: number } }>;
}

interface TesseractPage {
  blocks: Array<{ paragraphs: Array<{ lines: TesseractLine[] }> }> | null;
}

/** The parts of a tesseract.js worker this module uses: its `worker` is the thread, not typed upstream. */
type TesseractWorker = Tesseract.Worker & { worker: ThreadWorker };

interface Running {
  tesseract: TesseractWorker;
  thread: ThreadWorker;
  /** Settles the page being read when the thread dies under it. */
  onDeath?: (error: OcrError) => void;
  dead: boolean;
}

/**
 * One tesseract.js worker, started on first use; pages are read one after the other. `close()` ends it;
 * a closed reader starts a new worker if asked again.
 */
export class OcrReader {
  readonly #options: OcrReaderOptions;
  #running: Promise<Running> | undefined;
  /** The worker #running resolved to. */
  #current: Running | undefined;
  /** The tail of the queue of pages: each page starts (and its time bound with it) when the last ends. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: OcrReaderOptions = {}) {
    this.#options = options;
  }

  /** The text lines of one image (PNG, JPEG, TIFF's first page, BMP, WebP, GIF), top to bottom. */
  recognize(image: Buffer, options: RecognizeOptions): Promise<TextPage> {
    const result = this.#queue.then(() => this.#recognizeNow(image, options));
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** Terminates the worker (after the page being read, if any). */
  async close(): Promise<void> {
    await this.#queue;
    const running = this.#running;
    this.#running = undefined;
    if (!running) return;
    const worker = await running.catch(() => undefined);
    if (worker) await this.#discard(worker);
  }

  async #recognizeNow(image: Buffer, options: RecognizeOptions): Promise<TextPage> {
    const page = options.page ?? 1;
    const worker = await this.#worker().catch((error: OcrError) => {
      throw new OcrError(error.message, error.reason, error.retryable, page);
    });
    worker.thread.ref();
    let timer: NodeJS.Timeout | undefined;
    try {
      const abandoned = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new OcrError(
                `OCR of page ${page} took longer than ${options.timeoutMs} ms`,
                'timeout',
                true,
                page,
              ),
            ),
          options.timeoutMs,
        );
        worker.onDeath = (error) => reject(Object.assign(error, { page }));
      });
      const parameters: Record<string, string> = {};
      if (options.dpi) parameters.user_defined_dpi = String(Math.round(options.dpi));
      const recognized = worker.tesseract.recognize(image, parameters, { text: false, blocks: true });
      const { data } = await Promise.race([recognized, abandoned]);
      return { page, lines: linesOf(data as unknown as TesseractPage), hasTextLayer: false };
    } catch (error) {
      // Whatever went wrong, the next page gets a fresh worker: an abandoned or failed wasm call may
      // have left this one busy or broken.
      await this.#discard(worker);
      if (error instanceof OcrError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      const unreadable = /read image|cannot be read|Unknown format/i.test(message);
      throw new OcrError(
        `OCR of page ${page} failed: ${message}`,
        unreadable ? 'unreadable-image' : 'worker-failed',
        !unreadable,
        page,
      );
    } finally {
      clearTimeout(timer);
      worker.onDeath = undefined;
      if (!worker.dead) worker.thread.unref();
    }
  }

  #worker(): Promise<Running> {
    if (!this.#running) {
      const starting = this.#start();
      this.#running = starting;
      starting.catch(() => {
        if (this.#running === starting) this.#running = undefined;
      });
    }
    return this.#running;
  }

  async #start(): Promise<Running> {
    const langPath = this.#options.langPath ?? FRENCH_LANG_PATH;
    try {
      await access(path.join(langPath, 'fra.traineddata.gz'));
    } catch {
      throw new OcrError(`no French OCR data at ${langPath}/fra.traineddata.gz`, 'start-failed', false);
    }
    const timeoutMs = this.#options.startTimeoutMs ?? 60_000;
    let started = false;
    let failStart: (error: OcrError) => void = () => {};
    const failed = new Promise<never>((_, reject) => {
      failStart = reject;
    });
    const timer = setTimeout(
      () =>
        failStart(new OcrError(`the OCR worker did not start within ${timeoutMs} ms`, 'start-failed', true)),
      timeoutMs,
    );
    const creating = Tesseract.createWorker('fra', Tesseract.OEM.LSTM_ONLY, {
      langPath,
      // The data is read from the package's directory at each start: no copy is cached anywhere.
      cacheMethod: 'none',
      gzip: true,
      workerPath: threadEntry(this.#options) as unknown as string,
      logger: () => {},
      // Without an error handler tesseract.js throws in its message listener (the process would die);
      // a page's failure reaches its caller as the rejection of its recognize().
      errorHandler: (reason: unknown) => {
        if (!started)
          failStart(new OcrError(`the OCR worker did not start: ${String(reason)}`, 'start-failed', true));
      },
    }) as Promise<TesseractWorker>;
    try {
      const tesseract = await Promise.race([creating, failed]);
      started = true;
      await Promise.race([
        tesseract.setParameters({
          tessedit_pageseg_mode: (this.#options.pageSegMode ?? '3') as Tesseract.PSM,
        }),
        failed,
      ]);
      const running: Running = { tesseract, thread: tesseract.worker, dead: false };
      running.thread.on('error', () => {});
      running.thread.on('exit', () => {
        if (running.dead) return;
        running.dead = true;
        this.#forget(running);
        running.onDeath?.(new OcrError('the OCR worker stopped', 'worker-failed', true));
      });
      this.#current = running;
      running.thread.unref();
      return running;
    } catch (error) {
      // A worker that fails to start ends its own thread (see threadEntry); one that starts late is
      // ended here.
      creating.then((late) => late.terminate()).catch(() => {});
      throw error instanceof OcrError
        ? error
        : new OcrError(`the OCR worker did not start: ${String(error)}`, 'start-failed', true);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The next page starts a new worker. */
  #forget(worker: Running): void {
    if (this.#current !== worker) return;
    this.#current = undefined;
    this.#running = undefined;
  }

  async #discard(worker: Running): Promise<void> {
    this.#forget(worker);
    await this.#stop(worker);
  }

  async #stop(worker: Running): Promise<void> {
    if (worker.dead) return;
    worker.dead = true;
    await worker.tesseract.terminate().catch(() => {});
  }
}

/**
 * The OCR thread's entry, as a `data:` module: refuse the network, quiet the console, answer each job
 * once, end the thread if tesseract.js fails to start (it would otherwise wait forever), then run
 * tesseract.js's worker script.
 */
function threadEntry(options: OcrReaderOptions): URL {
  const source = `
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';
globalThis.fetch = async (resource) => {
  throw new Error('network access is disabled in the OCR worker: ' + String(resource?.url ?? resource));
};
if (!${JSON.stringify(options.verbose ?? false)}) {
  for (const level of ['log', 'info', 'warn', 'error', 'debug']) console[level] = () => {};
}
const startup = new Set(['load', 'loadLanguage', 'initialize']);
const settled = new Set();
const post = parentPort.postMessage.bind(parentPort);
parentPort.postMessage = (message, transfer) => {
  if (message?.status === 'resolve' || message?.status === 'reject') {
    // tesseract.js may answer a job twice (initialize rejects, then resolves): the second answer would
    // throw in the main thread's message listener.
    const job = message.action + '-' + message.jobId;
    if (settled.has(job)) return;
    settled.add(job);
  }
  post(message, transfer);
  if (message?.status === 'reject' && startup.has(message.action)) setTimeout(() => process.exit(1), 50);
};
process.on('uncaughtException', () => process.exit(1));
const require = createRequire(${JSON.stringify(TESSERACT_WORKER_SCRIPT)});
const prelude = ${JSON.stringify(options.workerPrelude ?? null)};
if (prelude) require(prelude);
require(${JSON.stringify(TESSERACT_WORKER_SCRIPT)});
`;
  return new URL(`data:text/javascript,${encodeURIComponent(source)}`);
}

/**
 * Tesseract's lines to a page's lines, top to bottom: lines on one baseline (two blocks side by side, a
 * letterhead beside the patient's block) make one line with a tab between them, and a wide gap inside
 * a line becomes a tab, as in a PDF's text layer (pdf-text.ts).
 */
function linesOf(data: TesseractPage): TextLine[] {
  const found: Array<{ text: string; confidence: number; x: number; baseline: number; height: number }> = [];
  for (const block of data.blocks ?? []) {
    for (const paragraph of block.paragraphs) {
      for (const line of paragraph.lines) {
        const height = line.rowAttributes?.rowHeight || line.bbox.y1 - line.bbox.y0;
        const text = textOf(line, height);
        if (text === '') continue;
        const baseline = line.baseline ? (line.baseline.y0 + line.baseline.y1) / 2 : line.bbox.y1;
        found.push({ text, confidence: line.confidence, x: line.bbox.x0, baseline, height });
      }
    }
  }
  found.sort((left, right) => left.baseline - right.baseline || left.x - right.x);
  const rows: Array<typeof found> = [];
  for (const line of found) {
    const row = rows.at(-1);
    const first = row?.[0];
    if (row && first && Math.abs(first.baseline - line.baseline) <= Math.min(first.height, line.height) / 3) {
      row.push(line);
    } else {
      rows.push([line]);
    }
  }
  return rows.map((row) => {
    row.sort((left, right) => left.x - right.x);
    const characters = row.reduce((count, line) => count + line.text.length, 0);
    const confidence = row.reduce((sum, line) => sum + line.confidence * line.text.length, 0) / characters;
    return {
      text: row.map((line) => line.text).join('\t'),
      confidence: Math.min(1, Math.max(0, confidence / 100)),
    };
  });
}

function textOf(line: TesseractLine, height: number): string {
  const words = (line.words ?? []).filter((word) => word.text.trim() !== '');
  if (words.length === 0) return line.text.replace(/\s+/g, ' ').trim();
  let text = '';
  let end: number | undefined;
  for (const word of words) {
    if (end !== undefined) text += word.bbox.x0 - end > height * 1.2 ? '\t' : ' ';
    text += word.text.trim();
    end = word.bbox.x1;
  }
  return text;
}

/**
 * PDF pages as PNG images for OCR, at 300 dpi unless told (`scale` is pixels per PDF unit, 1/72 inch:
 * 300 dpi is 300 / 72), a page's longest side at most 5000 px. `pages` are 1-based; every page unless told.
 */
export async function renderPdfPages(
  pdf: Buffer,
  pages?: number[],
  options: { scale?: number } = {},
): Promise<Array<{ page: number; png: Buffer }>> {
  const rendered: Array<{ page: number; png: Buffer }> = [];
  for await (const page of pdfPageImages(pdf, pages, options.scale)) rendered.push(page);
  return rendered;
}

/** One page rendered at a time (the next only when asked): a long scan is never all in memory. */
async function* pdfPageImages(
  pdf: Buffer,
  pages: number[] | undefined,
  scale = DEFAULT_RENDER_DPI / 72,
): AsyncGenerator<{ page: number; png: Buffer; dpi: number; total: number }> {
  // pdf.js takes ownership of (detaches) the array it is given: hand it a copy.
  const document = await getDocumentProxy(new Uint8Array(pdf), { verbosity: 0 });
  try {
    const wanted = pages ?? Array.from({ length: document.numPages }, (_, index) => index + 1);
    for (const number of wanted) {
      if (!Number.isInteger(number) || number < 1 || number > document.numPages) {
        throw new RangeError(`page ${number} is not in this PDF (${document.numPages} pages)`);
      }
    }
    for (const number of wanted) {
      const page = await document.getPage(number);
      const { width, height } = page.getViewport({ scale: 1 });
      const pageScale = Math.min(scale, MAX_RENDER_SIDE_PX / Math.max(width, height));
      const png = await renderPageAsImage(document, number, {
        canvasImport: () => import('@napi-rs/canvas'),
        scale: pageScale,
      });
      page.cleanup();
      yield { page: number, png: Buffer.from(png), dpi: pageScale * 72, total: wanted.length };
    }
  } finally {
    // This pdf.js build has no PDFDocumentProxy.destroy: end the loading task, which frees the worker.
    await document.loadingTask.destroy();
  }
}

export type ScanContentType = 'application/pdf' | 'image/tiff' | 'image/png' | 'image/jpeg';

/**
 * The text of a scan, page by page: a PDF's pages rendered and read (every page unless `pages` says), a
 * TIFF's pages (each page of a multi-page TIFF), a PNG or JPEG as page 1. A page that fails (over its
 * time bound, a crashed worker, an undecodable image) fails the whole call with an OcrError naming the
 * page and carrying the pages read before it (`completedPages`).
 */
export async function ocrDocument(
  input: { content: Buffer; contentType: ScanContentType; pages?: number[] },
  reader: OcrReader,
  options: { timeoutMsPerPage: number; onPage?: (done: number, total: number) => void },
): Promise<TextPage[]> {
  const read: TextPage[] = [];
  try {
    let done = 0;
    for await (const image of imagesOf(input)) {
      read.push(
        await reader.recognize(image.content, {
          timeoutMs: options.timeoutMsPerPage,
          page: image.page,
          ...(image.dpi ? { dpi: image.dpi } : {}),
        }),
      );
      done += 1;
      options.onPage?.(done, image.total);
    }
    return read;
  } catch (error) {
    if (error instanceof OcrError) {
      error.completedPages = read;
      throw error;
    }
    throw error;
  }
}

async function* imagesOf(input: {
  content: Buffer;
  contentType: ScanContentType;
  pages?: number[];
}): AsyncGenerator<{ page: number; content: Buffer; total: number; dpi?: number }> {
  if (input.contentType === 'application/pdf') {
    for await (const page of pdfPageImages(input.content, input.pages)) {
      yield { page: page.page, content: page.png, total: page.total, dpi: page.dpi };
    }
    return;
  }
  const all = input.contentType === 'image/tiff' ? tiffPages(input.content) : [input.content];
  const wanted = input.pages ?? all.map((_, index) => index + 1);
  for (const number of wanted) {
    if (!Number.isInteger(number) || number < 1 || number > all.length) {
      throw new RangeError(`page ${number} is not in this image (${all.length} pages)`);
    }
  }
  for (const number of wanted) yield { page: number, content: all[number - 1]!, total: wanted.length };
}

const TIFF_TYPE_SIZES: Record<number, number> = {
  1: 1, // BYTE
  2: 1, // ASCII
  3: 2, // SHORT
  4: 4, // LONG
  5: 8, // RATIONAL
  6: 1, // SBYTE
  7: 1, // UNDEFINED
  8: 2, // SSHORT
  9: 4, // SLONG
  10: 8, // SRATIONAL
  11: 4, // FLOAT
  12: 8, // DOUBLE
};
/** Tags whose values point at image data, and the tags that give those data's lengths. */
const TIFF_DATA_TAGS = new Map([
  [273, 279], // StripOffsets, StripByteCounts
  [324, 325], // TileOffsets, TileByteCounts
  [513, 514], // JPEGInterchangeFormat (old-style JPEG), its length
]);
const TIFF_LENGTH_TAGS = new Set(TIFF_DATA_TAGS.values());
/** Pointers to other directories or free space: a page's image does not need them. */
const TIFF_DROPPED_TAGS = new Set([288, 289, 330, 34665, 34853, 40965]);

/**
 * The pages of a TIFF, each as a TIFF of its own (tesseract reads only a file's first page): the
 * directories in order, a reduced-resolution one (a thumbnail) left out. Image data is copied, not
 * decoded, whatever its compression. A BigTIFF is returned whole (its first page is read).
 */
export function tiffPages(tiff: Buffer): Buffer[] {
  const unreadable = (why: string) => new OcrError(`not a readable TIFF: ${why}`, 'unreadable-image', false);
  if (tiff.length < 8) throw unreadable('too short');
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') throw unreadable('no byte order mark');
  const little = order === 'II';
  const u16 = (at: number) => (little ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number) => (little ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  const magic = u16(2);
  if (magic === 43) return [tiff];
  if (magic !== 42) throw unreadable(`unknown version ${magic}`);

  const pages: Buffer[] = [];
  const seen = new Set<number>();
  for (let directory = u32(4); directory !== 0; ) {
    if (seen.has(directory) || seen.size >= 10_000) throw unreadable('directories in a loop');
    seen.add(directory);
    if (directory + 2 > tiff.length) throw unreadable('directory past the end of the file');
    const count = u16(directory);
    if (directory + 2 + count * 12 + 4 > tiff.length) throw unreadable('directory past the end of the file');
    const entries = new Map<number, { type: number; count: number; raw: Buffer }>();
    for (let index = 0; index < count; index++) {
      const at = directory + 2 + index * 12;
      const tag = u16(at);
      const type = u16(at + 2);
      const values = u32(at + 4);
      const size = (TIFF_TYPE_SIZES[type] ?? 0) * values;
      if (size === 0 || TIFF_DROPPED_TAGS.has(tag)) continue;
      const start = size <= 4 ? at + 8 : u32(at + 8);
      if (start + size > tiff.length) throw unreadable(`tag ${tag} past the end of the file`);
      entries.set(tag, { type, count: values, raw: tiff.subarray(start, start + size) });
    }
    // NewSubfileType bit 0, or the old SubfileType 2: a reduced-resolution copy of a page.
    const newSubfileType = entries.get(254);
    const oldSubfileType = entries.get(255);
    const reduced =
      (newSubfileType && (readTiffNumbers(newSubfileType, little)[0] ?? 0) & 1) ||
      (oldSubfileType && readTiffNumbers(oldSubfileType, little)[0] === 2);
    if (!reduced) pages.push(singlePageTiff(entries, tiff, little, unreadable));
    directory = u32(directory + 2 + count * 12);
  }
  if (pages.length === 0) throw unreadable('no page');
  return pages;
}

function readTiffNumbers(entry: { type: number; count: number; raw: Buffer }, little: boolean): number[] {
  const numbers: number[] = [];
  for (let index = 0; index < entry.count; index++) {
    if (entry.type === 3)
      numbers.push(little ? entry.raw.readUInt16LE(index * 2) : entry.raw.readUInt16BE(index * 2));
    else if (entry.type === 4) {
      numbers.push(little ? entry.raw.readUInt32LE(index * 4) : entry.raw.readUInt32BE(index * 4));
    } else numbers.push(entry.raw[index] ?? 0);
  }
  return numbers;
}

/** One directory and the data it points at as a TIFF file: header, the directory, values, data. */
function singlePageTiff(
  entries: Map<number, { type: number; count: number; raw: Buffer }>,
  tiff: Buffer,
  little: boolean,
  unreadable: (why: string) => OcrError,
): Buffer {
  interface Out {
    tag: number;
    type: number;
    count: number;
    raw?: Buffer;
    longs?: number[];
    blocks?: Buffer[];
    at?: number;
  }
  const out: Out[] = [];
  for (const [tag, entry] of entries) {
    if (TIFF_LENGTH_TAGS.has(tag)) continue;
    const lengthTag = TIFF_DATA_TAGS.get(tag);
    if (lengthTag === undefined) {
      out.push({ tag, type: entry.type, count: entry.count, raw: entry.raw });
      continue;
    }
    const lengthEntry = entries.get(lengthTag);
    if (!lengthEntry) throw unreadable(`tag ${tag} without its lengths (tag ${lengthTag})`);
    const offsets = readTiffNumbers(entry, little);
    const lengths = readTiffNumbers(lengthEntry, little);
    if (offsets.length !== lengths.length) throw unreadable(`tag ${tag} and tag ${lengthTag} disagree`);
    const blocks = offsets.map((offset, index) => {
      const length = lengths[index] ?? 0;
      if (offset + length > tiff.length) throw unreadable('image data past the end of the file');
      return tiff.subarray(offset, offset + length);
    });
    out.push({ tag, type: 4, count: blocks.length, blocks });
    out.push({ tag: lengthTag, type: 4, count: blocks.length, longs: blocks.map((block) => block.length) });
  }
  out.sort((left, right) => left.tag - right.tag);

  const sizeOf = (entry: Out) => entry.raw?.length ?? entry.count * 4;
  let cursor = 8 + 2 + out.length * 12 + 4;
  for (const entry of out) {
    const size = sizeOf(entry);
    if (size > 4) {
      entry.at = cursor;
      cursor += size + (size % 2);
    }
  }
  for (const entry of out) {
    if (!entry.blocks) continue;
    entry.longs = entry.blocks.map((block) => {
      const at = cursor;
      cursor += block.length + (block.length % 2);
      return at;
    });
  }

  const file = Buffer.alloc(cursor);
  const w16 = (value: number, at: number) =>
    little ? file.writeUInt16LE(value, at) : file.writeUInt16BE(value, at);
  const w32 = (value: number, at: number) =>
    little ? file.writeUInt32LE(value, at) : file.writeUInt32BE(value, at);
  file.write(little ? 'II' : 'MM', 0, 'latin1');
  w16(42, 2);
  w32(8, 4);
  w16(out.length, 8);
  for (const [index, entry] of out.entries()) {
    const at = 10 + index * 12;
    w16(entry.tag, at);
    w16(entry.type, at + 2);
    w32(entry.count, at + 4);
    const valueAt = entry.at ?? at + 8;
    if (entry.at !== undefined) w32(entry.at, at + 8);
    if (entry.raw) entry.raw.copy(file, valueAt);
    else for (const [position, value] of (entry.longs ?? []).entries()) w32(value, valueAt + position * 4);
    for (const [position, block] of (entry.blocks ?? []).entries())
      block.copy(file, entry.longs?.[position] ?? 0);
  }
  // The next directory's offset stays 0: one page.
  return file;
}
