/**
 * HL7 v2 documents as French senders send them (CI-SIS, IHE PAM-FR): bytes to messages in their
 * declared character set, ORU^R01 and MDM^T02/T04/T10/T11 to a DocumentReading, and the ACK in original
 * acknowledgment mode. `@medplum/core` splits segments, fields and components; batches, character sets,
 * escapes and the French conventions are read here.
 */
import { Hl7Context, Hl7Message, Hl7Segment } from '@medplum/core';
import { fileNameFor, INSEE_CODE, insReasons, rppsOf } from './cda.ts';
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

export interface Hl7Header {
  /** MSH-1: `|` in practice. */
  fieldSeparator: string;
  /** MSH-2 as sent: component, repetition, escape and subcomponent characters (and from 2.7 truncation). */
  encodingCharacters: string;
  /** MSH-3 to MSH-6: each one's namespace id (its universal id when only that is sent), unescaped. */
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  /** MSH-6: the facility's identifier, on which the message is routed. */
  receivingFacility: string;
  /** MSH-10. */
  controlId: string;
  /** MSH-9.1^MSH-9.2: `ORU^R01`. */
  messageType: string;
  /** MSH-11: P, T or D. */
  processingId: string;
  /** MSH-12: `2.5`. */
  version: string;
  /** MSH-17: `FRA`. */
  countryCode: string;
  /** MSH-18 as sent (its first repetition), '' when absent. */
  charset: string;
}

export interface Hl7Envelope {
  header: Hl7Header;
  /**
   * The message decoded, its segments separated by `\r`. A line break inside a segment (base64 or a
   * text wrapped by the sender, against the standard) is kept there as `\n`.
   */
  text: string;
  /** The message's bytes as received: its MSH to its last segment and the CR (LF, CRLF) ending it. */
  bytes: Buffer;
}

/** What escapes depend on: the separators and, for `\Xhh\`, the character set. */
export type Hl7EscapeContext = Pick<Hl7Header, 'fieldSeparator' | 'encodingCharacters' | 'charset'>;

const CR = 0x0d;
const LF = 0x0a;
const DEFAULT_ENCODING_CHARACTERS = '^~\\&';

// ---------------------------------------------------------------------------------------------------
// Character sets

type Charset = 'utf-8' | 'latin1' | 'latin9' | 'ascii' | 'undeclared';

const CHARSETS: Readonly<Record<string, Charset>> = {
  '': 'undeclared',
  'UNICODE UTF-8': 'utf-8',
  '8859/1': 'latin1',
  '8859/15': 'latin9',
  // HL7's own default (table 0211); accepted as a declared subset of 8859/1.
  ASCII: 'ascii',
};

function charsetOf(declared: string): Charset | undefined {
  const key = declared.trim().toUpperCase();
  return Object.hasOwn(CHARSETS, key) ? CHARSETS[key] : undefined;
}

const utf8 = new TextDecoder('utf-8');
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
// Senders that declare 8859/1 often write Windows-1252, which differs only in 0x80–0x9F (C1 controls,
// which no text holds): read that way, their € and œ come through.
const windows1252 = new TextDecoder('windows-1252');
const latin9 = new TextDecoder('iso-8859-15');

/**
 * Bytes to text in a declared MSH-18; undeclared: UTF-8 when the bytes are UTF-8, else 8859/1. Bytes
 * declared 8859/1 or 8859/15 that hold multi-byte UTF-8 sequences and nothing else are UTF-8 (the
 * sender's editor saved them so; the ANS examples do): read as 8859, é would come out as "Ã©".
 */
function decodeText(bytes: Uint8Array, declared: string): string {
  const charset = charsetOf(declared);
  switch (charset) {
    case 'utf-8':
      return utf8.decode(bytes);
    case 'latin9':
    case 'latin1':
    case 'undeclared': {
      const asUtf8 = utf8IfUtf8(bytes);
      if (asUtf8 !== undefined && (charset === 'undeclared' || bytes.some((byte) => byte >= 0x80)))
        return asUtf8;
      return charset === 'latin9' ? latin9.decode(bytes) : windows1252.decode(bytes);
    }
    default:
      return windows1252.decode(bytes);
  }
}

function utf8IfUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

const LATIN9_BYTES: ReadonlyMap<string, number> = new Map([
  ['€', 0xa4],
  ['Š', 0xa6],
  ['š', 0xa8],
  ['Ž', 0xb4],
  ['ž', 0xb8],
  ['Œ', 0xbc],
  ['œ', 0xbd],
  ['Ÿ', 0xbe],
]);
/** The 8859/1 characters whose places 8859/15 gave to the ones above. */
const NOT_IN_LATIN9 = new Set([0xa4, 0xa6, 0xa8, 0xb4, 0xb8, 0xbc, 0xbd, 0xbe]);
const QUESTION_MARK = 0x3f;

/** Text to bytes in a declared MSH-18; what the set cannot hold becomes `?`. */
function encodeText(text: string, declared: string): Buffer {
  switch (charsetOf(declared)) {
    case 'utf-8':
      return Buffer.from(text, 'utf8');
    case 'latin1':
      return Buffer.from(text.replace(/[\u0100-\uffff]/g, '?'), 'latin1');
    case 'latin9':
      return Buffer.from(
        Array.from(text, (character) => {
          const code = character.codePointAt(0)!;
          return (
            LATIN9_BYTES.get(character) ?? (code <= 0xff && !NOT_IN_LATIN9.has(code) ? code : QUESTION_MARK)
          );
        }),
      );
    default:
      // Undeclared or unknown to us: ASCII is what every receiver reads alike.
      return Buffer.from(
        text
          .normalize('NFD')
          .replace(/\p{M}/gu, '')
          .replace(/[^ -~\r]/g, '?'),
        'latin1',
      );
  }
}

// ---------------------------------------------------------------------------------------------------
// Separators and escapes

/** A field separator: printable, not a letter or digit, and not in the base64 alphabet. */
function isFieldSeparatorByte(byte: number | undefined): boolean {
  if (byte === undefined || byte < 0x21 || byte > 0x7e) return false;
  const character = String.fromCharCode(byte);
  return !/[A-Za-z0-9+/=]/.test(character);
}

/** MSH-1 and MSH-2 a message can be split by: four (five from 2.7) distinct punctuation characters. */
function separatorsAreUsable(fieldSeparator: string, encodingCharacters: string): boolean {
  const all = [fieldSeparator, ...encodingCharacters];
  return (
    fieldSeparator.length === 1 &&
    (encodingCharacters.length === 4 || encodingCharacters.length === 5) &&
    all.every((character) => /^[!-~]$/.test(character) && !/[A-Za-z0-9]/.test(character)) &&
    new Set(all).size === all.length
  );
}

interface Separators {
  field: string;
  component: string;
  repetition: string;
  escapeCharacter: string;
  subcomponent: string;
  truncation: string | undefined;
}

function separatorsOf(context: Pick<Hl7Header, 'fieldSeparator' | 'encodingCharacters'>): Separators {
  const [component = '^', repetition = '~', escapeCharacter = '\\', subcomponent = '&', truncation] =
    context.encodingCharacters;
  return { field: context.fieldSeparator, component, repetition, escapeCharacter, subcomponent, truncation };
}

