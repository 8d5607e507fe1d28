import { sql } from 'kysely';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preparingClient } from '../../src/platform/db/prepared-statements.ts';
import { RequestLedger, withLedger } from '../../src/platform/request-ledger.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

let context: TestContext;
beforeAll(async () => {
  context = await createTestContext();
});
afterAll(async () => {
  await context.close();
});

/** What this connection has prepared, as PostgreSQL sees it. */
async function preparedOn(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ statement: string }>(
    'SELECT statement FROM pg_prepared_statements ORDER BY prepare_time, statement',
  );
  return rows.map((row) => row.statement);
}

/** A client of its own that prepares up to `limit` texts, connected for `work` and ended after it. */
async function withPreparingClient(limit: number, work: (client: pg.Client) => Promise<void>): Promise<void> {
  const Client = preparingClient(limit);
  const client = new Client({ connectionString: context.runtime.database.url });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

describe('named statements, prepared once per connection', () => {
  it('prepares a named statement on first use and runs it by name after; unnamed ones are not prepared', async () => {
    await withPreparingClient(10, async (client) => {
      const probe = '/* test.probe */ SELECT $1::int + 1 AS next';
      for (const value of [1, 2, 3]) {
        const { rows } = await client.query<{ next: number }>(probe, [value]);
        expect(rows).toEqual([{ next: value + 1 }]);
      }
      await client.query('SELECT $1::int AS unnamed', [1]);
      // The same label with another text (another filter) is a statement of its own.
      const { rows } = await client.query<{ next: number }>(
        '/* test.probe */ SELECT $1::int + 2 AS next',
        [1],
      );
      expect(rows).toEqual([{ next: 3 }]);
      expect(await preparedOn(client)).toEqual([probe, '/* test.probe */ SELECT $1::int + 2 AS next']);
    });
  });

  it('stops preparing new texts past its limit, and still answers them', async () => {
    await withPreparingClient(2, async (client) => {
      for (const n of [1, 2, 3, 4]) {
        const { rows } = await client.query<{ n: number }>(`/* test.many */ SELECT $1::int * ${n} AS n`, [2]);
        expect(rows).toEqual([{ n: 2 * n }]);
      }
      expect(await preparedOn(client)).toHaveLength(2);
    });
  });

  it('keeps a prepared statement after it failed on its input, and after a rolled-back transaction', async () => {
    await withPreparingClient(10, async (client) => {
      const divide = '/* test.divide */ SELECT 10 / $1::int AS quotient';
      await expect(client.query(divide, [0])).rejects.toThrow(/division by zero/);
      await client.query('BEGIN');
      await expect(client.query(divide, [0])).rejects.toThrow(/division by zero/);
      await client.query('ROLLBACK');
      const { rows } = await client.query<{ quotient: number }>(divide, [5]);
      expect(rows).toEqual([{ quotient: 2 }]);
      expect(await preparedOn(client)).toEqual([divide]);
    });
  });

  it("is the application pool's client: its named statements are prepared and still billed to the request", async () => {
    const { db } = context.runtime.database;
    const ledger = new RequestLedger(false);
    const prepared = await withLedger(ledger, () =>
      db.connection().execute(async (connection) => {
        for (const id of [1, 2]) await sql`/* test.pooled */ SELECT ${id}::int AS id`.execute(connection);
        const { rows } = await sql<{ statement: string }>`
          SELECT statement FROM pg_prepared_statements WHERE statement LIKE '/* test.pooled */%'`.execute(
          connection,
        );
        return rows;
      }),
    );
    expect(prepared).toHaveLength(1);
    expect(ledger.db.count).toBe(3);
  });
});
