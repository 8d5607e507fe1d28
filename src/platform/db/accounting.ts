import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { dbQueryDuration } from '../metrics/registry.ts';
import { currentLedger, type RequestLedger } from '../request-ledger.ts';

const databaseLayer = path.dirname(fileURLToPath(import.meta.url));
let installed = false;

/**
 * Hooks `pg.Client.prototype.query` once, for the whole process: every statement, whoever issues it
 * (pool, Kysely, a migration), is timed into the metrics and billed to the current request's ledger.
 * Hooking the client and not also the pool means a pooled statement is counted once.
 */
export function installQueryAccounting(): void {
  if (installed) return;
  installed = true;
  const original = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  const patched = function (this: pg.Client, ...args: unknown[]): unknown {
    const started = performance.now();
    const ledger = currentLedger();
    const { text, values } = statementOf(args);
    const callSite = ledger?.traceStatements ? firstCallerOutsideDatabaseLayer() : '';
    const settle = () => record(ledger, text, values, callSite, performance.now() - started);

    const last = args.length - 1;
    if (typeof args[last] === 'function') {
      const callback = args[last] as (...results: unknown[]) => void;
      args[last] = (...results: unknown[]) => {
        settle();
        callback(...results);
      };
      return original.apply(this, args);
    }
    const result = original.apply(this, args);
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      (result as Promise<unknown>).then(settle, settle);
    } else if (result && typeof (result as NodeJS.EventEmitter).once === 'function') {
      // A submittable (COPY stream, cursor) reports its end as an event.
      const emitter = result as NodeJS.EventEmitter;
      emitter.once('end', settle);
      emitter.once('finish', settle);
      emitter.once('error', settle);
    } else {
      settle();
    }
    return result;
  };
  pg.Client.prototype.query = patched as typeof pg.Client.prototype.query;
}

function record(
  ledger: RequestLedger | undefined,
  text: string,
  values: unknown,
  callSite: string,
  durationMs: number,
): void {
  dbQueryDuration.observe({ query: statementName(text) }, durationMs / 1000);
  if (!ledger) return;
  ledger.db.count += 1;
  ledger.db.durationMs += durationMs;
  if (ledger.traceStatements) {
    ledger.statements.push({
      text,
      shape: statementShape(text),
      params: safeJson(values),
      callSite,
      durationMs,
    });
  }
}

function statementOf(args: unknown[]): { text: string; values: unknown } {
  const first = args[0];
  if (typeof first === 'string') return { text: first, values: Array.isArray(args[1]) ? args[1] : undefined };
  if (first && typeof first === 'object') {
    const config = first as { text?: unknown; values?: unknown };
    return { text: typeof config.text === 'string' ? config.text : '<submittable>', values: config.values };
  }
  return { text: '<unknown>', values: undefined };
}

/**
 * The statement with its data taken out: two statements have the same shape when they differ only in
 * literals, parameter values or the length of an IN list.
 */
export function statementShape(text: string): string {
  return text
    .replace(/--[^\n]*/g, ' ')
    .replace(/'(?:[^']|'')*'/g, '?')
    .replace(/\$\d+(?:\s*,\s*\$\d+)*/g, '$n')
    .replace(/\b\d+(?:\.\d+)?\b/g, '?')
    .replace(/\(\s*\?(?:\s*,\s*\?)*\s*\)/g, '(?)')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * A short, low-cardinality label for the metrics: the statement's leading `/* name *\/` comment when
 * it has one, otherwise its verb and first table.
 */
export function statementName(text: string): string {
  const named = /^\s*\/\*\s*([\w.:-]{1,80})\s*\*\//.exec(text);
  if (named?.[1]) return named[1];
  const body = text.replace(/\/\*[\s\S]*?\*\//g, ' ').trim();
  const verb = /^\s*(\w+)/.exec(body)?.[1]?.toLowerCase() ?? 'unknown';
  const table = /\b(?:from|into|update|table)\s+("?[\w.]+"?)/i.exec(body)?.[1]?.replaceAll('"', '');
  return table ? `${verb} ${table}` : verb;
}

function firstCallerOutsideDatabaseLayer(): string {
  const stack = new Error().stack?.split('\n').slice(1) ?? [];
  for (const frame of stack) {
    // `at fn (/abs/file.ts:1:2)`, `at /abs/file.ts:1:2`, `at async file:///abs/file.ts:1:2`; never node: internals.
    const location = /(?:\(|at (?:async )?)((?:file:\/\/)?\/[^():\s]+):(\d+):\d+\)?\s*$/.exec(frame);
    if (!location?.[1]) continue;
    const file = location[1].startsWith('file://') ? fileURLToPath(location[1]) : location[1];
    if (file.includes(`${path.sep}node_modules${path.sep}`) || file.startsWith(databaseLayer)) continue;
    if (file.startsWith('node:')) continue;
    return `${path.relative(process.cwd(), file)}:${location[2]}`;
  }
  return '<unknown>';
}

function safeJson(values: unknown): string {
  try {
    return JSON.stringify(values ?? null, (_key, value) =>
      typeof value === 'bigint' ? String(value) : value,
    );
  } catch {
    return String(values);
  }
}
