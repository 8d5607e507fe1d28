import { expect } from 'vitest';
import { costOf } from './harness.ts';

/**
 * Proves a route's statement count does not grow with the data (GitLab's QueryRecorder idea): the same
 * route asked for small and large answers issues the same number of statements. Strict budgets in the
 * test app already fail any N+1 outright; this also catches a count that grows without repeating a
 * statement shape.
 */
export async function expectConstantStatements(
  label: string,
  requests: Array<{
    size: number;
    send: () => Promise<{ statusCode: number; headers: Record<string, unknown> }>;
  }>,
): Promise<number> {
  const counts: Array<{ size: number; queries: number }> = [];
  for (const request of requests) {
    const response = await request.send();
    expect(response.statusCode, `${label} at size ${request.size}`).toBeLessThan(300);
    counts.push({ size: request.size, queries: costOf(response.headers).queries });
  }
  const distinct = new Set(counts.map((count) => count.queries));
  expect(distinct.size, `${label}: statements per size ${JSON.stringify(counts)}`).toBe(1);
  return counts[0]?.queries ?? 0;
}
