import type { Readable } from 'node:stream';
import { storageRequestsTotal } from '../metrics/registry.ts';
import { billDependency } from '../request-ledger.ts';

export interface StoredObject {
  key: string;
  sizeBytes: number;
  contentType: string;
  lastModified: Date;
}

export interface ListedObject {
  key: string;
  sizeBytes: number;
  lastModified: Date;
}

/** One page of a listing: one request to the store. */
export interface ObjectPage {
  objects: ListedObject[];
  nextContinuationToken: string | undefined;
}

export interface UnfinishedWrite {
  /** What the store needs to discard it: a file name, or an S3 key and upload id. */
  id: string;
  startedAt: Date;
  /** For a person reading the report. */
  description: string;
}

export interface DownloadUrl {
  url: string;
  expiresAt: Date;
}

export interface DownloadUrlOptions {
  /** The signature's time; with `expiresAt` it makes the URL deterministic, so it can sit behind an ETag. */
  signedAt: Date;
  expiresAt: Date;
  /**
   * How the browser should take the object: shown in the page (`inline`, for its PDF viewer) or saved
   * (`attachment`), under this file name. Part of what is signed, so nobody can change it in the URL.
   */
  disposition?: ContentDisposition;
}

export interface ContentDisposition {
  type: 'inline' | 'attachment';
  fileName: string;
}

/**
 * The Content-Disposition header for a file name of any characters (RFC 6266): an ASCII `filename`
 * for old clients and `filename*=UTF-8''…` (RFC 8187) with the name as it is. Only the name's last
 * path segment is kept, without control characters, quotes or backslashes, up to 200 characters.
 */
export function contentDispositionHeader(disposition: ContentDisposition): string {
  const name = safeFileName(disposition.fileName);
  const ascii = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${disposition.type}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** A file name fit for a header: its last path segment, no control characters, at most 200 characters. */
export function safeFileName(fileName: string): string {
  const name = [...(fileName.split(/[\\/]/).at(-1) ?? '')]
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point.
    .filter((character) => !/[\u0000-\u001f\u007f"]/.test(character))
    .slice(0, 200)
    .join('')
    .trim();
  return name === '' ? 'file' : name;
}

/**
 * What hotpath needs from object storage. Every method but `downloadUrl` is one or more requests to
 * the store and is counted; `downloadUrl` is computed locally and costs none.
 */
export interface ObjectStore {
  readonly kind: 'filesystem' | 's3';
  /** A body held in memory is written as it is; a stream is streamed (a multipart upload on S3 when large). */
  put(
    key: string,
    body: Readable | Buffer,
    options: { contentType: string; contentLength?: number },
  ): Promise<void>;
  head(key: string): Promise<StoredObject | undefined>;
  get(key: string): Promise<{ object: StoredObject; body: Readable } | undefined>;
  delete(key: string): Promise<void>;
  listPage(prefix: string, options?: { continuationToken?: string; maxKeys?: number }): Promise<ObjectPage>;
  /** Every object under a prefix, a page at a time, in no promised order. */
  listAll(prefix: string): AsyncIterable<ListedObject[]>;
  /**
   * Writes begun before `before` that never finished, as a crash leaves them: temporary files of the
   * file-system store, incomplete multipart uploads on S3. Undefined when the store cannot tell.
   */
  unfinishedWrites(before: Date): Promise<UnfinishedWrite[] | undefined>;
  discardUnfinishedWrite(write: UnfinishedWrite): Promise<void>;
  downloadUrl(key: string, options: DownloadUrlOptions): Promise<DownloadUrl>;
  close(): Promise<void>;
}

/** Counts one request to the store, by operation, in the metrics and the current request's ledger. */
export function storageRequest<T>(operation: string, work: () => Promise<T>): Promise<T> {
  storageRequestsTotal.inc({ operation });
  return billDependency('storage', work);
}

export class InvalidObjectKeyError extends Error {
  constructor(key: string, reason: string) {
    super(`invalid object key '${key.slice(0, 200)}': ${reason}`);
    this.name = 'InvalidObjectKeyError';
  }
}

/** Keys are relative, slash-separated paths without empty, `.` or `..` segments. */
export function assertValidKey(key: string): void {
  if (key.length === 0 || key.length > 1024) throw new InvalidObjectKeyError(key, 'length must be 1 to 1024');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
  if (/[\u0000-\u001f\\]/.test(key))
    throw new InvalidObjectKeyError(key, 'control characters and backslashes');
  for (const segment of key.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new InvalidObjectKeyError(key, 'empty, "." or ".." segment');
    }
    // A file name holds 255 bytes, and the file-system store adds a suffix of up to 10.
    if (Buffer.byteLength(segment) > 240) throw new InvalidObjectKeyError(key, 'a segment over 240 bytes');
  }
}

export function isValidKey(key: string): boolean {
  try {
    assertValidKey(key);
    return true;
  } catch {
    return false;
  }
}

/**
 * A listing prefix is empty, or a valid key with an optional trailing slash (it may end mid-name,
 * as `dir/doc@`). Checked like keys so a prefix such as `../` cannot list outside the store.
 */
export function assertValidPrefix(prefix: string): void {
  if (prefix !== '') assertValidKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
}
