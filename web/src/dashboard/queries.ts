import { queryOptions } from '@tanstack/react-query';
import { type Answer, answer, api, FRESH } from '../app/api.ts';

export type Dashboard = Answer<'/v1/merchants/{merchantId}/dashboard', 'get'>;
export type DailySales = Answer<'/v1/merchants/{merchantId}/daily-sales', 'get'>;
export type Merchant = Answer<'/v1/merchants', 'get'>['merchants'][number];

export const merchantsQuery = queryOptions({
  queryKey: ['merchants'],
  queryFn: () => answer(api.GET('/v1/merchants')),
  staleTime: 5 * 60_000,
});

/** `fresh`: the server computes it again instead of answering from its cache (Refresh). */
export const fetchDashboard = (merchantId: string, fresh = false) =>
  answer(
    api.GET('/v1/merchants/{merchantId}/dashboard', {
      params: { path: { merchantId } },
      ...(fresh ? { headers: FRESH } : {}),
    }),
  );

export const fetchDailySales = (merchantId: string, days: number, fresh = false) =>
  answer(
    api.GET('/v1/merchants/{merchantId}/daily-sales', {
      params: { path: { merchantId }, query: { days } },
      ...(fresh ? { headers: FRESH } : {}),
    }),
  );

export const dashboardQuery = (merchantId: string) =>
  queryOptions({ queryKey: ['dashboard', merchantId], queryFn: () => fetchDashboard(merchantId) });

export const dailySalesQuery = (merchantId: string, days: number) =>
  queryOptions({
    queryKey: ['daily-sales', merchantId, days],
    queryFn: () => fetchDailySales(merchantId, days),
  });
