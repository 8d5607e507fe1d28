import { afterAll, beforeAll, expect, it } from 'vitest';
import { baselineDashboardRoutes } from '../../bench/baselines/dashboard.ts';
import { baselineWorklistRoutes } from '../../bench/baselines/worklist.ts';
import { buildApp } from '../../src/app.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

let context: TestContext;
beforeAll(async () => {
  context = await createTestContext();
});
afterAll(async () => {
  await context.close();
});

it("registers the write-ups' before designs beside hotpath's routes, as the benchmark serves them", async () => {
  // The app refuses at start a route that declares no budget or leaves a number unbounded.
  const app = await buildApp(context.runtime, false, [
    baselineWorklistRoutes(context.runtime.database.db),
    baselineDashboardRoutes(context.runtime.database.db),
  ]);
  await app.ready();
  for (const url of [
    '/bench/v1/worklist',
    '/bench/v1/merchants/:merchantId/dashboard',
    '/bench/joined/merchants/:merchantId/dashboard',
  ]) {
    expect(app.hasRoute({ method: 'GET', url }), url).toBe(true);
  }
  await app.close();
});
