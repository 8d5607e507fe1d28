import { Label } from '@radix-ui/react-label';
import { useQueryClient } from '@tanstack/react-query';
import { Link, useRouter } from '@tanstack/react-router';
import { type FormEvent, useId, useState } from 'react';
import { ApiError, answer, api } from '../app/api.ts';
import { formatDateTime } from '../app/format.ts';
import { readClaims, signIn, signOut, type TokenClaims, useToken } from '../app/session.ts';
import { usePageTitle } from '../app/title.ts';
import { Button } from '../app/ui/Button.tsx';
import { Notice } from '../app/ui/Notice.tsx';
import { signInRoute } from './route.tsx';

/** Where a token is for, when nothing asked for a screen: the dashboard for a merchant's, the worklist for a clinician's. */
function destinationFor(claims: TokenClaims): string {
  if (claims.role === 'admin' || claims.merchants.length > 0) return '/dashboard';
  if (claims.facilities.length > 0) return '/worklist';
  return '/';
}

export function SignInPage() {
  usePageTitle('Sign in');
  const { redirect, reason } = signInRoute.useSearch();
  const router = useRouter();
  const queryClient = useQueryClient();
  const token = useToken();
  const [value, setValue] = useState('');
  const [problem, setProblem] = useState<string>();
  const [checking, setChecking] = useState(false);
  const inputId = useId();
  const hintId = useId();
  const problemId = useId();

  /** A screen of the app by the router; a page hotpath serves apart from it (the worklist, for now) by a page load. */
  const go = (href: string) => {
    const [, , found] = router.getMatchedRoutes(new URL(href, window.location.origin).pathname);
    if (found) void router.navigate({ href });
    else window.location.assign(href);
  };

  async function submit(event: FormEvent) {
    event.preventDefault();
    const candidate = value.trim();
    const claims = readClaims(candidate);
    if (!candidate) return setProblem('Paste a token first.');
    if (!claims) {
      return setProblem('This is not a hotpath token: those start with “hp1.” and have three parts.');
    }
    if (claims.expiresAt && claims.expiresAt.getTime() <= Date.now()) {
      return setProblem(`This token expired on ${formatDateTime(claims.expiresAt)}. Make a new one.`);
    }
    setProblem(undefined);
    setChecking(true);
    try {
      // Any reader route checks the signature; this one costs one statement.
      await answer(api.GET('/v1/merchants', { headers: { authorization: `Bearer ${candidate}` } }));
    } catch (error) {
      setChecking(false);
      if (error instanceof ApiError && error.status === 401) {
        return setProblem(
          `The server refused this token${error.detail ? ` (${error.detail})` : ''}: it was signed with another secret, or has been revoked.`,
        );
      }
      return setProblem(`The server could not check this token: ${(error as Error).message}`);
    }
    queryClient.clear();
    signIn(candidate);
    go(redirect ?? destinationFor(claims));
  }

  const claims = token ? readClaims(token) : undefined;
  return (
    <div className="sign-in">
      <h1>Sign in</h1>
      {reason === 'expired' ? (
        <Notice tone="error">Your sign-in has ended: the server no longer accepts that token.</Notice>
      ) : null}
      {reason === 'signed-out' && !token ? <Notice tone="success">You are signed out.</Notice> : null}
      {token ? (
        <div className="card sign-in-current">
          <p>
            This tab is signed in
            {claims ? (
              <>
                {' '}
                as <strong>{claims.subject}</strong> ({claims.role})
                {claims.expiresAt ? `, until ${formatDateTime(claims.expiresAt)}` : ''}
              </>
            ) : null}
            .
          </p>
          <div className="form-actions">
            <Button variant="primary" onClick={() => go(redirect ?? (claims ? destinationFor(claims) : '/'))}>
              Continue
            </Button>
            <Button
              onClick={() => {
                signOut();
                queryClient.clear();
              }}
            >
              Sign out
            </Button>
          </div>
        </div>
      ) : (
        <form className="card sign-in-form" onSubmit={submit} noValidate>
          <div className="field">
            <Label htmlFor={inputId}>Access token</Label>
            <input
              id={inputId}
              name="token"
              type="password"
              autoComplete="off"
              spellCheck={false}
              autoCapitalize="off"
              value={value}
              onChange={(event) => setValue(event.target.value)}
              aria-describedby={problem ? `${problemId} ${hintId}` : hintId}
              aria-invalid={problem ? true : undefined}
              placeholder="hp1.…"
            />
            <p id={hintId} className="hint">
              Open a link <code>npm start</code> prints, or paste a token made with{' '}
              <code>npx hotpath token create --role reader --subject you --merchant shop-0001</code> (or{' '}
              <code>--facility …</code>). It is kept in this tab only and never put in an address.
            </p>
          </div>
          {problem ? (
            <p id={problemId} className="field-problem" role="alert">
              {problem}
            </p>
          ) : null}
          <div className="form-actions">
            <Button type="submit" variant="primary" busy={checking}>
              {checking ? 'Checking…' : 'Sign in'}
            </Button>
            <Link to="/" className="button button-quiet">
              Cancel
            </Link>
          </div>
        </form>
      )}
    </div>
  );
}
