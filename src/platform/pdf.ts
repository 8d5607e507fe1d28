/**
 * A minimal valid one-page PDF (A4, Helvetica, WinAnsi) with a heading and an optional line below it:
 * demo files that open in any viewer and say what they are.
 */
export function onePagePdf(heading: string, line?: string): Buffer {
  const pdfString = (text: string) => text.replace(/[()\\]/g, (character) => `\\${character}`);
  const content = [
    `BT /F1 16 Tf 72 760 Td (${pdfString(heading)}) Tj ET`,
    ...(line ? [`BT /F1 9 Tf 72 740 Td (${pdfString(line)}) Tj ET`] : []),
  ].join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
  ];
  return pdfOfObjects(objects);
}

/**
 * A PDF file from its objects, numbered from 1 (the first is the catalog), with the cross-reference
 * table and trailer that make it open: what every PDF hotpath writes for demos, tests and benchmarks.
 */
export function pdfOfObjects(objects: Array<string | Buffer>, trailer = '/Root 1 0 R'): Buffer {
  const parts: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let size = parts[0]?.length ?? 0;
  const offsets: number[] = [];
  for (const [index, object] of objects.entries()) {
    offsets.push(size);
    const piece = Buffer.concat([
      Buffer.from(`${index + 1} 0 obj\n`, 'latin1'),
      typeof object === 'string' ? Buffer.from(object, 'latin1') : object,
      Buffer.from('\nendobj\n', 'latin1'),
    ]);
    parts.push(piece);
    size += piece.length;
  }
  let tail = `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) tail += `${String(offset).padStart(10, '0')} 00000 n \n`;
  tail += `trailer\n<< /Size ${objects.length + 1} ${trailer} >>\nstartxref\n${size}\n%%EOF\n`;
  parts.push(Buffer.from(tail, 'latin1'));
  return Buffer.concat(parts);
}

/** A page object (`/Type /Page`, not `/Pages`): what a PDF's page count is read from. */
export const PDF_PAGE_MARKER = /\/Type\s*\/Page(?![a-zA-Z])/g;

/** The pages of a PDF held whole in memory; null when it has none to count. */
export function pdfPageCount(content: Buffer): number | null {
  const pages = content.toString('latin1').match(PDF_PAGE_MARKER)?.length ?? 0;
  return pages > 0 ? pages : null;
}

/** A run of text on a page: at the left margin unless `x` (points from the left edge) says where. */
export interface PdfText {
  text: string;
  x?: number;
  /** Font size in points; the document's size when absent. */
  size?: number;
  bold?: boolean;
}

/**
 * One line of a page: text at the left margin, a run placed on the line, or several runs on one baseline
 * at their x positions (a table row, a letterhead beside the patient's block). `''` is an empty line.
 */
export type PdfLine = string | PdfText | PdfText[];

export interface TextPdfOptions {
  /** Points; 10 by default. */
  fontSize?: number;
  /** The distance from one baseline to the next, as a multiple of the line's largest font size; 1.4. */
  leading?: number;
  /** Points from every edge of the A4 page; 56 (2 cm). */
  margin?: number;
  /** The document information dictionary's /Title. */
  title?: string;
}

/** Unicode characters WinAnsiEncoding (PDF 32000 annex D) places in 0x80–0x9F; Latin-1 keeps its own. */
const WIN_ANSI_HIGH: Readonly<Record<string, number>> = {
  '€': 0x80,
  '‚': 0x82,
  ƒ: 0x83,
  '„': 0x84,
  '…': 0x85,
  '†': 0x86,
  '‡': 0x87,
  ˆ: 0x88,
  '‰': 0x89,
  Š: 0x8a,
  '‹': 0x8b,
  Œ: 0x8c,
  Ž: 0x8e,
  '‘': 0x91,
  '’': 0x92,
  '“': 0x93,
  '”': 0x94,
  '•': 0x95,
  '–': 0x96,
  '—': 0x97,
  '˜': 0x98,
  '™': 0x99,
  š: 0x9a,
  '›': 0x9b,
  œ: 0x9c,
  ž: 0x9e,
  Ÿ: 0x9f,
  // French typography's narrow no-break space before « : ; ? ! » has no WinAnsi code: a no-break space.
  '\u202f': 0xa0,
  '\u2009': 0x20,
  '\u2010': 0x2d,
  '\u2011': 0x2d,
};

/**
 * Text as a PDF literal string in WinAnsiEncoding, one latin1 character a byte: parentheses and
 * backslashes escaped, what WinAnsi cannot write (other scripts, emoji) as `?`.
 */
export function winAnsiPdfString(text: string): string {
  let bytes = '';
  for (const character of text.normalize('NFC')) {
    const code = character.codePointAt(0)!;
    const byte =
      (code >= 0x20 && code <= 0x7e) || (code >= 0xa0 && code <= 0xff)
        ? code
        : (WIN_ANSI_HIGH[character] ?? 0x3f);
    const written = String.fromCharCode(byte);
    bytes += written === '(' || written === ')' || written === '\\' ? `\\${written}` : written;
  }
  return `(${bytes})`;
}

/**
 * An A4 PDF with a text layer (Helvetica and Helvetica-Bold, WinAnsi, so French accents, « » and ’
 * read back as written), one page for each list of lines, lines from the top margin down. A page with
 * no lines has no text at all, as a scan's page would. Throws a RangeError when a page's lines do not
 * fit above the bottom margin.
 */
export function textPdf(pages: PdfLine[][], options: TextPdfOptions = {}): Buffer {
  const fontSize = options.fontSize ?? 10;
  const leading = options.leading ?? 1.4;
  const margin = options.margin ?? 56;
  const [pageWidth, pageHeight] = [595, 842];
  const contents = pages.map((lines, pageIndex) => {
    const operations: string[] = [];
    let y = pageHeight - margin;
    for (const [lineIndex, line] of lines.entries()) {
      const runs: PdfText[] =
        typeof line === 'string' ? [{ text: line }] : Array.isArray(line) ? line : [line];
      const size = Math.max(fontSize, ...runs.map((run) => run.size ?? fontSize));
      y -= size * leading;
      if (y < margin) {
        throw new RangeError(`page ${pageIndex + 1}: line ${lineIndex + 1} falls below the bottom margin`);
      }
      for (const run of runs) {
        if (run.text === '') continue;
        const x = run.x ?? margin;
        if (x < 0 || x >= pageWidth) throw new RangeError(`page ${pageIndex + 1}: x ${x} is off the page`);
        const font = run.bold ? 'F2' : 'F1';
        operations.push(
          `BT /${font} ${run.size ?? fontSize} Tf ${x.toFixed(2)} ${y.toFixed(2)} Td ${winAnsiPdfString(run.text)} Tj ET`,
        );
      }
    }
    return operations.join('\n');
  });
  const pageCount = pages.length;
  // Objects: 1 catalog, 2 pages, 3 and 4 the fonts, 5 the information dictionary, then a page and its
  // content stream for each page.
  const pageObject = (index: number) => 6 + index * 2;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${contents.map((_, index) => `${pageObject(index)} 0 R`).join(' ')}] /Count ${pageCount} >>`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>',
    `<< /Producer (hotpath)${options.title === undefined ? '' : ` /Title ${winAnsiPdfString(options.title)}`} >>`,
    ...contents.flatMap((content, index) => [
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${pageWidth} ${pageHeight}] /Contents ${pageObject(index) + 1} 0 R /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> >>`,
      `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
    ]),
  ];
  return pdfOfObjects(objects, '/Root 1 0 R /Info 5 0 R');
}
