import type { FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction } from '../../src/platform/db/transactions.ts';
import { toProblem } from '../../src/platform/http/errors.ts';
import { RequestLedger, withLedger } from '../../src/platform/request-ledger.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

let context: TestContext;
beforeAll(async () => {
  context = await createTestContext();
});
afterAll(async () => {
  await context.close();
});

const quietRequest = { log: { warn() {}, error() {} } } as unknown as FastifyRequest;

/** A real error from PostgreSQL for this statement. */
async function errorOf(statement: ReturnType<typeof sql>): Promise<Error> {
  return statement.execute(context.runtime.database.db).then(
    () => {
      throw new Error('the statement succeeded');
    },
    (error: Error) => error,
  );
}

describe('PostgreSQL errors, mapped in one place', () => {
  it('answers a statement timeout with 503 and Retry-After', async () => {
    // On one connection of its own, so the short timeout applies to it alone.
    const timedOut = await context.runtime.database.db.connection().execute(async (connection) => {
      await sql`SET statement_timeout = 10`.execute(connection);
      const caught = await sql`SELECT pg_sleep(5)`.execute(connection).then(
        () => new Error('the statement finished'),
        (error: Error) => error,
      );
      await sql`RESET statement_timeout`.execute(connection);
      return caught;
    });
    const problem = toProblem(timedOut, quietRequest);
    expect(problem.status).toBe(503);
    expect(problem.extra.headers?.['retry-after']).toBeDefined();
  });

  it('answers a unique violation with 409, a malformed value with 400, a missing table with 500', async () => {
    const duplicate = await context.runtime.database.db.connection().execute(async (connection) => {
      await sql`CREATE TEMP TABLE IF NOT EXISTS once (id int PRIMARY KEY)`.execute(connection);
      await sql`INSERT INTO once VALUES (1)`.execute(connection);
      return sql`INSERT INTO once VALUES (1)`.execute(connection).then(
        () => undefined,
        (caught: Error) => caught,
      );
    });
    expect(toProblem(duplicate as Error, quietRequest).status).toBe(409);
    expect(toProblem(await errorOf(sql`SELECT '1e21'::numeric::bigint`), quietRequest).status).toBe(400);
    expect(toProblem(await errorOf(sql`SELECT ${'a\u0000b'}::text`), quietRequest).status).toBe(400);
    expect(toProblem(await errorOf(sql`SELECT '0000-01-01'::date`), quietRequest).status).toBe(400);
    expect(toProblem(await errorOf(sql`SELECT * FROM no_such_table`), quietRequest).status).toBe(500);
  });

  it('answers a server refusing connections or shutting down with 503', () => {
    for (const code of ['53300', '57P01', '08006']) {
      const error = Object.assign(new Error('refused'), { code, severity: 'FATAL' });
      expect(toProblem(error, quietRequest).status).toBe(503);
    }
  });
});

describe('transactions aborted for a conflict', () => {
  it('run again, up to three attempts, and the failed attempts are not the route’s budget', async () => {
    const ledger = new RequestLedger(true);
    let attempts = 0;
    const answer = await withLedger(ledger, () =>
      inTransaction(context.runtime.database.db, async (trx) => {
        attempts += 1;
        await sql`SELECT 1`.execute(trx);
        if (attempts < 3)
          throw Object.assign(new Error('deadlock detected'), { code: '40P01', severity: 'ERROR' });
        return 'committed';
      }),
    );
    expect(answer).toBe('committed');
    expect(attempts).toBe(3);
    // BEGIN, SELECT, ROLLBACK twice, then BEGIN, SELECT, COMMIT: only the last attempt is judged.
    expect(ledger.db.count - ledger.retriedStatements).toBe(3);
  });

  it('give up after the third attempt, with the error the handler answers 503 for', async () => {
    let attempts = 0;
    const failure = await inTransaction(context.runtime.database.db, async () => {
      attempts += 1;
      throw Object.assign(new Error('could not serialize access'), { code: '40001', severity: 'ERROR' });
    }).catch((error: Error) => error);
    expect(attempts).toBe(3);
    expect(toProblem(failure as Error, quietRequest).status).toBe(503);
  });

  it('are not run again for other errors', async () => {
    let attempts = 0;
    await inTransaction(context.runtime.database.db, async () => {
      attempts += 1;
      throw Object.assign(new Error('duplicate key'), { code: '23505', severity: 'ERROR' });
    }).catch(() => {});
    expect(attempts).toBe(1);
  });
});
