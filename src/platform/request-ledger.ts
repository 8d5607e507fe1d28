import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

/** One SQL statement as the N+1 guard sees it. Recorded only when a ledger traces statements. */
export interface StatementRecord {
  /** The statement as sent. */
  text: string;
  /** Normalised text: literals and parameter lists folded, whitespace collapsed. */
  shape: string;
  /** Parameters as JSON, to tell a repeated lookup from a repeated identical statement. */
  params: string;
  /** `file:line` of the first frame outside the database layer. */
  callSite: string;
  durationMs: number;
}

export type DependencyKind = 'storage' | 'ext';

/**
 * What one request (or one CLI operation) cost: statements, storage and external requests, cache
 * outcome. Scoped with AsyncLocalStorage so the driver hooks find it without being passed it.
 */
export class RequestLedger {
  readonly startedAt = performance.now();
  readonly db = { count: 0, durationMs: 0 };
  readonly storage = { count: 0, durationMs: 0 };
  readonly ext = { count: 0, durationMs: 0 };
  readonly statements: StatementRecord[] = [];
  /** Statements of transaction attempts that failed on a conflict and ran again: not the route's cost. */
  retriedStatements = 0;
  /** Statements of parts judged against budgets of their own (each message of a batch): see `absorb`. */
  judgedApart = 0;
  /** Those parts' statements, when traced: for tools that explain them, not judged again here. */
  readonly partStatements: StatementRecord[] = [];
  cache: 'hit' | 'miss' | undefined;

  constructor(readonly traceStatements: boolean) {}

  /** Where an attempt starts, so a failed attempt can be set aside if it runs again. */
  mark(): { count: number; traced: number } {
    return { count: this.db.count, traced: this.statements.length };
  }

  /** The attempt since `mark` failed and runs again: its statements still show, but are not judged. */
  setAside(mark: { count: number; traced: number }): void {
    this.retriedStatements += this.db.count - mark.count;
    this.statements.splice(mark.traced);
  }

  /** Takes a part's costs into this ledger's totals; the part was judged on its own, so it is not again. */
  absorb(part: RequestLedger): void {
    for (const kind of ['db', 'storage', 'ext'] as const) {
      this[kind].count += part[kind].count;
      this[kind].durationMs += part[kind].durationMs;
    }
    this.judgedApart += part.db.count;
    if (this.traceStatements) this.partStatements.push(...part.statements, ...part.partStatements);
    this.cache ??= part.cache;
  }

  elapsedMs(): number {
    return performance.now() - this.startedAt;
  }
}

const ledgers = new AsyncLocalStorage<RequestLedger>();

export function currentLedger(): RequestLedger | undefined {
  return ledgers.getStore();
}

export function withLedger<T>(ledger: RequestLedger, work: () => T): T {
  return ledgers.run(ledger, work);
}

/** Runs work outside any request's ledger, so background work is not billed to the request that started it. */
export function detachedFromLedger<T>(work: () => T): T {
  return ledgers.exit(work);
}

/** Times a call to a dependency and bills it to the current ledger. */
export async function billDependency<T>(kind: DependencyKind, work: () => Promise<T>): Promise<T> {
  const ledger = ledgers.getStore();
  const started = performance.now();
  try {
    return await work();
  } finally {
    if (ledger) {
      ledger[kind].count += 1;
      ledger[kind].durationMs += performance.now() - started;
    }
  }
}
