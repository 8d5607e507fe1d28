import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  assertValidKey,
  assertValidPrefix,
  type DownloadUrl,
  type DownloadUrlOptions,
  type ListedObject,
  type ObjectPage,
  type ObjectStore,
  type StoredObject,
  safeFileName,
  storageRequest,
  type UnfinishedWrite,
} from './object-store.ts';
import { SignedUrlCache, signedUrlCacheKey } from './signed-url-cache.ts';
import { signedDisposition, type UrlSigner } from './url-signing.ts';

/** Object bodies carry this suffix, so a key may also be the prefix of other keys (`a/b` and `a/b/c`). */
const BODY_SUFFIX = '.obj';
const META_SUFFIX = '.meta.json';

interface ObjectMeta {
  contentType: string;
}

/**
 * Objects as files under one directory. Writes go to a temporary file and are renamed into place, so
 * a reader never sees half an object. Download URLs point at this server's `/v1/objects/…` route,
 * signed with an HMAC that route checks.
 */
export class FileSystemObjectStore implements ObjectStore {
  readonly kind = 'filesystem' as const;
  private readonly objectsDir: string;
  private readonly scratchDir: string;
  private readonly signedUrls = new SignedUrlCache();

  constructor(
    root: string,
    private readonly publicUrl: string,
    private readonly signer: UrlSigner,
  ) {
    this.objectsDir = path.join(root, 'objects');
    this.scratchDir = path.join(root, 'objects-tmp');
  }

  // The methods are async so that an invalid key rejects the returned promise rather than throwing
  // synchronously past a caller's `.catch()`.
  async put(key: string, body: Readable | Buffer, options: { contentType: string }): Promise<void> {
    if (Buffer.isBuffer(body)) {
      assertValidKey(key);
      await storageRequest('PutObject', () =>
        this.placeAtomically(key, options.contentType, (scratch) => writeFile(scratch, body)),
      );
      return;
    }
    // The body is ours from the call on: until `pipeline` takes its errors over (after the mkdir
    // below), an 'error' it emits, such as a client disconnecting, would otherwise be unhandled and
    // crash the process. `pipeline` still sees the error, as the stream's errored state.
    const holdError = () => {};
    body.on('error', holdError);
    try {
      assertValidKey(key);
      await storageRequest('PutObject', () =>
        this.placeAtomically(key, options.contentType, (scratch) =>
          pipeline(body, createWriteStream(scratch)),
        ),
      );
    } finally {
      body.off('error', holdError);
    }
  }

  /** Writes the body and its metadata to scratch files, then renames both into place; on failure, none. */
  private async placeAtomically(
    key: string,
    contentType: string,
    writeBody: (scratch: string) => Promise<void>,
  ): Promise<void> {
    const scratch = path.join(this.scratchDir, randomUUID());
    const target = this.bodyPath(key);
    const meta: ObjectMeta = { contentType };
    try {
      await this.ensureDirectory(this.scratchDir);
      await Promise.all([
        writeBody(scratch),
        writeFile(`${scratch}${META_SUFFIX}`, JSON.stringify(meta)),
        this.ensureDirectory(path.dirname(target)),
      ]);
      await rename(`${scratch}${META_SUFFIX}`, this.metaPath(key));
      await rename(scratch, target);
    } catch (error) {
      await rm(scratch, { force: true });
      await rm(`${scratch}${META_SUFFIX}`, { force: true });
      // A directory removed behind our back (by hand, by a test) is made again on the next write.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') this.directories.clear();
      throw error;
    }
  }

  /** Directories made by this store: a write into one of them skips its mkdir (a few syscalls each). */
  private readonly directories = new Set<string>();

  private async ensureDirectory(directory: string): Promise<void> {
    if (this.directories.has(directory)) return;
    await mkdir(directory, { recursive: true });
    this.directories.add(directory);
  }

  async head(key: string): Promise<StoredObject | undefined> {
    assertValidKey(key);
    return storageRequest('HeadObject', () => this.describe(key));
  }

  async get(key: string): Promise<{ object: StoredObject; body: Readable } | undefined> {
    assertValidKey(key);
    return storageRequest('GetObject', async () => {
      const object = await this.describe(key);
      return object && { object, body: createReadStream(this.bodyPath(key)) };
    });
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    return storageRequest('DeleteObject', async () => {
      await rm(this.bodyPath(key), { force: true });
      await rm(this.metaPath(key), { force: true });
    });
  }

