import { infiniteQueryOptions, queryOptions } from '@tanstack/react-query';
import { type Answer, answer, api } from '../app/api.ts';
import type { WorklistSearch } from './route.tsx';

export type Facility = Answer<'/v2/facilities', 'get'>['facilities'][number];
export type StatusCounts = Answer<'/v2/worklist/counts', 'get'>;

/** Rows a page of the list asks for. */
export const PAGE_SIZE = 25;
/** The server searches from this many characters (a trigram index needs three). */
export const SEARCH_MIN = 3;

export const facilitiesQuery = queryOptions({
  queryKey: ['facilities'],
  queryFn: () => answer(api.GET('/v2/facilities')),
  staleTime: 5 * 60_000,
});

/** A calendar day in the reader's zone as the instant it starts; `next` for the day after it. */
function dayStart(day: string, next = false): string {
  const [year, month, date] = day.split('-').map(Number) as [number, number, number];
  return new Date(year, month - 1, date + (next ? 1 : 0)).toISOString();
}

/** The list's query as the API takes it: `q` only from three characters, days as instants. */
export function listQueryOf(search: WorklistSearch) {
  const q = search.q && search.q.length >= SEARCH_MIN ? search.q : undefined;
  return {
    ...(search.facility ? { facilityId: search.facility } : {}),
    ...(search.status ? { status: search.status } : {}),
    ...(search.source ? { source: search.source } : {}),
    ...(search.type ? { documentType: search.type } : {}),
    ...(search.from ? { receivedFrom: dayStart(search.from) } : {}),
    ...(search.to ? { receivedTo: dayStart(search.to, true) } : {}),
    ...(q ? { q } : {}),
  };
}

/** Newest first, a page at a time: "Show older" asks for the next with the last page's cursor. */
export const worklistQuery = (search: WorklistSearch) => {
  const query = listQueryOf(search);
  return infiniteQueryOptions({
    queryKey: ['worklist', query],
    queryFn: ({ pageParam }) =>
      answer(
        api.GET('/v2/worklist', {
          params: { query: { ...query, limit: PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) } },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.data.nextCursor ?? undefined,
    staleTime: 15_000,
  });
};

export const countsQuery = (facility: string | undefined) =>
  queryOptions({
    queryKey: ['worklist-counts', facility ?? null],
    queryFn: () =>
      answer(api.GET('/v2/worklist/counts', { params: { query: facility ? { facilityId: facility } : {} } })),
    staleTime: 15_000,
  });

export const requestQuery = (id: number) =>
  queryOptions({
    queryKey: ['worklist-request', id],
    queryFn: () => answer(api.GET('/v2/worklist/{id}', { params: { path: { id } } })),
    staleTime: 10_000,
    // While it is on its way to the record, its state is asked again until it settles.
    refetchInterval: (query) => {
      const state = query.state.data?.data.integration?.state;
      return state === 'queued' || state === 'running' ? 1500 : false;
    },
  });

export const verifyRequest = (id: number, patientId: number, acknowledgedDifferences: string[]) =>
  answer(
    api.POST('/v2/worklist/{id}/verify', {
      params: { path: { id } },
      body: { patientId, ...(acknowledgedDifferences.length > 0 ? { acknowledgedDifferences } : {}) },
    }),
  );

export const rejectRequest = (id: number, reason: string) =>
  answer(api.POST('/v2/worklist/{id}/reject', { params: { path: { id } }, body: { reason } }));

export const integrateRequest = async (id: number) => {
  const { data, error, response } = await api.POST('/v2/worklist/{id}/integrate', {
    params: { path: { id } },
  });
  // 202 Accepted: answer() reads 200/201 bodies by type; this one is the same ActionResult.
  return answer(Promise.resolve({ data: data as unknown, error, response }));
};
