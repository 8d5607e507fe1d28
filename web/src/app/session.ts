import { useSyncExternalStore } from 'react';

/** The tab's sign-in: the key the pages built before the app used too. */
const TOKEN_KEY = 'hotpath.token';
const listeners = new Set<() => void>();

function changed(): void {
  for (const listener of listeners) listener();
}

/** The bearer token this tab signed in with, if any: sessionStorage only, never localStorage or a cookie. */
export function currentToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function signIn(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
  changed();
}

export function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  changed();
}

/**
 * A token in the address's fragment (`…/dashboard#token=…`, the links `npm start` prints) is taken into
 * this tab's session and removed from the address at once, so it is in no history entry, bookmark or
 * shared screen. The fragment is never sent to the server, so the token is not in any request line.
 */
export function takeTokenFromAddress(): void {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const token = fragment.get('token');
  if (token === null) return;
  fragment.delete('token');
  const rest = fragment.toString();
  const { pathname, search } = window.location;
  history.replaceState(history.state, '', `${pathname}${search}${rest ? `#${rest}` : ''}`);
  if (token.trim()) signIn(token);
}

/** Re-renders when this tab signs in or out. */
export function useToken(): string | null {
  return useSyncExternalStore(subscribe, currentToken);
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

/** What a token says about itself. Read without its signature checked: for display, never for a decision. */
export interface TokenClaims {
  subject: string;
  role: string;
  facilities: string[];
  merchants: string[];
  expiresAt: Date | undefined;
}

/** `hp1.<claims as base64url JSON>.<signature>`, or undefined for anything else. */
export function readClaims(token: string): TokenClaims | undefined {
  const [prefix, body, signature, extra] = token.trim().split('.');
  if (prefix !== 'hp1' || !body || !signature || extra !== undefined) return undefined;
  try {
    const base64 = body.replaceAll('-', '+').replaceAll('_', '/');
    const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    if (typeof claims.sub !== 'string' || typeof claims.role !== 'string') return undefined;
    const strings = (value: unknown) =>
      Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
    return {
      subject: claims.sub,
      role: claims.role,
      facilities: strings(claims.fac),
      merchants: strings(claims.mer),
      expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : undefined,
    };
  } catch {
    return undefined;
  }
}

/** Where to go after signing in: a path of this site only, never another origin. */
export function safeRedirect(target: unknown): string | undefined {
  if (typeof target !== 'string' || !target.startsWith('/') || target.startsWith('//')) return undefined;
  if (target.startsWith('/sign-in')) return undefined;
  return target;
}
