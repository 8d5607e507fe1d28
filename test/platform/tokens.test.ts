import { describe, expect, it } from 'vitest';
import { roleAtLeast, TokenAuthority, TokenError } from '../../src/platform/auth/tokens.ts';

const authority = new TokenAuthority('a-secret-that-is-long-enough-for-tests-0123');

describe('bearer tokens', () => {
  it('round-trips subject, role and scopes', () => {
    const token = authority.issue({
      subject: 'dr.keller',
      role: 'approver',
      facilities: ['F1', 'F2'],
      merchants: ['M9'],
    });
    expect(authority.verify(token)).toMatchObject({
      subject: 'dr.keller',
      role: 'approver',
      facilities: ['F1', 'F2'],
      merchants: ['M9'],
      expiresAt: undefined,
    });
  });

  it('refuses a token signed with another secret, a changed claim, or garbage', () => {
    const other = new TokenAuthority('another-secret-that-is-long-enough-0123456');
    expect(() => authority.verify(other.issue({ subject: 'x', role: 'admin' }))).toThrow(TokenError);
    const token = authority.issue({ subject: 'reader-1', role: 'reader' });
    const [prefix, , signature] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ sub: 'reader-1', role: 'admin', iat: 1 })).toString(
      'base64url',
    );
    expect(() => authority.verify(`${prefix}.${forged}.${signature}`)).toThrow(/signature/);
    expect(() => authority.verify('Bearer nonsense')).toThrow(TokenError);
    expect(() => authority.verify('hp1.a.b.c')).toThrow(/malformed/);
  });

  it('refuses an expired token', () => {
    const token = authority.issue({
      subject: 's',
      role: 'reader',
      expiresInSeconds: 60,
      now: new Date(Date.now() - 120_000),
    });
    expect(() => authority.verify(token)).toThrow(/expired/);
  });

  it('remembers a verified token but still refuses it once it has expired', () => {
    const remembering = new TokenAuthority('a-secret-that-is-long-enough-0123456789ab', 2);
    const issuedAt = new Date(Date.now() - 30_000);
    const token = remembering.issue({ subject: 's', role: 'reader', expiresInSeconds: 60, now: issuedAt });
    const first = remembering.verify(token);
    expect(remembering.verify(token)).toBe(first);
    expect(() => remembering.verify(token, Date.now() + 31_000)).toThrow(/expired/);
    for (const subject of ['a', 'b', 'c']) {
      expect(remembering.verify(remembering.issue({ subject, role: 'author' })).subject).toBe(subject);
    }
    const [prefix, , signature] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ sub: 's', role: 'admin', iat: 1 })).toString('base64url');
    expect(() => remembering.verify(`${prefix}.${forged}.${signature}`)).toThrow(/signature/);
  });

  it('orders roles reader < author < approver < admin', () => {
    expect(roleAtLeast('admin', 'approver')).toBe(true);
    expect(roleAtLeast('approver', 'author')).toBe(true);
    expect(roleAtLeast('author', 'approver')).toBe(false);
    expect(roleAtLeast('reader', 'reader')).toBe(true);
  });
});
