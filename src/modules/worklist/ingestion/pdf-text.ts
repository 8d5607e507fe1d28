/**
 * The text layer of a PDF, page by page and line by line, as the report rules read it: pdf.js (through
 * unpdf) gives positioned runs of text; runs on one baseline make a line, ordered left to right, and a
 * wide gap between two runs (a table's columns, a letterhead beside the patient's block) is kept as a
 * tab. Pages without a text layer are marked for OCR.
 */
import { getDocumentProxy } from 'unpdf';
import { MessageRejection } from './reading.ts';

export interface TextLine {
  /** The line's text; `\t` where the page left a wide gap between two runs (a column, a table cell). */
  text: string;
  /** 1 for a PDF's text layer; what the OCR engine gives for a recognised line. */
  confidence: number;
}

export interface TextPage {
  /** 1-based. */
  page: number;
  /** Top to bottom; a line's number is its index + 1. */
  lines: TextLine[];
  /**
   * False when the page carries (almost) no text: an image-only page, a scan, that OCR must read. A
   * scanner's stamp or a page number alone does not make a text layer.
   */
  hasTextLayer: boolean;
}

/** Fewer visible characters than this on a page, and its text is not the page's content. */
export const MIN_TEXT_LAYER_CHARACTERS = 20;

/** A run of text where the page put it: x and y of its baseline's start, in points. */
export interface PositionedText {
  text: string;
  x: number;
  y: number;
  width: number;
  /** The font's size on the page (the text matrix's vertical scale), in points. */
  size: number;
}

/**
 * The text of every page of a PDF, or of its first `maxPages`. Throws a MessageRejection (AE, location
 * `PDF`, code 102) for a file pdf.js cannot open: not a PDF, damaged beyond repair, or encrypted with a
 * password.
 */
export async function pdfTextPages(pdf: Buffer, options: { maxPages?: number } = {}): Promise<TextPage[]> {
  let pdfDocument: Awaited<ReturnType<typeof getDocumentProxy>> | undefined;
  try {
    // pdf.js takes ownership of (detaches) the array it is given: hand it a copy.
    pdfDocument = await getDocumentProxy(new Uint8Array(pdf), { verbosity: 0 });
    const pages: TextPage[] = [];
    const last = Math.min(pdfDocument.numPages, options.maxPages ?? Number.POSITIVE_INFINITY);
    for (let number = 1; number <= last; number++) {
      const page = await pdfDocument.getPage(number);
      const content = await page.getTextContent();
      const runs: PositionedText[] = [];
      for (const item of content.items) {
        if (!('str' in item) || item.str.trim() === '') continue;
        const [a = 0, b = 0, c = 0, d = 0, x = 0, y = 0] = item.transform as number[];
        // Upright text only: a rotated run (a margin's vertical print) would break a line in two.
        if (Math.abs(b) > 1e-3 || Math.abs(c) > 1e-3 || a <= 0 || d <= 0) continue;
        runs.push({ text: item.str, x, y, width: item.width, size: Math.hypot(c, d) || item.height });
      }
      pages.push(textPageOf(number, runs));
      page.cleanup();
    }
    return pages;
  } catch (error) {
    throw rejectionOf(error);
  } finally {
    // This pdf.js build has no PDFDocumentProxy.destroy: end the loading task, which frees the worker.
    await pdfDocument?.loadingTask.destroy();
  }
}

/** Runs of text to a page's lines: the same baseline (within a third of the font size) makes a line. */
export function textPageOf(page: number, runs: PositionedText[], confidence = 1): TextPage {
  const sorted = [...runs].sort((left, right) => right.y - left.y || left.x - right.x);
  const rows: PositionedText[][] = [];
  for (const run of sorted) {
    const row = rows.at(-1);
    const baseline = row?.[0];
    if (
      row &&
      baseline &&
      Math.abs(baseline.y - run.y) <= Math.max(1, Math.min(baseline.size, run.size) / 3)
    ) {
      row.push(run);
    } else {
      rows.push([run]);
    }
  }
  const lines = rows.map((row) => ({
    text: joinRuns(row.sort((left, right) => left.x - right.x)),
    confidence,
  }));
  const visible = lines.reduce((count, line) => count + line.text.replace(/\s/g, '').length, 0);
  return { page, lines, hasTextLayer: visible >= MIN_TEXT_LAYER_CHARACTERS };
}

/**
 * Lines already read (OCR output, a plain text export) as pages, for the same rules: one list of line
 * texts a page, every line with the given confidence.
 */
export function textPagesOf(pages: string[][], confidence = 1): TextPage[] {
  return pages.map((lines, index) => {
    const kept = lines.filter((line) => line.trim() !== '');
    const visible = kept.reduce((count, line) => count + line.replace(/\s/g, '').length, 0);
    return {
      page: index + 1,
      lines: kept.map((text) => ({ text, confidence })),
      hasTextLayer: visible >= MIN_TEXT_LAYER_CHARACTERS,
    };
  });
}

/** The pages OCR must read. */
export function pagesWithoutText(pages: TextPage[]): number[] {
  return pages.filter((page) => !page.hasTextLayer).map((page) => page.page);
}

function joinRuns(row: PositionedText[]): string {
  let text = '';
  let end: number | undefined;
  for (const run of row) {
    if (end !== undefined) {
      const gap = run.x - end;
      // More than about three spaces of Helvetica: another column. Less than a fifth of a space is one
      // word the producer wrote in pieces (kerning, a font change in the middle of a word).
      if (gap > run.size * 1.2) text = `${text.trimEnd()}\t`;
      else if (gap > run.size * 0.1 && !/\s$/.test(text) && !/^\s/.test(run.text)) text += ' ';
    }
    text += text.endsWith('\t') ? run.text.trimStart() : run.text;
    end = run.x + run.width;
  }
  return text.replace(/[ \u00a0]+/g, ' ').trim();
}

function rejectionOf(error: unknown): MessageRejection {
  if (error instanceof MessageRejection) return error;
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : String(error);
  const text =
    name === 'PasswordException'
      ? 'the PDF is encrypted: it cannot be read without its password'
      : `not a readable PDF: ${message}`;
  return new MessageRejection('AE', [{ location: 'PDF', code: 102, text }]);
}
