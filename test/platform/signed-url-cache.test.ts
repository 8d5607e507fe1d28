import { describe, expect, it } from 'vitest';
import type { DownloadUrl } from '../../src/platform/storage/object-store.ts';
import { SignedUrlCache } from '../../src/platform/storage/signed-url-cache.ts';

const windowAt = (seconds: number) => ({
  signedAt: new Date(seconds * 1000),
  expiresAt: new Date((seconds + 300) * 1000),
});

/** A signer that counts its calls and signs key and window into the URL. */
function signer() {
  const calls: string[] = [];
  const sign = (key: string, signedAt: Date) => async (): Promise<DownloadUrl> => {
    calls.push(key);
    return { url: `https://s3.example/${key}?at=${signedAt.getTime()}`, expiresAt: new Date(0) };
  };
  return { calls, sign };
}

describe('signed URL cache', () => {
  it('signs a key once a window and again in the next window', async () => {
    const cache = new SignedUrlCache();
    const { calls, sign } = signer();
    const first = windowAt(60);
    const a1 = await cache.get('a', first, sign('a', first.signedAt));
    const a2 = await cache.get('a', first, sign('a', first.signedAt));
    await cache.get('b', first, sign('b', first.signedAt));
    expect(a2).toEqual(a1);
    expect(calls).toEqual(['a', 'b']);

    const next = windowAt(120);
    const a3 = await cache.get('a', next, sign('a', next.signedAt));
    expect(a3.url).toBe('https://s3.example/a?at=120000');
    expect(calls).toEqual(['a', 'b', 'a']);
    expect(cache.size).toBe(1);
  });

  it('does not remember a failed signing', async () => {
    const cache = new SignedUrlCache();
    const window = windowAt(60);
    await expect(cache.get('a', window, () => Promise.reject(new Error('no credentials')))).rejects.toThrow(
      'no credentials',
    );
    const { calls, sign } = signer();
    await cache.get('a', window, sign('a', window.signedAt));
    expect(calls).toEqual(['a']);
  });

  it('stays within its bound', async () => {
    const cache = new SignedUrlCache(3);
    const window = windowAt(60);
    const { calls, sign } = signer();
    for (const key of ['a', 'b', 'c', 'd']) await cache.get(key, window, sign(key, window.signedAt));
    expect(cache.size).toBeLessThanOrEqual(3);
    expect(calls).toEqual(['a', 'b', 'c', 'd']);
  });
});