function parsingContext(header: Pick<Hl7Header, 'fieldSeparator' | 'encodingCharacters'>): Hl7Context {
  const s = separatorsOf(header);
  return new Hl7Context('\r', s.field, s.component, s.repetition, s.escapeCharacter, s.subcomponent);
}

/**
 * Undoes HL7 escapes: `\F\ \S\ \T\ \R\ \E\` (and `\P\` from 2.7) in the message's own characters,
 * `\Xhh…\` as bytes in its character set, `\.br\` and `\.sp\` as line breaks; highlighting (`\H\ \N\`),
 * other formatting and character set switches are dropped. What is not an escape stays as written.
 */
export function unescapeHl7(value: string, context: Hl7EscapeContext): string {
  const separators = separatorsOf(context);
  const { escapeCharacter } = separators;
  if (!value.includes(escapeCharacter)) return value;
  const parts: string[] = [];
  let at = 0;
  while (at < value.length) {
    const open = value.indexOf(escapeCharacter, at);
    const close = open === -1 ? -1 : value.indexOf(escapeCharacter, open + 1);
    if (close === -1) break;
    const replaced = escapeSequence(value.slice(open + 1, close), separators, context.charset);
    if (replaced === undefined) {
      parts.push(value.slice(at, open + 1));
      at = open + 1;
    } else {
      parts.push(value.slice(at, open), replaced);
      at = close + 1;
    }
  }
  parts.push(value.slice(at));
  return parts.join('');
}

function escapeSequence(sequence: string, separators: Separators, charset: string): string | undefined {
  switch (sequence) {
    case 'F':
      return separators.field;
    case 'S':
      return separators.component;
    case 'T':
      return separators.subcomponent;
    case 'R':
      return separators.repetition;
    case 'E':
      return separators.escapeCharacter;
    case 'P':
      return separators.truncation;
    case '.br':
      return '\n';
    case 'H':
    case 'N':
      return '';
  }
  if (/^X(?:[0-9A-Fa-f]{2})+$/.test(sequence))
    return decodeText(Buffer.from(sequence.slice(1), 'hex'), charset);
  const skip = /^\.sp\s*([0-9]*)$/.exec(sequence);
  if (skip) return '\n'.repeat(Math.min(Number(skip[1] || '1'), 100));
  // Formatting (.in .ti .sk .ce .fi .nf), ISO 2022 switches (C, M) and local escapes (Z): no text of theirs.
  if (/^(\.(in|ti|sk|ce|fi|nf)\s*[-+]?[0-9]*|[CM][0-9A-Fa-f]+|Z.*)$/.test(sequence)) return '';
  return undefined;
}

/**
 * Escapes text for a field: the separators and the escape character as `\F\ \S\ \T\ \R\ \E\` (`\P\`),
 * line breaks as `\.br\`, other control characters as `\Xhh\`.
 */
export function escapeHl7(
  value: string,
  context: Pick<Hl7Header, 'fieldSeparator' | 'encodingCharacters'>,
): string {
  const s = separatorsOf(context);
  const named = new Map<string, string>([
    [s.escapeCharacter, 'E'],
    [s.field, 'F'],
    [s.component, 'S'],
    [s.subcomponent, 'T'],
    [s.repetition, 'R'],
  ]);
  if (s.truncation !== undefined) named.set(s.truncation, 'P');
  const parts: string[] = [];
  for (let index = 0; index < value.length; index++) {
    const character = value[index]!;
    const name = named.get(character);
    const code = character.charCodeAt(0);
    if (name !== undefined) parts.push(`${s.escapeCharacter}${name}${s.escapeCharacter}`);
    else if (character === '\r' || character === '\n') {
      if (character === '\r' && value[index + 1] === '\n') index++;
      parts.push(`${s.escapeCharacter}.br${s.escapeCharacter}`);
    } else if (code < 0x20 && character !== '\t') {
      parts.push(
        `${s.escapeCharacter}X${code.toString(16).padStart(2, '0').toUpperCase()}${s.escapeCharacter}`,
      );
    } else parts.push(character);
  }
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------------
// Bytes to messages

interface Line {
  start: number;
  end: number;
}

/** Lines of bytes between CR, LF or CRLF, empty ones left out; linear in the bytes. */
function byteLines(bytes: Buffer, from: number): Line[] {
  const lines: Line[] = [];
  let nextCr = bytes.indexOf(CR, from);
  let nextLf = bytes.indexOf(LF, from);
  let start = from;
  while (start < bytes.length) {
    if (nextCr !== -1 && nextCr < start) nextCr = bytes.indexOf(CR, start);
    if (nextLf !== -1 && nextLf < start) nextLf = bytes.indexOf(LF, start);
    const end = Math.min(nextCr === -1 ? bytes.length : nextCr, nextLf === -1 ? bytes.length : nextLf);
    if (end > start) lines.push({ start, end });
    start = end + 1;
  }
  return lines;
}

function isWhitespaceByte(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09 || byte === CR || byte === LF;
}

function isBlank(bytes: Buffer, line: Line): boolean {
  for (let index = line.start; index < line.end; index++) if (!isWhitespaceByte(bytes[index])) return false;
  return true;
}

const BOUNDARIES = new Set(['MSH', 'FHS', 'BHS', 'BTS', 'FTS']);

/** MSH, FHS, BHS, BTS or FTS when the line is that segment. */
function boundaryOf(bytes: Buffer, line: Line): string | undefined {
  if (line.end - line.start < 3) return undefined;
  const name = bytes.toString('latin1', line.start, line.start + 3);
  if (!BOUNDARIES.has(name)) return undefined;
  if (line.end - line.start === 3) return name === 'BTS' || name === 'FTS' ? name : undefined;
  return isFieldSeparatorByte(bytes[line.start + 3]) ? name : undefined;
}

function rejectAr(location: string, code: number, text: string): never {
  throw new MessageRejection('AR', [{ location, code, text }]);
}

/**
 * Splits received bytes into messages: one message, or a batch (FHS/BHS … BTS/FTS around several MSH),
 * segments ended by CR, LF or CRLF. Each message is decoded in the character set its MSH-18 declares.
 */
export function splitHl7(bytes: Buffer): Hl7Envelope[] {
  let from = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) from = 3;
  while (isWhitespaceByte(bytes[from])) from++;
  const lines = byteLines(bytes, from);
  const first = lines[0] && boundaryOf(bytes, lines[0]);
  if (first !== 'MSH' && first !== 'FHS' && first !== 'BHS') {
    rejectAr('MSH', 100, 'not an HL7 v2 message: it does not start with an MSH, FHS or BHS segment');
  }
  const messages: Array<{ msh: Line; end: number }> = [];
  let current: { msh: Line; end: number } | undefined;
  for (const line of lines) {
    if (isBlank(bytes, line)) continue;
    const boundary = boundaryOf(bytes, line);
    if (boundary === 'MSH') {
      current = { msh: line, end: line.end };
      messages.push(current);
    } else if (boundary !== undefined) {
      current = undefined;
    } else if (current) {
      current.end = line.end;
    } else {
      const name = bytes
        .toString('latin1', line.start, Math.min(line.end, line.start + 3))
        .replace(/[^ -~]/g, '?');
      rejectAr('MSH', 100, `segment ${name} stands outside any message (no MSH before it)`);
    }
  }
  if (messages.length === 0) rejectAr('MSH', 100, 'the batch holds no message (no MSH segment)');
  return messages.map(({ msh, end }) =>
    envelopeOf(bytes.subarray(msh.start, end + terminatorLength(bytes, end)), msh.end - msh.start),
  );
}

