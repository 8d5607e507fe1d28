import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import { type Canvas, createCanvas } from '@napi-rs/canvas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as OcrModule from '../../../src/modules/worklist/ingestion/ocr.ts';
import type * as PdfTextModule from '../../../src/modules/worklist/ingestion/pdf-text.ts';
import {
  imageOnlyPdf,
  registerScanFonts,
  SCAN_FONTS,
} from '../../../src/modules/worklist/operations/paper-documents.ts';

/**
 * The network is closed for the whole file, in this thread and in the OCR thread: fetch, DNS, http(s),
 * tls and every TCP or socket connect (net.Socket#connect, which fetch and http sit on) refuse and record
 * the attempt. The OCR modules are imported only once the guards are in place, so even what they capture
 * at load time goes through them. The same file is the OCR thread's prelude; it answers, over a
 * BroadcastChannel, with what it recorded and with a probe showing that its guards do refuse.
 */
const channelName = `ocr-network-${randomBytes(6).toString('hex')}`;
const GUARD_SOURCE = `'use strict';
const { BroadcastChannel, isMainThread } = require('node:worker_threads');
const net = require('node:net');
const tls = require('node:tls');
const dns = require('node:dns');
const http = require('node:http');
const https = require('node:https');
const attempts = [];
const probed = [];
let probing = false;
function refuse(what) {
  (probing ? probed : attempts).push(what);
  const error = new Error('network closed by the test: ' + what);
  error.code = 'ENETUNREACH';
  throw error;
}
const describe = (args) => {
  try { return JSON.stringify(args.filter((arg) => typeof arg !== 'function')); } catch { return String(args[0]); }
};
const originals = [];
function replace(target, name, replacement) {
  originals.push([target, name, target[name]]);
  target[name] = replacement;
}
replace(globalThis, 'fetch', async function fetch(resource) { refuse('fetch ' + String(resource?.url ?? resource)); });
replace(net.Socket.prototype, 'connect', function connect(...args) { refuse('net.Socket#connect ' + describe(args)); });
for (const name of ['connect', 'createConnection']) replace(net, name, (...args) => refuse('net.' + name + ' ' + describe(args)));
replace(tls, 'connect', (...args) => refuse('tls.connect ' + describe(args)));
for (const module of [http, https]) {
  const scheme = module === http ? 'http' : 'https';
  for (const name of ['request', 'get']) replace(module, name, (...args) => refuse(scheme + '.' + name + ' ' + describe(args)));
}
replace(dns, 'lookup', (host) => refuse('dns.lookup ' + host));
replace(dns.promises, 'lookup', async (host) => refuse('dns.promises.lookup ' + host));
require('node:module').syncBuiltinESMExports();

/** Each way out tried once: all must be refused, and recorded apart from real attempts. */
async function probe() {
  const url = 'https://cdn.jsdelivr.net/npm/@tesseract.js-data/fra/4.0.0_best_int/fra.traineddata.gz';
  const ways = [
    () => fetch(url),
    () => net.connect(443, 'cdn.jsdelivr.net'),
    () => new net.Socket().connect(443, '151.101.1.229'),
    () => tls.connect(443, 'cdn.jsdelivr.net'),
    () => https.get(url),
    () => dns.promises.lookup('cdn.jsdelivr.net'),
  ];
  probing = true;
  const refused = [];
  try {
    for (const way of ways) {
      try {
        await way();
        refused.push(false);
      } catch (error) {
        refused.push(error.code === 'ENETUNREACH');
      }
    }
  } finally {
    probing = false;
  }
  return { refused, recorded: probed.splice(0) };
}

function restore() {
  for (const [target, name, original] of originals.reverse()) target[name] = original;
  require('node:module').syncBuiltinESMExports();
}

if (!isMainThread) {
  const channel = new BroadcastChannel(${JSON.stringify(channelName)});
  channel.onmessage = async ({ data }) => {
    if (data === 'report') channel.postMessage({ isMainThread, attempts: [...attempts], probe: await probe() });
  };
  channel.unref();
}
module.exports = { attempts, probe, restore };
`;

