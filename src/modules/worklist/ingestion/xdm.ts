/**
 * Reads an IHE XDM package (ITI TF-1 §16, TF-3 §4.2.4: the `IHE_XDM.zip` an MSSanté letter carries):
 * `IHE_XDM/SUBSET01/METADATA.XML` (an ebRIM SubmitObjectsRequest whose ExtrinsicObjects describe the
 * documents), the documents beside it (`DOC0001.XML` a CDA, a PDF…), `INDEX.HTM` and `README.TXT`.
 *
 * The zip comes from outside, so it is read from memory and bounded before anything is inflated: the
 * number of entries and the total uncompressed size are checked against the central directory, and
 * again while inflating (a directory can lie). Entry names that are absolute or climb (`..`, `\`) make
 * the package unacceptable. Nothing is written to disk.
 */
import { posix } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import yauzl, { type Entry, type ZipFile } from 'yauzl';

export interface XdmLimits {
  /** Entries of the central directory, directories included. */
  maxEntries: number;
  /** Uncompressed bytes of all entries together. */
  maxBytes: number;
}

/** What METADATA.XML says of one document (XDSDocumentEntry). */
export interface XdmMetadata {
  /** XDSDocumentEntry.uniqueId: for a CDA, its ClinicalDocument/id (`root^extension` or an OID). */
  uniqueId?: string;
  /** XDSDocumentEntry.patientId, CX as sent: `<INS>^^^&1.2.250.1.213.1.4.8&ISO`. */
  patientId?: string;
  /** XDSDocumentEntry.sourcePatientId, CX as sent, where given. */
  sourcePatientId?: string;
  /** XDSDocumentEntry.typeCode (a LOINC code of JDV_J07 in France). */
  typeCode?: string;
  /** XDSDocumentEntry.classCode. */
  classCode?: string;
  /** The document's title (ExtrinsicObject/Name). */
  title?: string;
  /** XDSDocumentEntry.creationTime, an HL7 DTM as sent (`20241019093000`). */
  creationTime?: string;
}

export interface XdmDocument {
  /** The entry's base name (`DOC0001.XML`). */
  fileName: string;
  /** The entry's path in the zip (`IHE_XDM/SUBSET01/DOC0001.XML`). */
  path: string;
  contentType: string;
  content: Buffer;
  metadata: XdmMetadata;
  /**
   * `metadata`: listed by a METADATA.XML. `extension`: the package had no METADATA.XML and the
   * document was taken for its file extension, so `metadata` is empty.
   */
  located: 'metadata' | 'extension';
}

export type XdmErrorReason =
  | 'not-a-zip'
  | 'corrupt'
  | 'too-many-entries'
  | 'too-large'
  | 'unsafe-entry-name'
  | 'duplicate-entry'
  | 'encrypted'
  | 'invalid-metadata'
  | 'missing-document'
  | 'no-document';

/** A package that cannot be read; `reason` says why, the message says it to a person. */
export class XdmError extends Error {
  constructor(
    readonly reason: XdmErrorReason,
    message: string,
  ) {
    super(`IHE XDM package: ${message}`);
    this.name = 'XdmError';
  }
}

/** ebRIM classification schemes and identification schemes of XDSDocumentEntry (ITI TF-3 §4.2.5). */
const TYPE_CODE_SCHEME = 'urn:uuid:f0306f51-975f-434e-a61c-c59651d33983';
const CLASS_CODE_SCHEME = 'urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a';
const UNIQUE_ID_SCHEME = 'urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab';
const PATIENT_ID_SCHEME = 'urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427';

const REPEATING = new Set([
  'RegistryObjectList',
  'ExtrinsicObject',
  'Slot',
  'Value',
  'Classification',
  'ExternalIdentifier',
  'LocalizedString',
]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  removeNSPrefix: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (name, _path, _isLeaf, isAttribute) => !isAttribute && REPEATING.has(name),
});

/** Types taken when there is no METADATA.XML, by extension; the package's own files are not documents. */
const TYPE_BY_EXTENSION: Record<string, string> = {
  '.pdf': 'application/pdf',
  '.xml': 'text/xml',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
};
const METADATA_PATH = /(?:^|\/)IHE_XDM\/[^/]+\/METADATA\.XML$/i;

/**
 * The documents of an XDM package, in the order METADATA.XML lists them (then the next submission
 * set), each with what the metadata says of it. Throws an {@link XdmError} for a buffer that is no
 * zip, a package over `limits`, an unsafe entry name, unreadable metadata, or a listed document the
 * zip does not hold. Without any METADATA.XML, the PDF, XML and image files are taken by extension
 * (`located: 'extension'`).
 */
export async function readXdm(zip: Buffer, limits: XdmLimits): Promise<XdmDocument[]> {
  const entries = await readEntries(zip, limits);
  const metadataPaths = [...entries.keys()].filter((path) => METADATA_PATH.test(path)).sort();
  const documents =
    metadataPaths.length > 0
      ? metadataPaths.flatMap((path) => documentsListedIn(path, entries))
      : documentsByExtension(entries);
  if (documents.length === 0) {
    throw new XdmError(
      'no-document',
      metadataPaths.length > 0
        ? 'METADATA.XML lists no document'
        : 'no METADATA.XML and no PDF, XML or image file in the package',
    );
  }
  return documents;
}

