import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsRegistry } from '../../src/platform/metrics/registry.ts';
import { RequestLedger, withLedger } from '../../src/platform/request-ledger.ts';
import { InvalidObjectKeyError } from '../../src/platform/storage/object-store.ts';
import { parseS3Url, S3ObjectStore } from '../../src/platform/storage/s3-store.ts';
import { type LocalS3, presignedSignatureMatches, startLocalS3 } from '../../testkit/local-s3.ts';
import { putDocument, transition, uploadVersion } from '../support/documents.ts';
import { costOf, createTestContext } from '../support/harness.ts';

/** The S3 driver against s3rver, a local S3-compatible server (see test/support/local-s3.ts). */

const BUCKET = 'test-bucket';
let local: LocalS3;
let endpoint: string;
let store: S3ObjectStore;
let prefixed: S3ObjectStore;

beforeAll(async () => {
  local = await startLocalS3({ bucket: BUCKET });
  endpoint = local.endpoint;
  store = new S3ObjectStore(parseS3Url(local.storageUrl()));
  prefixed = new S3ObjectStore(parseS3Url(local.storageUrl({ keyPrefix: 'some/prefix' })));
});

afterAll(async () => {
  await store?.close();
  await prefixed?.close();
  await local?.close();
});

/** A body that arrives in several chunks, as an HTTP upload does, with no length known up front. */
const chunked = (bytes: Buffer, chunkSize = 7) =>
  Readable.from(
    (function* () {
      for (let at = 0; at < bytes.length; at += chunkSize) yield bytes.subarray(at, at + chunkSize);
    })(),
  );

async function readObject(target: S3ObjectStore, key: string) {
  const found = await target.get(key);
  if (!found) return undefined;
  return { object: found.object, bytes: await buffer(found.body) };
}

/** `hotpath_storage_requests_total`, by operation. */
async function storageRequestCounts(): Promise<Record<string, number>> {
  const text = await metricsRegistry.getSingleMetricAsString('hotpath_storage_requests_total');
  const counts: Record<string, number> = {};
  for (const [, operation, value] of text.matchAll(
    /^hotpath_storage_requests_total\{operation="([^"]+)"\} (\d+)$/gm,
  )) {
    counts[operation ?? ''] = Number(value);
  }
  return counts;
}

function countsSince(before: Record<string, number>, after: Record<string, number>) {
  const delta: Record<string, number> = {};
  for (const [operation, value] of Object.entries(after)) {
    if (value !== (before[operation] ?? 0)) delta[operation] = value - (before[operation] ?? 0);
  }
  return delta;
}

describe('parseS3Url', () => {
  it('reads bucket, key prefix and client options, and refuses unknown parameters', () => {
    const location = parseS3Url(
      's3://my-bucket/deploy/a%20b?region=eu-west-3&endpoint=http://localhost:9000&forcePathStyle=true',
    );
    expect(location.bucket).toBe('my-bucket');
    expect(location.keyPrefix).toBe('deploy/a b/');
    expect(location.clientConfig).toMatchObject({
      region: 'eu-west-3',
      endpoint: 'http://localhost:9000',
      forcePathStyle: true,
    });
    expect(parseS3Url('s3://my-bucket/x/?region=us-east-1').keyPrefix).toBe('x/');
    expect(parseS3Url('s3://my-bucket?region=us-east-1').keyPrefix).toBe('');
    expect(() => parseS3Url('s3://my-bucket?secretAccessKey=x')).toThrow(
      /unknown parameter 'secretAccessKey'/,
    );
  });
});

