import { performance } from 'node:perf_hooks';
import { withOwnBudget } from '../../../platform/db/query-budget.ts';
import { metricsRegistry, prometheus } from '../../../platform/metrics/registry.ts';
import { readCda } from './cda.ts';
import { withEmbeddedDocuments } from './embedded.ts';
import { readFhirDocuments } from './fhir-document.ts';
import { buildAck, type Hl7Envelope, type Hl7Header, readHeaderLeniently, readHl7, splitHl7 } from './hl7.ts';
import type { ScanContentType } from './ocr.ts';
import {
  type CarriedFile,
  type DocumentReading,
  type Format,
  MessageRejection,
  type ReadingProblem,
} from './reading.ts';
import { withReportContent } from './report-content.ts';
import { confidentIdentity, readReportText } from './report-text.ts';
import {
  type InboundMessage,
  type IngestionDeps,
  ingestMessage,
  type Listener,
  type Source,
  UnknownFacility,
} from './service.ts';

/**
 * Statements one message may cost: one finds the facility, a resend, the documents it names and its
 * candidate patients; one records it (2 in all). A replacement records within a transaction (4); a
 * deletion may also queue the EHR withdrawal of what it cancels.
 */
export const MESSAGE_STATEMENT_BUDGET = 4;
export const DELETION_STATEMENT_BUDGET = 7;
/** A scan recorded to be read later: its OCR job is queued in the same transaction (5). */
export const SCAN_STATEMENT_BUDGET = 5;

/** Ingests one message within its own statement budget. */
function ingestWithinBudget(deps: IngestionDeps, message: InboundMessage) {
  const deletes = message.readings.some((reading) => reading.action === 'delete');
  const scans = message.readings.some((reading) => reading.readLater);
  return withOwnBudget(
    deletes ? DELETION_STATEMENT_BUDGET : scans ? SCAN_STATEMENT_BUDGET : MESSAGE_STATEMENT_BUDGET,
    `${message.listener} ${message.format} message`,
    { strict: deps.strictQueryBudgets ?? false, ...(deps.warn ? { warn: deps.warn } : {}) },
    () => ingestMessage(deps, message),
  );
}

/** The bodies `/v2/inbox` and `hotpath ingest` take, by media type. */
export const INBOX_MEDIA_TYPES: Record<string, InboxKind> = {
  'application/hl7-v2': 'hl7v2',
  'x-application/hl7-v2+er7': 'hl7v2',
  'application/xml': 'cda',
  'text/xml': 'cda',
  'application/fhir+json': 'fhir',
  'application/pdf': 'pdf',
  'image/tiff': 'scan',
  'image/png': 'scan',
  'image/jpeg': 'scan',
  'application/zip': 'xdm',
};

/** What the inbox takes: a stored format, or an IHE XDM zip, whose documents are received one by one. */
export type InboxKind = Format | 'xdm';

/** A scan's media type from its first bytes: TIFF (either byte order), PNG or JPEG; else undefined. */
export function scanMediaTypeOf(content: Buffer): ScanContentType | undefined {
  const head = content.subarray(0, 8).toString('latin1');
  if (head.startsWith('II*\0') || head.startsWith('MM\0*')) return 'image/tiff';
  if (head.startsWith('\x89PNG\r\n\x1a\n')) return 'image/png';
  if (head.startsWith('\xff\xd8\xff')) return 'image/jpeg';
  return undefined;
}

export type Acknowledgment = 'AA' | 'AE' | 'AR';

/** What became of one message: its acknowledgment, and the requests it made (or made before). */
export interface MessageOutcome {
  format: Format;
  controlId: string | undefined;
  messageType: string | undefined;
  outcome: 'accepted' | 'duplicate' | 'rejected';
  acknowledgment: Acknowledgment;
  requestIds: number[];
  /** Scans: recorded, their fields read afterwards by the OCR job (`hotpath serve`'s worker). */
  readLater: boolean;
  problems: ReadingProblem[];
  /** The HL7 ACK to send back, for HL7 v2 messages. */
  ack: Buffer | undefined;
}

