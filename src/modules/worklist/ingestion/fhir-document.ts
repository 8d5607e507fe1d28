/**
 * Reads FHIR R4 documents as a sender pushes them: a DocumentReference alone (its Patient contained), or
 * a Bundle of any type holding DocumentReferences with the Binaries and Patients they point at. The
 * input is whatever JSON arrived, so every element is checked before it is read.
 */
import type {
  Attachment,
  Binary,
  Bundle,
  BundleEntry,
  Coding,
  DocumentReference,
  Extension,
  Identifier,
  Patient,
  Practitioner,
  PractitionerRole,
  Resource,
} from 'fhir/r4.js';
import {
  decodeCarriedContent,
  fileNameFor,
  INSEE_CODE,
  insReasons,
  NATIONAL_PATIENT_ID_ARC,
  PROFESSIONAL_ID_OID,
  rppsOf,
} from './cda.ts';
import { isLoincCode, LOINC_SYSTEM, loincLabel } from './loinc.ts';
import {
  type CarriedFile,
  type DocumentReading,
  type Field,
  type IdentityReading,
  INS_OID_NAMES,
  MessageRejection,
  type ReadingProblem,
} from './reading.ts';

const BIRTHPLACE_URLS = new Set([
  'http://hl7.org/fhir/StructureDefinition/patient-birthPlace',
  'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-place',
]);
const INSEE_CODE_URL = 'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code';
const IDENTITY_RELIABILITY_URL =
  'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability';
const RELIABILITY_STATUSES = new Set(['PROV', 'RECUP', 'VALI', 'QUAL']);
const RPPS_SYSTEMS = new Set([`urn:oid:${PROFESSIONAL_ID_OID}`, 'http://rpps.fr']);
const SEXES: Readonly<Record<string, 'F' | 'M' | 'U'>> = { female: 'F', male: 'M', other: 'U', unknown: 'U' };

/** A resource as received: FHIR's keys, values of any shape until checked. */
type Untrusted<T> = { readonly [K in keyof T]?: unknown };
type ElementOf<A> = NonNullable<A> extends ReadonlyArray<infer E> ? E : never;

/**
 * An element with its JSON path (`Bundle.entry[2].resource.birthDate`, where a problem is located) and its
 * source (`DocumentReference.subject→Patient.birthDate`, how a field was reached).
 */
interface Node<T> {
  value: Untrusted<T>;
  path: string;
  source: string;
}

/** What reading finds besides fields: problems reject the message, reasons go to a person. */
interface Findings {
  problems: ReadingProblem[];
  mismatchReasons: string[];
}

/** Resources of a bundle by every name a reference may use: fullUrl, `Type/id`. */
type BundleIndex = Map<string, Node<Resource>>;

export function readFhirDocuments(resource: unknown): DocumentReading[] {
  const resourceType = isRecord(resource) ? resource.resourceType : undefined;
  if (!isRecord(resource) || typeof resourceType !== 'string') {
    throw new MessageRejection('AR', [
      { location: 'resourceType', code: 100, text: 'not a FHIR resource: a JSON object with a resourceType' },
    ]);
  }
  const problems: ReadingProblem[] = [];
  let readings: DocumentReading[];
  if (resourceType === 'DocumentReference') {
    const node: Node<DocumentReference> = {
      value: resource,
      path: 'DocumentReference',
      source: 'DocumentReference',
    };
    readings = [readDocumentReference(node, new Map(), problems)];
  } else if (resourceType === 'Bundle') {
    readings = readBundle({ value: resource, path: 'Bundle', source: 'Bundle' }, problems);
  } else {
    throw new MessageRejection('AR', [
      {
        location: 'resourceType',
        code: 200,
        text: `a ${resourceType} is not accepted: send a DocumentReference or a Bundle of them`,
      },
    ]);
  }
  if (problems.length > 0) throw new MessageRejection('AE', problems);
  return readings;
}

