/**
 * Reads a CDA R2 document as the CI-SIS shapes it (header per "Structuration minimale des documents de
 * santé", the INS annex): who the patient is, what the document is and replaces, who wrote it, and the
 * files it carries (a level 1 nonXMLBody, or the observationMedia of a level 3 body).
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { insKeyIsValid } from '../identity.ts';
import { isLoincCode, LOINC_OID, loincLabel } from './loinc.ts';
import {
  type CarriedFile,
  calendarDateOf,
  containsAnyOf,
  type DocumentReading,
  decodeBase64,
  type Field,
  type IdentityReading,
  INS_OID_NAMES,
  MessageRejection,
  type ReadingProblem,
} from './reading.ts';

/** The national authority of health professional ids (RPPS, ADELI) and of software systems. */
export const PROFESSIONAL_ID_OID = '1.2.250.1.71.4.2.1';
/** INS OIDs of identities that are not real patients. */
export const INS_TEST_OIDS: ReadonlySet<string> = new Set(['1.2.250.1.213.1.4.10', '1.2.250.1.213.1.4.11']);
/** The OID arc of national patient identifiers: never a facility's IPP. */
export const NATIONAL_PATIENT_ID_ARC = '1.2.250.1.213.1.4.';
/** National patient identifiers of other countries that C-CDA documents carry: never a facility's IPP. */
const OTHER_NATIONAL_PATIENT_IDS: ReadonlySet<string> = new Set([
  // US Social Security Number.
  '2.16.840.1.113883.4.1',
]);
/** An INSEE commune code (or 99xxx for a country of birth); Corsica's start with 2A or 2B. */
export const INSEE_CODE = /^(\d{5}|2[AB]\d{3})$/;

/** Elements that repeat where this reader looks, so a single one still comes as a list. */
const REPEATING = new Set([
  'recordTarget',
  'id',
  'name',
  'given',
  'family',
  'author',
  'documentationOf',
  'relatedDocument',
  'component',
  'entry',
]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  // Identifiers and dates stay text: a number would lose the leading zeros of `0012345`.
  parseTagValue: false,
  parseAttributeValue: false,
  removeNSPrefix: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (name, _path, _isLeaf, isAttribute) => !isAttribute && REPEATING.has(name),
});

/** A parsed element and its XML path (`ClinicalDocument/recordTarget/patientRole/id[2]`). */
interface Located {
  node: unknown;
  path: string;
}

/** What reading finds besides fields: problems reject the message, reasons go to a person. */
interface Findings {
  problems: ReadingProblem[];
  mismatchReasons: string[];
}

/**
 * `sourcePrefix` names where the document was carried (`OBX-5[1]`, a FHIR attachment's path): every
 * source and location then reads `<prefix>→ClinicalDocument/…`.
 */
export function readCda(xml: Buffer | string, options: { sourcePrefix?: string } = {}): DocumentReading {
  try {
    return readCdaText(typeof xml === 'string' ? xml : decodeXml(xml), options);
  } finally {
    setAside.length = 0;
  }
}

/**
 * Long base64 text (the PDF a CDA wraps, level-3 media) set aside before the XML is validated and
 * parsed: both scan every character of a text node, and a 300 KB PDF is 400 KB of base64 they have
 * nothing to say about. A token of the same alphabet takes its place; `textOf` gives the text back.
 * Reading is synchronous, so one list serves the document being read.
 */
const setAside: string[] = [];
const SET_ASIDE_TOKEN = /^hotpathSetAside(\d+)$/;
const LONG_TEXT = 4096;
const CARRIER_ELEMENT = /^<(?:[\w.-]+:)?(?:text|value)[\s>/]/;

/** Walks the tags with indexOf (native scans), so the long text itself is never looked at. */
function setAsideLongText(xml: string): string {
  const parts: string[] = [];
  let copied = 0;
  let tag = xml.indexOf('<');
  while (tag !== -1) {
    const tagEnd = xml.indexOf('>', tag);
    if (tagEnd === -1) break;
    const next = xml.indexOf('<', tagEnd);
    if (next === -1) break;
    if (next - tagEnd - 1 >= LONG_TEXT && CARRIER_ELEMENT.test(xml.slice(tag, tag + 64))) {
      const content = xml.slice(tagEnd + 1, next);
      // Only base64 is set aside: entities or markup in a long text must reach the parser.
      if (!containsAnyOf(content, ['&', ']]>'])) {
        parts.push(xml.slice(copied, tagEnd + 1), `hotpathSetAside${setAside.length}`);
        setAside.push(content);
        copied = next;
      }
    }
    tag = next;
  }
  parts.push(xml.slice(copied));
  return parts.join('');
}

