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
  let body = '%PDF-1.4\n';
  const offsets: number[] = [];
  for (const [index, object] of objects.entries()) {
    offsets.push(Buffer.byteLength(body, 'latin1'));
    body += `${index + 1} 0 obj\n${object}\nendobj\n`;
  }
  const xref = Buffer.byteLength(body, 'latin1');
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) body += `${String(offset).padStart(10, '0')} 00000 n \n`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

/** A page object (`/Type /Page`, not `/Pages`): what a PDF's page count is read from. */
export const PDF_PAGE_MARKER = /\/Type\s*\/Page(?![a-zA-Z])/g;

/** The pages of a PDF held whole in memory; null when it has none to count. */
export function pdfPageCount(content: Buffer): number | null {
  const pages = content.toString('latin1').match(PDF_PAGE_MARKER)?.length ?? 0;
  return pages > 0 ? pages : null;
}