/** The CR, LF or CRLF ending the segment whose text ends at `end`, if any. */
function terminatorLength(bytes: Buffer, end: number): number {
  if (bytes[end] === CR) return bytes[end + 1] === LF ? 2 : 1;
  return bytes[end] === LF ? 1 : 0;
}

/** The raw MSH-2 and MSH-18 (first repetition) of an MSH line, read before the message is decoded. */
function rawHeaderFields(mshLine: Buffer): {
  fieldSeparator: string;
  encodingCharacters: string;
  charset: string;
} {
  const fieldSeparator = String.fromCharCode(mshLine[3] ?? 0);
  const fields = mshLine.toString('latin1').split(fieldSeparator);
  const encodingCharacters = fields[1] ?? '';
  const repetition = encodingCharacters[1] ?? '~';
  return { fieldSeparator, encodingCharacters, charset: (fields[17] ?? '').split(repetition)[0]! };
}

function envelopeOf(bytes: Buffer, mshLength: number): Hl7Envelope {
  const { fieldSeparator, encodingCharacters, charset } = rawHeaderFields(bytes.subarray(0, mshLength));
  if (!separatorsAreUsable(fieldSeparator, encodingCharacters)) {
    rejectAr('MSH^1^2', 102, `MSH-2 (${encodingCharacters}) does not give four distinct encoding characters`);
  }
  if (charsetOf(charset) === undefined) {
    rejectAr(
      'MSH^1^18',
      203,
      `character set ${charset} (MSH-18) is not supported: UNICODE UTF-8, 8859/1 or 8859/15 are, or none`,
    );
  }
  const text = segmentsOf(decodeText(bytes, charset), fieldSeparator).join('\r');
  const mshText = text.slice(0, text.indexOf('\r') === -1 ? text.length : text.indexOf('\r'));
  const separators = { fieldSeparator, encodingCharacters };
  const header = headerOf(Hl7Segment.parse(mshText, parsingContext(separators)), { ...separators, charset });
  return { header, text, bytes };
}

/** A segment starts with its name: a capital, two capitals or digits, then the field separator. */
function startsSegment(line: string, fieldSeparator: string): boolean {
  return line[3] === fieldSeparator && /^[A-Z][A-Z0-9]{2}/.test(line);
}

/**
 * The segments of a decoded message (indented ones too); a line that does not start a segment
 * continues the one before.
 */
function segmentsOf(text: string, fieldSeparator: string): string[] {
  const segments: string[][] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    const trimmed = line.trimStart();
    if (trimmed === '') continue;
    const last = segments.at(-1);
    if (!last || startsSegment(trimmed, fieldSeparator)) segments.push([trimmed]);
    else last.push(line);
  }
  return segments.map((lines) => lines.join('\n'));
}

function headerOf(msh: Hl7Segment, context: Hl7EscapeContext): Hl7Header {
  const view = new SegmentView(msh, 1, context);
  // An HD names itself by its namespace id, or by its universal id (an OID) alone.
  const hd = (field: number) => view.text(field, 1) || view.text(field, 2);
  const type = view.text(9, 1);
  const event = view.text(9, 2);
  return {
    fieldSeparator: context.fieldSeparator,
    encodingCharacters: context.encodingCharacters,
    sendingApplication: hd(3),
    sendingFacility: hd(4),
    receivingApplication: hd(5),
    receivingFacility: hd(6),
    // As sent, escapes and all: it keys resends and MSA-2 echoes it byte for byte.
    controlId: msh.getField(10)?.toString() ?? '',
    messageType: event ? `${type}^${event}` : type,
    processingId: view.text(11),
    version: view.text(12),
    countryCode: view.text(17),
    charset: context.charset,
  };
}

/**
 * The first MSH found in bytes that may not be HL7 at all, read as far as it goes: enough to address an
 * ACK refusing them. Never throws; the control id is '' when none can be read.
 */
export function readHeaderLeniently(bytes: Buffer): Partial<Hl7Header> & Pick<Hl7Header, 'controlId'> {
  const window = bytes.subarray(0, 64 * 1024);
  const at = window.indexOf('MSH');
  if (at === -1 || !isFieldSeparatorByte(window[at + 3])) return { controlId: '' };
  let end = at;
  while (end < window.length && window[end] !== CR && window[end] !== LF) end++;
  const line = window.subarray(at, end);
  const raw = rawHeaderFields(line);
  const encodingCharacters = separatorsAreUsable(raw.fieldSeparator, raw.encodingCharacters)
    ? raw.encodingCharacters
    : DEFAULT_ENCODING_CHARACTERS;
  if (!separatorsAreUsable(raw.fieldSeparator, encodingCharacters)) return { controlId: '' };
  const context = { fieldSeparator: raw.fieldSeparator, encodingCharacters, charset: raw.charset };
  return headerOf(Hl7Segment.parse(decodeText(line, raw.charset), parsingContext(context)), context);
}

// ---------------------------------------------------------------------------------------------------
// Reading

/** One segment, its occurrence among those of its name (1-based), and its values unescaped. */
class SegmentView {
  constructor(
    readonly segment: Hl7Segment,
    readonly sequence: number,
    readonly context: Hl7EscapeContext,
  ) {}

  get name(): string {
    return this.segment.name;
  }

  repetitions(field: number): number {
    return this.segment.getField(field)?.components.length ?? 0;
  }

  /** Nothing but separators and spaces, or absent. */
  isEmpty(field: number): boolean {
    const { component, repetition, subcomponent } = separatorsOf(this.context);
    const value = this.segment.getField(field)?.toString() ?? '';
    return [...value].every((character) => [component, repetition, subcomponent, ' '].includes(character));
  }

  /** As medplum counts: components from 1, repetitions and subcomponents from 0. */
  raw(field: number, component = 1, repetition = 0, subcomponent?: number): string {
    const value = this.segment.getField(field);
    if (!value || repetition >= value.components.length) return '';
    return value.getComponent(component, subcomponent, repetition);
  }

  text(field: number, component = 1, repetition = 0, subcomponent?: number): string {
    return unescapeHl7(this.raw(field, component, repetition, subcomponent), this.context).trim();
  }

  /** ERR-2 form: `OBX^2^5`. */
  location(field?: number): string {
    return field === undefined ? `${this.name}^${this.sequence}` : `${this.name}^${this.sequence}^${field}`;
  }
}

class MessageView {
  private readonly message: Hl7Message;

