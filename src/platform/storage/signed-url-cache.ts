import type { DownloadUrl, DownloadUrlOptions } from './object-store.ts';

/** The cache's key for a URL: the object's key, and how the browser is to take it when that is said. */
export function signedUrlCacheKey(key: string, options: DownloadUrlOptions): string {
  const how = options.disposition;
  return how ? `${key}\n${how.type}\n${how.fileName}` : key;
}

/**
 * Download URLs of the current signing window, by key. Within a window a key always signs to the same
 * URL (download-window.ts), so a document read many times is signed once a window instead of once a
 * read: SigV4 presigning was the largest single cost of a latest-approved read under load. A later
 * window's first URL empties the cache; so does reaching `maxEntries`, which bounds its memory.
 */
export class SignedUrlCache {
  private window = '';
  private readonly urls = new Map<string, Promise<DownloadUrl>>();

  constructor(private readonly maxEntries = 50_000) {}

  get(key: string, options: DownloadUrlOptions, sign: () => Promise<DownloadUrl>): Promise<DownloadUrl> {
    const window = `${options.signedAt.getTime()}/${options.expiresAt.getTime()}`;
    if (window !== this.window) {
      this.urls.clear();
      this.window = window;
    }
    const cached = this.urls.get(key);
    if (cached) return cached;
    if (this.urls.size >= this.maxEntries) this.urls.clear();
    const signed = sign();
    this.urls.set(key, signed);
    // A failed signing is not remembered: the next read tries again.
    signed.catch(() => {
      if (this.urls.get(key) === signed) this.urls.delete(key);
    });
    return signed;
  }

  get size(): number {
    return this.urls.size;
  }
}
