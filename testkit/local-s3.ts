import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

/**
 * A local S3 for tests and the benchmark: s3rver 3.7.1, with the two things it needs to stand in for
 * S3 (see `shimS3rverDes` and `verifyPresignedSignatures`).
 */

const require = createRequire(import.meta.url);

interface KoaContext {
  req: IncomingMessage;
  status: number;
  type: string;
  body: unknown;
  get(header: string): string;
}
type KoaMiddleware = (context: KoaContext, next: () => Promise<void>) => Promise<void>;
interface S3rverServer {
  /** Koa's middleware list, composed when the server starts listening. */
  middleware: KoaMiddleware[];
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
const S3rver = require('s3rver') as new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverServer;

/** s3rver's built-in account. */
export const ACCESS_KEY_ID = 'S3RVER';
export const SECRET_ACCESS_KEY = 'S3RVER';

/**
 * s3rver 3.7.1 encrypts ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 (Node 17
 * and later) only has in its legacy provider: listing past the first page answers 500 "digital
 * envelope routines::unsupported". Triple DES with the key repeated three times is the same cipher
 * (encrypt-decrypt-encrypt under one key is one DES encryption) and is in the default provider, so
 * s3rver's 'des' is routed there, in this test process only, until the returned function undoes it.
 */
function shimS3rverDes(): () => void {
  type Factory = (algorithm: string, key: Buffer, iv: Buffer) => unknown;
  const crypto = require('node:crypto') as { createCipheriv: Factory; createDecipheriv: Factory };
  const { createCipheriv, createDecipheriv } = crypto;
  const viaTripleDes =
    (factory: Factory): Factory =>
    (algorithm, key, iv) =>
      algorithm.toLowerCase() === 'des'
        ? factory('des-ede3-cbc', Buffer.concat([key, key, key]), iv)
        : factory(algorithm, key, iv);
  crypto.createCipheriv = viaTripleDes(createCipheriv);
  crypto.createDecipheriv = viaTripleDes(createDecipheriv);
  return () => {
    crypto.createCipheriv = createCipheriv;
    crypto.createDecipheriv = createDecipheriv;
  };
}

const rfc3986 = (value: string) =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
const compareBy = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Whether a presigned (query-string SigV4) request carries the signature AWS would compute for it.
 * Written from the SigV4 specification rather than with the SDK, so it also checks the driver's URLs.
 */
export function presignedSignatureMatches(method: string, rawUrl: string, host: string): boolean {
  const queryAt = rawUrl.indexOf('?');
  const rawPath = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
  const params = [...new URLSearchParams(queryAt < 0 ? '' : rawUrl.slice(queryAt + 1))];
  const param = (name: string) => params.find(([key]) => key === name)?.[1] ?? '';
  const [accessKeyId, date = '', region = '', service = '', terminator] =
    param('X-Amz-Credential').split('/');
  if (accessKeyId !== ACCESS_KEY_ID || terminator !== 'aws4_request') return false;
  // Every URL the driver hands out must be fetchable as it is, so it may sign no header but Host.
  if (param('X-Amz-SignedHeaders') !== 'host') return false;
  const canonicalQuery = params
    .filter(([key]) => key !== 'X-Amz-Signature')
    .map(([key, value]) => [rfc3986(key), rfc3986(value)] as const)
    .sort(([keyA, valueA], [keyB, valueB]) => compareBy(keyA, keyB) || compareBy(valueA, valueB))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const canonicalRequest = [
    method,
    rawPath, // S3 signs the path as sent, without normalising or encoding it again
    canonicalQuery,
    `host:${host}\n`,
    'host',
    param('X-Amz-Content-Sha256') || 'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    param('X-Amz-Date'),
    `${date}/${region}/${service}/aws4_request`,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  const signingKey = [date, region, service, 'aws4_request'].reduce<Buffer | string>(
    (key, part) => hmac(key, part),
    `AWS4${SECRET_ACCESS_KEY}`,
  );
  const expected = Buffer.from(hmac(signingKey, stringToSign).toString('hex'));
  const given = Buffer.from(param('X-Amz-Signature'));
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * s3rver 3.7.1 checks a presigned URL's access key and expiry but not its signature ("Signature
 * version 4 calculation is unimplemented"), so any altered URL would download. This middleware, put in
 * front of s3rver's own, refuses a presigned request whose signature does not match as S3 does. Requests
 * the SDK signs in the Authorization header, and unknown access keys (which s3rver refuses itself),
 * pass through.
 */
function verifyPresignedSignatures(): KoaMiddleware {
  return async (context, next) => {
    const url = context.req.url ?? '/';
    const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
    const presigned = query.has('X-Amz-Signature');
    const ourKey = query.get('X-Amz-Credential')?.startsWith(`${ACCESS_KEY_ID}/`);
    if (
      presigned &&
      ourKey &&
      !presignedSignatureMatches(context.req.method ?? 'GET', url, context.get('host'))
    ) {
      context.status = 403;
      context.type = 'application/xml';
      context.body =
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>' +
        '<Message>The request signature we calculated does not match the signature you provided.</Message></Error>';
      return;
    }
    await next();
  };
}

export interface LocalS3 {
  endpoint: string;
  port: number;
  /** A STORAGE_URL for the bucket, optionally with a key prefix. */
  storageUrl(options?: { keyPrefix?: string }): string;
  close(): Promise<void>;
}

/** A STORAGE_URL for a bucket of s3rver at `endpoint` (path-style, as s3rver needs). */
export function s3rverStorageUrl(endpoint: string, bucket: string, keyPrefix = ''): string {
  return `s3://${bucket}${keyPrefix ? `/${keyPrefix}` : ''}?endpoint=${endpoint}&region=us-east-1&forcePathStyle=true`;
}

/**
 * Starts s3rver with one bucket on a free port. While it runs, the AWS credentials in the environment
 * are s3rver's (the drivers read the standard chain) and s3rver's DES is shimmed; `close` restores both.
 * Objects go to a temporary directory removed on close, or to `directory`, which is kept.
 */
export async function startLocalS3(options: {
  bucket: string;
  directory?: string;
  port?: number;
}): Promise<LocalS3> {
  const savedEnv: Record<string, string | undefined> = {};
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'])
    savedEnv[name] = process.env[name];
  process.env.AWS_ACCESS_KEY_ID = ACCESS_KEY_ID;
  process.env.AWS_SECRET_ACCESS_KEY = SECRET_ACCESS_KEY;
  delete process.env.AWS_SESSION_TOKEN;
  const restoreCrypto = shimS3rverDes();

  const directory = options.directory ?? mkdtempSync(path.join(os.tmpdir(), 'hotpath-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    silent: true,
    directory,
    configureBuckets: [{ name: options.bucket }],
  });
  server.middleware.unshift(verifyPresignedSignatures());
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    storageUrl: ({ keyPrefix = '' } = {}) => s3rverStorageUrl(endpoint, options.bucket, keyPrefix),
    async close() {
      await server.close();
      if (!options.directory) rmSync(directory, { recursive: true, force: true });
      restoreCrypto();
      for (const [name, value] of Object.entries(savedEnv)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    },
  };
}
