import { describe, expect, it } from 'vitest';
import { downloadWindow } from '../../src/platform/storage/download-window.ts';
import { UrlSigner } from '../../src/platform/storage/url-signing.ts';

// The stores' use of these is tested in storage-filesystem.test.ts and storage-s3.test.ts; this covers
// their edges.

describe('UrlSigner', () => {
  const signer = new UrlSigner('url-signing-test-secret');
  const expires = 1_900_000_000;

  it('signs per key, expiry and secret, in a form that needs no escaping in a query string', () => {
    const signature = signer.sign('a/b', expires);
    expect(signature).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(signer.sign('a/b', expires)).toBe(signature);
    expect(new UrlSigner('url-signing-test-secret').sign('a/b', expires)).toBe(signature);
    expect(signer.sign('a/b', expires + 1)).not.toBe(signature);
    expect(signer.sign('a/c', expires)).not.toBe(signature);
    expect(new UrlSigner('another-secret').sign('a/b', expires)).not.toBe(signature);
  });

  it('calls malformed expiries tampered, not expired or valid', () => {
    const now = (expires - 60) * 1000;
    for (const malformed of [
      '',
      ' 1900000000',
      '1900000000 ',
      '-1',
      '1e9',
      '19000000000000',
      '0x71',
      '1.5',
    ]) {
      const signature = signer.sign('a/b', Number(malformed));
      expect(signer.check('a/b', malformed, signature, now)).toBe('tampered');
    }
    expect(signer.check('a/b', String(expires), signer.sign('a/b', expires), now)).toBe('valid');
    expect(signer.check('a/b', String(expires), `${signer.sign('a/b', expires)}=`, now)).toBe('tampered');
  });
});

describe('downloadWindow', () => {
  it('gives every moment of a window the same signing time, and at least ttl minus the window to run', () => {
    for (const ttlSeconds of [60, 300, 3600, 7 * 24 * 3600]) {
      const windowMs = Math.min(60, Math.floor(ttlSeconds / 5)) * 1000;
      const start = Date.UTC(2030, 0, 1, 0, 0, 0);
      const first = downloadWindow(ttlSeconds, start);
      for (const now of [start, start + 1, start + windowMs / 2, start + windowMs - 1]) {
        const options = downloadWindow(ttlSeconds, now);
        expect(options).toEqual(first);
        expect(options.signedAt.getTime()).toBeLessThanOrEqual(now);
        expect(options.expiresAt.getTime() - options.signedAt.getTime()).toBe(ttlSeconds * 1000);
        expect(options.expiresAt.getTime() - now).toBeGreaterThanOrEqual(ttlSeconds * 1000 - windowMs);
        expect(options.signedAt.getTime() % 1000).toBe(0);
      }
      expect(downloadWindow(ttlSeconds, start + windowMs).signedAt.getTime()).toBe(start + windowMs);
    }
  });

  it('gives real dates for a TTL shorter than five seconds', () => {
    const options = downloadWindow(3, Date.UTC(2030, 0, 1, 0, 0, 0, 500));
    expect(options.signedAt.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(options.expiresAt.toISOString()).toBe('2030-01-01T00:00:03.000Z');
  });
});