function readCdaText(xml: string, options: { sourcePrefix?: string }): DocumentReading {
  const prefix = options.sourcePrefix ? `${options.sourcePrefix}→` : '';
  const document = parseClinicalDocument(setAsideLongText(xml), prefix);
  const patientRole = first(document, 'recordTarget', 'patientRole');
  if (!patientRole) {
    throw new MessageRejection('AE', [
      {
        location: `${document.path}/recordTarget/patientRole`,
        code: 101,
        text: 'the document names no patient (recordTarget/patientRole is missing)',
      },
    ]);
  }
  const findings: Findings = { problems: [], mismatchReasons: [] };
  const [, anotherTarget] = children(document, 'recordTarget');
  if (anotherTarget) {
    // Several patients in one document cannot make one request: it could land on the wrong one.
    findings.problems.push({
      location: anotherTarget.path,
      code: 100,
      text: 'the document names more than one patient (recordTarget): one document per patient is read',
    });
  }
  const replaced = readReplacedDocument(document, findings);
  const reading: DocumentReading = {
    format: 'cda',
    documentId: instanceIdField(first(document, 'id')),
    setId: instanceIdField(first(document, 'setId')),
    versionNumber: attributeField(first(document, 'versionNumber'), 'value'),
    replacesDocumentId: replaced,
    action: replaced ? 'replace' : 'new',
    identity: readIdentity(patientRole, findings),
    ...readDocumentType(document, findings),
    title: textField(first(document, 'title')),
    procedureDate: readProcedureDate(document, findings),
    authorRpps: readAuthorRpps(document),
    files: readCarriedFiles(document, findings),
    mismatchReasons: findings.mismatchReasons,
  };
  if (findings.problems.length > 0) throw new MessageRejection('AE', findings.problems);
  return reading;
}

/** Bytes to text by the BOM or the XML declaration's encoding, UTF-8 otherwise (as XML says). */
function decodeXml(bytes: Buffer): string {
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes);
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes);
  const declared = /^(?:\uFEFF|\u00EF\u00BB\u00BF)?<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(
    bytes.subarray(0, 200).toString('latin1'),
  )?.[1];
  try {
    return new TextDecoder(declared ?? 'utf-8').decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}

function parseClinicalDocument(text: string, prefix: string): Located {
  const xml = text.replace(/^\uFEFF/, '');
  let parsed: unknown;
  try {
    const validation = XMLValidator.validate(xml);
    if (validation !== true) {
      const { line, col, msg } = validation.err;
      const where = col === undefined ? `line ${line}` : `line ${line}, column ${col}`;
      throw new MessageRejection('AE', [{ location: `${prefix}XML ${where}`, code: 100, text: msg }]);
    }
    parsed = parser.parse(xml);
  } catch (error) {
    if (error instanceof MessageRejection) throw error;
    throw new MessageRejection('AE', [
      {
        location: `${prefix}XML`,
        code: 100,
        text: `not readable XML: ${error instanceof Error ? error.message : String(error)}`,
      },
    ]);
  }
  const roots = isRecord(parsed) ? Object.keys(parsed) : [];
  const [rootName, ...others] = roots;
  const root = rootName === undefined ? undefined : (parsed as Record<string, unknown>)[rootName];
  if (rootName === undefined || others.length > 0 || Array.isArray(root)) {
    throw new MessageRejection('AE', [
      { location: `${prefix}XML`, code: 100, text: 'an XML document has exactly one root element' },
    ]);
  }
  if (rootName !== 'ClinicalDocument') {
    throw new MessageRejection('AE', [
      {
        location: `${prefix}${rootName}`,
        code: 100,
        text: `the root element is ${rootName}, not ClinicalDocument`,
      },
    ]);
  }
  return { node: root, path: `${prefix}ClinicalDocument` };
}

