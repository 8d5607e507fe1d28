import { QueryClient } from '@tanstack/react-query';
import { ApiError } from './api.ts';

/**
 * One cache of server answers for the whole app. An answer the server refused (4xx) is not asked again:
 * a retry would be refused the same way; a failure of the network or the server is, twice.
 */
export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 30_000,
      refetchOnWindowFocus: false,
      retry: (failures, error) => !(error instanceof ApiError && error.status < 500) && failures < 2,
    },
  },
});