/** Every file entry by its path (keys as named in the zip), read within the limits. */
async function readEntries(zip: Buffer, limits: XdmLimits): Promise<Map<string, Buffer>> {
  // A zip starts with a local file header, or is only an end of central directory (empty).
  const signature = zip.length >= 4 ? zip.readUInt32LE(0) : 0;
  if (signature !== 0x04034b50 && signature !== 0x06054b50) {
    throw new XdmError('not-a-zip', 'the attachment is not a zip file (no PK signature at its start)');
  }
  let zipFile: ZipFile;
  try {
    zipFile = await yauzl.fromBufferPromise(zip, {
      lazyEntries: true,
      decodeStrings: true,
      validateEntrySizes: true,
      strictFileNames: true,
    });
  } catch (error) {
    throw asXdmError(error);
  }
  try {
    if (zipFile.entryCount > limits.maxEntries) {
      throw new XdmError(
        'too-many-entries',
        `${zipFile.entryCount} entries, more than the ${limits.maxEntries} accepted`,
      );
    }
    const files = new Map<string, Buffer>();
    const seen = new Set<string>();
    let declared = 0;
    let inflated = 0;
    // yauzl refuses absolute and climbing names itself (strictFileNames); checkEntryName says why.
    for await (const entry of zipFile.eachEntry()) {
      checkEntryName(entry.fileName);
      const key = entry.fileName.toUpperCase();
      if (seen.has(key)) throw new XdmError('duplicate-entry', `two entries are named ${entry.fileName}`);
      seen.add(key);
      if (entry.fileName.endsWith('/')) continue;
      if (entry.isEncrypted()) throw new XdmError('encrypted', `${entry.fileName} is encrypted`);
      declared += entry.uncompressedSize;
      if (declared > limits.maxBytes) {
        throw new XdmError('too-large', `more than ${limits.maxBytes} bytes once uncompressed`);
      }
      const content = await readEntry(zipFile, entry, limits.maxBytes - inflated);
      inflated += content.length;
      files.set(entry.fileName, content);
    }
    return files;
  } catch (error) {
    throw asXdmError(error);
  } finally {
    if (zipFile.isOpen) zipFile.close();
  }
}

function checkEntryName(name: string): void {
  const unsafe =
    name.includes('\\') ||
    name.startsWith('/') ||
    /^[a-zA-Z]:/.test(name) ||
    name.split('/').includes('..') ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    /[\u0000-\u001f]/.test(name);
  if (unsafe) throw new XdmError('unsafe-entry-name', `unsafe entry name ${JSON.stringify(name)}`);
}

async function readEntry(zipFile: ZipFile, entry: Entry, budget: number): Promise<Buffer> {
  const stream = await zipFile.openReadStreamPromise(entry);
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > budget) {
      stream.destroy();
      throw new XdmError('too-large', `${entry.fileName} inflates past the size accepted`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, length);
}

function asXdmError(error: unknown): XdmError {
  if (error instanceof XdmError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/^(invalid characters in fileName|absolute path|invalid relative path)/.test(message)) {
    return new XdmError('unsafe-entry-name', `unsafe entry name (${message})`);
  }
  if (/too many bytes in the stream/.test(message)) {
    return new XdmError('too-large', `an entry inflates past its declared size (${message})`);
  }
  if (/End of central directory record signature not found/.test(message)) {
    return new XdmError('not-a-zip', 'the attachment is not a zip file, or it is truncated');
  }
  return new XdmError('corrupt', `the zip cannot be read (${message})`);
}

interface Node {
  [key: string]: unknown;
}

function documentsListedIn(metadataPath: string, files: Map<string, Buffer>): XdmDocument[] {
  const text = decodeText(files.get(metadataPath)!);
  // ebRIM metadata has no DTD: a DOCTYPE could only declare entities, and none is accepted.
  if (/<!DOCTYPE/i.test(text)) {
    throw new XdmError('invalid-metadata', `${metadataPath} declares a DOCTYPE, which is not accepted`);
  }
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    throw new XdmError('invalid-metadata', `${metadataPath} is not well-formed XML (${valid.err.msg})`);
  }
  const root = parser.parse(text) as Node;
  const request = root.SubmitObjectsRequest as Node | undefined;
  if (!request || typeof request !== 'object') {
    throw new XdmError('invalid-metadata', `${metadataPath} holds no SubmitObjectsRequest`);
  }
  const lists = (request.RegistryObjectList as Node[] | undefined) ?? [];
  const extrinsicObjects = lists.flatMap((list) => (list.ExtrinsicObject as Node[] | undefined) ?? []);
  const directory = posix.dirname(metadataPath);
  const byUpperPath = new Map([...files.keys()].map((path) => [path.toUpperCase(), path]));
  return extrinsicObjects.map((object, index) => {
    const uri = uriOf(object);
    if (!uri) {
      throw new XdmError(
        'invalid-metadata',
        `${metadataPath}: document ${index + 1} (${attribute(object, 'id') ?? 'no id'}) has no URI slot`,
      );
    }
    // Looked up among the entries read, never on a file system: a URI cannot reach outside the zip.
    const candidates = [posix.normalize(posix.join(directory, uri)), posix.normalize(uri)];
    const path = candidates.map((candidate) => byUpperPath.get(candidate.toUpperCase())).find(Boolean);
    if (!path) {
      throw new XdmError('missing-document', `${metadataPath} lists ${uri}, which the package does not hold`);
    }
    const extension = posix.extname(path).toLowerCase();
    return {
      fileName: posix.basename(path),
      path,
      contentType:
        attribute(object, 'mimeType')?.trim() || TYPE_BY_EXTENSION[extension] || 'application/octet-stream',
      content: files.get(path)!,
      metadata: metadataOf(object),
      located: 'metadata' as const,
    };
  });
}