function readIdentity(patientRole: Located, findings: Findings): IdentityReading {
  const identity: IdentityReading = {};
  const ids = children(patientRole, 'id');
  const insId = ids.find((id) => {
    const root = attribute(id, 'root');
    return (
      root !== undefined && Object.hasOwn(INS_OID_NAMES, root) && attribute(id, 'extension') !== undefined
    );
  });
  if (insId) {
    const ins = attribute(insId, 'extension')!;
    const oid = attribute(insId, 'root')!;
    identity.ins = { value: ins, source: `${insId.path}/@extension`, confidence: 1 };
    identity.insOid = { value: oid, source: `${insId.path}/@root`, confidence: 1 };
    findings.mismatchReasons.push(...insReasons(ins, oid, insId.path));
  }
  // CDA does not type patient ids: the first one from no national authority is taken for the facility's
  // own. The 1.2.250.1.213.1.4 arc holds national ids (INS, the former INS-C, social security numbers).
  const ippId = ids.find((id) => {
    const root = attribute(id, 'root') ?? '';
    return (
      id !== insId &&
      attribute(id, 'extension') !== undefined &&
      !root.startsWith(NATIONAL_PATIENT_ID_ARC) &&
      !OTHER_NATIONAL_PATIENT_IDS.has(root)
    );
  });
  if (ippId) {
    identity.ipp = {
      value: attribute(ippId, 'extension')!,
      source: `${ippId.path}/@extension`,
      confidence: 0.9,
    };
  }
  const patient = first(patientRole, 'patient');
  if (!patient) return identity;
  Object.assign(identity, readNames(patient));
  const birthTime = first(patient, 'birthTime');
  const birthValue = birthTime && attribute(birthTime, 'value');
  if (birthTime && birthValue !== undefined) {
    const source = `${birthTime.path}/@value`;
    const date = calendarDateOf(birthValue);
    if (date === 'invalid') {
      findings.problems.push({
        location: source,
        code: 102,
        text: `birth time ${birthValue} is not an HL7 date`,
      });
    } else if (date === 'partial') {
      findings.mismatchReasons.push(`birth date ${birthValue} in ${source} is not a full date`);
    } else {
      identity.birthDate = { value: date, source, confidence: 1 };
    }
  }
  const gender = first(patient, 'administrativeGenderCode');
  if (gender) {
    const code = attribute(gender, 'code');
    const sex = code === 'F' || code === 'M' ? code : 'U';
    identity.sex = { value: sex, source: `${gender.path}/@code`, confidence: 1 };
  }
  const county = first(patient, 'birthplace', 'place', 'addr', 'county');
  const birthplace = county && textOf(county);
  if (county && birthplace !== undefined) {
    if (INSEE_CODE.test(birthplace)) {
      identity.birthplaceCode = { value: birthplace, source: county.path, confidence: 1 };
    } else {
      findings.mismatchReasons.push(
        `birthplace ${birthplace} in ${county.path} is not an INSEE commune code`,
      );
    }
  }
  return identity;
}

/** What a person must know about an INS as sent: a wrong key, or an identity that is not a real patient. */
export function insReasons(ins: string, oid: string, source: string): string[] {
  const reasons: string[] = [];
  if (!/^[1-8]\d{4}(\d{2}|2A|2B)\d{8}$/.test(ins)) {
    reasons.push(`INS ${ins} in ${source}: it is not 13 characters and a 2-digit key`);
  } else if (!insKeyIsValid(ins)) {
    reasons.push(`INS ${ins} in ${source}: its key is wrong`);
  }
  if (INS_TEST_OIDS.has(oid)) {
    reasons.push(
      `INS ${ins} in ${source} is an ${INS_OID_NAMES[oid]} identity (${oid}), not a real patient's`,
    );
  }
  return reasons;
}

interface NamePart {
  value: string;
  qualifiers: string[];
  located: Located;
  name: Located;
}

/**
 * CI-SIS names: family BR is the birth name, SP or CL the used one; given BR is the first birth given
 * name, the given without qualifier the list of birth given names, given CL the used given name.
 */