function readBundle(bundle: Node<Bundle>, problems: ReadingProblem[]): DocumentReading[] {
  const index: BundleIndex = new Map();
  const documents: Array<Node<DocumentReference>> = [];
  for (const entry of items(bundle, 'entry') as Array<Node<BundleEntry>>) {
    const resource = child(entry, 'resource') as Node<Resource> | undefined;
    const resourceType = text(resource, 'resourceType');
    if (!resource || !resourceType) continue;
    const id = text(resource, 'id');
    const fullUrl = text(entry, 'fullUrl');
    if (fullUrl) {
      index.set(fullUrl, resource);
      index.set(relativeReference(fullUrl), resource);
    }
    if (id) index.set(`${resourceType}/${id}`, resource);
    if (resourceType === 'DocumentReference') documents.push(resource as Node<DocumentReference>);
  }
  if (documents.length === 0) {
    throw new MessageRejection('AE', [
      { location: 'Bundle.entry', code: 101, text: 'the bundle holds no DocumentReference' },
    ]);
  }
  // A DocumentReference another one of the bundle replaces is there to be pointed at, not to be filed.
  const replaced = new Set(
    documents.flatMap((document) =>
      items(document, 'relatesTo')
        .filter((relatesTo) => text(relatesTo, 'code') === 'replaces')
        .map((relatesTo) => text(child(relatesTo, 'target'), 'reference'))
        .flatMap((reference) => (reference ? [resolve(reference, '', document, index)?.value] : [])),
    ),
  );
  return documents
    .filter((document) => !replaced.has(document.value))
    .map((document) => readDocumentReference(document, index, problems));
}

function readDocumentReference(
  document: Node<DocumentReference>,
  index: BundleIndex,
  problems: ReadingProblem[],
): DocumentReading {
  const findings: Findings = { problems, mismatchReasons: [] };
  const deleted =
    text(document, 'status') === 'entered-in-error' || text(document, 'docStatus') === 'entered-in-error';
  const replaced = deleted ? undefined : readReplacedDocument(document, index, findings);
  return {
    format: 'fhir',
    documentId: identifierField(child(document, 'masterIdentifier')),
    replacesDocumentId: replaced,
    action: deleted ? 'delete' : replaced ? 'replace' : 'new',
    identity: readSubject(document, index, findings),
    ...readDocumentType(document, findings),
    title: readTitle(document),
    procedureDate: readProcedureDate(document, findings),
    authorRpps: readAuthorRpps(document, index),
    // A deletion withdraws what was received before: whatever it carries is not read.
    files: deleted ? [] : readFiles(document, index, findings),
    mismatchReasons: findings.mismatchReasons,
  };
}

/**
 * The canonical document id shared with the CDA reader: `root^extension` for an OID system, the bare
 * OID for an RFC 3986 `urn:oid:` value (how XDS gives a CDA id without extension), `system|value` else.
 */
function canonicalIdentifier(identifier: Node<Identifier> | undefined): string | undefined {
  const value = text(identifier, 'value');
  if (value === undefined) return undefined;
  const system = text(identifier, 'system');
  if (system === undefined) return value;
  if (system === 'urn:ietf:rfc:3986') return value.replace(/^urn:oid:/, '');
  if (system.startsWith('urn:oid:')) return `${system.slice('urn:oid:'.length)}^${value}`;
  return `${system}|${value}`;
}

function identifierField(identifier: Node<Identifier> | undefined): Field | undefined {
  const value = canonicalIdentifier(identifier);
  return identifier && value !== undefined ? { value, source: identifier.source, confidence: 1 } : undefined;
}

function readReplacedDocument(
  document: Node<DocumentReference>,
  index: BundleIndex,
  findings: Findings,
): Field | undefined {
  const relation = items(document, 'relatesTo').find((relatesTo) => text(relatesTo, 'code') === 'replaces');
  if (!relation) return undefined;
  const target = child(relation, 'target');
  const reference = text(target, 'reference');
  const resolved = target && reference ? resolve(reference, target.source, document, index) : undefined;
  const replaced =
    identifierField(child(ofType<DocumentReference>(resolved, 'DocumentReference'), 'masterIdentifier')) ??
    identifierField(child(target, 'identifier'));
  if (!replaced) {
    findings.problems.push({
      location: target?.path ?? `${relation.path}.target`,
      code: 101,
      text: reference
        ? `the replaced document ${reference} is neither in the message nor named by an identifier`
        : 'a replacement must name the document it replaces',
    });
  }
  return replaced;
}

function readSubject(
  document: Node<DocumentReference>,
  index: BundleIndex,
  findings: Findings,
): IdentityReading {
  const subject = child(document, 'subject');
  if (!subject) {
    findings.mismatchReasons.push(`the document names no patient (${document.source}.subject)`);
    return {};
  }
  const reference = text(subject, 'reference');
  const patient = ofType<Patient>(
    reference ? resolve(reference, subject.source, document, index) : undefined,
    'Patient',
  );
  if (patient) return readPatient(patient, findings);
  const identifier = child(subject, 'identifier');
  if (identifier) return readIdentifiers([identifier], findings);
  findings.mismatchReasons.push(
    reference
      ? `the patient ${reference} (${subject.source}) is not in the message and has no identifier`
      : `the subject (${subject.source}) names no patient`,
  );
  return {};
}

