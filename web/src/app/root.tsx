import type { QueryClient } from '@tanstack/react-query';
import { createRootRouteWithContext, Link } from '@tanstack/react-router';
import { Layout } from './Layout.tsx';
import { ProblemScreen } from './ui/ProblemScreen.tsx';

export interface RouterContext {
  queryClient: QueryClient;
}

/** The parent of every screen's route: `getParentRoute: () => rootRoute` (README.md in web/). */
export const rootRoute = createRootRouteWithContext<RouterContext>()({
  component: Layout,
  notFoundComponent: () => (
    <ProblemScreen
      title="No such page"
      actions={
        <Link to="/" className="button button-primary">
          Go to the home page
        </Link>
      }
    >
      <p>Nothing of hotpath's lives at this address.</p>
    </ProblemScreen>
  ),
});
