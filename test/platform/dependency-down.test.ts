import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestContext, freePort, type TestContext } from '../support/harness.ts';

let context: TestContext;

beforeAll(async () => {
  // A database nobody listens on: the app starts, as nothing connects until a request needs it.
  context = await createTestContext({
    env: {
      DATABASE_URL: `postgres://hotpath@127.0.0.1:${await freePort()}/gone`,
      DB_CONNECTION_TIMEOUT_MS: '500',
    },
  });
});
afterAll(async () => {
  await context.close();
});

it('answers 503 with Retry-After, not 500, while the database is down', async () => {
  const response = await context.app.inject({
    method: 'GET',
    url: '/v1/documents/doc-x',
    headers: context.auth('reader'),
  });
  expect(response.statusCode).toBe(503);
  expect(response.headers['retry-after']).toBeDefined();
  expect(response.headers['content-type']).toContain('application/problem+json');
  expect(response.json().detail).not.toContain('ECONNREFUSED');
  const ready = await context.app.inject({ method: 'GET', url: '/readyz' });
  expect(ready.statusCode).toBe(503);
  // It names no address: whoever asks learns nothing of the network behind.
  expect(ready.json().detail).toBe('the database is unreachable');
  expect(ready.body).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|:\d{4,5}/);
});
