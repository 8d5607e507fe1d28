import type { RequestLedger } from '../request-ledger.ts';

const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
const ms = (value: number) => value.toFixed(2);

/**
 * `Server-Timing` as DESIGN.md names it: db, storage and ext with their counts, cache when one was
 * consulted, and total. A person can read where a request's time went from the browser's dev tools.
 */
export function serverTiming(ledger: RequestLedger): string {
  const entries = [
    `db;dur=${ms(ledger.db.durationMs)};desc="${plural(ledger.db.count, 'query', 'queries')}"`,
    `storage;dur=${ms(ledger.storage.durationMs)};desc="${plural(ledger.storage.count, 'request', 'requests')}"`,
    `ext;dur=${ms(ledger.ext.durationMs)};desc="${plural(ledger.ext.count, 'request', 'requests')}"`,
  ];
  if (ledger.cache) entries.push(`cache;desc="${ledger.cache}"`);
  entries.push(`total;dur=${ms(ledger.elapsedMs())}`);
  return entries.join(', ');
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
