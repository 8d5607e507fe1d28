import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsRegistry } from '../../src/platform/metrics/registry.ts';
import { RequestLedger, withLedger } from '../../src/platform/request-ledger.ts';
import { FileSystemObjectStore } from '../../src/platform/storage/filesystem-store.ts';
import { InvalidObjectKeyError, type ObjectPage } from '../../src/platform/storage/object-store.ts';
import { UrlSigner } from '../../src/platform/storage/url-signing.ts';

const PUBLIC_URL = 'http://hotpath.test:8080';
const signer = new UrlSigner('filesystem-store-test-secret');
let root: string;
let store: FileSystemObjectStore;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'hotpath-fs-store-'));
  store = new FileSystemObjectStore(root, PUBLIC_URL, signer);
});
afterAll(async () => {
  await store?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

const bodyOf = (content: string | Buffer) => Readable.from([Buffer.from(content)]);
const text = (content: string) => ({ body: bodyOf(content), options: { contentType: 'text/plain' } });
const putText = (key: string, content = key) => {
  const { body, options } = text(content);
  return store.put(key, body, options);
};

async function readObject(key: string) {
  const found = await store.get(key);
  return found && { object: found.object, bytes: await buffer(found.body) };
}

/** Every file under the store's root, relative to it. */
async function filesUnder(directory = root): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .sort();
}

async function listAll(prefix: string, maxKeys?: number): Promise<ObjectPage[]> {
  const pages: ObjectPage[] = [];
  let continuationToken: string | undefined;
  do {
    const page = await store.listPage(prefix, {
      ...(continuationToken ? { continuationToken } : {}),
      ...(maxKeys ? { maxKeys } : {}),
    });
    pages.push(page);
    continuationToken = page.nextContinuationToken;
  } while (continuationToken && pages.length < 5_000);
  return pages;
}

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('FileSystemObjectStore', () => {
  it('puts, heads, gets and deletes an object with its content type', async () => {
    const bytes = Buffer.from('%PDF-1.4 \u00e9\u20ac bytes on disk');
    await store.put('docs/report.pdf', Readable.from([bytes.subarray(0, 5), bytes.subarray(5)]), {
      contentType: 'application/pdf',
    });

    const head = await store.head('docs/report.pdf');
    expect(head).toMatchObject({
      key: 'docs/report.pdf',
      sizeBytes: bytes.length,
      contentType: 'application/pdf',
    });
    expect(head?.lastModified).toBeInstanceOf(Date);
    const got = await readObject('docs/report.pdf');
    expect(got?.object).toEqual(head);
    expect(got?.bytes.equals(bytes)).toBe(true);

    await store.put('docs/report.pdf', bodyOf('replaced'), { contentType: 'text/plain' });
    expect(await readObject('docs/report.pdf')).toMatchObject({
      object: { sizeBytes: 8, contentType: 'text/plain' },
    });

    await store.delete('docs/report.pdf');
    expect(await store.head('docs/report.pdf')).toBeUndefined();
    expect(await store.get('docs/report.pdf')).toBeUndefined();
    await expect(store.delete('docs/report.pdf')).resolves.toBeUndefined();
    expect(await store.head('never/written')).toBeUndefined();
  });

  it('keeps a key and keys that start with it apart', async () => {
    await putText('a/b', 'outer');
    await putText('a/b/c', 'inner');
    await putText('a/b/c/d', 'innermost');
    expect((await readObject('a/b'))?.bytes.toString()).toBe('outer');
    expect((await readObject('a/b/c'))?.bytes.toString()).toBe('inner');
    expect((await store.listPage('a/')).objects.map((object) => object.key)).toEqual([
      'a/b',
      'a/b/c',
      'a/b/c/d',
    ]);
    await store.delete('a/b/c');
    expect((await readObject('a/b'))?.bytes.toString()).toBe('outer');
    expect((await readObject('a/b/c/d'))?.bytes.toString()).toBe('innermost');
    expect(await store.head('a/b/c')).toBeUndefined();
    // A directory is not an object.
    expect(await store.head('a')).toBeUndefined();
  });

  it('accepts keys that look like its own file names', async () => {
    for (const key of [
      'odd/x.obj',
      'odd/x.meta.json',
      'odd/x',
      'odd/sp ace/\u00fc\u20ac.pdf',
      'odd/doc@1#2?3',
    ]) {
      await putText(key);
      expect((await readObject(key))?.bytes.toString()).toBe(key);
    }
    expect((await store.listPage('odd/')).objects.map((object) => object.key)).toEqual(
      ['odd/x.obj', 'odd/x.meta.json', 'odd/x', 'odd/sp ace/\u00fc\u20ac.pdf', 'odd/doc@1#2?3'].sort(
        byteOrder,
      ),
    );
  });

  it('rejects invalid keys and prefixes, writing and reading nothing', async () => {
    const before = await filesUnder();
    const invalid = [
      '../x',
      'a//b',
      '',
      'a\\b',
      '/a',
      'a/',
      './x',
      'a/../../x',
      'x\u0000y',
      'k'.repeat(1025),
    ];
    for (const key of invalid) {
      const { body, options } = text('escape');
      await expect(store.put(key, body, options)).rejects.toThrow(InvalidObjectKeyError);
      await expect(store.get(key)).rejects.toThrow(InvalidObjectKeyError);
      await expect(store.head(key)).rejects.toThrow(InvalidObjectKeyError);
      await expect(store.delete(key)).rejects.toThrow(InvalidObjectKeyError);
      await expect(store.downloadUrl(key, inFiveMinutes())).rejects.toThrow(InvalidObjectKeyError);
    }
    expect(await filesUnder()).toEqual(before);

    // An object-like file beside the store's directory is out of reach of a listing.
    await writeFile(path.join(root, 'beside.obj'), 'not in the store');
    for (const prefix of ['../', '..', '../beside', 'a//', '/']) {
      await expect(store.listPage(prefix)).rejects.toThrow(InvalidObjectKeyError);
    }
    expect((await store.listPage('')).objects.map((object) => object.key)).not.toContain('../beside');
  });

  it('lists 2,500 keys in byte order, each once, across pages, with a prefix ending mid-name', async () => {
    // Some keys are also the start of other keys' paths (`dir/doc@10` and `dir/doc@10/v2`), which a
    // directory walk meets in a different order than S3 lists them.
    const inside = Array.from({ length: 2_500 }, (_, n) =>
      n % 10 === 3 ? `dir/doc@${n - 3}/v2` : `dir/doc@${n}`,
    );
    const outside = ['dir/doc', 'dir/doc-1', 'dir/doa@1', 'dir/do/c@1', 'dir2/doc@1', 'di/r', 'dis/doc@1'];
    const all = [...inside, ...outside];
    for (let at = 0; at < all.length; at += 100) {
      await Promise.all(all.slice(at, at + 100).map((key) => putText(key)));
    }
    const expected = [...inside].sort(byteOrder);
    expect(expected.slice(0, 3)).toEqual(['dir/doc@0', 'dir/doc@0/v2', 'dir/doc@1']);

    const ledger = new RequestLedger(true);
    const pages = await withLedger(ledger, () => listAll('dir/doc@'));
    expect(ledger.storage.count).toBe(3);
    expect(pages.map((page) => page.objects.length)).toEqual([1000, 1000, 500]);
    expect(pages.map((page) => page.nextContinuationToken === undefined)).toEqual([false, false, true]);
    const listed = pages.flatMap((page) => page.objects);
    expect(listed.map((object) => object.key)).toEqual(expected);
    for (const object of listed) expect(object.sizeBytes).toBe(Buffer.byteLength(object.key));

    const small = await listAll('dir/doc@', 333);
    expect(small).toHaveLength(Math.ceil(2_500 / 333));
    expect(small.flatMap((page) => page.objects.map((object) => object.key))).toEqual(expected);

    const wholeDir = (await listAll('dir/')).flatMap((page) => page.objects.map((object) => object.key));
    expect(wholeDir).toEqual([...inside, 'dir/doc', 'dir/doc-1', 'dir/doa@1', 'dir/do/c@1'].sort(byteOrder));
    expect((await listAll('dir')).flatMap((page) => page.objects)).toHaveLength(2_500 + 5);

    // maxKeys is held to 1 to 1000, as S3 holds it.
    expect((await store.listPage('dir/doc@', { maxKeys: 0 })).objects).toHaveLength(1);
    expect((await store.listPage('dir/doc@', { maxKeys: 5_000 })).objects).toHaveLength(1000);
    expect(await store.listPage('dir/none-such/')).toEqual({ objects: [], nextContinuationToken: undefined });
    expect(await store.listPage('nowhere/at/all')).toEqual({ objects: [], nextContinuationToken: undefined });
  });

  it('resumes a listing after its token even when keys come and go in between', async () => {
    for (const key of ['resume/b', 'resume/d', 'resume/f']) await putText(key);
    const first = await store.listPage('resume/', { maxKeys: 2 });
    expect(first.objects.map((object) => object.key)).toEqual(['resume/b', 'resume/d']);
    await putText('resume/a');
    await putText('resume/e');
    await store.delete('resume/d');
    const rest = await store.listPage('resume/', { continuationToken: first.nextContinuationToken! });
    expect(rest.objects.map((object) => object.key)).toEqual(['resume/e', 'resume/f']);
    expect(rest.nextContinuationToken).toBeUndefined();
  });

  it('leaves no object and no temporary file when the body fails midway', async () => {
    await putText('kept/object', 'the previous version');
    const failing = () =>
      Readable.from(
        (async function* () {
          yield Buffer.alloc(64 * 1024, 1);
          yield Buffer.alloc(64 * 1024, 2);
          throw new Error('client went away');
        })(),
      );

    await expect(store.put('broken/new', failing(), { contentType: 'text/plain' })).rejects.toThrow(
      'client went away',
    );
    await expect(store.put('kept/object', failing(), { contentType: 'application/pdf' })).rejects.toThrow(
      'client went away',
    );

    expect(await store.head('broken/new')).toBeUndefined();
    expect(await readObject('kept/object')).toMatchObject({ object: { contentType: 'text/plain' } });
    expect((await readObject('kept/object'))?.bytes.toString()).toBe('the previous version');
    expect(await readdir(path.join(root, 'objects-tmp'))).toEqual([]);
    expect((await filesUnder()).filter((file) => file.includes('broken'))).toEqual([]);
  });

  it('rejects a put whose body errors before the store reads it, without crashing the process', async () => {
    for (let n = 0; n < 20; n++) {
      const reset = new Readable({ read() {} });
      reset.push(Buffer.alloc(1024, n));
      const putting = store.put(`reset/${n}`, reset, { contentType: 'text/plain' });
      reset.destroy(new Error('socket reset'));
      await expect(putting).rejects.toThrow('socket reset');
      expect(await store.head(`reset/${n}`)).toBeUndefined();
    }
    expect(await readdir(path.join(root, 'objects-tmp'))).toEqual([]);
  });

  it('bills each operation as one storage request, and a download URL as none', async () => {
    const metric = () => metricsRegistry.getSingleMetricAsString('hotpath_storage_requests_total');
    const ledger = new RequestLedger(true);
    const billed: Record<string, number> = {};
    const bill = async (name: string, work: () => Promise<unknown>) => {
      const from = ledger.storage.count;
      await work();
      billed[name] = ledger.storage.count - from;
    };
    const before = await metric();
    await withLedger(ledger, async () => {
      await bill('put', () => putText('billing/x'));
      await bill('head', () => store.head('billing/x'));
      await bill('get', () => readObject('billing/x'));
      await bill('list', () => store.listPage('billing/'));
      await bill('downloadUrl', () => store.downloadUrl('billing/x', inFiveMinutes()));
      await bill('delete', () => store.delete('billing/x'));
    });
    expect(billed).toEqual({ put: 1, head: 1, get: 1, list: 1, downloadUrl: 0, delete: 1 });
    const count = (text: string, operation: string) =>
      Number(new RegExp(`operation="${operation}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    const after = await metric();
    for (const operation of ['PutObject', 'HeadObject', 'GetObject', 'ListObjectsV2', 'DeleteObject']) {
      expect(count(after, operation) - count(before, operation)).toBe(1);
    }
  });

  it('signs download URLs that UrlSigner.check verifies, and refuses any change', async () => {
    const key = 'signed/Report Q1 \u00e9.pdf';
    await putText(key);
    const options = inFiveMinutes(new Date('2030-05-06T07:08:09.999Z'));
    const download = await store.downloadUrl(key, options);
    expect(await store.downloadUrl(key, options)).toEqual(download);
    expect(download.expiresAt).toEqual(new Date('2030-05-06T07:13:09Z'));

    const url = new URL(download.url);
    expect(`${url.origin}`).toBe(PUBLIC_URL);
    expect(url.pathname).toBe('/v1/objects/signed/Report%20Q1%20%C3%A9.pdf');
    const signedKey = decodeURIComponent(url.pathname.slice('/v1/objects/'.length));
    expect(signedKey).toBe(key);
    const expires = url.searchParams.get('expires') ?? undefined;
    const signature = url.searchParams.get('signature') ?? undefined;
    expect(Number(expires) * 1000).toBe(download.expiresAt.getTime());
    const before = download.expiresAt.getTime() - 1;

    expect(signer.check(key, expires, signature, before)).toBe('valid');
    expect(signer.check(`${key}x`, expires, signature, before)).toBe('tampered');
    expect(signer.check('signed/other.pdf', expires, signature, before)).toBe('tampered');
    expect(signer.check(key, String(Number(expires) + 3600), signature, before)).toBe('tampered');
    const flipped = `${signature?.[0] === 'A' ? 'B' : 'A'}${signature?.slice(1)}`;
    expect(signer.check(key, expires, flipped, before)).toBe('tampered');
    expect(signer.check(key, expires, undefined, before)).toBe('tampered');
    expect(signer.check(key, undefined, signature, before)).toBe('tampered');
    expect(new UrlSigner('another-secret').check(key, expires, signature, before)).toBe('tampered');

    expect(signer.check(key, expires, signature, download.expiresAt.getTime())).toBe('expired');
    expect(signer.check(key, expires, signature, download.expiresAt.getTime() + 86_400_000)).toBe('expired');
    // A forged URL is reported as forged, expired or not.
    expect(signer.check(key, expires, flipped, download.expiresAt.getTime() + 1)).toBe('tampered');
  });
});

describe('download URLs with a disposition', () => {
  it('sign how the browser takes the object, so nobody can turn a download into a page or rename it', async () => {
    const key = 'signed/3f1c9a';
    await putText(key);
    const options = inFiveMinutes(new Date('2030-05-06T07:08:09.999Z'));
    const plain = await store.downloadUrl(key, options);
    const inline = await store.downloadUrl(key, {
      ...options,
      disposition: { type: 'inline', fileName: 'Compte rendu é.pdf' },
    });
    const saved = await store.downloadUrl(key, {
      ...options,
      disposition: { type: 'attachment', fileName: 'Compte rendu é.pdf' },
    });
    expect(new Set([plain.url, inline.url, saved.url]).size).toBe(3);
    // Cached per disposition too: the same question signs to the same URL.
    expect(
      await store.downloadUrl(key, {
        ...options,
        disposition: { type: 'inline', fileName: 'Compte rendu é.pdf' },
      }),
    ).toEqual(inline);

    const query = new URL(inline.url).searchParams;
    expect(query.get('disposition')).toBe('inline');
    expect(query.get('filename')).toBe('Compte rendu é.pdf');
    const expires = query.get('expires') ?? undefined;
    const signature = query.get('signature') ?? undefined;
    const before = inline.expiresAt.getTime() - 1;
    expect(signer.check(key, expires, signature, before, 'inline\nCompte rendu é.pdf')).toBe('valid');
    expect(signer.check(key, expires, signature, before, 'attachment\nCompte rendu é.pdf')).toBe('tampered');
    expect(signer.check(key, expires, signature, before, 'inline\nother.pdf')).toBe('tampered');
    expect(signer.check(key, expires, signature, before)).toBe('tampered');
  });
});

function inFiveMinutes(signedAt = new Date()) {
  return { signedAt, expiresAt: new Date(signedAt.getTime() + 300_000) };
}

describe('what a crash leaves behind', () => {
  it('lists every object under a prefix in one walk, and reports and discards old temporary files', async () => {
    const keys = Array.from({ length: 1_250 }, (_, n) => `sweep/${n % 3}/object-${n}`);
    for (let at = 0; at < keys.length; at += 50)
      await Promise.all(keys.slice(at, at + 50).map((key) => putText(key)));
    const listed: string[] = [];
    for await (const page of store.listAll('sweep/')) listed.push(...page.map((object) => object.key));
    expect(listed.sort()).toEqual([...keys].sort());

    // A write cut short by a crash: its temporary file, an hour old, and one still being written.
    const scratch = path.join(root, 'objects-tmp');
    await writeFile(path.join(scratch, 'crashed-write'), 'half of a file');
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await utimes(path.join(scratch, 'crashed-write'), anHourAgo, anHourAgo);
    await writeFile(path.join(scratch, 'write-in-flight'), 'being written');
    const old = await store.unfinishedWrites(new Date(Date.now() - 60_000));
    expect(old?.map((write) => write.id)).toEqual(['crashed-write']);
    await store.discardUnfinishedWrite(old![0]!);
    expect(await readdir(scratch)).toEqual(['write-in-flight']);
    await expect(
      store.discardUnfinishedWrite({ id: '../objects/sweep', startedAt: new Date(), description: '' }),
    ).rejects.toThrow(/not a temporary file/);
  });
});