interface Guard {
  attempts: string[];
  probe(): Promise<{ refused: boolean[]; recorded: string[] }>;
  restore(): void;
}
interface ThreadReport {
  isMainThread: boolean;
  attempts: string[];
  probe: { refused: boolean[]; recorded: string[] };
}

let directory: string;
let guard: Guard;
let ocr: typeof OcrModule;
let pdfText: typeof PdfTextModule;
let reader: OcrModule.OcrReader;
const channel = new BroadcastChannel(channelName);

/** What the OCR thread alive now recorded (ask only while one is: after a page it read). */
function reportFromOcrThread(): Promise<ThreadReport> {
  return new Promise((resolve) => {
    channel.onmessage = (event) => resolve((event as unknown as { data: ThreadReport }).data);
    channel.postMessage('report');
  });
}

async function expectNetworkUntouched(): Promise<void> {
  const thread = await reportFromOcrThread();
  expect(thread.isMainThread).toBe(false);
  expect(thread.attempts).toEqual([]);
  expect(thread.probe.refused).toEqual([true, true, true, true, true, true]);
  expect(thread.probe.recorded).toHaveLength(6);
  expect(guard.attempts).toEqual([]);
}

beforeAll(async () => {
  directory = await mkdtemp(path.join(tmpdir(), 'hotpath-ocr-'));
  const preludePath = path.join(directory, 'network-guard.cjs');
  await writeFile(preludePath, GUARD_SOURCE);
  guard = createRequire(import.meta.url)(preludePath) as Guard;
  const probe = await guard.probe();
  expect(probe.refused).toEqual([true, true, true, true, true, true]);
  ocr = await import('../../../src/modules/worklist/ingestion/ocr.ts');
  pdfText = await import('../../../src/modules/worklist/ingestion/pdf-text.ts');
  reader = new ocr.OcrReader({ workerPrelude: preludePath });
});

afterAll(async () => {
  await reader?.close();
  channel.close();
  guard?.restore();
  if (directory) await rm(directory, { recursive: true, force: true });
});

// Drawn in DejaVu Sans from the npm package: a machine with no fonts of its own (only Node.js and npm)
// draws the same scans.
registerScanFonts();
const FONT = `"${SCAN_FONTS.regular}"`;

/** An A4 report page as a scanner at `dpi` would see it: letterhead, header block in two columns, text. */
function reportPage(dpi: number): Canvas {
  const scale = dpi / 72;
  const canvas = createCanvas(Math.round(595 * scale), Math.round(842 * scale));
  const context = canvas.getContext('2d');
  context.fillStyle = '#fff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = '#000';
  const text = (value: string, x: number, y: number, size = 10) => {
    context.font = `${Math.round(size * scale)}px ${FONT}`;
    context.fillText(value, x * scale, y * scale);
  };
  text('CENTRE HOSPITALIER DE TEST', 50, 60, 12);
  text('Dr Jean MARTIN', 380, 60);
  text("Service d'imagerie médicale", 50, 76);
  text('RPPS : 10001234567', 380, 76);
  text("COMPTE RENDU D'IMAGERIE MÉDICALE", 150, 130, 14);
  text('Nom de naissance : DUPONT', 50, 170);
  text("Date de l'examen : 04/05/2024", 330, 170);
  text('Prénom : Hélène', 50, 186);
  text('IPP : 00123456', 330, 186);
  text('Né(e) le : 12/03/1979', 50, 202);
  text('INS : 279037505612345', 50, 218);
  const body = [
    'Indication : douleur thoracique depuis trois jours, pas de fièvre.',
    'Technique : radiographie du thorax de face et de profil, en position debout.',
    'Résultat : le parenchyme pulmonaire est normalement aéré, sans opacité suspecte.',
    'Les coupoles diaphragmatiques sont régulières ; les culs-de-sac sont libres.',
    "L'index cardio-thoracique est normal ; le médiastin n'est pas élargi.",
    'Conclusion : examen sans anomalie décelée.',
  ];
  for (const [index, line] of body.entries()) text(line, 50, 260 + index * 16);
  text('Dr Jean MARTIN, radiologue', 330, 400);
  return canvas;
}

