import { createRoute } from '@tanstack/react-router';
import { requireSignIn } from '../app/guard.ts';
import { rootRoute } from '../app/root.tsx';
import { DashboardPage } from './DashboardPage.tsx';

export const CHART_WINDOWS = [30, 90] as const;
export type ChartWindow = (typeof CHART_WINDOWS)[number];

export interface DashboardSearch {
  /** The merchant shown; the token's first when absent. */
  merchant?: string;
  /** The chart's window in days; 30 when absent. */
  days?: ChartWindow;
}

export const dashboardRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/dashboard',
  validateSearch: (search: Record<string, unknown>): DashboardSearch => {
    const merchant = typeof search.merchant === 'string' && search.merchant ? search.merchant : undefined;
    const days = Number(search.days) === 90 ? 90 : undefined;
    return { ...(merchant ? { merchant } : {}), ...(days ? { days } : {}) };
  },
  beforeLoad: requireSignIn,
  component: DashboardPage,
});
