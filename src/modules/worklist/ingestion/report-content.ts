/**
 * The report against its envelope: an HL7 message, a CDA or a FHIR DocumentReference names a patient in
 * its header, and the PDF it carries names one in its text. When the two differ (birth name, INS, birth
 * date), the document may have been filed under the wrong patient: that is a mismatch reason a person
 * must see. Only what the PDF states confidently is compared, and only what both sides state.
 */
import type { CarriedFile, DocumentReading, Field, IdentityReading } from './reading.ts';
import { confidentIdentity, readReportText } from './report-text.ts';

/** The patient's block is on the first page or two: the rest of a long report costs without telling more. */
export const REPORT_CONTENT_PAGES = 3;

/** What the envelope is called in a reason, by the reading's format. */
const ENVELOPE_NAMES: Partial<Record<DocumentReading['format'], string>> = {
  hl7v2: 'HL7 header',
  cda: 'CDA header',
  fhir: 'FHIR Patient',
};

/**
 * The reading with a mismatch reason for each trait on which a PDF it carries names another patient
 * than its header does. Readings of a PDF or a scan (read from their text already), readings whose
 * header names no birth name, INS or birth date, and readings without a PDF are returned as they are. A
 * PDF that cannot be read (not a PDF, encrypted, no text layer) adds nothing: its own problems are
 * checked where the PDF is stored, not here. Never throws for what the PDF holds; never mutates.
 */
export async function withReportContent(reading: DocumentReading): Promise<DocumentReading> {
  const envelope = ENVELOPE_NAMES[reading.format];
  const { identity } = reading;
  if (!envelope || !(identity.birthLastName || identity.usedLastName || identity.ins || identity.birthDate)) {
    return reading;
  }
  const pdfs = reading.files.filter(isPdf);
  if (pdfs.length === 0) return reading;
  const reasons: string[] = [];
  for (const file of pdfs) {
    const content = await confidentContentIdentity(file);
    if (content) reasons.push(...disagreements(identity, content, envelope, file.fileName));
  }
  if (reasons.length === 0) return reading;
  return { ...reading, mismatchReasons: [...new Set([...reading.mismatchReasons, ...reasons])] };
}

function isPdf(file: CarriedFile): boolean {
  return file.contentType.split(';')[0]?.trim().toLowerCase() === 'application/pdf';
}

/** The identity the PDF's first pages state confidently; undefined when the PDF cannot be read. */
async function confidentContentIdentity(file: CarriedFile): Promise<IdentityReading | undefined> {
  // Not a PDF at all (PDF 32000 lets the header start within the first 1024 bytes): pdf.js is not loaded.
  if (!file.content.subarray(0, 1024).includes('%PDF-')) return undefined;
  try {
    // pdf.js is large: loaded with the first PDF, not with every server start.
    const { pdfTextPages } = await import('./pdf-text.ts');
    const pages = await pdfTextPages(file.content, { maxPages: REPORT_CONTENT_PAGES });
    if (!pages.some((page) => page.hasTextLayer)) return undefined;
    return confidentIdentity(readReportText(pages, { format: 'pdf', fileName: file.fileName }).identity);
  } catch {
    // Encrypted, damaged, or text the rules stumble on: the envelope is not at fault, nothing to compare.
    return undefined;
  }
}

/** Upper case, accents folded, spaces, hyphens and apostrophes dropped: LE GOFF, Le-Goff and LEGOFF agree. */
export function nameKey(value: string): string {
  return value
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toUpperCase()
    .replace(/Œ/g, 'OE')
    .replace(/Æ/g, 'AE')
    .replace(/[^\p{L}\p{N}]+/gu, '');
}

/** An INS as 15 characters, spaces dropped; undefined for anything else (its own checks are elsewhere). */
function insKey(value: string): string | undefined {
  const compact = value.replace(/\s+/g, '').toUpperCase();
  return compact.length === 15 ? compact : undefined;
}

const isDate = (value: string) => /^\d{4}-\d{2}-\d{2}$/.test(value);

const at = (field: Field) => `${field.value} (${field.source})`;

/** The reasons the envelope's identity and the PDF's differ, each naming both values and where they were read. */
function disagreements(
  envelope: IdentityReading,
  content: IdentityReading,
  envelopeName: string,
  fileName: string,
): string[] {
  const where = (field: Field) => `the PDF (${fileName}, ${field.source})`;
  const reasons: string[] = [];

  // The birth name is the trait; the PDF may print the used name where the envelope has both.
  const pdfName = content.birthLastName ?? content.usedLastName;
  const envelopeNames = [envelope.birthLastName, envelope.usedLastName].filter(
    (field): field is Field => field !== undefined,
  );
  if (pdfName && envelopeNames.length > 0) {
    const key = nameKey(pdfName.value);
    if (key !== '' && !envelopeNames.some((field) => nameKey(field.value) === key)) {
      const named = [
        ...(envelope.birthLastName ? [at(envelope.birthLastName)] : []),
        ...(envelope.usedLastName ? [`used name ${at(envelope.usedLastName)}`] : []),
      ].join(', ');
      reasons.push(`${where(pdfName)} names ${pdfName.value}, the ${envelopeName} ${named}`);
    }
  }

  if (content.ins && envelope.ins) {
    const [inner, outer] = [insKey(content.ins.value), insKey(envelope.ins.value)];
    if (inner && outer && inner !== outer) {
      reasons.push(
        `${where(content.ins)} gives INS ${content.ins.value}, the ${envelopeName} ${at(envelope.ins)}`,
      );
    }
  }

  const [innerDate, outerDate] = [content.birthDate, envelope.birthDate];
  if (
    innerDate &&
    outerDate &&
    isDate(innerDate.value) &&
    isDate(outerDate.value) &&
    innerDate.value !== outerDate.value
  ) {
    reasons.push(
      `${where(innerDate)} gives birth date ${innerDate.value}, the ${envelopeName} ${at(outerDate)}`,
    );
  }
  return reasons;
}
