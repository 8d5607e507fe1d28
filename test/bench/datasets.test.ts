import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type BenchPostgres, reusableDataset } from '../../bench/support/postgres.ts';
import { adminQuery, withDatabase } from '../../testkit/postgres-server.ts';

const adminUrl = inject('databaseAdminUrl');
const server: BenchPostgres = {
  adminUrl,
  description: 'the test server',
  databaseUrl: (database) => withDatabase(adminUrl, database),
  release: async () => {},
};
const suite = `t${randomBytes(3).toString('hex')}`;
const silent = { fresh: false, log: () => {} };

const databases = async () =>
  (
    await adminQuery<{ datname: string }>(
      adminUrl,
      "SELECT datname FROM pg_database WHERE datname LIKE '%' || $1 || '%' ORDER BY datname",
      [suite],
    )
  ).map((row) => row.datname);

/** A generator that makes one table and counts its calls. */
function generator(rows: number) {
  const calls: string[] = [];
  const generate = async (url: string, database: string) => {
    calls.push(database);
    await adminQuery(url, 'CREATE TABLE generated (n integer)');
    await adminQuery(url, 'INSERT INTO generated SELECT generate_series(1, $1)', [rows]);
    return { rows };
  };
  return { calls, generate };
}

afterAll(async () => {
  for (const database of await databases())
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
});

describe('benchmark data sets', () => {
  it('generates once, then reuses while the parameters are the same', async () => {
    const first = generator(3);
    const made = await reusableDataset(server, suite, { rows: 3 }, first.generate, silent);
    expect(made).toMatchObject({ reused: false, summary: { rows: 3 } });
    expect(first.calls).toEqual([made.database]);

    const second = generator(3);
    const reused = await reusableDataset(server, suite, { rows: 3 }, second.generate, silent);
    expect(reused).toMatchObject({ reused: true, summary: { rows: 3 }, database: made.database });
    expect(second.calls).toEqual([]);
    const [count] = await adminQuery<{ n: number }>(reused.url, 'SELECT count(*)::int AS n FROM generated');
    expect(count?.n).toBe(3);
  });

  it('drops the data set of other parameters, and keeps another namespace apart', async () => {
    const quick = await reusableDataset(server, suite, { rows: 1 }, generator(1).generate, {
      ...silent,
      namespace: 'quick_',
    });
    const before = await databases();
    const changed = await reusableDataset(server, suite, { rows: 5 }, generator(5).generate, silent);
    const after = await databases();
    expect(changed.reused).toBe(false);
    expect(after).toContain(changed.database);
    expect(after).toContain(quick.database);
    expect(after.length).toBe(before.length);
  });

  it('generates again after an interrupted generation, a missing outside part, or --fresh', async () => {
    await expect(
      reusableDataset(
        server,
        suite,
        { rows: 7 },
        async () => {
          throw new Error('interrupted');
        },
        silent,
      ),
    ).rejects.toThrow('interrupted');
    const resumed = generator(7);
    const complete = await reusableDataset(server, suite, { rows: 7 }, resumed.generate, silent);
    expect(complete.reused).toBe(false);
    expect(resumed.calls).toHaveLength(1);

    const dropped: string[] = [];
    const lost = generator(7);
    await reusableDataset(server, suite, { rows: 7 }, lost.generate, {
      ...silent,
      intact: () => false,
      dropped: (database) => dropped.push(database),
    });
    expect(lost.calls).toHaveLength(1);
    expect(dropped).toEqual([complete.database]);

    const fresh = generator(7);
    const regenerated = await reusableDataset(server, suite, { rows: 7 }, fresh.generate, {
      ...silent,
      fresh: true,
    });
    expect(regenerated.reused).toBe(false);
    expect(fresh.calls).toHaveLength(1);
  });
});
