import { describe, expect, it } from 'vitest';
import { downloadWindow } from '../../src/platform/storage/download-window.ts';
import { contentDispositionHeader } from '../../src/platform/storage/object-store.ts';
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

describe('contentDispositionHeader', () => {
  it('names the file as it is (RFC 8187) with an ASCII fallback, and only its last path segment', () => {
    expect(contentDispositionHeader({ type: 'inline', fileName: 'report.pdf' })).toBe(
      `inline; filename="report.pdf"; filename*=UTF-8''report.pdf`,
    );
    expect(contentDispositionHeader({ type: 'attachment', fileName: "Compte rendu d'écho (1).pdf" })).toBe(
      `attachment; filename="Compte rendu d'echo (1).pdf"; filename*=UTF-8''Compte%20rendu%20d%27%C3%A9cho%20%281%29.pdf`,
    );
    expect(contentDispositionHeader({ type: 'inline', fileName: '../../etc/pass"wd\r\nX-Evil: 1' })).toBe(
      `inline; filename="passwdX-Evil: 1"; filename*=UTF-8''passwdX-Evil%3A%201`,
    );
    expect(contentDispositionHeader({ type: 'inline', fileName: 'C:\\scans\\100%.tif' })).toBe(
      `inline; filename="100_.tif"; filename*=UTF-8''100%25.tif`,
    );
    expect(contentDispositionHeader({ type: 'inline', fileName: '' })).toBe(
      `inline; filename="file"; filename*=UTF-8''file`,
    );
    expect(contentDispositionHeader({ type: 'inline', fileName: '検査結果.pdf' })).toBe(
      `inline; filename="____.pdf"; filename*=UTF-8''%E6%A4%9C%E6%9F%BB%E7%B5%90%E6%9E%9C.pdf`,
    );
  });
});
