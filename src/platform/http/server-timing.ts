import type { RequestLedger } from '../request-ledger.ts';

/** Milliseconds to two decimals at most, without trailing zeros: `0`, `0.4`, `12.06`. */
const ms = (value: number) => String(Math.round(value * 100) / 100);
const queries = (count: number) => (count === 1 ? '1 query' : `${count} queries`);
const requests = (count: number) => (count === 1 ? '1 request' : `${count} requests`);

/**
 * `Server-Timing` as DESIGN.md names it: db, storage and ext with their counts, cache when one was
 * consulted, and total. A person can read where a request's time went from the browser's dev tools.
 * Built as one string, once per response: it is on every answer, so it is kept short and cheap.
 */
export function serverTiming(ledger: RequestLedger): string {
  const cache = ledger.cache ? `, cache;desc="${ledger.cache}"` : '';
  return (
    `db;dur=${ms(ledger.db.durationMs)};desc="${queries(ledger.db.count)}", ` +
    `storage;dur=${ms(ledger.storage.durationMs)};desc="${requests(ledger.storage.count)}", ` +
    `ext;dur=${ms(ledger.ext.durationMs)};desc="${requests(ledger.ext.count)}"${cache}, ` +
    `total;dur=${ms(ledger.elapsedMs())}`
  );
}

/** Reads a Server-Timing header back into counts: for tests, the benchmark and the CLI. */
export function parseServerTiming(
  header: string | undefined,
): Record<string, { dur?: number; desc?: string }> {
  const parsed: Record<string, { dur?: number; desc?: string }> = {};
  for (const entry of (header ?? '').split(',')) {
    const [name, ...params] = entry.trim().split(';');
    if (!name) continue;
    const metric: { dur?: number; desc?: string } = {};
    for (const param of params) {
      const [key, raw] = param.split('=');
      const value = raw?.replace(/^"|"$/g, '');
      if (key === 'dur' && value) metric.dur = Number(value);
      if (key === 'desc' && value !== undefined) metric.desc = value;
    }
    parsed[name] = metric;
  }
  return parsed;
}

/** The count an entry's description starts with ("3 queries" → 3), NaN when it has none. */
export function serverTimingCount(timing: Record<string, { desc?: string }>, name: string): number {
  return Number(/^(\d+)/.exec(timing[name]?.desc ?? '')?.[1] ?? Number.NaN);
}
