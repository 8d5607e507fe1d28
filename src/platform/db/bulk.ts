import { sql } from 'kysely';
import type { AnyKysely } from './database.ts';

/**
 * Reserves `count` consecutive ids of a table's identity column and returns the first, so bulk
 * generation can give rows their own ids and the ids of the rows they point at, in any chunk order.
 * Writers lock the table ROW EXCLUSIVE before drawing from its sequence; holding a lock that conflicts
 * with theirs, for the rest of the caller's transaction, keeps the block contiguous.
 */
export async function reserveIdentityBlock(
  trx: AnyKysely,
  table: string,
  column: string,
  count: number,
): Promise<number> {
  await sql`LOCK TABLE ${sql.table(table)} IN SHARE ROW EXCLUSIVE MODE`.execute(trx);
  const { rows } = await sql<{ last: number }>`
    SELECT setval(sequence, nextval(sequence) + ${count - 1}) AS last
    FROM (SELECT pg_get_serial_sequence(${table}, ${column})::regclass AS sequence) s`.execute(trx);
  return (rows[0]?.last as number) - count + 1;
}
