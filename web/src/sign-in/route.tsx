import { createRoute } from '@tanstack/react-router';
import { rootRoute } from '../app/root.tsx';
import { safeRedirect } from '../app/session.ts';
import { SignInPage } from './SignInPage.tsx';

export interface SignInSearch {
  /** Where to go once signed in: a path of this site. */
  redirect?: string;
  /** Why the reader is here: their token was refused, or they signed out. */
  reason?: 'expired' | 'signed-out';
}

export const signInRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/sign-in',
  validateSearch: (search: Record<string, unknown>): SignInSearch => {
    const redirect = safeRedirect(search.redirect);
    const reason = search.reason === 'expired' || search.reason === 'signed-out' ? search.reason : undefined;
    return { ...(redirect ? { redirect } : {}), ...(reason ? { reason } : {}) };
  },
  component: SignInPage,
});
