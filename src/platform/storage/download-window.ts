import type { DownloadUrlOptions } from './object-store.ts';

/**
 * Signing times rounded down to a window, so every request in the same window gets the same URL for
 * the same object. A response holding a URL can then carry an ETag and be revalidated with 304, and a
 * URL handed out is valid for at least `ttl - window` seconds.
 */
export function downloadWindow(ttlSeconds: number, now = Date.now()): DownloadUrlOptions {
  // At least a second: a TTL under 5 s would otherwise make a zero window and NaN dates.
  const windowMs = Math.max(1, Math.min(60, Math.floor(ttlSeconds / 5))) * 1000;
  const signedAt = Math.floor(now / windowMs) * windowMs;
  return { signedAt: new Date(signedAt), expiresAt: new Date(signedAt + ttlSeconds * 1000) };
}