  constructor(
    envelope: Hl7Envelope,
    private readonly context: Hl7EscapeContext,
  ) {
    this.message = new Hl7Message(envelope.text.split('\r'), parsingContext(envelope.header));
  }

  all(name: string): SegmentView[] {
    return this.message
      .getAllSegments(name)
      .map((segment, index) => new SegmentView(segment, index + 1, this.context));
  }

  first(name: string): SegmentView | undefined {
    return this.all(name)[0];
  }
}

/** What reading finds besides fields: problems reject the message, reasons go to a person. */
interface Findings {
  problems: ReadingProblem[];
  mismatchReasons: string[];
}

const SUPPORTED_EVENTS: Readonly<Record<string, readonly string[]>> = {
  ORU: ['R01'],
  // T04 (status change and content) is how the CI-SIS volet sends a deletion or a replacement: OBX-11 says which.
  MDM: ['T02', 'T04', 'T10', 'T11'],
};
const SUPPORTED_VERSION = /^2\.[3-9](\.\d+)*$/;

function range(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index);
}

/**
 * Reads an ORU^R01 or MDM^T02/T04/T10/T11 (HL7 2.3 to 2.9): the patient (PID), the document's type, date,
 * id, author and priority, and the files it carries (OBX ED, else its text results).
 */
export function readHl7(envelope: Hl7Envelope): DocumentReading {
  const { header } = envelope;
  const [type = '', event = ''] = header.messageType.split('^');
  const events = Object.hasOwn(SUPPORTED_EVENTS, type) ? SUPPORTED_EVENTS[type] : undefined;
  if (!events) {
    rejectAr(
      'MSH^1^9',
      200,
      `message type ${type || '(none)'} is not supported: ORU^R01 and MDM^T02, T04, T10, T11 are`,
    );
  }
  if (!events.includes(event)) {
    rejectAr(
      'MSH^1^9',
      201,
      `event ${event || '(none)'} of ${type} is not supported: ${events.join(', ')} are`,
    );
  }
  if (!SUPPORTED_VERSION.test(header.version)) {
    rejectAr('MSH^1^12', 203, `HL7 version ${header.version || '(none)'} is not supported: 2.3 to 2.9 are`);
  }
  const message = new MessageView(envelope, header);
  const findings: Findings = { problems: [], mismatchReasons: [] };
  if (!header.controlId) {
    findings.problems.push({ location: 'MSH^1^10', code: 101, text: 'MSH-10 (message control id) is empty' });
  } else if (/[\r\n]/.test(header.controlId)) {
    // A line break inside MSH-10 means the message was wrapped on its way (copied from a page, a mail):
    // its segments are no longer where the separators say, and what is read of it would be partial.
    findings.problems.push({
      location: 'MSH^1^10',
      code: 102,
      text: 'MSH-10 (message control id) is cut by a line break: the message was wrapped in transit',
    });
  }
  const identity = readPatient(message, findings);

  const isMdm = type === 'MDM';
  const txa = message.first('TXA');
  if (isMdm && !txa)
    findings.problems.push({ location: 'TXA^1', code: 100, text: 'an MDM message has a TXA segment' });
  const obr = message.first('OBR');
  const observations = message.all('OBX').filter((obx) => !isDispatchMetadata(obx));
  // PRT (from 2.7, and in the CI-SIS from 2.5): the one who sends the document (SB) or wrote it (AUT).
  const participant = message
    .all('PRT')
    .find((prt) => ['SB', 'AUT'].includes(prt.text(4, 1).toUpperCase()) && !prt.isEmpty(5));
  // The OBX that carries the document speaks for it: its status, its code.
  const main = observations.find((obx) => obx.text(2).toUpperCase() === 'ED') ?? observations[0];
  const action = actionOf(event, main);
  const codes = [
    ...(txa ? codedValues(txa, 2, 'TXA-2') : []),
    ...(obr ? codedValues(obr, 4, 'OBR-4') : []),
    ...(main ? codedValues(main, 3, `OBX(${main.sequence})-3`) : []),
  ];
  const documentStem = txa?.text(12, 1) || header.controlId || 'document';
  const reading: DocumentReading = {
    format: 'hl7v2',
    documentId: txa && entityIdField(txa, 12),
    // A deletion names the document it deletes in TXA-12 itself; only a replacement names another.
    replacesDocumentId: txa && action === 'replace' ? entityIdField(txa, 13) : undefined,
    action,
    identity,
    ...readDocumentType(codes, findings),
    procedureDate: readProcedureDate(
      [txa && { view: txa, field: 4 }, obr && { view: obr, field: 7 }],
      findings,
    ),
    authorRpps: readAuthorRpps(
      isMdm
        ? [
            txa && { view: txa, field: 22, confidence: 1 },
            participant && { view: participant, field: 5, confidence: 0.9 },
            txa && { view: txa, field: 9, confidence: 0.9 },
          ]
        : // The ordering provider asked for the report; the interpreter wrote it.
          [
            obr && { view: obr, field: 32, confidence: 1 },
            participant && { view: participant, field: 5, confidence: 0.9 },
            obr && { view: obr, field: 16, confidence: 0.7 },
          ],
    ),
    priority: readPriority(message.first('TQ1'), obr),
    files: readFiles(observations, documentStem, action, findings),
    mismatchReasons: findings.mismatchReasons,
  };
  if (findings.problems.length > 0) throw new MessageRejection('AE', findings.problems);
  return reading;
}

function readPatient(message: MessageView, findings: Findings): IdentityReading {
  const [pid, another] = message.all('PID');
  if (!pid) {
    findings.problems.push({
      location: 'PID^1',
      code: 100,
      text: 'the message has no PID segment: no patient',
    });
    return {};
  }
  if (another) {
    // Several patients in one message cannot make one document's request: it could land on the wrong one.
    findings.problems.push({
      location: another.location(),
      code: 100,
      text: 'the message names more than one patient (PID): send one message per patient',
    });
  }
  if (pid.isEmpty(3) && pid.isEmpty(5)) {
    findings.problems.push({
      location: 'PID^1^3',
      code: 101,
      text: 'PID-3 and PID-5 are empty: no identity',
    });
  }
  return {
    ...readIdentifiers(pid, findings),
    ...readNames(pid),
    ...readBirthDate(pid, findings),
    ...readSex(pid),
    ...readBirthplace(pid, findings),
    ...readReliability(pid),
  };
}

