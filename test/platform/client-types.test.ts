import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLIENT_SCHEMA_PATH, clientTypesFor } from '../../scripts/client-types.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

let context: TestContext;
beforeAll(async () => {
  context = await createTestContext();
});
afterAll(async () => {
  await context.close();
});

it("matches the web apps' committed typed client (npm run generate:client regenerates it)", async () => {
  const openapi = (await context.app.inject({ method: 'GET', url: '/openapi.json' })).json();
  const generated = await clientTypesFor(openapi);
  const committed = readFileSync(CLIENT_SCHEMA_PATH, 'utf8');
  expect(
    committed === generated,
    `${CLIENT_SCHEMA_PATH} drifted from /openapi.json: run npm run generate:client`,
  ).toBe(true);
});