const ingestedMessages = new prometheus.Counter({
  name: 'hotpath_ingest_messages_total',
  help: 'Messages received, by listener, format and outcome (accepted, duplicate, rejected, error)',
  labelNames: ['listener', 'format', 'outcome'] as const,
  registers: [metricsRegistry],
});
const acknowledgments = new prometheus.Counter({
  name: 'hotpath_ingest_acks_total',
  help: 'HL7 acknowledgments sent, by code (AA, AE, AR)',
  labelNames: ['code'] as const,
  registers: [metricsRegistry],
});
const ingestionDuration = new prometheus.Histogram({
  name: 'hotpath_ingest_duration_seconds',
  help: 'From a message read to its requests committed, by listener and format',
  labelNames: ['listener', 'format'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [metricsRegistry],
});

/** Counts a message that failed for a reason of ours (the database down…): it gets no acknowledgment. */
export function countFailedMessage(listener: Listener, format: Format): void {
  ingestedMessages.inc({ listener, format, outcome: 'error' });
}

export interface Delivery {
  listener: Listener;
  /** Over HTTP the facility is named (and already checked against the token); MLLP routes on MSH-6. */
  facilityId: string | undefined;
  /** Who sent it, for formats without a sending facility of their own (CDA, FHIR). */
  sender: string;
  source: Source | undefined;
  /** The name the file came with (an upload, an attachment, a dropped file), kept as the document's. */
  fileName?: string;
  /** A mail's subject, kept with the message. */
  subject?: string;
}

/**
 * Reads a body of one of the inbox's media types and ingests each message in it (an HL7 batch holds
 * several), one after the other. A message that cannot be accepted is answered (AE/AR) and the rest go
 * on; a failure of ours (the database, the object store) is thrown: nothing is acknowledged for it.
 */
export async function receive(
  deps: IngestionDeps,
  delivery: Delivery,
  kind: InboxKind,
  body: Buffer,
): Promise<MessageOutcome[]> {
  if (kind === 'hl7v2') return receiveHl7(deps, delivery, body);
  if (kind === 'xdm') return receiveXdm(deps, delivery, body);
  const format = kind;
  const started = performance.now();
  try {
    const readings =
      format === 'cda'
        ? [await withReportContent(readCdaBody(body))]
        : format === 'pdf'
          ? [await readPdfBody(body, delivery.fileName)]
          : format === 'scan'
            ? [scanReading(body, delivery.fileName)]
            : await Promise.all(readFhirBody(body).map(withReportContent));
    const result = await ingestWithinBudget(deps, {
      listener: delivery.listener,
      format,
      contentType: readings[0]?.files[0]?.contentType ?? MEDIA_TYPE_OF[format],
      raw: body,
      sender: delivery.sender,
      controlId: undefined,
      messageType: MESSAGE_TYPE_OF[format],
      facility: { facilityId: delivery.facilityId as string },
      source: delivery.source ?? sourceOf(readings),
      readings,
      ...(delivery.subject === undefined ? {} : { subject: delivery.subject }),
    });
    const outcome = accepted(format, undefined, undefined, result);
    outcome.readLater =
      result.outcome === 'accepted' && readings.some((reading) => reading.readLater === true);
    return [counted(delivery.listener, format, started, outcome)];
  } catch (error) {
    if (!(error instanceof MessageRejection) || error instanceof UnknownFacility) throw error;
    return [counted(delivery.listener, format, started, rejected(format, undefined, undefined, error))];
  }
}

/** Limits for an IHE_XDM.zip from outside: 1,000 entries, 200 MB inflated. */
const XDM_LIMITS = { maxEntries: 1000, maxBytes: 200 * 1024 * 1024 };

/** The kind of a document carried in a package or a mail, from its media type. */
export function kindOfMediaType(contentType: string): InboxKind | undefined {
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (mediaType === 'application/hl7-v3+xml' || mediaType === 'application/hl7-cda+xml') return 'cda';
  return INBOX_MEDIA_TYPES[mediaType];
}

/**
 * An IHE XDM package (an MSSanté letter's IHE_XDM.zip): each document it lists is received as a message
 * of its own, a CDA as a CDA, a PDF as a PDF, an image as a scan, under the package's sender.
 */
async function receiveXdm(deps: IngestionDeps, delivery: Delivery, body: Buffer): Promise<MessageOutcome[]> {
  const started = performance.now();
  const { readXdm, XdmError } = await import('./xdm.ts');
  let documents: Awaited<ReturnType<typeof readXdm>>;
  try {
    documents = await readXdm(body, XDM_LIMITS);
  } catch (error) {
    if (!(error instanceof XdmError)) throw error;
    const rejection = new MessageRejection('AE', [
      { location: 'IHE_XDM.zip', code: 102, text: error.message },
    ]);
    return [counted(delivery.listener, 'cda', started, rejected('cda', undefined, 'IHE XDM', rejection))];
  }
  const outcomes: MessageOutcome[] = [];
  for (const document of documents) {
    const kind = kindOfMediaType(document.contentType);
    if (kind === undefined || kind === 'xdm' || kind === 'hl7v2') {
      const rejection = new MessageRejection('AE', [
        {
          location: document.path,
          code: 102,
          text: `an XDM document of type ${document.contentType} is not read`,
        },
      ]);
      outcomes.push(
        counted(delivery.listener, 'cda', started, rejected('cda', undefined, 'IHE XDM', rejection)),
      );
      continue;
    }
    outcomes.push(
      ...(await receive(deps, { ...delivery, fileName: document.fileName }, kind, document.content)),
    );
  }
  return outcomes;
}

async function receiveHl7(deps: IngestionDeps, delivery: Delivery, body: Buffer): Promise<MessageOutcome[]> {
  const started = performance.now();
  let envelopes: Hl7Envelope[];
  try {
    envelopes = splitHl7(body);
  } catch (error) {
    if (!(error instanceof MessageRejection)) throw error;
    const header = readHeaderLeniently(body);
    const outcome = rejected('hl7v2', header.controlId, header.messageType, error, header);
    return [counted(delivery.listener, 'hl7v2', started, outcome)];
  }
  const outcomes: MessageOutcome[] = [];
  for (const envelope of envelopes) {
    const messageStarted = outcomes.length === 0 ? started : performance.now();
    const { header } = envelope;
    try {
      const reading = await withReportContent(withEmbeddedDocuments(readHl7(envelope)));
      const result = await ingestWithinBudget(deps, {
        listener: delivery.listener,
        format: 'hl7v2',
        contentType: 'application/hl7-v2',
        raw: envelope.bytes,
        // Each sending application numbers its own messages: MSH-10 is unique within MSH-3 at MSH-4.
        sender: `${header.sendingApplication}^${header.sendingFacility}`,
        controlId: header.controlId,
        messageType: header.messageType,
        facility:
          delivery.facilityId === undefined
            ? { receivingIdentifier: header.receivingFacility }
            : { facilityId: delivery.facilityId },
        source: delivery.source ?? sourceOf([reading]),
        readings: [reading],
      });
      const outcome = accepted('hl7v2', header.controlId, header.messageType, result, header);
      outcomes.push(counted(delivery.listener, 'hl7v2', messageStarted, outcome));
    } catch (error) {
      const named = delivery.facilityId !== undefined;
      if (!(error instanceof MessageRejection) || (named && error instanceof UnknownFacility)) throw error;
      const outcome = rejected('hl7v2', header.controlId, header.messageType, error, header);
      outcomes.push(counted(delivery.listener, 'hl7v2', messageStarted, outcome));
    }
  }
  return outcomes;
}

function readCdaBody(body: Buffer): DocumentReading {
  const reading = readCda(body);
  const id = reading.documentId?.value.replace(/[^A-Za-z0-9._-]+/g, '_') ?? 'document';
  // The CDA itself is the document of record; what it carries comes beside it.
  return {
    ...reading,
    files: [
      { fileName: `${id}.xml`, contentType: 'application/xml', content: body, source: 'ClinicalDocument' },
      ...reading.files,
    ],
  };
}

const MEDIA_TYPE_OF: Record<Format, string> = {
  hl7v2: 'application/hl7-v2',
  cda: 'application/xml',
  fhir: 'application/fhir+json',
  pdf: 'application/pdf',
  scan: 'application/octet-stream',
};
const MESSAGE_TYPE_OF: Record<Format, string> = {
  hl7v2: 'HL7 v2',
  cda: 'ClinicalDocument',
  fhir: 'DocumentReference',
  pdf: 'PDF',
  scan: 'scan',
};

/**
 * A PDF read by the French report rules from its text layer; the PDF itself is the document's file. A
 * PDF with pages of no text (scanned) whose text layer does not say who the patient is is recorded as it
 * is and read by the OCR job; one whose text already names the patient (a blank or signed last page
 * beside a typed report) is not held back for it.
 */
async function readPdfBody(body: Buffer, fileName = 'document.pdf'): Promise<DocumentReading> {
  // pdf.js is large: loaded with the first PDF, not with every server start.
  const { pdfTextPages, pagesWithoutText } = await import('./pdf-text.ts');
  const pages = await pdfTextPages(body);
  const reading = readReportText(pages, { format: 'pdf', fileName, pdf: body });
  if (pagesWithoutText(pages).length > 0 && !namesThePatient(reading)) {
    return deferredReading({ fileName, contentType: 'application/pdf', content: body, source: fileName });
  }
  return reading;
}

/** Enough, read confidently, for the matcher: an INS, or a birth name and a birth date. */
function namesThePatient(reading: DocumentReading): boolean {
  const identity = confidentIdentity(reading.identity);
  return Boolean(identity.ins || (identity.birthLastName && identity.birthDate));
}

const SCAN_EXTENSIONS: Record<ScanContentType, string> = {
  'application/pdf': 'pdf',
  'image/tiff': 'tif',
  'image/png': 'png',
  'image/jpeg': 'jpg',
};

/** A TIFF, PNG or JPEG scan: kept as it came, read by the OCR job once recorded. */
function scanReading(body: Buffer, fileName: string | undefined): DocumentReading {
  const contentType = scanMediaTypeOf(body);
  if (!contentType) {
    throw new MessageRejection('AE', [
      { location: 'scan', code: 102, text: 'not a TIFF, PNG or JPEG image (its first bytes say otherwise)' },
    ]);
  }
  const size = imageSizeOf(body, contentType);
  if (size && size.width * size.height > MAX_SCAN_PIXELS) {
    throw new MessageRejection('AE', [
      {
        location: 'scan',
        code: 102,
        text: `the image is ${size.width} × ${size.height} pixels; a scan of at most ${MAX_SCAN_PIXELS / 1e6} megapixels is read (an A4 page at 600 dpi is 35)`,
      },
    ]);
  }
  const name = fileName ?? `scan.${SCAN_EXTENSIONS[contentType]}`;
  return deferredReading({ fileName: name, contentType, content: body, source: name });
}

/** Larger images are refused at the door: decoded, one would take gigabytes of the OCR thread's memory. */
const MAX_SCAN_PIXELS = 60_000_000;

/** A PNG's or JPEG's size from its header (IHDR, the first SOF marker); undefined for a TIFF or a cut file. */
function imageSizeOf(
  image: Buffer,
  contentType: ScanContentType,
): { width: number; height: number } | undefined {
  if (contentType === 'image/png') {
    return image.length >= 24 ? { width: image.readUInt32BE(16), height: image.readUInt32BE(20) } : undefined;
  }
  if (contentType !== 'image/jpeg') return undefined;
  let offset = 2;
  while (offset + 9 <= image.length && image[offset] === 0xff) {
    const marker = image[offset + 1] as number;
    // SOF0–SOF15, except DHT (C4), JPG (C8) and DAC (CC), give the frame's size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { width: image.readUInt16BE(offset + 7), height: image.readUInt16BE(offset + 5) };
    }
    offset += 2 + image.readUInt16BE(offset + 2);
  }
  return undefined;
}