function readPatient(patient: Node<Patient>, findings: Findings): IdentityReading {
  const identity: IdentityReading = {
    ...readIdentifiers(items(patient, 'identifier'), findings),
    ...readNames(patient),
  };
  const birthDate = text(patient, 'birthDate');
  if (birthDate !== undefined) {
    const date = readFhirDate(birthDate);
    const source = `${patient.source}.birthDate`;
    if (date === 'invalid') {
      findings.problems.push({
        location: `${patient.path}.birthDate`,
        code: 102,
        text: `birth date ${birthDate} is not a FHIR date`,
      });
    } else if (date === 'partial') {
      findings.mismatchReasons.push(`birth date ${birthDate} in ${source} is not a full date`);
    } else {
      identity.birthDate = { value: date, source, confidence: 1 };
    }
  }
  const gender = patient.value.gender;
  if (gender !== undefined) {
    const sex = typeof gender === 'string' && Object.hasOwn(SEXES, gender) ? SEXES[gender] : undefined;
    if (sex) identity.sex = { value: sex, source: `${patient.source}.gender`, confidence: 1 };
    else {
      findings.problems.push({
        location: `${patient.path}.gender`,
        code: 103,
        text: `gender ${JSON.stringify(gender)} is not one of female, male, other, unknown`,
      });
    }
  }
  const extensions = items(patient, 'extension');
  const birthplace = readBirthplace(
    extensions.filter((extension) => BIRTHPLACE_URLS.has(text(extension, 'url') ?? '')),
  );
  if (birthplace && INSEE_CODE.test(birthplace.value)) identity.birthplaceCode = birthplace;
  else if (birthplace) {
    findings.mismatchReasons.push(
      `birthplace ${birthplace.value} in ${birthplace.source} is not an INSEE commune code`,
    );
  }
  const reliability = extensions
    .filter((extension) => text(extension, 'url') === IDENTITY_RELIABILITY_URL)
    .flatMap((extension) => items(extension, 'extension'))
    .filter((part) => text(part, 'url') === 'identityStatus')
    .map((part) => child(part, 'valueCoding'))
    .find((coding) => RELIABILITY_STATUSES.has(text(coding, 'code') ?? ''));
  if (reliability) {
    identity.reliability = {
      value: text(reliability, 'code')!,
      source: `${reliability.source}.code`,
      confidence: 1,
    };
  }
  return identity;
}

/** INS by its OID system; the IPP is the identifier typed PI or MR, else the first other local one. */
function readIdentifiers(identifiers: Array<Node<Identifier>>, findings: Findings): IdentityReading {
  const identity: IdentityReading = {};
  const current = identifiers.filter(
    (identifier) => text(identifier, 'use') !== 'old' && text(identifier, 'value'),
  );
  const insOidOf = (identifier: Node<Identifier>) => {
    const oid = text(identifier, 'system')?.replace(/^urn:oid:/, '');
    return oid !== undefined && Object.hasOwn(INS_OID_NAMES, oid) ? oid : undefined;
  };
  const insIdentifier = current.find((identifier) => insOidOf(identifier) !== undefined);
  if (insIdentifier) {
    const ins = text(insIdentifier, 'value')!;
    const oid = insOidOf(insIdentifier)!;
    identity.ins = { value: ins, source: insIdentifier.source, confidence: 1 };
    identity.insOid = { value: oid, source: `${insIdentifier.source}.system`, confidence: 1 };
    findings.mismatchReasons.push(...insReasons(ins, oid, insIdentifier.source));
  }
  const local = current.filter(
    (identifier) => !text(identifier, 'system')?.startsWith(`urn:oid:${NATIONAL_PATIENT_ID_ARC}`),
  );
  const typed = local.find((identifier) =>
    items(child(identifier, 'type'), 'coding').some((coding) =>
      ['PI', 'MR'].includes(text(coding, 'code') ?? ''),
    ),
  );
  const [firstLocal] = local;
  if (typed) identity.ipp = { value: text(typed, 'value')!, source: typed.source, confidence: 1 };
  // An untyped identifier may be another facility's or an insurer's: likely, not certain, the IPP.
  else if (firstLocal)
    identity.ipp = { value: text(firstLocal, 'value')!, source: firstLocal.source, confidence: 0.9 };
  return identity;
}

