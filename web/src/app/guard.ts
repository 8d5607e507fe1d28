import { redirect } from '@tanstack/react-router';
import { currentToken } from './session.ts';

/**
 * A route's `beforeLoad` for screens that need a token: without one, the sign-in screen, which comes
 * back here afterwards.
 */
export function requireSignIn({ location }: { location: { href: string } }): void {
  if (!currentToken()) throw redirect({ to: '/sign-in', search: { redirect: location.href } });
}
