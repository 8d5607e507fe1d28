import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpApp, type RoutesPlugin } from '../../src/platform/http/app.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

/**
 * The guard itself, on fixture routes written to break it: a loop of one lookup per row (the N+1 the
 * seed found on attachments, verifications and metadata), a route over its declared budget, and the
 * batched version that passes.
 */
let context: TestContext;
let app: Awaited<ReturnType<typeof buildHttpApp>>;

beforeAll(async () => {
  context = await createTestContext();
  const db = context.runtime.database.db;
  await sql`CREATE TABLE fixture_rows (id int PRIMARY KEY, label text)`.execute(db);
  await sql`INSERT INTO fixture_rows SELECT n, 'row ' || n FROM generate_series(1, 50) n`.execute(db);

  const fixtures: RoutesPlugin = async (routes) => {
    routes.get('/fixture/n-plus-one', { config: { access: 'public', queryBudget: 100 } }, async () => {
      const { rows } = await sql<{ id: number }>`SELECT id FROM fixture_rows ORDER BY id LIMIT 20`.execute(
        db,
      );
      const labels: string[] = [];
      for (const row of rows) {
        // The deliberate N+1: one statement per row, from this one line.
        const { rows: found } = await sql<{
          label: string;
        }>`SELECT label FROM fixture_rows WHERE id = ${row.id}`.execute(db);
        labels.push(found[0]?.label ?? '');
      }
      return { labels };
    });
    routes.get('/fixture/over-budget', { config: { access: 'public', queryBudget: 1 } }, async () => {
      await sql`SELECT count(*) FROM fixture_rows`.execute(db);
      await sql`SELECT max(id) FROM fixture_rows`.execute(db);
      return { ok: true };
    });
    routes.get('/fixture/batched', { config: { access: 'public', queryBudget: 2 } }, async () => {
      const { rows } = await sql<{ id: number }>`SELECT id FROM fixture_rows ORDER BY id LIMIT 20`.execute(
        db,
      );
      const { rows: found } = await sql<{ label: string }>`
        SELECT label FROM fixture_rows WHERE id = ANY(${rows.map((row) => row.id)}::int[]) ORDER BY id`.execute(
        db,
      );
      return { labels: found.map((row) => row.label) };
    });
  };
  app = await buildHttpApp({
    config: context.config,
    tokens: context.runtime.tokens,
    plugins: [fixtures],
    logger: false,
  });
});
afterAll(async () => {
  await app.close();
  await context.close();
});

describe('the N+1 guard in strict mode', () => {
  it('fails an N+1 within budget, naming the statement and the line that issued it', async () => {
    const response = await app.inject({ method: 'GET', url: '/fixture/n-plus-one' });
    expect(response.statusCode).toBe(500);
    const detail = response.json().detail as string;
    expect(detail).toContain('N+1');
    expect(detail).toContain('ran 20 times');
    expect(detail).toContain('SELECT label FROM fixture_rows WHERE id = $n');
    expect(detail, detail).toMatch(/test\/platform\/n-plus-one-guard\.test\.ts:\d+/);
  });

  it('fails a request over its budget, listing its statements', async () => {
    const response = await app.inject({ method: 'GET', url: '/fixture/over-budget' });
    expect(response.statusCode).toBe(500);
    expect(response.json().detail).toContain('issued 2 SQL statements; its budget is 1');
    expect(response.json().detail).toContain('SELECT max(id) FROM fixture_rows');
  });

  it('lets the batched version through', async () => {
    const response = await app.inject({ method: 'GET', url: '/fixture/batched' });
    expect(response.statusCode).toBe(200);
    expect(response.json().labels).toHaveLength(20);
  });

  it('counts the violations in the metrics', async () => {
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(404);
    const { metricsRegistry } = await import('../../src/platform/metrics/registry.ts');
    const text = await metricsRegistry.getSingleMetricAsString('hotpath_query_budget_violations_total');
    expect(text).toMatch(/route="GET \/fixture\/n-plus-one",kind="n\+1"\} [1-9]/);
    expect(text).toMatch(/route="GET \/fixture\/over-budget",kind="budget"\} [1-9]/);
  });
});