function readNames(patient: Located): IdentityReading {
  const identity: IdentityReading = {};
  const parts = (kind: 'family' | 'given'): NamePart[] =>
    children(patient, 'name').flatMap((name) =>
      children(name, kind).flatMap((located) => {
        const value = textOf(located);
        if (value === undefined) return [];
        return [{ value, qualifiers: attribute(located, 'qualifier')?.split(/\s+/) ?? [], located, name }];
      }),
    );
  const part = (field: NamePart, confidence = 1): Field => ({
    value: field.value,
    source: field.located.path,
    confidence,
  });
  const families = parts('family');
  const birthFamily = families.find((family) => family.qualifiers.includes('BR'));
  const [onlyFamily, ...otherFamilies] = families;
  if (birthFamily) identity.birthLastName = part(birthFamily);
  // A lone family name without qualifier is most often the birth name, but the sender did not say so.
  else if (onlyFamily && otherFamilies.length === 0 && onlyFamily.qualifiers.length === 0) {
    identity.birthLastName = part(onlyFamily, 0.8);
  }
  const usedFamily = families.find((family) => family.qualifiers.some((q) => q === 'SP' || q === 'CL'));
  if (usedFamily) identity.usedLastName = part(usedFamily);

  const givens = parts('given');
  const firstGiven = givens.find((given) => given.qualifiers.includes('BR'));
  const listed = givens.filter((given) => given.qualifiers.length === 0);
  const usedGiven = givens.find((given) => given.qualifiers.includes('CL'));
  if (usedGiven) identity.usedGivenName = part(usedGiven);
  const listedNames = listed.map((given) => given.value).join(' ');
  const [firstListed] = listed;
  const listSource = (named: NamePart[]) =>
    named.length === 1 ? named[0]!.located.path : `${named[0]!.name.path}/given`;
  if (firstGiven) {
    identity.firstBirthGivenName = part(firstGiven);
    if (!firstListed) {
      identity.birthGivenNames = {
        value: firstGiven.value,
        source: firstGiven.located.path,
        confidence: 0.8,
      };
    } else if (startsWithWord(listedNames, firstGiven.value)) {
      identity.birthGivenNames = { value: listedNames, source: listSource(listed), confidence: 1 };
    } else {
      // Some senders list only the given names after the first: put the first one back in front.
      identity.birthGivenNames = {
        value: `${firstGiven.value} ${listedNames}`,
        source: listSource([firstGiven, ...listed]),
        confidence: 0.8,
      };
    }
  } else if (firstListed) {
    identity.birthGivenNames = { value: listedNames, source: listSource(listed), confidence: 0.8 };
    // Without a BR given, the first word of the list is a guess: "Jean Pierre" may be one given name.
    identity.firstBirthGivenName = {
      value: listedNames.split(/\s+/)[0]!,
      source: firstListed.located.path,
      confidence: 0.6,
    };
  }
  return identity;
}

function startsWithWord(list: string, word: string): boolean {
  const [head] = list.split(/\s+/);
  return (
    head !== undefined && head.localeCompare(word.split(/\s+/)[0] ?? '', 'fr', { sensitivity: 'base' }) === 0
  );
}

function readDocumentType(
  document: Located,
  findings: Findings,
): Pick<DocumentReading, 'documentTypeCode' | 'documentTypeLabel'> {
  const code = first(document, 'code');
  const value = code && attribute(code, 'code');
  if (!code || value === undefined) {
    findings.mismatchReasons.push(`the document gives no type code (${document.path}/code/@code)`);
    return {};
  }
  const source = `${code.path}/@code`;
  const system = attribute(code, 'codeSystem');
  const displayName = attributeField(code, 'displayName');
  if (system !== LOINC_OID) {
    findings.mismatchReasons.push(
      `document type ${value} in ${source} is from code system ${system ?? '(none)'}, not LOINC (${LOINC_OID})`,
    );
    return { documentTypeLabel: displayName };
  }
  if (!isLoincCode(value)) {
    findings.mismatchReasons.push(`document type ${value} in ${source} is not a valid LOINC code`);
    return { documentTypeLabel: displayName };
  }
  const label = loincLabel(value);
  return {
    documentTypeCode: { value, source, confidence: 1 },
    documentTypeLabel:
      displayName ?? (label === undefined ? undefined : { value: label, source, confidence: 1 }),
  };
}

function readProcedureDate(document: Located, findings: Findings): Field | undefined {
  for (const documentationOf of children(document, 'documentationOf')) {
    const effectiveTime = first(documentationOf, 'serviceEvent', 'effectiveTime');
    if (!effectiveTime) continue;
    // An interval gives its start, a point in time its value; an interval with only an end (a sample
    // taken before…) gives that end, less surely the day of the act.
    const low = first(effectiveTime, 'low');
    const high = first(effectiveTime, 'high');
    const [located, value, confidence] =
      low && attribute(low, 'value') !== undefined
        ? [low, attribute(low, 'value'), 1]
        : attribute(effectiveTime, 'value') !== undefined || !high
          ? [effectiveTime, attribute(effectiveTime, 'value'), 1]
          : [high, attribute(high, 'value'), 0.9];
    const date = value === undefined ? undefined : dateField(located, value, confidence, findings);
    if (date) return date;
  }
  const effectiveTime = first(document, 'effectiveTime');
  const value = effectiveTime && attribute(effectiveTime, 'value');
  // The date the document was written: the procedure came before, by hours or by days.
  return effectiveTime && value !== undefined ? dateField(effectiveTime, value, 0.6, findings) : undefined;
}