/** `official` is the birth name (`maiden` too, less surely), `usual` the used one; ended names are left out. */
function readNames(patient: Node<Patient>): IdentityReading {
  const identity: IdentityReading = {};
  const today = new Date().toISOString().slice(0, 10);
  const names = items(patient, 'name').filter((name) => {
    const end = text(child(name, 'period'), 'end');
    return text(name, 'use') !== 'old' && (end === undefined || end.slice(0, 10) >= today);
  });
  const withUse = (use: string) => names.find((name) => text(name, 'use') === use);
  const [onlyName, ...otherNames] = names;
  const unqualified =
    onlyName && otherNames.length === 0 && text(onlyName, 'use') === undefined ? onlyName : undefined;
  const official = withUse('official');
  const maiden = withUse('maiden');
  // A lone name without `use` is most often the birth name, but the sender did not say so.
  const [birthName, confidence] = official ? [official, 1] : maiden ? [maiden, 0.9] : [unqualified, 0.8];
  if (birthName) {
    const family = text(birthName, 'family');
    if (family) identity.birthLastName = { value: family, source: `${birthName.source}.family`, confidence };
    const givens = stringsOf(birthName.value.given);
    const [firstGiven] = givens;
    if (firstGiven) {
      const names = givens.join(' ');
      identity.birthGivenNames = { value: names, source: `${birthName.source}.given`, confidence };
      // One given holding several words may be the whole list, or one compound name ("Jean Pierre").
      const listInOne = givens.length === 1 && /\s/.test(firstGiven);
      identity.firstBirthGivenName = {
        value: listInOne ? firstGiven.split(/\s+/)[0]! : firstGiven,
        source: `${birthName.source}.given[0]`,
        confidence: listInOne ? 0.6 : confidence,
      };
    }
  }
  const usual = withUse('usual');
  const usedFamily = text(usual, 'family');
  const [usedGiven] = stringsOf(usual?.value.given);
  if (usual && usedFamily)
    identity.usedLastName = { value: usedFamily, source: `${usual.source}.family`, confidence: 1 };
  if (usual && usedGiven)
    identity.usedGivenName = { value: usedGiven, source: `${usual.source}.given[0]`, confidence: 1 };
  return identity;
}

/** The INSEE code FR Core puts in an extension of the birth address, else the address's district. */
function readBirthplace(extensions: Array<Node<Extension>>): Field | undefined {
  for (const extension of extensions) {
    const address = child(extension, 'valueAddress');
    const inseeCode = items(address, 'extension').find((part) => text(part, 'url') === INSEE_CODE_URL);
    const coding = child(inseeCode, 'valueCoding');
    const code = text(coding, 'code');
    if (coding && code) return { value: code, source: `${coding.source}.code`, confidence: 1 };
    const district = text(address, 'district');
    if (address && district) return { value: district, source: `${address.source}.district`, confidence: 1 };
  }
  return undefined;
}

function readDocumentType(
  document: Node<DocumentReference>,
  findings: Findings,
): Pick<DocumentReading, 'documentTypeCode' | 'documentTypeLabel'> {
  const type = child(document, 'type');
  const codings = items(type, 'coding');
  const loinc = codings.find((coding) => text(coding, 'system') === LOINC_SYSTEM && text(coding, 'code'));
  const typeText = text(type, 'text');
  const textLabel =
    type && typeText ? { value: typeText, source: `${type.source}.text`, confidence: 1 } : undefined;
  if (!loinc) {
    const [other] = codings;
    findings.mismatchReasons.push(
      other
        ? `document type ${text(other, 'code') ?? '(no code)'} in ${other.source} is from code system ${text(other, 'system') ?? '(none)'}, not LOINC (${LOINC_SYSTEM})`
        : `the document gives no LOINC type code (${document.source}.type.coding)`,
    );
    return { documentTypeLabel: displayField(codings[0]) ?? textLabel };
  }
  const code = text(loinc, 'code')!;
  const source = `${loinc.source}.code`;
  if (!isLoincCode(code)) {
    findings.mismatchReasons.push(`document type ${code} in ${source} is not a valid LOINC code`);
    return { documentTypeLabel: displayField(loinc) ?? textLabel };
  }
  const label = loincLabel(code);
  return {
    documentTypeCode: { value: code, source, confidence: 1 },
    documentTypeLabel:
      displayField(loinc) ??
      textLabel ??
      (label === undefined ? undefined : { value: label, source, confidence: 1 }),
  };
}

