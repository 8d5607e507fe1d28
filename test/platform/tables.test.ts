import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/harness.ts';

const run = promisify(execFile);

let context: TestContext;
beforeAll(async () => {
  context = await createTestContext();
});
afterAll(() => context.close());

it('keeps src/tables.ts in step with the migrations (npm run generate:tables regenerates it)', async () => {
  // The catalogue of a database migrated to the latest schema, read by kysely-codegen.
  const { stdout } = await run(process.execPath, ['scripts/generate-tables.mjs', '--print'], {
    env: { ...process.env, DATABASE_URL: String(context.config.databaseUrl) },
  });
  expect(stdout).toContain('export interface DB {');
  for (const table of ['document_registry', 'integration_requests', 'merchant_totals', 'cache_generations']) {
    expect(stdout).toContain(`  ${table}: `);
  }
  const committed = readFileSync('src/tables.ts', 'utf8');
  expect(stdout === committed, 'src/tables.ts drifted from the migrations: run npm run generate:tables').toBe(
    true,
  );
});
