import { readCda } from './cda.ts';
import { type DocumentReading, type Field, type IdentityReading, MessageRejection } from './reading.ts';

/** A CDA R2 document carried as a file (HL7 OBX-5, a FHIR attachment): read too, then compared. */
function isCda(file: { contentType: string; content: Buffer }): boolean {
  if (!/xml/i.test(file.contentType)) return false;
  return file.content.subarray(0, 4096).toString('utf8').includes('ClinicalDocument');
}

/** Upper case, accents folded, punctuation to spaces: names compared as identity_key() compares them. */
function nameKey(value: string): string {
  return value
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, ' ')
    .trim();
}

const COMPARED: Array<{ trait: keyof IdentityReading; label: string; key: (value: string) => string }> = [
  { trait: 'ins', label: 'INS', key: (value) => value },
  { trait: 'ipp', label: 'IPP', key: (value) => value },
  { trait: 'birthLastName', label: 'birth name', key: nameKey },
  { trait: 'firstBirthGivenName', label: 'first birth given name', key: nameKey },
  { trait: 'birthDate', label: 'birth date', key: (value) => value },
  { trait: 'sex', label: 'sex', key: (value) => value },
];

/** Where the envelope and the document inside it name different patients: reasons a person must see. */
function disagreements(envelope: IdentityReading, content: IdentityReading, carrier: string): string[] {
  return COMPARED.flatMap(({ trait, label, key }) => {
    const outer = envelope[trait] as Field | undefined;
    const inner = content[trait] as Field | undefined;
    if (!outer || !inner || key(outer.value) === key(inner.value)) return [];
    return [
      `the ${carrier} gives ${label} ${outer.value} (${outer.source}) but the document inside gives ${inner.value} (${inner.source})`,
    ];
  });
}

/**
 * Reads the CDA documents a reading carries and folds them in: their own files (the PDF a CDA wraps)
 * join the envelope's, what the envelope leaves out is taken from the document, and every identity
 * trait on which the two disagree becomes a mismatch reason. The envelope's values win where both have
 * one: the sender's interface engine routed on them.
 */
export function withEmbeddedDocuments(reading: DocumentReading): DocumentReading {
  const carrier = reading.format === 'hl7v2' ? 'HL7 envelope' : 'FHIR DocumentReference';
  let merged: DocumentReading = reading;
  for (const file of reading.files) {
    if (!isCda(file)) continue;
    const content = readCarried(file);
    const identity: IdentityReading = { ...content.identity };
    for (const [trait, field] of Object.entries(merged.identity)) {
      if (field) (identity as Record<string, Field<string>>)[trait] = field as Field<string>;
    }
    merged = {
      ...content,
      ...definedOnly(merged),
      format: merged.format,
      action: merged.action !== 'new' ? merged.action : content.action,
      replacesDocumentId: merged.replacesDocumentId ?? content.replacesDocumentId,
      identity,
      files: [...merged.files, ...content.files],
      mismatchReasons: [
        ...new Set([
          ...merged.mismatchReasons,
          ...content.mismatchReasons,
          ...disagreements(merged.identity, content.identity, carrier),
        ]),
      ],
    };
  }
  return merged;
}

/** The CDA read, its problems placed at the envelope field that carried it (HL7 ERR-2 wants `OBX^1^5`). */
function readCarried(file: { content: Buffer; source: string }): DocumentReading {
  try {
    return readCda(file.content, { sourcePrefix: file.source });
  } catch (error) {
    const carrier = /^([A-Z][A-Z0-9]{2})\((\d+)\)-(\d+)/.exec(file.source);
    if (!(error instanceof MessageRejection) || !carrier) throw error;
    const location = `${carrier[1]}^${carrier[2]}^${carrier[3]}`;
    throw new MessageRejection(
      error.acknowledgment,
      error.problems.map((problem) => ({
        ...problem,
        location,
        text: `${problem.location}: ${problem.text}`,
      })),
    );
  }
}

function definedOnly(reading: DocumentReading): Partial<DocumentReading> {
  return Object.fromEntries(Object.entries(reading).filter(([, value]) => value !== undefined));
}
