import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { formatUrl } from '@aws-sdk/core/util';
import { Upload } from '@aws-sdk/lib-storage';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { getEndpointFromInstructions } from '@smithy/core/endpoints';
import { extendedEncodeURIComponent, HttpRequest } from '@smithy/core/protocols';
import { storageRequestsTotal } from '../metrics/registry.ts';
import { billDependency } from '../request-ledger.ts';
import {
  assertValidKey,
  assertValidPrefix,
  contentDispositionHeader,
  type DownloadUrl,
  type DownloadUrlOptions,
  type ListedObject,
  type ObjectPage,
  type ObjectStore,
  type StoredObject,
  type UnfinishedWrite,
} from './object-store.ts';
import { SignedUrlCache, signedUrlCacheKey } from './signed-url-cache.ts';

export interface S3Location {
  bucket: string;
  /** Prepended to every key, so several deployments can share a bucket. */
  keyPrefix: string;
  clientConfig: S3ClientConfig;
}

/**
 * `s3://bucket[/key-prefix]?region=…&endpoint=…&forcePathStyle=true`. Credentials come from the
 * standard AWS chain (AWS_ACCESS_KEY_ID…), never from the URL, so the URL can be logged.
 */
export function parseS3Url(storageUrl: string): S3Location {
  const url = new URL(storageUrl);
  const known = new Set(['region', 'endpoint', 'forcePathStyle']);
  for (const name of url.searchParams.keys()) {
    if (!known.has(name))
      throw new Error(`STORAGE_URL has an unknown parameter '${name}' (known: ${[...known].join(', ')})`);
  }
  const endpoint = url.searchParams.get('endpoint') ?? undefined;
  const keyPrefix = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  return {
    bucket: url.hostname,
    keyPrefix: keyPrefix === '' || keyPrefix.endsWith('/') ? keyPrefix : `${keyPrefix}/`,
    clientConfig: {
      region: url.searchParams.get('region') ?? process.env.AWS_REGION ?? 'us-east-1',
      ...(endpoint ? { endpoint } : {}),
      forcePathStyle: url.searchParams.get('forcePathStyle') === 'true',
    },
  };
}

