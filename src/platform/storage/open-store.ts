import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config.ts';
import { FileSystemObjectStore } from './filesystem-store.ts';
import type { ObjectStore } from './object-store.ts';
import { parseS3Url, S3ObjectStore } from './s3-store.ts';
import { UrlSigner } from './url-signing.ts';

/** STORAGE_URL picks the driver: `s3://…`, `file:///dir`, or unset for files under the data dir. */
export function openObjectStore(config: Config, tokenSecret: string): ObjectStore {
  if (config.storageUrl?.startsWith('s3:')) return new S3ObjectStore(parseS3Url(config.storageUrl));
  const root = config.storageUrl ? fileURLToPath(config.storageUrl) : path.join(config.dataDir, 'storage');
  return new FileSystemObjectStore(root, config.publicUrl, new UrlSigner(tokenSecret));
}
