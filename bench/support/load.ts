import autocannon from 'autocannon';
import { progress } from '../../src/platform/progress.ts';

export interface LoadResult {
  requests: number;
  errors: number;
  non2xx: number;
  /** The measured interval, from the first request to the last answer. */
  seconds: number;
  requestsPerSecond: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  /** Bytes on the wire per answer, headers included (autocannon's count). */
  bytesPerResponse: number;
  /** Answers that were not 2xx, by status. */
  failedStatuses: Record<string, number>;
}

/** How long a measurement runs: an interval, or until a number of answers for designs slower than one. */
export type LoadStop = { seconds: number } | { requests: number };

/**
 * Runs autocannon against a server, each request taking the next of `paths` in turn, and reports exact
 * percentiles from every response time (autocannon's own summary has p97.5, not p95 or p90). With
 * `{ requests }` it waits for every answer, however slow, so no request is left out of the figures.
 */
export async function load(input: {
  label: string;
  baseUrl: string;
  paths: string[];
  headers: Record<string, string>;
  connections: number;
  stop: LoadStop;
  /** Show a progress bar (off for warm-ups). */
  showProgress?: boolean;
}): Promise<LoadResult> {
  const times: number[] = [];
  const failedStatuses: Record<string, number> = {};
  let next = 0;
  const bar =
    input.showProgress === false
      ? undefined
      : 'seconds' in input.stop
        ? progress(`  ${input.label}`, input.stop.seconds, 's')
        : progress(`  ${input.label}`, input.stop.requests, 'answers');
  const started = performance.now();
  let finish: (result: autocannon.Result) => void = () => {};
  let fail: (error: Error) => void = () => {};
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const instance = autocannon(
    {
      url: input.baseUrl,
      // The before designs take minutes a request under load; count them, never time them out.
      timeout: 600,
      connections: input.connections,
      ...('seconds' in input.stop ? { duration: input.stop.seconds } : { amount: input.stop.requests }),
      headers: input.headers,
      requests: [
        {
          setupRequest: (request: autocannon.Request) => ({
            ...request,
            path: input.paths[next++ % input.paths.length] ?? '/',
          }),
        },
      ],
    },
    (error, result) => (error ? fail(error) : finish(result)),
  );
  instance.on('response', (_client: unknown, status: number, _bytes: number, responseTime: number) => {
    times.push(responseTime);
    if (status < 200 || status > 299) failedStatuses[status] = (failedStatuses[status] ?? 0) + 1;
    if (bar && 'requests' in input.stop) bar.advance(1);
  });
  const ticker = bar && 'seconds' in input.stop ? setInterval(() => bar.advance(1), 1000).unref() : undefined;
  let result: autocannon.Result;
  try {
    result = await done;
  } finally {
    if (ticker) clearInterval(ticker);
    bar?.finish();
  }
  const seconds = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN;
  const answered = result.requests.total;
  return {
    requests: answered,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    seconds,
    requestsPerSecond: answered / seconds,
    mean: times.length ? times.reduce((sum, time) => sum + time, 0) / times.length : Number.NaN,
    p50: at(0.5),
    p90: at(0.9),
    p95: at(0.95),
    p99: at(0.99),
    max: times[times.length - 1] ?? Number.NaN,
    bytesPerResponse: answered ? result.throughput.total / answered : 0,
    failedStatuses,
  };
}
