import autocannon from 'autocannon';

export interface LoadResult {
  label: string;
  requests: number;
  errors: number;
  non2xx: number;
  requestsPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  bytesPerResponse: number;
}

/**
 * Runs autocannon against one URL and reports exact percentiles from every response time (autocannon's
 * own summary has p97.5, not p95).
 */
export async function load(input: {
  label: string;
  url: string;
  headers: Record<string, string>;
  connections: number;
  durationSeconds: number;
  method?: 'GET' | 'POST';
  body?: string;
  /** Paths to cycle through; one per request. */
  paths?: string[];
}): Promise<LoadResult> {
  const times: number[] = [];
  let next = 0;
  let finish: (result: autocannon.Result) => void = () => {};
  let fail: (error: Error) => void = () => {};
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const options: autocannon.Options = {
    url: input.url,
    // The old read path can take many seconds a request under load; count it, do not time it out.
    timeout: 120,
    connections: input.connections,
    duration: input.durationSeconds,
    headers: input.headers,
    method: input.method ?? 'GET',
    ...(input.body ? { body: input.body } : {}),
    ...(input.paths
      ? {
          requests: [
            {
              setupRequest: (request: autocannon.Request) => {
                const paths = input.paths!;
                return { ...request, path: paths[next++ % paths.length] ?? '/' };
              },
            },
          ],
        }
      : {}),
  };
  const instance = autocannon(options, (error, result) => (error ? fail(error) : finish(result)));
  instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
    times.push(responseTime);
  });
  const result = await done;
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN;
  return {
    label: input.label,
    requests: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    requestsPerSecond: result.requests.average,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    bytesPerResponse: result.requests.total ? result.throughput.total / result.requests.total : 0,
  };
}
