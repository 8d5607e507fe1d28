import { useNavigate, useRouterState } from '@tanstack/react-router';
import { ApiError } from './api.ts';
import { signOut } from './session.ts';
import { Button } from './ui/Button.tsx';
import { ProblemScreen } from './ui/ProblemScreen.tsx';

/** Signs out and asks for a token again, then comes back to where the reader was. */
export function useSignInAgain(reason?: 'expired'): () => void {
  const navigate = useNavigate();
  const href = useRouterState({ select: (state) => state.location.href });
  return () => {
    signOut();
    void navigate({ to: '/sign-in', search: { redirect: href, ...(reason ? { reason } : {}) } });
  };
}

/** The screen for a failed call: the token refused (401), not allowed (403), missing (404), or a failure. */
export function QueryProblem({ error, retry }: { error: unknown; retry?: () => void }) {
  const signInAgain = useSignInAgain('expired');
  const signInOther = useSignInAgain();
  if (error instanceof ApiError && error.status === 401) {
    return (
      <ProblemScreen
        title="Your sign-in has ended"
        actions={
          <Button variant="primary" onClick={signInAgain}>
            Sign in again
          </Button>
        }
      >
        <p>
          The server no longer accepts this tab's token{error.detail ? ` (${error.detail})` : ''}: it has
          expired, or it was signed with another secret.
        </p>
      </ProblemScreen>
    );
  }
  if (error instanceof ApiError && error.status === 403) {
    return (
      <ProblemScreen
        title="This token does not see that"
        actions={<Button onClick={signInOther}>Sign in with another token</Button>}
      >
        <p>{error.detail ?? 'The server refused this token for what this screen shows.'}</p>
      </ProblemScreen>
    );
  }
  if (error instanceof ApiError && error.status === 404) {
    return (
      <ProblemScreen title="Not found">
        <p>{error.detail ?? 'The server has nothing at this address.'}</p>
      </ProblemScreen>
    );
  }
  return (
    <ProblemScreen
      title="Something went wrong"
      actions={retry ? <Button onClick={retry}>Try again</Button> : undefined}
    >
      <p>{error instanceof Error ? error.message : 'The server could not be reached.'}</p>
    </ProblemScreen>
  );
}