function documentsByExtension(files: Map<string, Buffer>): XdmDocument[] {
  const documents: XdmDocument[] = [];
  for (const [path, content] of files) {
    const contentType = TYPE_BY_EXTENSION[posix.extname(path).toLowerCase()];
    if (!contentType) continue;
    documents.push({
      fileName: posix.basename(path),
      path,
      contentType,
      content,
      metadata: {},
      located: 'extension',
    });
  }
  return documents.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function metadataOf(object: Node): XdmMetadata {
  const metadata: XdmMetadata = {};
  const set = (key: keyof XdmMetadata, value: string | undefined) => {
    if (value?.trim()) metadata[key] = value.trim();
  };
  const identifiers = (object.ExternalIdentifier as Node[] | undefined) ?? [];
  const identifier = (scheme: string) =>
    attribute(
      identifiers.find((node) => attribute(node, 'identificationScheme') === scheme),
      'value',
    );
  const classifications = (object.Classification as Node[] | undefined) ?? [];
  const code = (scheme: string) =>
    attribute(
      classifications.find((node) => attribute(node, 'classificationScheme') === scheme),
      'nodeRepresentation',
    );
  set('uniqueId', identifier(UNIQUE_ID_SCHEME));
  set('patientId', identifier(PATIENT_ID_SCHEME));
  set('sourcePatientId', slotValues(object, 'sourcePatientId')[0]);
  set('typeCode', code(TYPE_CODE_SCHEME));
  set('classCode', code(CLASS_CODE_SCHEME));
  set('title', localizedString(object.Name));
  set('creationTime', slotValues(object, 'creationTime')[0]);
  return metadata;
}

/** The URI slot; a long one may be split over values `1|…`, `2|…` (ITI TF-3 §4.2.3.2.23). */
function uriOf(object: Node): string | undefined {
  const values = slotValues(object, 'URI');
  if (values.length === 0) return undefined;
  if (values.length > 1 && values.every((value) => /^\d+\|/.test(value))) {
    return values
      .map((value) => ({
        order: Number(value.slice(0, value.indexOf('|'))),
        part: value.slice(value.indexOf('|') + 1),
      }))
      .sort((a, b) => a.order - b.order)
      .map(({ part }) => part)
      .join('')
      .trim();
  }
  return values[0]?.trim();
}

function slotValues(object: Node, name: string): string[] {
  const slots = (object.Slot as Node[] | undefined) ?? [];
  const slot = slots.find((node) => attribute(node, 'name') === name);
  const valueList = slot?.ValueList as Node | undefined;
  const values = (valueList?.Value as unknown[] | undefined) ?? [];
  return values.map(textOf).filter((value): value is string => value !== undefined);
}

function localizedString(name: unknown): string | undefined {
  if (!name || typeof name !== 'object') return undefined;
  const strings = ((name as Node).LocalizedString as Node[] | undefined) ?? [];
  return attribute(strings[0], 'value');
}

function attribute(node: unknown, name: string): string | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const value = (node as Node)[`@${name}`];
  return typeof value === 'string' ? value : undefined;
}

function textOf(node: unknown): string | undefined {
  if (typeof node === 'string') return node;
  if (node && typeof node === 'object' && typeof (node as Node)['#text'] === 'string') {
    return (node as Node)['#text'] as string;
  }
  return undefined;
}

/** METADATA.XML is UTF-8 unless it says otherwise; a BOM is dropped. UTF-16 is read from its BOM. */
function decodeText(content: Buffer): string {
  if (content[0] === 0xff && content[1] === 0xfe) return content.subarray(2).toString('utf16le');
  if (content[0] === 0xfe && content[1] === 0xff) {
    return Buffer.from(content.subarray(2, content.length - (content.length % 2)))
      .swap16()
      .toString('utf16le');
  }
  const text = content.toString('utf8');
  const declared = /^<\?xml[^>]*encoding=["']([\w-]+)["']/i.exec(text)?.[1]?.toLowerCase();
  const latin1 = declared === 'iso-8859-1' || declared === 'iso-8859-15' || declared === 'windows-1252';
  return (latin1 ? content.toString('latin1') : text).replace(/^\uFEFF/, '');
}