/** INS: the PID-3 typed INS or assigned by an INS OID; IPP: the one typed PI, else MR, else an untyped one. */
function readIdentifiers(pid: SegmentView, findings: Findings): IdentityReading {
  const identifiers = range(pid.repetitions(3)).map((repetition) => ({
    repetition,
    source: `PID-3[${repetition + 1}]`,
    id: pid.text(3, 1, repetition),
    authorityName: pid.text(3, 4, repetition, 0),
    authorityOid: pid.text(3, 4, repetition, 1),
    type: pid.text(3, 5, repetition).toUpperCase(),
  }));
  const identity: IdentityReading = {};
  const ins = identifiers.find(
    (identifier) =>
      identifier.id !== '' &&
      (identifier.type === 'INS' || Object.hasOwn(INS_OID_NAMES, identifier.authorityOid)),
  );
  if (ins) {
    const value = ins.id.replace(/\s+/g, '');
    // Spaces are how people write a NIR, never part of it: taken out, the rest is as sent.
    identity.ins = { value, source: ins.source, confidence: value === ins.id ? 1 : 0.9 };
    const oid = insOidOf(ins);
    if (oid) identity.insOid = oid;
    else if (ins.authorityOid !== '') {
      findings.mismatchReasons.push(
        `INS ${value} in ${ins.source}: its assigning authority ${ins.authorityOid} is not an INS OID`,
      );
    }
    findings.mismatchReasons.push(...insReasons(value, oid?.value ?? '', ins.source));
  }
  // PI is the facility's patient id; MR (medical record number) is how US systems and many others type it.
  const ipp =
    identifiers.find((identifier) => identifier.id !== '' && identifier.type === 'PI') ??
    identifiers.find((identifier) => identifier !== ins && identifier.id !== '' && identifier.type === 'MR');
  // Older senders leave the type out: an untyped id beside the INS is most often the facility's own.
  const untyped = identifiers.find(
    (identifier) => identifier !== ins && identifier.id !== '' && identifier.type === '',
  );
  if (ipp) identity.ipp = { value: ipp.id, source: ipp.source, confidence: ipp.type === 'PI' ? 1 : 0.9 };
  else if (untyped) identity.ipp = { value: untyped.id, source: untyped.source, confidence: 0.7 };
  return identity;
}

function insOidOf(ins: { authorityOid: string; authorityName: string; source: string }): Field | undefined {
  if (Object.hasOwn(INS_OID_NAMES, ins.authorityOid)) {
    return { value: ins.authorityOid, source: `${ins.source}.4.2`, confidence: 1 };
  }
  // Without the OID, the authority's name (ASIP-SANTE-INS-NIR) still says which INS it is.
  const named = Object.entries(INS_OID_NAMES)
    .filter(([, name]) => ins.authorityName.toUpperCase().endsWith(name))
    .sort(([, a], [, b]) => b.length - a.length)[0];
  return named && { value: named[0], source: `${ins.source}.4.1`, confidence: 0.8 };
}

/**
 * PID-5 by name type (XPN-7): L the birth name, D or U the used one. XPN-2 is the first birth given
 * name; XPN-3, in France, lists the birth given names, often with the first one again.
 */