/** A short page (a letter's second page, a label): one or two lines. */
function shortPage(dpi: number, lines: string[]): Canvas {
  const scale = dpi / 72;
  const canvas = createCanvas(Math.round(595 * scale), Math.round(160 * scale));
  const context = canvas.getContext('2d');
  context.fillStyle = '#fff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = '#000';
  context.font = `${Math.round(11 * scale)}px ${FONT}`;
  for (const [index, line] of lines.entries()) context.fillText(line, 50 * scale, (60 + index * 20) * scale);
  return canvas;
}

interface TiffImage {
  width: number;
  height: number;
  gray: Buffer;
  thumbnail?: boolean;
}

function grayOf(canvas: Canvas): TiffImage {
  const { width, height } = canvas;
  const rgba = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  const gray = Buffer.alloc(width * height);
  for (let index = 0; index < gray.length; index++) gray[index] = rgba[index * 4]!;
  return { width, height, gray };
}

/**
 * A multi-page TIFF written by hand: 8-bit grey, uncompressed, one strip a page, 200 dpi (rationals, out
 * of line), in either byte order; a page may be marked a reduced-resolution copy (a thumbnail).
 */
function tiff(images: TiffImage[], order: 'II' | 'MM' = 'II'): Buffer {
  const little = order === 'II';
  const chunks: Buffer[] = [];
  let offset = 8;
  const header = Buffer.alloc(8);
  header.write(order, 0, 'latin1');
  const directories: Array<{ at: number; bytes: Buffer }> = [];
  for (const image of images) {
    const data = image.gray;
    const dataAt = offset;
    chunks.push(data);
    offset += data.length + (data.length % 2);
    if (data.length % 2) chunks.push(Buffer.alloc(1));
    const resolution = Buffer.alloc(8);
    const resolutionAt = offset;
    chunks.push(resolution);
    offset += 8;
    const entries: Array<[number, number, number, number | Buffer]> = [
      [254, 4, 1, image.thumbnail ? 1 : 2],
      [256, 4, 1, image.width],
      [257, 4, 1, image.height],
      [258, 3, 1, 8],
      [259, 3, 1, 1],
      [262, 3, 1, 1],
      [273, 4, 1, dataAt],
      [277, 3, 1, 1],
      [278, 4, 1, image.height],
      [279, 4, 1, data.length],
      [282, 5, 1, resolutionAt],
      [283, 5, 1, resolutionAt],
      [296, 3, 1, 2],
    ];
    const bytes = Buffer.alloc(2 + entries.length * 12 + 4);
    const w16 = (value: number, at: number, target: Buffer) =>
      little ? target.writeUInt16LE(value, at) : target.writeUInt16BE(value, at);
    const w32 = (value: number, at: number, target: Buffer) =>
      little ? target.writeUInt32LE(value, at) : target.writeUInt32BE(value, at);
    w32(200, 0, resolution);
    w32(1, 4, resolution);
    w16(entries.length, 0, bytes);
    for (const [index, [tag, type, count, value]] of entries.entries()) {
      const at = 2 + index * 12;
      w16(tag, at, bytes);
      w16(type, at + 2, bytes);
      w32(count, at + 4, bytes);
      if (type === 3) w16(value as number, at + 8, bytes);
      else w32(value as number, at + 8, bytes);
    }
    directories.push({ at: offset, bytes });
    chunks.push(bytes);
    offset += bytes.length;
  }
  if (little) {
    header.writeUInt16LE(42, 2);
    header.writeUInt32LE(directories[0]!.at, 4);
  } else {
    header.writeUInt16BE(42, 2);
    header.writeUInt32BE(directories[0]!.at, 4);
  }
  for (const [index, directory] of directories.entries()) {
    const next = directories[index + 1]?.at ?? 0;
    if (little) directory.bytes.writeUInt32LE(next, directory.bytes.length - 4);
    else directory.bytes.writeUInt32BE(next, directory.bytes.length - 4);
  }
  return Buffer.concat([header, ...chunks]);
}

/** The page's text with no whitespace at all: OCR may put a space more or less. */
function compact(page: OcrModule.TextPage): string {
  return page.lines
    .map((line) => line.text)
    .join('')
    .replace(/\s+/g, '');
}