function dateField(
  located: Located,
  value: string,
  confidence: number,
  findings: Findings,
): Field | undefined {
  const source = `${located.path}/@value`;
  const date = calendarDateOf(value);
  if (date === 'invalid') {
    findings.problems.push({ location: source, code: 102, text: `${value} is not an HL7 date` });
    return undefined;
  }
  return date === 'partial' ? undefined : { value: date, source, confidence };
}

function readReplacedDocument(document: Located, findings: Findings): Field | undefined {
  const replacement = children(document, 'relatedDocument').find(
    (related) => attribute(related, 'typeCode') === 'RPLC',
  );
  if (!replacement) return undefined;
  const parentId = first(replacement, 'parentDocument', 'id');
  const replaced = instanceIdField(parentId);
  if (!replaced) {
    findings.problems.push({
      location: parentId?.path ?? `${replacement.path}/parentDocument/id`,
      code: 101,
      text: 'a replacement (RPLC) must name the document it replaces',
    });
  }
  return replaced;
}

/** The first author's RPPS; else the legal authenticator's, who signed the document (less surely its writer). */
function readAuthorRpps(document: Located): Field | undefined {
  const signers = [
    ...children(document, 'author').map((author) => ({
      entity: first(author, 'assignedAuthor'),
      confidence: 1,
    })),
    { entity: first(document, 'legalAuthenticator', 'assignedEntity'), confidence: 0.9 },
  ];
  for (const { entity, confidence } of signers) {
    for (const id of children(entity, 'id')) {
      const extension = attribute(id, 'extension');
      const rpps = attribute(id, 'root') === PROFESSIONAL_ID_OID ? rppsOf(extension) : undefined;
      if (rpps) return { value: rpps, source: `${id.path}/@extension`, confidence };
    }
  }
  return undefined;
}

/**
 * The RPPS number in a national professional id: 11 digits as such, or prefixed with 8 (the id type
 * "RPPS" of the national directory). ADELI ids (prefix 0) and system ids are not RPPS numbers.
 */
export function rppsOf(nationalId: string | undefined): string | undefined {
  if (nationalId === undefined) return undefined;
  if (/^\d{11}$/.test(nationalId)) return nationalId;
  return /^8\d{11}$/.test(nationalId) ? nationalId.slice(1) : undefined;
}

function readCarriedFiles(document: Located, findings: Findings): CarriedFile[] {
  const body = first(document, 'component');
  const nonXmlBody = first(body, 'nonXMLBody');
  if (nonXmlBody) {
    const text = first(nonXmlBody, 'text');
    const file = text && embeddedFile(text, 'document', findings);
    if (!file && !text) {
      findings.problems.push({
        location: `${nonXmlBody.path}/text`,
        code: 101,
        text: 'the body carries no content',
      });
    }
    return file ? [file] : [];
  }
  const files: CarriedFile[] = [];
  for (const section of sections(first(body, 'structuredBody'))) {
    for (const entry of children(section, 'entry')) {
      const media = first(entry, 'observationMedia');
      const value = first(media, 'value');
      // A media given by reference lives outside the message; the CDA still points at it for readers.
      if (!media || !value || textOf(value) === undefined) continue;
      const stem = attribute(media, 'ID') ?? `media-${files.length + 1}`;
      const file = embeddedFile(value, stem, findings);
      if (file) files.push(file);
    }
  }
  return files;
}

function* sections(parent: Located | undefined): Generator<Located> {
  for (const component of children(parent, 'component')) {
    const section = first(component, 'section');
    if (!section) continue;
    yield section;
    yield* sections(section);
  }
}

/** An ED value carried inline: base64 when representation is B64, text otherwise (HL7's default). */
function embeddedFile(located: Located, stem: string, findings: Findings): CarriedFile | undefined {
  const contentType = attribute(located, 'mediaType') ?? 'text/plain';
  const content = textOf(located);
  if (content === undefined) {
    const reference = first(located, 'reference');
    const referenced = reference && attribute(reference, 'value');
    findings.problems.push({
      location: located.path,
      code: 101,
      text: referenced
        ? `the content is referenced (${referenced}), not carried in the document`
        : first(located, 'reference')
          ? 'the content is referenced, not carried in the document'
          : 'the content is empty',
    });
    return undefined;
  }
  const decoded =
    attribute(located, 'representation') === 'B64'
      ? decodeCarriedContent(content, contentType)
      : checkedContent(Buffer.from(content, 'utf8'), contentType);
  if (!Buffer.isBuffer(decoded)) {
    findings.problems.push({ location: located.path, ...decoded });
    return undefined;
  }
  return { fileName: fileNameFor(stem, contentType), contentType, content: decoded, source: located.path };
}

