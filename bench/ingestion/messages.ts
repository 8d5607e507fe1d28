import {
  cdaDocument,
  documentId,
  mdmMessage,
  oruMessage,
  type SampleDocument,
  type SamplePatient,
} from '../../src/modules/worklist/operations/sample-messages.ts';
import { pdfOfObjects } from '../../src/platform/pdf.ts';

/** The two messages the ingestion issue names, each measured on its own. */
export type MessageKind = 'oru' | 'mdm';

/** The carried PDF's size: ~40 KB for a lab result, ~300 KB for an imaging report wrapped in a CDA. */
export const PDF_BYTES: Record<MessageKind, number> = { oru: 40 * 1024, mdm: 300 * 1024 };

/** The bytes a message's id takes (MSH-10 and, prefixed, the document id): at most 20 in MSH-10 (ST). */
export const ID_LENGTH = 16;
/** Written where the id goes, then overwritten in each copy; never sent as is. */
const PLACEHOLDER = 'ZQXJZQXJZQXJZQXJ';

const LAB_TYPE = { code: '11502-2', title: "CR d'examens biologiques" };
const IMAGING_TYPE = { code: '18748-4', title: "CR d'imagerie médicale" };

/** Deterministic bytes that do not compress, as a PDF's deflated streams: xorshift32. */
function noise(length: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let state = seed >>> 0 || 1;
  for (let at = 0; at < length; at++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[at] = state & 0xff;
  }
  return bytes;
}

/**
 * A valid one-page PDF of `totalBytes` bytes (to the byte): onePagePdf's page and font, plus an
 * unreferenced stream object of incompressible bytes standing for the images and fonts a real report
 * embeds, listed in the xref like every object. Starts with %PDF-1.4 and ends with %%EOF.
 */
export function paddedPdf(totalBytes: number, heading: string, seed = 1): Buffer {
  const content = `BT /F1 16 Tf 72 760 Td (${heading.replace(/[()\\]/g, (c) => `\\${c}`)}) Tj ET`;
  const build = (padding: number) => {
    const objects: Buffer[] = [
      Buffer.from('<< /Type /Catalog /Pages 2 0 R >>', 'latin1'),
      Buffer.from('<< /Type /Pages /Kids [3 0 R] /Count 1 >>', 'latin1'),
      Buffer.from(
        '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
        'latin1',
      ),
      Buffer.from(
        `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
        'latin1',
      ),
      Buffer.from(
        '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
        'latin1',
      ),
      Buffer.concat([
        Buffer.from(`<< /Length ${padding} >>\nstream\n`, 'latin1'),
        noise(padding, seed),
        Buffer.from('\nendstream', 'latin1'),
      ]),
    ];
    return pdfOfObjects(objects);
  };
  // The padding's own length is written in the file: two passes settle the digits.
  let padding = Math.max(0, totalBytes - build(0).length);
  for (let pass = 0; pass < 3; pass++) {
    const pdf = build(padding);
    if (pdf.length === totalBytes || padding === 0) return pdf;
    padding = Math.max(0, padding + totalBytes - pdf.length);
  }
  return build(padding);
}

/** Where a copy of a template takes its id: plain offsets, and windows of base64 to encode again. */
export interface MessageTemplate {
  bytes: Buffer;
  /** Offsets of the id in the message's own text (MSH-10, OBR-3, TXA-12). */
  plain: number[];
  /**
   * The id inside a base64 payload (the CDA in OBX-5): the 3-byte-aligned window of the decoded
   * bytes around it, where the id sits in that window, and where the window's base64 starts in the
   * message. base64 maps each 3 bytes to 4 characters, so encoding the window alone gives exactly the
   * characters to overwrite.
   */
  windows: Array<{ source: Buffer; idAt: number; messageOffset: number }>;
}

function occurrences(haystack: Buffer, needle: string): number[] {
  const found: number[] = [];
  for (
    let at = haystack.indexOf(needle, 0, 'latin1');
    at !== -1;
    at = haystack.indexOf(needle, at + 1, 'latin1')
  )
    found.push(at);
  return found;
}

/**
 * One message of a kind for one patient, built once by the sample builders with a placeholder id;
 * `fill` then makes each message sent from it unique (control id, document id, the CDA's id) for the
 * price of a copy.
 */
export function messageTemplate(
  kind: MessageKind,
  options: {
    facilityId: string;
    patient: SamplePatient;
    pdf: Buffer;
    procedureDate: string;
  },
): MessageTemplate {
  const type = kind === 'oru' ? LAB_TYPE : IMAGING_TYPE;
  const document: SampleDocument = {
    id: documentId(`BENCH-${PLACEHOLDER}`),
    typeCode: type.code,
    title: type.title,
    procedureDate: options.procedureDate,
    pdf: options.pdf,
  };
  const common = {
    controlId: PLACEHOLDER,
    receivingFacility: options.facilityId,
    patient: options.patient,
    document,
  };
  if (kind === 'oru') {
    const bytes = oruMessage({ ...common, sendingFacility: 'LABO-BENCH' });
    return { bytes, plain: occurrences(bytes, PLACEHOLDER), windows: [] };
  }
  const cda = cdaDocument({ patient: options.patient, document, facilityId: options.facilityId });
  const bytes = mdmMessage({ ...common, sendingFacility: 'RADIOLOGIE-BENCH', cda });
  const marker = '^text^XML^Base64^';
  const base64At = bytes.indexOf(marker, 0, 'latin1') + marker.length;
  const windows = occurrences(cda, PLACEHOLDER).map((at) => {
    const start = Math.floor(at / 3) * 3;
    const end = Math.min(cda.length, Math.ceil((at + PLACEHOLDER.length) / 3) * 3);
    return {
      source: Buffer.from(cda.subarray(start, end)),
      idAt: at - start,
      messageOffset: base64At + (start / 3) * 4,
    };
  });
  return { bytes, plain: occurrences(bytes, PLACEHOLDER), windows };
}

/** A copy of the template carrying `id` (ID_LENGTH characters, [0-9A-Z]) wherever the placeholder was. */
export function fill(template: MessageTemplate, id: string): Buffer {
  if (id.length !== PLACEHOLDER.length) throw new Error(`a message id has ${PLACEHOLDER.length} characters`);
  const copy = Buffer.allocUnsafe(template.bytes.length);
  template.bytes.copy(copy);
  for (const at of template.plain) copy.write(id, at, 'latin1');
  for (const { source, idAt, messageOffset } of template.windows) {
    const window = Buffer.from(source);
    window.write(id, idAt, 'latin1');
    copy.write(window.toString('base64'), messageOffset, 'latin1');
  }
  return copy;
}