describe('S3ObjectStore against s3rver', () => {
  it('puts a stream of unknown length and gets the bytes and content type back', async () => {
    const bytes = Buffer.from('%PDF-1.4 streamed without a length, in small chunks\n'.repeat(40));
    await store.put('round-trip/unsized.pdf', chunked(bytes), { contentType: 'application/pdf' });

    const head = await store.head('round-trip/unsized.pdf');
    expect(head).toMatchObject({
      key: 'round-trip/unsized.pdf',
      sizeBytes: bytes.length,
      contentType: 'application/pdf',
    });
    expect(head?.lastModified).toBeInstanceOf(Date);
    const got = await readObject(store, 'round-trip/unsized.pdf');
    expect(got?.object).toMatchObject({ sizeBytes: bytes.length, contentType: 'application/pdf' });
    expect(got?.bytes.equals(bytes)).toBe(true);
  });

  it('puts a stream of known length', async () => {
    const bytes = Buffer.from('{"sized":true}');
    await store.put('round-trip/sized.json', chunked(bytes, 3), {
      contentType: 'application/json',
      contentLength: bytes.length,
    });
    expect(await store.head('round-trip/sized.json')).toMatchObject({
      sizeBytes: bytes.length,
      contentType: 'application/json',
    });
    expect((await readObject(store, 'round-trip/sized.json'))?.bytes.toString()).toBe('{"sized":true}');
  });

  it('puts a body larger than one part (a multipart upload) intact', async () => {
    const bytes = Buffer.alloc(6 * 1024 * 1024 + 3);
    for (let at = 0; at < bytes.length; at++) bytes[at] = (at * 31) % 251;
    const before = await storageRequestCounts();
    await store.put('round-trip/large.bin', chunked(bytes, 64 * 1024), {
      contentType: 'application/octet-stream',
    });
    expect(countsSince(before, await storageRequestCounts())).toEqual({
      CreateMultipartUpload: 1,
      UploadPart: 2,
      CompleteMultipartUpload: 1,
    });
    const got = await readObject(store, 'round-trip/large.bin');
    expect(got?.object.sizeBytes).toBe(bytes.length);
    expect(got?.bytes.equals(bytes)).toBe(true);
  });

  it('answers undefined for a missing key, and deletes', async () => {
    expect(await store.head('missing/key')).toBeUndefined();
    expect(await store.get('missing/key')).toBeUndefined();

    await store.put('to-delete/x', chunked(Buffer.from('bye')), { contentType: 'text/plain' });
    expect(await store.head('to-delete/x')).toBeDefined();
    await store.delete('to-delete/x');
    expect(await store.head('to-delete/x')).toBeUndefined();
    expect(await store.get('to-delete/x')).toBeUndefined();
    await expect(store.delete('to-delete/x')).resolves.toBeUndefined();
  });

  it('keeps a key and the keys under it apart', async () => {
    await store.put('nest/a', chunked(Buffer.from('outer')), { contentType: 'text/plain' });
    await store.put('nest/a/b', chunked(Buffer.from('inner')), { contentType: 'text/csv' });
    expect((await readObject(store, 'nest/a'))?.bytes.toString()).toBe('outer');
    expect((await readObject(store, 'nest/a/b'))?.object.contentType).toBe('text/csv');
    await store.delete('nest/a');
    expect((await readObject(store, 'nest/a/b'))?.bytes.toString()).toBe('inner');
  });

  it('rejects invalid keys and prefixes without a request', async () => {
    const before = await storageRequestCounts();
    for (const key of ['../x', 'a//b', '', 'a\\b', '/a', 'a/./b']) {
      await expect(store.put(key, chunked(Buffer.from('x')), { contentType: 'text/plain' })).rejects.toThrow(
        InvalidObjectKeyError,
      );
      await expect(store.get(key)).rejects.toThrow(InvalidObjectKeyError);
      await expect(store.head(key)).rejects.toThrow(InvalidObjectKeyError);
      await expect(store.delete(key)).rejects.toThrow(InvalidObjectKeyError);
      await expect(store.downloadUrl(key, fiveMinutesFrom(new Date()))).rejects.toThrow(
        InvalidObjectKeyError,
      );
    }
    for (const prefix of ['../', 'a//', '/']) {
      await expect(store.listPage(prefix)).rejects.toThrow(InvalidObjectKeyError);
    }
    expect(countsSince(before, await storageRequestCounts())).toEqual({});
  });

  it('rejects a put whose body fails, leaving no object', async () => {
    const failing = Readable.from(
      (async function* () {
        yield Buffer.alloc(1024, 1);
        yield Buffer.alloc(1024, 2);
        throw new Error('client went away');
      })(),
    );
    await expect(store.put('broken/midway', failing, { contentType: 'text/plain' })).rejects.toThrow(
      'client went away',
    );
    expect(await store.head('broken/midway')).toBeUndefined();

    // A body that errors before the driver has read anything (a reset socket) rejects just the same.
    const reset = new Readable({ read() {} });
    reset.push(Buffer.alloc(512));
    const putting = store.put('broken/at-once', reset, { contentType: 'text/plain' });
    reset.destroy(new Error('socket reset'));
    await expect(putting).rejects.toThrow('socket reset');
    expect(await store.head('broken/at-once')).toBeUndefined();
  });

  it('lists 2,500 keys in byte order, each once, in three pages of one request each', async () => {
    // s3rver walks its files in name order, which matches S3's key order as long as no key is also the
    // start of another key's path; these keys keep to that.
    const inside = Array.from({ length: 2_500 }, (_, n) =>
      n % 25 === 0 ? `listing/nested/doc@${n}` : `listing/doc@${n}`,
    );
    const outside = ['listing', 'listin/doc@1', 'listings/doc@1', 'other/listing/doc@1', 'Listing/doc@1'];
    const all = [...inside, ...outside];
    for (let at = 0; at < all.length; at += 50) {
      await Promise.all(
        all
          .slice(at, at + 50)
          .map((key) => store.put(key, chunked(Buffer.from(key)), { contentType: 'text/plain' })),
      );
    }

    const ledger = new RequestLedger(true);
    const pages = await withLedger(ledger, async () => {
      const found: Awaited<ReturnType<S3ObjectStore['listPage']>>[] = [];
      let continuationToken: string | undefined;
      do {
        const page = await store.listPage('listing/', continuationToken ? { continuationToken } : {});
        found.push(page);
        continuationToken = page.nextContinuationToken;
      } while (continuationToken && found.length < 10);
      return found;
    });

    expect(pages.map((page) => page.objects.length)).toEqual([1000, 1000, 500]);
    expect(pages.map((page) => page.nextContinuationToken === undefined)).toEqual([false, false, true]);
    expect(ledger.storage.count).toBe(3);
    const listed = pages.flatMap((page) => page.objects);
    const expected = [...inside].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(listed.map((object) => object.key)).toEqual(expected);
    for (const object of listed) expect(object.sizeBytes).toBe(Buffer.byteLength(object.key));

    const small = await store.listPage('listing/doc@1', { maxKeys: 3 });
    // listing/doc@100 and listing/doc@1000 are under listing/nested/.
    expect(small.objects.map((object) => object.key)).toEqual([
      'listing/doc@1',
      'listing/doc@10',
      'listing/doc@1001',
    ]);
    expect(small.nextContinuationToken).toBeDefined();
    const empty = await store.listPage('listing/none-such/');
    expect(empty).toEqual({ objects: [], nextContinuationToken: undefined });

    // listAll walks the same pages, each key once.
    const everything: string[] = [];
    for await (const page of store.listAll('listing/')) everything.push(...page.map((object) => object.key));
    expect(everything.sort()).toEqual([...inside].sort());
  });

  it('says it cannot tell unfinished uploads when the server does not list them (s3rver)', async () => {
    expect(await store.unfinishedWrites(new Date())).toBeUndefined();
  });

  it('keeps keys relative to the key prefix in the URL', async () => {
    await prefixed.put('docs/one.txt', chunked(Buffer.from('one')), { contentType: 'text/plain' });
    await store.put('some/prefixed-not/two.txt', chunked(Buffer.from('two')), { contentType: 'text/plain' });

    expect(await store.head('some/prefix/docs/one.txt')).toMatchObject({ sizeBytes: 3 });
    expect(await prefixed.head('docs/one.txt')).toMatchObject({ key: 'docs/one.txt', sizeBytes: 3 });
    expect((await readObject(prefixed, 'docs/one.txt'))?.object.key).toBe('docs/one.txt');
    const listed = await prefixed.listPage('');
    expect(listed.objects.map((object) => object.key)).toEqual(['docs/one.txt']);
    expect((await prefixed.listPage('docs/')).objects.map((object) => object.key)).toEqual(['docs/one.txt']);

    const url = await prefixed.downloadUrl('docs/one.txt', fiveMinutesFrom(new Date()));
    expect(new URL(url.url).pathname).toBe(`/${BUCKET}/some/prefix/docs/one.txt`);
    expect(await (await fetch(url.url)).text()).toBe('one');

    await prefixed.delete('docs/one.txt');
    expect(await store.head('some/prefix/docs/one.txt')).toBeUndefined();
    expect(await store.head('some/prefixed-not/two.txt')).toBeDefined();
  });

  it('bills every operation to the ledger and the metric, and presigns with no request', async () => {
    const ledger = new RequestLedger(true);
    const before = await storageRequestCounts();
    const billed: Record<string, number> = {};
    const bill = async (name: string, work: () => Promise<unknown>) => {
      const from = ledger.storage.count;
      await work();
      billed[name] = ledger.storage.count - from;
    };
    await withLedger(ledger, async () => {
      await bill('put', () =>
        store.put('billing/x.txt', chunked(Buffer.from('billed')), { contentType: 'text/plain' }),
      );
      await bill('head', () => store.head('billing/x.txt'));
      await bill('headMissing', () => store.head('billing/missing'));
      await bill('get', async () => buffer((await store.get('billing/x.txt'))!.body));
      await bill('list', () => store.listPage('billing/'));
      await bill('presign', async () => {
        for (let n = 0; n < 20; n++) await store.downloadUrl('billing/x.txt', fiveMinutesFrom(new Date()));
      });
      await bill('delete', () => store.delete('billing/x.txt'));
    });
    expect(billed).toEqual({ put: 1, head: 1, headMissing: 1, get: 1, list: 1, presign: 0, delete: 1 });
    expect(ledger.storage.count).toBe(6);
    expect(countsSince(before, await storageRequestCounts())).toEqual({
      PutObject: 1,
      HeadObject: 2,
      GetObject: 1,
      ListObjectsV2: 1,
      DeleteObject: 1,
    });
  });

  it('presigns deterministically, and the URL downloads the object', async () => {
    const bytes = Buffer.from('%PDF-1.7 presigned bytes \u00e9\u20ac');
    await store.put('presign/Report Q1 \u00e9.pdf', chunked(bytes), { contentType: 'application/pdf' });
    const signedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 30_000);
    const options = { signedAt, expiresAt: new Date(signedAt.getTime() + 300_000) };

    const ledger = new RequestLedger(true);
    const before = await storageRequestCounts();
    const [first, second] = await withLedger(ledger, async () => [
      await store.downloadUrl('presign/Report Q1 \u00e9.pdf', options),
      await store.downloadUrl('presign/Report Q1 \u00e9.pdf', options),
    ]);
    expect(ledger.storage.count).toBe(0);
    expect(countsSince(before, await storageRequestCounts())).toEqual({});
    expect(second).toEqual(first);
    expect(first?.expiresAt).toEqual(options.expiresAt);
    const other = await store.downloadUrl('presign/Report Q1 \u00e9.pdf', {
      signedAt: new Date(signedAt.getTime() + 1000),
      expiresAt: new Date(options.expiresAt.getTime() + 1000),
    });
    expect(other.url).not.toBe(first?.url);

    const response = await fetch(first!.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/pdf');
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('presigns a disposition S3 answers with: inline with the file name, for the browser to show', async () => {
    await store.put('presign/9b2e', chunked(Buffer.from('%PDF-1.7 inline')), {
      contentType: 'application/pdf',
    });
    const signedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 30_000);
    const options = { signedAt, expiresAt: new Date(signedAt.getTime() + 300_000) };
    const plain = await store.downloadUrl('presign/9b2e', options);
    const inline = await store.downloadUrl('presign/9b2e', {
      ...options,
      disposition: { type: 'inline', fileName: 'Compte rendu é.pdf' },
    });
    expect(inline.url).not.toBe(plain.url);
    const response = await fetch(inline.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toBe(
      `inline; filename="Compte rendu e.pdf"; filename*=UTF-8''Compte%20rendu%20%C3%A9.pdf`,
    );
    // The override is signed: changed, the URL no longer works.
    const changed = new URL(inline.url);
    changed.searchParams.set('response-content-disposition', 'attachment; filename="x.pdf"');
    expect((await fetch(changed)).status).toBe(403);
  });

  it('reports the moment a presigned URL really expires, to the second', async () => {
    const signedAt = new Date('2030-01-02T03:04:05.750Z');
    const url = await store.downloadUrl('presign/any', {
      signedAt,
      expiresAt: new Date('2030-01-02T03:09:05.750Z'),
    });
    const query = new URL(url.url).searchParams;
    expect(query.get('X-Amz-Date')).toBe('20300102T030405Z');
    const expiresAt = Date.parse('2030-01-02T03:04:05Z') + Number(query.get('X-Amz-Expires')) * 1000;
    expect(url.expiresAt.getTime()).toBe(expiresAt);
    expect(url.expiresAt.getTime()).toBeLessThanOrEqual(Date.parse('2030-01-02T03:09:05.750Z'));
  });

  it('presigns keys with spaces, reserved and non-ASCII characters that download as they are', async () => {
    const key = "odd keys/a b+c (1)/résumé d'été*.pdf";
    await store.put(key, chunked(Buffer.from('odd')), { contentType: 'application/pdf' });
    const url = (
      await store.downloadUrl(key, fiveMinutesFrom(new Date(Math.floor(Date.now() / 1000) * 1000)))
    ).url;
    expect(presignedSignatureMatches('GET', new URL(url).pathname + new URL(url).search, hostOf())).toBe(
      true,
    );
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('odd');
  });

  it('has an altered, foreign or expired presigned URL refused', async () => {
    await store.put('presign/guarded.txt', chunked(Buffer.from('guarded')), { contentType: 'text/plain' });
    await store.put('presign/other.txt', chunked(Buffer.from('other')), { contentType: 'text/plain' });
    const signedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
    const genuine = (await store.downloadUrl('presign/guarded.txt', fiveMinutesFrom(signedAt))).url;
    expect(
      presignedSignatureMatches('GET', new URL(genuine).pathname + new URL(genuine).search, hostOf()),
    ).toBe(true);
    expect(await (await fetch(genuine)).text()).toBe('guarded');

    const refusal = async (url: string) => {
      const response = await fetch(url);
      return { status: response.status, code: /<Code>([^<]+)<\/Code>/.exec(await response.text())?.[1] };
    };
    const withParam = (name: string, change: (value: string) => string) => {
      const url = new URL(genuine);
      url.searchParams.set(name, change(url.searchParams.get(name) ?? ''));
      return url.toString();
    };
    const flipped = withParam(
      'X-Amz-Signature',
      (value) => `${value[0] === '0' ? '1' : '0'}${value.slice(1)}`,
    );
    expect(await refusal(flipped)).toEqual({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await refusal(genuine.replace('/guarded.txt?', '/other.txt?'))).toEqual({
      status: 403,
      code: 'SignatureDoesNotMatch',
    });
    expect(await refusal(withParam('X-Amz-Expires', (value) => String(Number(value) + 60)))).toEqual({
      status: 403,
      code: 'SignatureDoesNotMatch',
    });
    expect(
      await refusal(withParam('X-Amz-Credential', (value) => value.replace('S3RVER', 'INTRUDER'))),
    ).toEqual({
      status: 403,
      code: 'InvalidAccessKeyId',
    });
    const expired = await store.downloadUrl('presign/guarded.txt', {
      signedAt: new Date(signedAt.getTime() - 7_200_000),
      expiresAt: new Date(signedAt.getTime() - 3_600_000),
    });
    expect(await refusal(expired.url)).toEqual({ status: 403, code: 'AccessDenied' });
  });
});

describe('documents API on S3', () => {
  it('serves the latest approved version with no storage request, and its URL downloads the upload', async () => {
    const context = await createTestContext({ env: { STORAGE_URL: local.storageUrl() } });
    try {
      expect(context.runtime.store.kind).toBe('s3');
      await putDocument(context, 'doc-s3');
      const bytes = Buffer.from('%PDF-1.4 uploaded through the API to s3rver\n'.repeat(100));
      const uploaded = await uploadVersion(context, 'doc-s3', bytes, 'application/pdf');
      expect(uploaded).toMatchObject({ version: 1, sizeBytes: bytes.length });
      expect((await transition(context, 'doc-s3', 1, 'approve')).statusCode).toBe(200);

      const stored = await store.listPage('documents/doc-s3/');
      expect(stored.objects).toHaveLength(1);
      expect(stored.objects[0]?.sizeBytes).toBe(bytes.length);

      const latest = await context.app.inject({
        method: 'GET',
        url: '/v1/documents/doc-s3',
        headers: context.auth('reader'),
      });
      expect(latest.statusCode).toBe(200);
      expect(costOf(latest.headers)).toEqual({ queries: 1, storage: 0, ext: 0 });
      const { downloadUrl, contentType, sizeBytes } = latest.json();
      expect({ contentType, sizeBytes }).toEqual({ contentType: 'application/pdf', sizeBytes: bytes.length });
      expect(downloadUrl.startsWith(`${endpoint}/${BUCKET}/documents/doc-s3/`)).toBe(true);

      const download = await fetch(downloadUrl);
      expect(download.status).toBe(200);
      expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
    } finally {
      await context.close();
    }
  });
});

function fiveMinutesFrom(signedAt: Date) {
  return { signedAt, expiresAt: new Date(signedAt.getTime() + 300_000) };
}

function hostOf(): string {
  return new URL(endpoint).host;
}