/** Base64 as carried in CDA and FHIR (line breaks allowed) to bytes, or why it cannot be a file. */
export function decodeCarriedContent(
  base64: string,
  contentType: string,
): Buffer | Omit<ReadingProblem, 'location'> {
  const compact = containsAnyOf(base64, ['\r', '\n', ' ', '\t']) ? base64.replace(/\s+/g, '') : base64;
  if (compact === '') return { code: 101, text: 'the content is empty' };
  const decoded = decodeBase64(compact);
  if (typeof decoded === 'string') return { code: 102, text: `the content is not valid base64: ${decoded}` };
  return checkedContent(decoded, contentType);
}

/** A PDF must open and end as one: a cut transfer often still decodes, but loses its %%EOF. */
function checkedContent(content: Buffer, contentType: string): Buffer | Omit<ReadingProblem, 'location'> {
  if (baseMediaType(contentType) !== 'application/pdf') return content;
  // PDF readers accept the header within the first 1024 bytes and %%EOF within the last 1024.
  if (!content.subarray(0, 1024).includes('%PDF-')) return { code: 102, text: 'the content is not a PDF' };
  if (!content.subarray(-1024).includes('%%EOF')) {
    return { code: 102, text: 'the PDF has no %%EOF: it is truncated' };
  }
  return content;
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  'application/pdf': 'pdf',
  'application/xml': 'xml',
  'text/xml': 'xml',
  'text/plain': 'txt',
  'text/html': 'html',
  'text/rtf': 'rtf',
  'application/rtf': 'rtf',
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/tiff': 'tiff',
  'image/bmp': 'bmp',
  'application/dicom': 'dcm',
};

/** A safe file name from a stem the sender chose (an ID, a title) and the media type. */
export function fileNameFor(stem: string, contentType: string): string {
  const safeStem = stem.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || 'document';
  return `${safeStem}.${EXTENSIONS[baseMediaType(contentType)] ?? 'bin'}`;
}

function baseMediaType(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

function instanceIdField(id: Located | undefined): Field | undefined {
  const root = id && attribute(id, 'root');
  if (!id || root === undefined) return undefined;
  const extension = attribute(id, 'extension');
  return { value: extension === undefined ? root : `${root}^${extension}`, source: id.path, confidence: 1 };
}

function attributeField(located: Located | undefined, name: string): Field | undefined {
  const value = located && attribute(located, name);
  return located && value !== undefined
    ? { value, source: `${located.path}/@${name}`, confidence: 1 }
    : undefined;
}

function textField(located: Located | undefined): Field | undefined {
  const value = located && textOf(located);
  return located && value !== undefined ? { value, source: located.path, confidence: 1 } : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The elements named `name` under `parent`, indexed in their path when there are several. */
function children(parent: Located | undefined, name: string): Located[] {
  if (!parent || !isRecord(parent.node) || !Object.hasOwn(parent.node, name)) return [];
  const value = parent.node[name];
  const list = Array.isArray(value) ? value : [value];
  return list.map((node, index) => ({
    node,
    path: list.length > 1 ? `${parent.path}/${name}[${index + 1}]` : `${parent.path}/${name}`,
  }));
}

/** The first element down a chain of names. */
function first(parent: Located | undefined, ...names: string[]): Located | undefined {
  let located = parent;
  for (const name of names) located = children(located, name)[0];
  return located;
}

function attribute(located: Located, name: string): string | undefined {
  if (!isRecord(located.node)) return undefined;
  const value = located.node[`@${name}`];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function textOf(located: Located): string | undefined {
  const node = located.node;
  const text = typeof node === 'string' ? node : isRecord(node) ? node['#text'] : undefined;
  const token = typeof text === 'string' ? SET_ASIDE_TOKEN.exec(text) : null;
  const full = token ? setAside[Number(token[1])] : text;
  return typeof full === 'string' && full.trim() !== '' ? full.trim() : undefined;
}