function displayField(coding: Node<Coding> | undefined): Field | undefined {
  const display = text(coding, 'display');
  return coding && display
    ? { value: display, source: `${coding.source}.display`, confidence: 1 }
    : undefined;
}

function readTitle(document: Node<DocumentReference>): Field | undefined {
  const description = text(document, 'description');
  if (description) return { value: description, source: `${document.source}.description`, confidence: 1 };
  const attachment = child(items(document, 'content')[0], 'attachment');
  const title = text(attachment, 'title');
  return attachment && title
    ? { value: title, source: `${attachment.source}.title`, confidence: 1 }
    : undefined;
}

function readProcedureDate(document: Node<DocumentReference>, findings: Findings): Field | undefined {
  const period = child(child(document, 'context'), 'period');
  const start = text(period, 'start');
  const fromPeriod = period && start ? dateField(period, 'start', start, 1, findings) : undefined;
  if (fromPeriod) return fromPeriod;
  const date = text(document, 'date');
  // When the reference was written: the procedure came before, by hours or by days.
  return date ? dateField(document, 'date', date, 0.6, findings) : undefined;
}

function dateField<T>(
  parent: Node<T>,
  key: string,
  value: string,
  confidence: number,
  findings: Findings,
): Field | undefined {
  const date = readFhirDate(value);
  if (date === 'invalid') {
    findings.problems.push({
      location: `${parent.path}.${key}`,
      code: 102,
      text: `${value} is not a FHIR date`,
    });
    return undefined;
  }
  return date === 'partial' ? undefined : { value: date, source: `${parent.source}.${key}`, confidence };
}

/** A FHIR date, dateTime or instant to its calendar date as written; `partial` before the day. */
function readFhirDate(value: string): string | 'partial' | 'invalid' {
  const match =
    /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T([01]\d|2[0-3]):[0-5]\d(?::([0-5]\d|60)(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)?)?$/.exec(
      value,
    );
  if (!match) return 'invalid';
  const [, year, month, day] = match;
  if (month === undefined) return 'partial';
  if (Number(month) < 1 || Number(month) > 12) return 'invalid';
  if (day === undefined) return 'partial';
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  return date.getUTCMonth() === Number(month) - 1 && date.getUTCDate() === Number(day)
    ? `${year}-${month}-${day}`
    : 'invalid';
}

function readAuthorRpps(document: Node<DocumentReference>, index: BundleIndex): Field | undefined {
  for (const author of items(document, 'author')) {
    const reference = text(author, 'reference');
    const resolved = reference ? resolve(reference, author.source, document, index) : undefined;
    const role = ofType<PractitionerRole>(resolved, 'PractitionerRole');
    const roleReference = text(child(role, 'practitioner'), 'reference');
    const practitioner =
      ofType<Practitioner>(resolved, 'Practitioner') ??
      ofType<Practitioner>(
        role && roleReference
          ? resolve(roleReference, `${role.source}.practitioner`, document, index)
          : undefined,
        'Practitioner',
      );
    const identifiers = [child(author, 'identifier'), ...items(practitioner, 'identifier')];
    for (const identifier of identifiers) {
      const rpps = RPPS_SYSTEMS.has(text(identifier, 'system') ?? '')
        ? rppsOf(text(identifier, 'value'))
        : undefined;
      if (identifier && rpps) return { value: rpps, source: identifier.source, confidence: 1 };
    }
  }
  return undefined;
}

function readFiles(document: Node<DocumentReference>, index: BundleIndex, findings: Findings): CarriedFile[] {
  const contents = items(document, 'content');
  if (contents.length === 0) {
    findings.problems.push({
      location: `${document.path}.content`,
      code: 101,
      text: 'the document carries no content',
    });
    return [];
  }
  return contents.flatMap((content, position) => {
    const attachment = child(content, 'attachment');
    if (!attachment) {
      findings.problems.push({
        location: `${content.path}.attachment`,
        code: 101,
        text: 'the content has no attachment',
      });
      return [];
    }
    const stem = text(attachment, 'title') ?? (contents.length > 1 ? `document-${position + 1}` : 'document');
    const file = readAttachment(attachment, stem, document, index, findings);
    return file ? [file] : [];
  });
}

