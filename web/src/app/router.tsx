import { createRouter } from '@tanstack/react-router';
import { dashboardRoute } from '../dashboard/route.tsx';
import { homeRoute } from '../home/route.tsx';
import { signInRoute } from '../sign-in/route.tsx';
import { requestRoute, worklistRoute } from '../worklist/route.tsx';
import { queryClient } from './query.ts';
import { rootRoute } from './root.tsx';

/**
 * Every screen of the app, each from its own folder's route.tsx. A new screen adds its route here, and
 * its path to the server's list of the app's paths (APP_PATHS in src/app.ts).
 */
const routeTree = rootRoute.addChildren([
  homeRoute,
  signInRoute,
  dashboardRoute,
  worklistRoute.addChildren([requestRoute]),
]);

export const router = createRouter({
  routeTree,
  context: { queryClient },
  defaultPreload: 'intent',
  scrollRestoration: true,
});

declare module '@tanstack/react-router' {
  interface Register {
    router: typeof router;
  }
}