function deferredReading(file: CarriedFile): DocumentReading {
  return { format: 'scan', action: 'new', identity: {}, files: [file], mismatchReasons: [], readLater: true };
}

function readFhirBody(body: Buffer): DocumentReading[] {
  let resource: unknown;
  try {
    resource = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new MessageRejection('AE', [
      { location: '$', code: 100, text: `the body is not JSON: ${(error as Error).message}` },
    ]);
  }
  return readFhirDocuments(resource).map(withEmbeddedDocuments);
}

/** Without a source named by the sender: an imaging report came from imaging, anything else from a lab. */
function sourceOf(readings: DocumentReading[]): Source {
  return readings.some((reading) => reading.documentTypeCode?.value === '18748-4') ? 'imaging' : 'lab';
}

let ackSequence = 0;
/** MSH-10 of an ACK: unique within this process and across restarts, at most 20 characters (ST). */
function ackControlId(): string {
  ackSequence = (ackSequence + 1) % 1000;
  return `HP${Date.now().toString(36)}${process.pid.toString(36)}${ackSequence.toString(36)}`.slice(0, 20);
}

function accepted(
  format: Format,
  controlId: string | undefined,
  messageType: string | undefined,
  result: Awaited<ReturnType<typeof ingestMessage>>,
  header?: Hl7Header,
): MessageOutcome {
  return {
    format,
    controlId,
    messageType,
    outcome: result.outcome,
    acknowledgment: 'AA',
    requestIds: result.requestIds,
    readLater: false,
    problems: [],
    ack: header ? buildAck(header, { code: 'AA' }, { controlId: ackControlId() }) : undefined,
  };
}

function rejected(
  format: Format,
  controlId: string | undefined,
  messageType: string | undefined,
  rejection: MessageRejection,
  header?: Partial<Hl7Header>,
): MessageOutcome {
  return {
    format,
    controlId,
    messageType,
    outcome: 'rejected',
    acknowledgment: rejection.acknowledgment,
    requestIds: [],
    readLater: false,
    problems: rejection.problems,
    ack:
      format === 'hl7v2'
        ? buildAck(
            header ?? {},
            { code: rejection.acknowledgment, problems: rejection.problems },
            { controlId: ackControlId() },
          )
        : undefined,
  };
}

function counted(
  listener: Listener,
  format: Format,
  started: number,
  outcome: MessageOutcome,
): MessageOutcome {
  ingestedMessages.inc({ listener, format, outcome: outcome.outcome });
  if (outcome.ack) acknowledgments.inc({ code: outcome.acknowledgment });
  ingestionDuration.observe({ listener, format }, (performance.now() - started) / 1000);
  return outcome;
}