function readAttachment(
  attachment: Node<Attachment>,
  stem: string,
  document: Node<DocumentReference>,
  index: BundleIndex,
  findings: Findings,
): CarriedFile | undefined {
  const carried = carriedData(attachment, document, index);
  if (!carried) {
    const url = text(attachment, 'url');
    findings.problems.push({
      location: attachment.path,
      code: 101,
      text: url
        ? `the attachment points at ${url}, which is not in the message`
        : 'the attachment carries neither data nor a Binary',
    });
    return undefined;
  }
  const contentType = text(attachment, 'contentType') ?? carried.contentType ?? 'application/octet-stream';
  if (typeof carried.data !== 'string') {
    findings.problems.push({
      location: carried.path,
      code: carried.data === undefined ? 101 : 102,
      text: 'the content is not base64 text',
    });
    return undefined;
  }
  const decoded = decodeCarriedContent(carried.data, contentType);
  if (!Buffer.isBuffer(decoded)) {
    findings.problems.push({ location: carried.path, ...decoded });
    return undefined;
  }
  return { fileName: fileNameFor(stem, contentType), contentType, content: decoded, source: carried.source };
}

/** The attachment's inline data, or the Binary its url points at. */
function carriedData(
  attachment: Node<Attachment>,
  document: Node<DocumentReference>,
  index: BundleIndex,
): { data: unknown; path: string; source: string; contentType?: string | undefined } | undefined {
  const inline = own(attachment.value, 'data');
  if (inline !== undefined) {
    return { data: inline, path: `${attachment.path}.data`, source: `${attachment.source}.data` };
  }
  const url = text(attachment, 'url');
  const binary = ofType<Binary>(
    url ? resolve(url, `${attachment.source}.url`, document, index) : undefined,
    'Binary',
  );
  if (!binary) return undefined;
  return {
    data: own(binary.value, 'data'),
    path: `${binary.path}.data`,
    source: `${binary.source}.data`,
    contentType: text(binary, 'contentType'),
  };
}

/** A reference to a contained resource (`#id`) or to a bundle entry (fullUrl, `Type/id`, absolute URL). */
function resolve(
  reference: string,
  source: string,
  document: Node<DocumentReference>,
  index: BundleIndex,
): Node<Resource> | undefined {
  const found = reference.startsWith('#')
    ? (items(document, 'contained') as Array<Node<Resource>>).find(
        (contained) => text(contained, 'id') === reference.slice(1),
      )
    : (index.get(reference) ?? index.get(relativeReference(reference.replace(/\/_history\/[^/]+$/, ''))));
  const resourceType = text(found, 'resourceType');
  return found && resourceType ? { ...found, source: `${source}→${resourceType}` } : undefined;
}

/** `https://host/fhir/Patient/12/_history/3` → `Patient/12`; anything else as is. */
function relativeReference(url: string): string {
  const match = /([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(url);
  return match ? match[1]! : url;
}

function ofType<T>(node: Node<Resource> | undefined, resourceType: string): Node<T> | undefined {
  return node && text(node, 'resourceType') === resourceType ? (node as unknown as Node<T>) : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function own(value: object, key: string): unknown {
  return Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
}

function child<T, K extends keyof T & string>(
  parent: Node<T> | undefined,
  key: K,
): Node<NonNullable<T[K]>> | undefined {
  const value = parent && own(parent.value, key);
  if (!parent || !isRecord(value)) return undefined;
  return {
    value: value as Untrusted<NonNullable<T[K]>>,
    path: `${parent.path}.${key}`,
    source: `${parent.source}.${key}`,
  };
}

function items<T, K extends keyof T & string>(
  parent: Node<T> | undefined,
  key: K,
): Array<Node<ElementOf<T[K]>>> {
  const list = parent && own(parent.value, key);
  if (!parent || !Array.isArray(list)) return [];
  return list.flatMap((item: unknown, index) =>
    isRecord(item)
      ? [
          {
            value: item as Untrusted<ElementOf<T[K]>>,
            path: `${parent.path}.${key}[${index}]`,
            source: `${parent.source}.${key}[${index}]`,
          },
        ]
      : [],
  );
}

function text<T>(parent: Node<T> | undefined, key: keyof T & string): string | undefined {
  const value = parent && own(parent.value, key);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function stringsOf(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item: unknown) =>
    typeof item === 'string' && item.trim() !== '' ? [item.trim()] : [],
  );
}
