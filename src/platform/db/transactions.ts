import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely, Transaction } from 'kysely';
import { currentLedger } from '../request-ledger.ts';

/** A transaction PostgreSQL aborted so that another could go on (serialization failure, deadlock). */
const RETRYABLE = new Set(['40001', '40P01']);
const ATTEMPTS = 3;

export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Runs `work` in a transaction, again (up to three attempts, after a short random pause) when
 * PostgreSQL aborted it for a conflict with a concurrent one: nothing of a failed attempt was
 * committed. What still fails reaches the error handler, which answers 503.
 */
export async function inTransaction<Tables, T>(
  db: Kysely<Tables>,
  work: (trx: Transaction<Tables>) => Promise<T>,
): Promise<T> {
  const ledger = currentLedger();
  for (let attempt = 1; ; attempt++) {
    const mark = ledger?.mark();
    try {
      return await db.transaction().execute(work);
    } catch (error) {
      if (attempt >= ATTEMPTS || !RETRYABLE.has(sqlState(error) ?? '')) throw error;
      if (ledger && mark) ledger.setAside(mark);
      await sleep(5 + Math.random() * 20 * attempt);
    }
  }
}