  /** Keys in byte order, as S3 lists them; the continuation token is the last key returned. */
  async listPage(
    prefix: string,
    options: { continuationToken?: string; maxKeys?: number } = {},
  ): Promise<ObjectPage> {
    assertValidPrefix(prefix);
    const maxKeys = Math.min(Math.max(options.maxKeys ?? 1000, 1), 1000);
    return storageRequest('ListObjectsV2', async () => {
      const startAfter = options.continuationToken
        ? Buffer.from(options.continuationToken, 'base64url').toString('utf8')
        : undefined;
      const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
      const keys: string[] = [];
      await this.collectKeys(base, prefix, keys);
      keys.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      const from =
        startAfter === undefined
          ? 0
          : keys.findIndex((key) => Buffer.compare(Buffer.from(key), Buffer.from(startAfter)) > 0);
      const pageKeys = from < 0 ? [] : keys.slice(from, from + maxKeys);
      const objects: ListedObject[] = await Promise.all(
        pageKeys.map(async (key) => {
          const info = await stat(this.bodyPath(key));
          return { key, sizeBytes: info.size, lastModified: info.mtime };
        }),
      );
      const last = pageKeys.at(-1);
      const more = from >= 0 && from + maxKeys < keys.length;
      return {
        objects,
        nextContinuationToken: more && last ? Buffer.from(last).toString('base64url') : undefined,
      };
    });
  }

  /** One walk of the prefix's directory, however many objects; listPage walks it again for every page. */
  async *listAll(prefix: string): AsyncIterable<ListedObject[]> {
    assertValidPrefix(prefix);
    const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    const keys: string[] = [];
    await storageRequest('ListObjectsV2', () => this.collectKeys(base, prefix, keys));
    for (let start = 0; start < keys.length; start += 1000) {
      const objects = await Promise.all(
        keys.slice(start, start + 1000).map(async (key) => {
          const info = await stat(this.bodyPath(key)).catch(() => undefined);
          return info && { key, sizeBytes: info.size, lastModified: info.mtime };
        }),
      );
      yield objects.filter((object): object is ListedObject => object !== undefined);
    }
  }

  /** Temporary files of writes that never reached their rename: a crash mid-upload. */
  async unfinishedWrites(before: Date): Promise<UnfinishedWrite[]> {
    let names: string[];
    try {
      names = await readdir(this.scratchDir);
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
    const writes: UnfinishedWrite[] = [];
    for (const name of names) {
      const info = await stat(path.join(this.scratchDir, name)).catch(() => undefined);
      if (info && info.mtime < before) {
        writes.push({
          id: name,
          startedAt: info.mtime,
          description: `temporary file ${name} (${info.size} bytes)`,
        });
      }
    }
    return writes;
  }

  async discardUnfinishedWrite(write: UnfinishedWrite): Promise<void> {
    // Only a plain name in the scratch directory: never a path that leads elsewhere.
    if (write.id !== path.basename(write.id)) throw new Error(`not a temporary file: ${write.id}`);
    await rm(path.join(this.scratchDir, write.id), { force: true });
  }

  async downloadUrl(key: string, options: DownloadUrlOptions): Promise<DownloadUrl> {
    assertValidKey(key);
    return this.signedUrls.get(signedUrlCacheKey(key, options), options, async () => this.sign(key, options));
  }

  private sign(key: string, options: DownloadUrlOptions): DownloadUrl {
    const expires = Math.floor(options.expiresAt.getTime() / 1000);
    const disposition = options.disposition && signedDisposition(options.disposition);
    const signature = this.signer.sign(key, expires, disposition);
    const encodedKey = key.split('/').map(encodeURIComponent).join('/');
    const how = options.disposition
      ? `&disposition=${options.disposition.type}&filename=${encodeURIComponent(safeFileName(options.disposition.fileName))}`
      : '';
    return {
      url: `${this.publicUrl}/v1/objects/${encodedKey}?expires=${expires}${how}&signature=${signature}`,
      expiresAt: new Date(expires * 1000),
    };
  }

  async close(): Promise<void> {}

  private async describe(key: string): Promise<StoredObject | undefined> {
    try {
      const info = await stat(this.bodyPath(key));
      if (!info.isFile()) return undefined;
      let contentType = 'application/octet-stream';
      try {
        contentType = (JSON.parse(await readFile(this.metaPath(key), 'utf8')) as ObjectMeta).contentType;
      } catch {
        // An object written without metadata is served as bytes.
      }
      return { key, sizeBytes: info.size, contentType, lastModified: info.mtime };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  private async collectKeys(directoryKey: string, prefix: string, into: string[]): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(path.join(this.objectsDir, directoryKey), { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    for (const entry of entries) {
      const name = `${directoryKey}${entry.name}`;
      if (entry.isDirectory()) {
        if (`${name}/`.startsWith(prefix) || prefix.startsWith(`${name}/`))
          await this.collectKeys(`${name}/`, prefix, into);
      } else if (entry.name.endsWith(BODY_SUFFIX)) {
        const key = name.slice(0, -BODY_SUFFIX.length);
        if (key.startsWith(prefix)) into.push(key);
      }
    }
  }

  private bodyPath(key: string): string {
    return path.join(this.objectsDir, `${key}${BODY_SUFFIX}`);
  }

  private metaPath(key: string): string {
    return path.join(this.objectsDir, `${key}${META_SUFFIX}`);
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