function readNames(pid: SegmentView): IdentityReading {
  const names = range(pid.repetitions(5)).map((repetition) => ({
    source: `PID-5[${repetition + 1}]`,
    family: pid.text(5, 1, repetition, 0),
    given: pid.text(5, 2, repetition),
    further: pid.text(5, 3, repetition),
    type: pid.text(5, 7, repetition).toUpperCase(),
  }));
  const identity: IdentityReading = {};
  const typedBirth = names.find((name) => name.type === 'L');
  // A name without type is most often the birth name, but the sender did not say so.
  const birth = typedBirth ?? (names[0]?.type === '' ? names[0] : undefined);
  const confidence = typedBirth ? 1 : 0.8;
  if (birth) {
    if (birth.family)
      identity.birthLastName = { value: birth.family, source: `${birth.source}.1`, confidence };
    const words = [...birth.given.split(/\s+/), ...birth.further.split(/\s+/)].filter(Boolean);
    const seen = new Set<string>();
    const givenNames = words.filter((word) => {
      const key = word.toLocaleUpperCase('fr');
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    if (birth.given) {
      identity.firstBirthGivenName = { value: birth.given, source: `${birth.source}.2`, confidence };
    } else if (givenNames[0]) {
      // Only the list: its first word is a guess, "Jean Pierre" may be one given name.
      identity.firstBirthGivenName = { value: givenNames[0], source: `${birth.source}.3`, confidence: 0.6 };
    }
    if (givenNames.length > 0) {
      const source =
        birth.given && birth.further ? `${birth.source}.2-3` : `${birth.source}.${birth.given ? 2 : 3}`;
      identity.birthGivenNames = { value: givenNames.join(' '), source, confidence };
    }
  }
  const used = names.find((name) => name.type === 'D' || name.type === 'U');
  if (used?.family) identity.usedLastName = { value: used.family, source: `${used.source}.1`, confidence: 1 };
  if (used?.given) identity.usedGivenName = { value: used.given, source: `${used.source}.2`, confidence: 1 };
  return identity;
}

function readBirthDate(pid: SegmentView, findings: Findings): IdentityReading {
  const value = pid.text(7, 1);
  if (value === '') return {};
  const date = calendarDateOf(value);
  if (date === 'invalid') {
    findings.problems.push({
      location: 'PID^1^7',
      code: 102,
      text: `birth date ${value} (PID-7) is not a date`,
    });
    return {};
  }
  if (date === 'partial') {
    findings.mismatchReasons.push(`birth date ${value} in PID-7 is not a full date`);
    return {};
  }
  return { birthDate: { value: date, source: 'PID-7', confidence: 1 } };
}

function readSex(pid: SegmentView): IdentityReading {
  const value = pid.text(8).toUpperCase();
  if (value === '') return {};
  if (value === 'F' || value === 'M' || value === 'U')
    return { sex: { value, source: 'PID-8', confidence: 1 } };
  // O (other), A (ambiguous), N (not applicable)…: the INS knows only F, M and U.
  return { sex: { value: 'U', source: 'PID-8', confidence: 0.9 } };
}

function readBirthplace(pid: SegmentView, findings: Findings): IdentityReading {
  const repetition = range(pid.repetitions(11)).find(
    (index) => pid.text(11, 7, index).toUpperCase() === 'BDL',
  );
  if (repetition === undefined) return {};
  const source = `PID-11[${repetition + 1}].9`;
  const code = pid.text(11, 9, repetition);
  if (code === '') return {};
  if (!INSEE_CODE.test(code)) {
    findings.mismatchReasons.push(`birthplace ${code} in ${source} is not an INSEE commune code`);
    return {};
  }
  return { birthplaceCode: { value: code, source, confidence: 1 } };
}

const RELIABILITY_CODES = new Set(['VALI', 'QUAL', 'PROV', 'RECUP']);

/** PID-32: the identity's status, first among the repetitions (attributes such as DOUTE may follow). */
function readReliability(pid: SegmentView): IdentityReading {
  const repetition = range(pid.repetitions(32)).find((index) =>
    RELIABILITY_CODES.has(pid.text(32, 1, index).toUpperCase()),
  );
  if (repetition === undefined) return {};
  const value = pid.text(32, 1, repetition).toUpperCase();
  return { reliability: { value, source: `PID-32[${repetition + 1}]`, confidence: 1 } };
}

function actionOf(event: string, main: SegmentView | undefined): DocumentReading['action'] {
  if (event === 'T10') return 'replace';
  if (event === 'T11') return 'delete';
  // OBX-11: F final and P preliminary are documents of their own; C corrects, D deletes.
  const status = main?.text(11).toUpperCase();
  return status === 'C' ? 'replace' : status === 'D' ? 'delete' : 'new';
}

/**
 * TXA-12/13 (EI) in one stable form: with a universal id (EI-3, an OID), `<EI-3>^<EI-1>`, the
 * `root^extension` the CDA reader gives ClinicalDocument/id, so a document reads the same from its CDA
 * and its envelope; without, EI-1 and EI-2 (namespace) as sent, joined by `^` without trailing empties.
 */
function entityIdField(view: SegmentView, field: number): Field | undefined {
  const entity = view.text(field, 1);
  const namespace = view.text(field, 2);
  const universal = view.text(field, 3);
  const value = universal
    ? [universal, entity].filter(Boolean).join('^')
    : namespace
      ? `${entity}^${namespace}`
      : entity;
  return value ? { value, source: `${view.name}-${field}`, confidence: 1 } : undefined;
}

interface CodedValue {
  code: string;
  label: string;
  system: string;
  source: string;
  labelSource: string;
}

/** A CE/CWE's code, text and coding system, then its alternate triplet. */
function codedValues(view: SegmentView, field: number, prefix: string): CodedValue[] {
  return [1, 4].flatMap((component) => {
    const code = view.text(field, component);
    const label = view.text(field, component + 1);
    if (code === '' && label === '') return [];
    return [
      {
        code,
        label,
        system: view.text(field, component + 2).toUpperCase(),
        source: `${prefix}.${component}`,
        labelSource: `${prefix}.${component + 1}`,
      },
    ];
  });
}

const LOINC_SYSTEMS = new Set(['LN', 'LOINC', LOINC_OID]);

/** The first LOINC among TXA-2 / OBR-4 / OBX-3 (and their alternates); HL7 v2 has no title but its text. */
function readDocumentType(
  codes: CodedValue[],
  findings: Findings,
): Pick<DocumentReading, 'documentTypeCode' | 'documentTypeLabel' | 'title'> {
  const isDeclared = (coded: CodedValue) => coded.code !== '' && LOINC_SYSTEMS.has(coded.system);
  // A code without coding system is taken for LOINC when its form and check digit say so.
  const isUndeclared = (coded: CodedValue) => coded.system === '' && isLoincCode(coded.code);
  // OBR-4 often holds the test ordered (34555-3, a panel) and OBX-3 the document's type (11502-2): a
  // code of the document types' list wins over one that is not, wherever it stands.
  const listed = (coded: CodedValue) => loincLabel(coded.code) !== undefined;
  const documentType =
    codes.find((coded) => isDeclared(coded) && listed(coded)) ??
    codes.find((coded) => isUndeclared(coded) && listed(coded));
  const declared = documentType ? undefined : codes.find(isDeclared);
  const undeclared = documentType || declared ? undefined : codes.find(isUndeclared);
  const chosen = documentType ?? declared ?? undeclared;
  const textOf = (coded: CodedValue | undefined) =>
    coded?.label
      ? {
          documentTypeLabel: { value: coded.label, source: coded.labelSource, confidence: 1 },
          title: { value: coded.label, source: coded.labelSource, confidence: 0.9 },
        }
      : {};
  if (chosen && isLoincCode(chosen.code)) {
    const label = loincLabel(chosen.code);
    return {
      documentTypeCode: {
        value: chosen.code,
        source: chosen.source,
        confidence: isDeclared(chosen) ? 1 : 0.9,
      },
      ...(label === undefined
        ? {}
        : { documentTypeLabel: { value: label, source: chosen.source, confidence: 0.9 } }),
      ...textOf(chosen),
    };
  }
  const shown = chosen ?? codes.find((coded) => coded.code !== '') ?? codes[0];
  if (!shown || shown.code === '') {
    findings.mismatchReasons.push('the message gives no document type code (TXA-2, OBR-4 or OBX-3)');
  } else if (chosen) {
    findings.mismatchReasons.push(`document type ${shown.code} in ${shown.source} is not a valid LOINC code`);
  } else {
    findings.mismatchReasons.push(
      `document type ${shown.code} in ${shown.source} is from code system ${shown.system || '(none)'}, not LOINC`,
    );
  }
  return textOf(shown);
}

function readProcedureDate(
  candidates: Array<{ view: SegmentView; field: number } | undefined>,
  findings: Findings,
): Field | undefined {
  for (const candidate of candidates) {
    if (!candidate) continue;
    const { view, field } = candidate;
    const value = view.text(field, 1);
    if (value === '') continue;
    const date = calendarDateOf(value);
    if (date === 'invalid') {
      findings.problems.push({
        location: view.location(field),
        code: 102,
        text: `${value} (${view.name}-${field}) is not a date`,
      });
    } else if (date !== 'partial') {
      return { value: date, source: `${view.name}-${field}`, confidence: 1 };
    }
  }
  return undefined;
}

/**
 * The author's id (XCN-1, or CNN-1 in OBR-32): an RPPS first (11 digits, or 12 with the national id
 * type 8 before them, as the CI-SIS sends it); any other identifier as a doubtful one (not a name).
 */
function readAuthorRpps(
  candidates: Array<{ view: SegmentView; field: number; confidence: number } | undefined>,
): Field | undefined {
  let doubtful: Field | undefined;
  for (const candidate of candidates) {
    if (!candidate) continue;
    const { view, field, confidence } = candidate;
    for (const repetition of range(view.repetitions(field))) {
      const value = view.text(field, 1, repetition, 0);
      const source = `${view.name}-${field}[${repetition + 1}].1${field === 32 ? '.1' : ''}`;
      const rpps = rppsOf(value);
      if (rpps) return { value: rpps, source, confidence };
      // Senders put a name in XCN-1 ("Harrison , Kyle"): that is no identifier of anyone.
      if (/^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(value) && !doubtful)
        doubtful = { value, source, confidence: 0.5 };
    }
  }
  return doubtful;
}

/** TQ1-9, OBR-27.6 (TQ) or OBR-5: S (stat) and A (as soon as possible) are urgent. */
function readPriority(
  tq1: SegmentView | undefined,
  obr: SegmentView | undefined,
): Field<'routine' | 'urgent'> | undefined {
  const candidates = [
    tq1 && { value: tq1.text(9, 1), source: 'TQ1-9' },
    obr && { value: obr.text(27, 6), source: 'OBR-27.6' },
    obr && { value: obr.text(5, 1), source: 'OBR-5' },
  ];
  const given = candidates.find((candidate) => candidate && candidate.value !== '');
  if (!given) return undefined;
  const code = given.value.toUpperCase();
  const value = code === 'S' || code === 'A' ? 'urgent' : 'routine';
  // S and R say it in so many words; ASAP, preoperative, callback… are read into the two we know.
  return { value, source: given.source, confidence: code === 'S' || code === 'R' ? 1 : 0.9 };
}

// ---------------------------------------------------------------------------------------------------
// Files

function readFiles(
  observations: SegmentView[],
  stem: string,
  action: DocumentReading['action'],
  findings: Findings,
): CarriedFile[] {
  if (observations.length === 0) {
    // A cancellation carries nothing but the id of what it cancels.
    if (action !== 'delete') {
      findings.problems.push({
        location: 'OBX^1^5',
        code: 101,
        text: 'the message carries no OBX: no document',
      });
    }
    return [];
  }
  const embedded = observations.filter((obx) => obx.text(2).toUpperCase() === 'ED');
  if (embedded.length > 0) {
    const files: CarriedFile[] = [];
    for (const obx of embedded) {
      const file = embeddedFile(obx, files.length === 0 ? stem : `${stem}-${files.length + 1}`, findings);
      if (file) files.push(file);
    }
    return files;
  }
  const report = textReport(observations);
  if (report === '') {
    if (action !== 'delete') {
      findings.problems.push({
        location: 'OBX^1^5',
        code: 101,
        text: 'the OBX segments carry no document and no text',
      });
    }
    return [];
  }
  return [
    {
      fileName: fileNameFor(stem, 'text/plain'),
      contentType: 'text/plain',
      content: Buffer.from(report, 'utf8'),
      source: 'OBX-5',
    },
  ];
}

/**
 * The CI-SIS volet's OBX of dispatch metadata (OBX-3 in code system MetaDMPMSS, or one of its codes in
 * its first versions, without code system): masking, recipients, the mail body, acknowledgments. They
 * tell how to share the document; none is the document, or a result.
 */
const DISPATCH_METADATA_CODES = new Set([
  'MASQUE_PS',
  'INVISIBLE_PATIENT',
  'INVISIBLE_REP_LEGAUX',
  'INVISIBLE_REPRESENTANTS_LEGAUX',
  'CONNEXION_SECRETE',
  'MODIF_CONF_CODE',
  'MODIF_CONFIDENTIALITYCODE',
  'DESTDMP',
  'DESTMSSANTEPS',
  'DESTMSSANTEPAT',
  'ACK_RECEPTION',
  'ACK_LECTURE_MSS',
  'CORPSMAIL_PS',
  'CORPSMAIL_PATIENT',
  'COMP_LOT',
]);

function isDispatchMetadata(obx: SegmentView): boolean {
  if (obx.text(3, 3).toUpperCase() === 'METADMPMSS') return true;
  return obx.text(3, 3) === '' && DISPATCH_METADATA_CODES.has(obx.text(3, 1).toUpperCase());
}

const TEXT_TYPES = new Set(['TX', 'FT', 'ST']);
const CODED_TYPES = new Set(['CE', 'CWE', 'CNE']);

/** Text results as they read (a repetition a line); other results as `label: value unit`. */
function textReport(observations: SegmentView[]): string {
  const lines = observations.flatMap((obx) => {
    const type = obx.text(2).toUpperCase();
    const repetitions = range(obx.repetitions(5));
    if (TEXT_TYPES.has(type)) {
      return repetitions.map((repetition) => unescapeHl7(obx.raw(5, 1, repetition), obx.context).trimEnd());
    }
    const values = repetitions
      .map((repetition) => {
        if (CODED_TYPES.has(type)) return obx.text(5, 2, repetition) || obx.text(5, 1, repetition);
        const field = obx.segment.getField(5);
        const components = field?.components[repetition] ?? [];
        return components
          .map((component) => unescapeHl7(component, obx.context).trim())
          .filter(Boolean)
          .join(' ');
      })
      .filter(Boolean);
    if (values.length === 0) return [];
    const label = obx.text(3, 2) || obx.text(3, 1);
    const unit = obx.text(6, 1) || obx.text(6, 2);
    // The reference range (OBX-7) and abnormal flags (OBX-8, N is normal) are what a reader looks at next.
    const reference = obx.text(7);
    const flags = range(obx.repetitions(8))
      .map((repetition) => obx.text(8, 1, repetition))
      .filter((flag) => flag !== '' && flag.toUpperCase() !== 'N');
    return [
      `${label ? `${label}: ` : ''}${values.join(', ')}${unit ? ` ${unit}` : ''}${reference ? ` (reference ${reference})` : ''}${flags.length > 0 ? ` [${flags.join(', ')}]` : ''}`,
    ];
  });
  while (lines.length > 0 && lines.at(-1) === '') lines.pop();
  return lines.join('\n');
}

/** Where an OBX's ED data is: component 5 as the standard says, else 1 or 4 where senders put it. */
function edData(obx: SegmentView): { component: number; data: string } | undefined {
  const inFive = obx.raw(5, 5);
  if (inFive !== '') return { component: 5, data: inFive };
  const inOne = obx.raw(5, 1);
  if (inOne !== '') return { component: 1, data: inOne };
  const inFour = obx.raw(5, 4);
  if (inFour.length > 100 && /^[A-Za-z0-9+/=\s]+$/.test(inFour)) return { component: 4, data: inFour };
  return undefined;
}

function embeddedFile(obx: SegmentView, stem: string, findings: Findings): CarriedFile | undefined {
  const setId = obx.text(1);
  const location = `OBX^${/^[1-9]\d*$/.test(setId) ? setId : obx.sequence}^5`;
  const found = edData(obx);
  if (!found) {
    findings.problems.push({ location, code: 101, text: 'OBX-5 (ED) carries no data' });
    return undefined;
  }
  const encoding = (found.component === 5 ? obx.text(5, 4) : '').toUpperCase();
  const decoded = decodeEd(found.data, encoding, obx.context);
  if (typeof decoded === 'string') {
    findings.problems.push({ location, code: 102, text: `the payload in OBX-5 does not decode: ${decoded}` });
    return undefined;
  }
  const subtype = found.component === 5 ? obx.text(5, 3).toUpperCase() : '';
  const typeOfData = found.component === 5 ? obx.text(5, 2).toUpperCase() : '';
  const contentType = contentTypeOf(decoded, typeOfData, subtype);
  const declaredPdf = subtype === 'PDF' || subtype === 'APPLICATION/PDF';
  if (declaredPdf && contentType !== 'application/pdf') {
    findings.problems.push({
      location,
      code: 102,
      text: 'the payload in OBX-5 does not decode: it is declared a PDF but is none',
    });
    return undefined;
  }
  // A cut transfer often still decodes: a PDF that lost its %%EOF (within its last 1024 bytes) was cut.
  if (contentType === 'application/pdf' && !decoded.subarray(-1024).includes('%%EOF')) {
    findings.problems.push({
      location,
      code: 102,
      text: 'the payload in OBX-5 does not decode: the PDF has no %%EOF, it is truncated',
    });
    return undefined;
  }
  return {
    fileName: fileNameFor(stem, contentType),
    contentType,
    content: decoded,
    source: `OBX(${obx.sequence})-5.${found.component}`,
  };
}

/** ED data to bytes by its encoding (Base64 unless it says Hex or A), or why it does not decode. */
function decodeEd(data: string, encoding: string, context: Hl7EscapeContext): Buffer | string {
  if (encoding === 'A') return Buffer.from(unescapeHl7(data, context), 'utf8');
  const e = `\\${separatorsOf(context).escapeCharacter}`;
  // Senders wrap long data with line breaks, raw or escaped (\.br\, \X0D0A\): none is data.
  const wrapped = containsAnyOf(data, ['\r', '\n', ' ', '\t', separatorsOf(context).escapeCharacter]);
  const compact = wrapped ? data.replace(new RegExp(`${e}[^${e}]*${e}|\\s+`, 'g'), '') : data;
  if (encoding === 'HEX') {
    if (compact.length % 2 !== 0 || /[^0-9A-Fa-f]/.test(compact)) return 'it is not hexadecimal';
    return Buffer.from(compact, 'hex');
  }
  const decoded = decodeBase64(compact);
  // Some senders leave the padding out of a short text (the CI-SIS examples do): 2 or 3 characters past a
  // multiple of 4 are whole bytes. Not for a PDF: a PDF's base64 short of its padding is a cut transfer.
  const unpadded = compact.length % 4 === 2 || compact.length % 4 === 3;
  if (typeof decoded !== 'string' || !unpadded || compact.includes('=')) return decoded;
  const padded = decodeBase64(compact.padEnd(compact.length + 4 - (compact.length % 4), '='));
  return typeof padded === 'string' || padded.subarray(0, 1024).includes('%PDF-') ? decoded : padded;
}

const SUBTYPES: Readonly<Record<string, string>> = {
  PDF: 'application/pdf',
  XML: 'application/xml',
  CDA: 'application/xml',
  'X-HL7-CDA-LEVEL-ONE': 'application/xml',
  JPEG: 'image/jpeg',
  JPG: 'image/jpeg',
  PNG: 'image/png',
  GIF: 'image/gif',
  TIFF: 'image/tiff',
  TIF: 'image/tiff',
  RTF: 'application/rtf',
  HTML: 'text/html',
  TEXT: 'text/plain',
  PLAIN: 'text/plain',
  TXT: 'text/plain',
  'OCTET-STREAM': 'application/octet-stream',
};

function startsWith(content: Buffer, bytes: number[]): boolean {
  return bytes.every((byte, index) => content[index] === byte);
}

/** What the bytes are, by their first bytes; by the declared subtype when they do not tell. */
function contentTypeOf(content: Buffer, typeOfData: string, subtype: string): string {
  const head = content.subarray(0, 1024);
  if (head.includes('%PDF-')) return 'application/pdf';
  if (startsWith(content, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(content, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(content, [0x49, 0x49, 0x2a, 0x00]) || startsWith(content, [0x4d, 0x4d, 0x00, 0x2a])) {
    return 'image/tiff';
  }
  if (head.toString('latin1').startsWith('{\\rtf')) return 'application/rtf';
  const bare = subtype.replace(/^[A-Z]+\//, '');
  const declared = Object.hasOwn(SUBTYPES, bare) ? SUBTYPES[bare] : undefined;
  const text = head
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart();
  if (text.startsWith('<')) {
    // A CDA is XML whatever the sender called it; the ingestion service reads it.
    if (content.subarray(0, 64 * 1024).includes('ClinicalDocument')) return 'application/xml';
    return declared ?? 'application/xml';
  }
  return declared ?? (typeOfData === 'TEXT' ? 'text/plain' : 'application/octet-stream');
}

// ---------------------------------------------------------------------------------------------------
// Acknowledgments

/** HL7 table 0357, message error condition codes. */
const ERROR_CONDITIONS: Readonly<Record<number, string>> = {
  0: 'Message accepted',
  100: 'Segment sequence error',
  101: 'Required field missing',
  102: 'Data type error',
  103: 'Table value not found',
  104: 'Value too long',
  200: 'Unsupported message type',
  201: 'Unsupported event code',
  202: 'Unsupported processing id',
  203: 'Unsupported version id',
  204: 'Unknown key identifier',
  205: 'Duplicate key identifier',
  206: 'Application record locked',
  207: 'Application internal error',
};

/** An HL7 error location: segment, then sequence, field… (`PID^1^3`). */
const HL7_LOCATION = /^[A-Z][A-Z0-9]{2}(\^\d*)*$/;

function hl7Timestamp(now: Date): string {
  const two = (value: number) => String(value).padStart(2, '0');
  return `${now.getFullYear()}${two(now.getMonth() + 1)}${two(now.getDate())}${two(now.getHours())}${two(now.getMinutes())}${two(now.getSeconds())}`;
}

/**
 * The ACK (original acknowledgment mode) to a message: addressed back to its sender, in its
 * separators, version and character set (MSH-18 copied, the bytes encoded in it), MSA-2 its MSH-10,
 * one ERR per problem. For a version before 2.5 each ERR also fills ERR-1, which those versions read.
 */
export function buildAck(
  header: Partial<Hl7Header>,
  ack: { code: 'AA' | 'AE' | 'AR'; problems?: ReadingProblem[]; text?: string },
  options: { controlId: string; now?: Date },
): Buffer {
  const given = {
    fieldSeparator: header.fieldSeparator ?? '|',
    encodingCharacters: header.encodingCharacters ?? '',
  };
  const separators = separatorsAreUsable(given.fieldSeparator, given.encodingCharacters)
    ? given
    : { fieldSeparator: '|', encodingCharacters: DEFAULT_ENCODING_CHARACTERS };
  const { field, component, subcomponent } = separatorsOf(separators);
  const escaped = (value: string | undefined) => escapeHl7(value ?? '', separators);
  const event = header.messageType?.split('^')[1];
  const version = header.version || '2.5';
  const charset = (header.charset ?? '').replace(/[^ -~]/g, '');
  const msh = [
    'MSH',
    separators.encodingCharacters,
    escaped(header.receivingApplication || 'HOTPATH'),
    escaped(header.receivingFacility),
    escaped(header.sendingApplication),
    escaped(header.sendingFacility),
    hl7Timestamp(options.now ?? new Date()),
    '',
    event ? ['ACK', escaped(event), 'ACK'].join(component) : 'ACK',
    escaped(options.controlId),
    escaped(header.processingId || 'P'),
    escaped(version),
    '',
    '',
    '',
    '',
    escaped(header.countryCode),
    charset,
  ];
  while (msh.at(-1) === '') msh.pop();
  // MSA-2 is the acknowledged MSH-10 exactly as it came (it holds no field separator: it was one field).
  const msa = ['MSA', ack.code, header.controlId ?? ''];
  if (ack.text) msa.push(escaped(ack.text));
  const beforeErrorFields = /^2\.[34](\.|$)/.test(version);
  const errors = (ack.problems ?? []).map((problem) => {
    const located = HL7_LOCATION.test(problem.location);
    const location = located ? problem.location.split('^').map(escaped).join(component) : '';
    const text = located ? problem.text : `${problem.location}: ${problem.text}`;
    const condition = [String(problem.code), escaped(ERROR_CONDITIONS[problem.code] ?? ''), 'HL70357'];
    const err = ['ERR', '', location, condition.join(component), 'E', '', '', '', escaped(text)];
    if (beforeErrorFields) {
      // ERR-1 (ELD): segment, sequence, field, then the error as a CE in subcomponents.
      const place = located ? problem.location.split('^').map(escaped) : [];
      err[1] = [...place, '', '', ''].slice(0, 3).concat(condition.join(subcomponent)).join(component);
    }
    return err;
  });
  const segments = [msh, msa, ...errors].map((segment) => `${segment.join(field)}\r`);
  return encodeText(segments.join(''), charset);
}
