/**
 * What a reader (HL7 v2, CDA R2, FHIR R4) makes of one received document, before anything is stored:
 * every field with where it was read and how sure the reader is, the files it carries, and what a
 * person must look at. The ingestion service turns a reading into an integration request.
 */

/** How a document was read: a structured format, a PDF's text layer, or OCR of a scan. */
export type Format = 'hl7v2' | 'cda' | 'fhir' | 'pdf' | 'scan';

/** One extracted value: `source` names where it was read (`PID-3[1]`, `ClinicalDocument/id/@root`). */
export interface Field<T = string> {
  value: T;
  source: string;
  /** In [0, 1]: 1 for a coded header field read as sent, less where the reader had to guess. */
  confidence: number;
}

export interface IdentityReading {
  ins?: Field;
  /** 1.2.250.1.213.1.4.8 NIR, .9 NIA, .10 test, .11 demo. */
  insOid?: Field;
  /** The facility's local patient id. */
  ipp?: Field;
  birthLastName?: Field;
  usedLastName?: Field;
  /** Every given name at birth, space separated. */
  birthGivenNames?: Field;
  firstBirthGivenName?: Field;
  usedGivenName?: Field;
  /** YYYY-MM-DD. */
  birthDate?: Field;
  sex?: Field<'F' | 'M' | 'U'>;
  /** INSEE commune code, 5 characters. */
  birthplaceCode?: Field;
  /** PROV, RECUP, VALI or QUAL (PID-32). */
  reliability?: Field;
}

/** A file the document carries: the report itself (PDF), an embedded CDA, an image… */
export interface CarriedFile {
  fileName: string;
  contentType: string;
  content: Buffer;
  source: string;
}

/** A problem that makes a message unacceptable as sent: HL7 answers it with AE, HTTP with 422. */
export interface ReadingProblem {
  /** `PID^1^3` (segment^sequence^field, HL7 ERR-2) or an XML/JSON path. */
  location: string;
  /** HL7 table 0357: 101 required field missing, 102 data type error, 103 table value not found… */
  code: number;
  text: string;
}

export interface DocumentReading {
  format: Format;
  /** TXA-12, ClinicalDocument/id, DocumentReference.masterIdentifier: what makes a resend a duplicate. */
  documentId?: Field;
  /** CDA setId and versionNumber, where given. */
  setId?: Field;
  versionNumber?: Field;
  /** What this document replaces or deletes (TXA-13, relatedDocument RPLC, relatesTo replaces). */
  replacesDocumentId?: Field;
  /** OBX-11 F / C / D, a CDA with RPLC, a FHIR relatesTo replaces. */
  action: 'new' | 'replace' | 'delete';
  identity: IdentityReading;
  /** A LOINC code from the CI-SIS list JDV_J07, e.g. 11502-2. */
  documentTypeCode?: Field;
  documentTypeLabel?: Field;
  title?: Field;
  /** YYYY-MM-DD. */
  procedureDate?: Field;
  /** The author's RPPS number. */
  authorRpps?: Field;
  /** The author's name as written, without "Dr": `Claire MOREAU` (read from a report's text). */
  authorName?: Field;
  priority?: Field<'routine' | 'urgent'>;
  files: CarriedFile[];
  /** Checks a person must see (the request's identity check becomes `mismatch`). */
  mismatchReasons: string[];
  /**
   * A scan (an image, a PDF with pages of no text): recorded at once as `received`, its fields read
   * afterwards by the OCR job from its first file.
   */
  readLater?: true;
}

/** A message that cannot be accepted: AE (readable, something required missing or wrong) or AR. */
export class MessageRejection extends Error {
  constructor(
    readonly acknowledgment: 'AE' | 'AR',
    readonly problems: ReadingProblem[],
  ) {
    super(problems.map((problem) => `${problem.location}: ${problem.text}`).join('; '));
    this.name = 'MessageRejection';
  }
}

export const INS_OID_NAMES: Record<string, string> = {
  '1.2.250.1.213.1.4.8': 'INS-NIR',
  '1.2.250.1.213.1.4.9': 'INS-NIA',
  '1.2.250.1.213.1.4.10': 'INS-NIR-TEST',
  '1.2.250.1.213.1.4.11': 'INS-NIR-DEMO',
};

/**
 * An HL7 date-time (v2 DTM, v3 TS: `YYYYMMDDHHMMSS.SSSS±ZZZZ`, precision as needed) to its calendar date
 * as written, `partial` when it stops before the day, `invalid` when it is no date at all.
 */
export function calendarDateOf(value: string): string | 'partial' | 'invalid' {
  const match =
    /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.\d{1,4})?)?)?)?)?)?(?:[+-]\d{4})?$/.exec(
      value,
    );
  if (!match) return 'invalid';
  const [, year, month, day, hour = '0', minute = '0', second = '0'] = match;
  // No patient was born, and no report written, before 1800: a year 0000 is a placeholder, not a date.
  if (Number(year) < 1800) return 'invalid';
  if (month === undefined) return 'partial';
  if (Number(month) < 1 || Number(month) > 12) return 'invalid';
  if (day === undefined) return 'partial';
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  const isCalendarDate = date.getUTCMonth() === Number(month) - 1 && date.getUTCDate() === Number(day);
  const isClockTime = Number(hour) < 24 && Number(minute) < 60 && Number(second) < 61;
  return isCalendarDate && isClockTime ? `${year}-${month}-${day}` : 'invalid';
}

/**
 * Base64 to bytes when it is whole and of the alphabet, else why not. Node's decoder skips what is not
 * base64, so a decoded length short of what the text's length promises means a stray character: one
 * native pass, where a regular expression over a payload of megabytes costs milliseconds.
 */
export function decodeBase64(text: string): Buffer | string {
  if (text === '') return 'it is empty';
  // Senders pad their base64: a length that is not a multiple of 4 is a cut one.
  if (text.length % 4 !== 0) return `its base64 length, ${text.length}, is not a multiple of 4 (truncated?)`;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const decoded = Buffer.from(text, 'base64');
  if (decoded.length !== (text.length / 4) * 3 - padding) {
    return 'it holds characters outside the base64 alphabet, or padding (=) before its end';
  }
  return decoded;
}

/** Whether any of these characters occurs: a few native scans, cheaper than one regular expression. */
export function containsAnyOf(text: string, characters: string[]): boolean {
  return characters.some((character) => text.includes(character));
}