export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  private readonly signedUrls = new SignedUrlCache();
  private presignSetup:
    | Promise<{ presigner: S3RequestPresigner; endpoint: URL; signingRegion: string; signingService: string }>
    | undefined;

  constructor(private readonly location: S3Location) {
    this.client = new S3Client(location.clientConfig);
    // Counted at the deserialize step: once per HTTP attempt that reaches the network (retries
    // included), and never for presigning, which stops before that step.
    this.client.middlewareStack.add(
      (next, context) => (args) => {
        storageRequestsTotal.inc({
          operation: String(context.commandName ?? 'unknown').replace(/Command$/, ''),
        });
        return billDependency('storage', () => next(args));
      },
      { step: 'deserialize', name: 'hotpathStorageAccounting' },
    );
  }

  async put(
    key: string,
    body: Readable | Buffer,
    options: { contentType: string; contentLength?: number },
  ): Promise<void> {
    assertValidKey(key);
    // Upload sends one PutObject for small bodies and a multipart upload for large or unsized ones.
    await new Upload({
      client: this.client,
      params: {
        Bucket: this.location.bucket,
        Key: this.fullKey(key),
        Body: body,
        ContentType: options.contentType,
        ...(options.contentLength === undefined ? {} : { ContentLength: options.contentLength }),
      },
    }).done();
  }

  async head(key: string): Promise<StoredObject | undefined> {
    assertValidKey(key);
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.fullKey(key) }),
      );
      return {
        key,
        sizeBytes: head.ContentLength ?? 0,
        contentType: head.ContentType ?? 'application/octet-stream',
        lastModified: head.LastModified ?? new Date(0),
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async get(key: string): Promise<{ object: StoredObject; body: Readable } | undefined> {
    assertValidKey(key);
    try {
      const got = await this.client.send(
        new GetObjectCommand({ Bucket: this.location.bucket, Key: this.fullKey(key) }),
      );
      return {
        object: {
          key,
          sizeBytes: got.ContentLength ?? 0,
          contentType: got.ContentType ?? 'application/octet-stream',
          lastModified: got.LastModified ?? new Date(0),
        },
        body: got.Body as Readable,
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.fullKey(key) }));
  }

  async listPage(
    prefix: string,
    options: { continuationToken?: string; maxKeys?: number } = {},
  ): Promise<ObjectPage> {
    assertValidPrefix(prefix);
    const page = await this.client.send(
      new ListObjectsV2Command({
        Bucket: this.location.bucket,
        Prefix: this.fullKey(prefix),
        ContinuationToken: options.continuationToken,
        MaxKeys: options.maxKeys ?? 1000,
      }),
    );
    return {
      objects: (page.Contents ?? []).map((entry) => ({
        key: (entry.Key ?? '').slice(this.location.keyPrefix.length),
        sizeBytes: entry.Size ?? 0,
        lastModified: entry.LastModified ?? new Date(0),
      })),
      nextContinuationToken: page.IsTruncated ? page.NextContinuationToken : undefined,
    };
  }

  async *listAll(prefix: string): AsyncIterable<ListedObject[]> {
    let continuationToken: string | undefined;
    do {
      const page = await this.listPage(prefix, continuationToken ? { continuationToken } : {});
      yield page.objects;
      continuationToken = page.nextContinuationToken;
    } while (continuationToken);
  }

  /**
   * Multipart uploads begun before `before` and never completed (the SDK aborts the ones that fail;
   * these are a crash's). Undefined when the server does not list them (s3rver, some gateways).
   */
  async unfinishedWrites(before: Date): Promise<UnfinishedWrite[] | undefined> {
    const writes: UnfinishedWrite[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    try {
      for (;;) {
        const page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.location.bucket,
            Prefix: this.location.keyPrefix,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        );
        for (const upload of page.Uploads ?? []) {
          if (upload.Initiated && upload.Initiated < before && upload.Key && upload.UploadId) {
            writes.push({
              id: JSON.stringify([upload.Key, upload.UploadId]),
              startedAt: upload.Initiated,
              description: `incomplete multipart upload of ${upload.Key.slice(this.location.keyPrefix.length)}`,
            });
          }
        }
        if (!page.IsTruncated) return writes;
        keyMarker = page.NextKeyMarker;
        uploadIdMarker = page.NextUploadIdMarker;
      }
    } catch (error) {
      if (error instanceof S3ServiceException && error.name === 'NotImplemented') return undefined;
      throw error;
    }
  }

  async discardUnfinishedWrite(write: UnfinishedWrite): Promise<void> {
    const [key, uploadId] = JSON.parse(write.id) as [string, string];
    await this.client.send(
      new AbortMultipartUploadCommand({ Bucket: this.location.bucket, Key: key, UploadId: uploadId }),
    );
  }

  async downloadUrl(key: string, options: DownloadUrlOptions): Promise<DownloadUrl> {
    assertValidKey(key);
    return this.signedUrls.get(signedUrlCacheKey(key, options), options, () => this.presign(key, options));
  }

  private async presign(key: string, options: DownloadUrlOptions): Promise<DownloadUrl> {
    // X-Amz-Date carries whole seconds, so sign at the whole second: the `expiresAt` returned is then
    // when the URL really stops working, never later, like the file-system store's.
    const signedAt = new Date(Math.floor(options.signedAt.getTime() / 1000) * 1000);
    const expiresIn = Math.floor((options.expiresAt.getTime() - signedAt.getTime()) / 1000);
    const { presigner, endpoint, signingRegion, signingService } = await this.presigning();
    const request = new HttpRequest({
      method: 'GET',
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
      path: `${endpoint.pathname.replace(/\/$/, '')}/${this.fullKey(key).split('/').map(extendedEncodeURIComponent).join('/')}`,
      headers: { host: endpoint.host },
      // S3 answers with this Content-Disposition (a GetObject response override), signed with the rest.
      ...(options.disposition
        ? { query: { 'response-content-disposition': contentDispositionHeader(options.disposition) } }
        : {}),
    });
    const signed = await presigner.presign(request, {
      expiresIn,
      signingDate: signedAt,
      signingRegion,
      signingService,
    });
    return { url: formatUrl(signed), expiresAt: new Date(signedAt.getTime() + expiresIn * 1000) };
  }

  /**
   * getSignedUrl resolves the endpoint rules and runs a copy of the client's middleware for every URL
   * (about 0.5 ms each, measured). A GetObject endpoint depends on the bucket, not the key, so it is
   * resolved once, the way getSignedUrl does, and each URL is then only the SDK's SigV4 presigning.
   */
  private presigning() {
    this.presignSetup ??= (async () => {
      const endpoint = await getEndpointFromInstructions(
        { Bucket: this.location.bucket, Key: 'k' },
        GetObjectCommand,
        this.client.config,
      );
      const authScheme = endpoint.properties?.authSchemes?.[0] as
        | { signingRegion?: string; signingName?: string }
        | undefined;
      const signingRegion = authScheme?.signingRegion ?? (await this.client.config.region());
      const presigner = new S3RequestPresigner({
        ...this.client.config,
        signingName: authScheme?.signingName ?? 's3',
        region: async () => signingRegion,
      });
      return {
        presigner,
        endpoint: endpoint.url,
        signingRegion,
        signingService: authScheme?.signingName ?? 's3',
      };
    })();
    return this.presignSetup;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private fullKey(key: string): string {
    return `${this.location.keyPrefix}${key}`;
  }
}

function isNotFound(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.name === 'NotFound' || error.name === 'NoSuchKey' || error.$metadata.httpStatusCode === 404)
  );
}