function expectReportValues(page: OcrModule.TextPage): void {
  const text = compact(page);
  expect(text).toContain('Nomdenaissance:DUPONT');
  expect(text).toContain('Prénom:Hélène');
  expect(text).toContain('Né(e)le:12/03/1979');
  expect(text).toContain('INS:279037505612345');
  expect(text).toContain("COMPTERENDUD'IMAGERIEMÉDICALE");
  for (const line of page.lines) {
    expect(line.confidence).toBeGreaterThanOrEqual(0);
    expect(line.confidence).toBeLessThanOrEqual(1);
  }
  const ins = page.lines.find((line) => line.text.includes('279037505612345'));
  expect(ins?.confidence).toBeGreaterThan(0.7);
  expect(page.hasTextLayer).toBe(false);
}

const secondsPerPage: Array<{ what: string; seconds: number }> = [];

async function timed<T>(what: string, pages: number, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  secondsPerPage.push({ what, seconds: (performance.now() - started) / 1000 / pages });
  return result;
}

describe('OCR of scans, with the network closed', () => {
  it('reads a 300 dpi PNG scan of a French report, with nothing fetched', async () => {
    const png = await reportPage(300).encode('png');
    const first = await timed('PNG A4 300 dpi (first page: worker start included)', 1, () =>
      reader.recognize(png, { timeoutMs: 120_000, page: 1 }),
    );
    expect(first.page).toBe(1);
    expectReportValues(first);
    // The header block's two columns are one line each, with a tab between them, as in a text layer.
    expect(first.lines.find((line) => line.text.includes('DUPONT'))?.text).toMatch(/DUPONT\t.*04\/05\/2024/);

    const again = await timed('PNG A4 300 dpi', 1, () =>
      reader.recognize(png, { timeoutMs: 120_000, page: 3 }),
    );
    expect(again.page).toBe(3);
    expect(compact(again)).toBe(compact(first));
    await expectNetworkUntouched();
  });

  it('reads the same page as a JPEG', async () => {
    const jpeg = await reportPage(300).encode('jpeg', 80);
    const [page] = await timed('JPEG A4 300 dpi', 1, () =>
      ocr.ocrDocument({ content: jpeg, contentType: 'image/jpeg' }, reader, { timeoutMsPerPage: 120_000 }),
    );
    expectReportValues(page!);
  });

  it('renders an image-only PDF and reads each page', async () => {
    const first = reportPage(150);
    const second = shortPage(150, ['Page 2 / 2', 'Copie à : Dr Claire LEFÈVRE, médecin traitant']);
    const pdf = imageOnlyPdf([
      { jpeg: await first.encode('jpeg', 85), width: first.width, height: first.height, points: [595, 842] },
      {
        jpeg: await second.encode('jpeg', 85),
        width: second.width,
        height: second.height,
        points: [595, 160],
      },
    ]);
    // The text layer reader sees nothing to read: these are the pages OCR is for.
    expect(pdfText.pagesWithoutText(await pdfText.pdfTextPages(pdf))).toEqual([1, 2]);

    const rendered = await ocr.renderPdfPages(pdf, [2]);
    expect(rendered.map((page) => page.page)).toEqual([2]);
    expect(rendered[0]!.png.subarray(1, 4).toString('latin1')).toBe('PNG');

    const progress: Array<[number, number]> = [];
    const pages = await timed('image-only PDF (A4 + a short page), render + OCR', 2, () =>
      ocr.ocrDocument({ content: pdf, contentType: 'application/pdf' }, reader, {
        timeoutMsPerPage: 120_000,
        onPage: (done, total) => progress.push([done, total]),
      }),
    );
    expect(progress).toEqual([
      [1, 2],
      [2, 2],
    ]);
    expect(pages.map((page) => page.page)).toEqual([1, 2]);
    expectReportValues(pages[0]!);
    expect(compact(pages[1]!)).toContain('Copieà:DrClaireLEFÈVRE');

    const onlySecond = await ocr.ocrDocument(
      { content: pdf, contentType: 'application/pdf', pages: [2] },
      reader,
      {
        timeoutMsPerPage: 120_000,
      },
    );
    expect(onlySecond.map((page) => page.page)).toEqual([2]);
    await expect(ocr.renderPdfPages(pdf, [3])).rejects.toThrow(RangeError);
    await expectNetworkUntouched();
  });

  it('reads every page of a multi-page TIFF, leaving out its thumbnail', async () => {
    const one = grayOf(shortPage(200, ['Première page : DUPONT Hélène', 'Né(e) le : 12/03/1979']));
    const two = grayOf(shortPage(200, ['Deuxième page : INS 279037505612345']));
    const thumbnail = { width: 8, height: 4, gray: Buffer.alloc(32, 255), thumbnail: true };
    const file = tiff([one, thumbnail, two]);
    expect(ocr.tiffPages(file)).toHaveLength(2);

    const pages = await ocr.ocrDocument({ content: file, contentType: 'image/tiff' }, reader, {
      timeoutMsPerPage: 120_000,
    });
    expect(pages.map((page) => page.page)).toEqual([1, 2]);
    expect(compact(pages[0]!)).toContain('DUPONTHélène');
    expect(compact(pages[0]!)).toContain('12/03/1979');
    expect(compact(pages[1]!)).toContain('Deuxièmepage:INS279037505612345');
    await expectNetworkUntouched();
  });

  it('splits a big-endian TIFF into pages that keep their data and tags', () => {
    const one = grayOf(shortPage(40, ['un']));
    const two = grayOf(shortPage(40, ['deux']));
    const pages = ocr.tiffPages(tiff([one, two], 'MM'));
    expect(pages).toHaveLength(2);
    for (const [index, page] of pages.entries()) {
      const image = index === 0 ? one : two;
      expect(page.subarray(0, 4)).toEqual(Buffer.from([0x4d, 0x4d, 0, 42]));
      expect(page.readUInt32BE(4)).toBe(8);
      const count = page.readUInt16BE(8);
      const tag = (wanted: number) => {
        for (let entry = 0; entry < count; entry++) {
          const at = 10 + entry * 12;
          if (page.readUInt16BE(at) === wanted)
            return { count: page.readUInt32BE(at + 4), value: page.readUInt32BE(at + 8) };
        }
        return undefined;
      };
      expect(page.readUInt32BE(10 + count * 12)).toBe(0);
      expect(tag(256)?.value).toBe(image.width);
      const strip = tag(273)!.value;
      expect(tag(279)?.value).toBe(image.gray.length);
      expect(page.subarray(strip, strip + image.gray.length).equals(image.gray)).toBe(true);
      const resolution = tag(282)!.value;
      expect([page.readUInt32BE(resolution), page.readUInt32BE(resolution + 4)]).toEqual([200, 1]);
    }
    expect(() => ocr.tiffPages(Buffer.from('not a tiff at all'))).toThrow(/not a readable TIFF/);
  });

  it('abandons a page over its time bound, then reads the next with a new worker', async () => {
    const png = await reportPage(300).encode('png');
    const error = await reader.recognize(png, { timeoutMs: 1, page: 7 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ocr.OcrError);
    expect(error).toMatchObject({ reason: 'timeout', retryable: true, page: 7 });

    const failed = await ocr
      .ocrDocument({ content: png, contentType: 'image/png' }, reader, { timeoutMsPerPage: 1 })
      .catch((caught: unknown) => caught);
    expect(failed).toMatchObject({ reason: 'timeout', retryable: true, page: 1, completedPages: [] });

    const small = await shortPage(200, ['Après relance : DUPONT Hélène']).encode('png');
    const page = await reader.recognize(small, { timeoutMs: 120_000 });
    expect(compact(page)).toContain('Aprèsrelance:DUPONTHélène');
    await expectNetworkUntouched();
  });

  it('reports an image it cannot decode as not worth retrying, and keeps working', async () => {
    const error = await reader
      .recognize(Buffer.from('this is not an image'), { timeoutMs: 120_000, page: 2 })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'OcrError', reason: 'unreadable-image', retryable: false, page: 2 });

    const small = await shortPage(200, ['Toujours là : 12/03/1979']).encode('png');
    expect(compact(await reader.recognize(small, { timeoutMs: 120_000 }))).toContain('12/03/1979');
    await expectNetworkUntouched();
  });

  it('prints the seconds per page it measured', () => {
    for (const { what, seconds } of secondsPerPage)
      console.log(`OCR seconds per page, ${what}: ${seconds.toFixed(2)}`);
    expect(guard.attempts).toEqual([]);
  });
});
