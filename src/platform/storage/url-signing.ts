import { createHmac, timingSafeEqual } from 'node:crypto';
import { type ContentDisposition, safeFileName } from './object-store.ts';

export type SignatureCheck = 'valid' | 'tampered' | 'expired';

/** HMAC-SHA256 over key and expiry: what the file-system store puts in its download URLs. */
export class UrlSigner {
  private readonly secret: Buffer;

  constructor(rootSecret: string) {
    // A key of its own, so a download signature can never be replayed as anything else.
    this.secret = createHmac('sha256', rootSecret).update('hotpath/object-download-url').digest();
  }

  /** `disposition` (how the browser takes the object, see ContentDisposition) is signed with the rest. */
  sign(key: string, expiresAtSeconds: number, disposition?: string): string {
    const signed = `${key}\n${expiresAtSeconds}${disposition === undefined ? '' : `\n${disposition}`}`;
    return createHmac('sha256', this.secret).update(signed).digest('base64url');
  }

  /** Tampering is judged before expiry: an expired URL is only reported as such if it is genuine. */
  check(
    key: string,
    expires: string | undefined,
    signature: string | undefined,
    now = Date.now(),
    disposition?: string,
  ): SignatureCheck {
    if (!expires || !/^\d{1,12}$/.test(expires) || !signature) return 'tampered';
    const expected = Buffer.from(this.sign(key, Number(expires), disposition));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'tampered';
    return Number(expires) * 1000 <= now ? 'expired' : 'valid';
  }
}

/** What a download URL's signature covers of its disposition: the type and the file name as sent. */
export function signedDisposition(disposition: ContentDisposition): string {
  return `${disposition.type}\n${safeFileName(disposition.fileName)}`;
}
