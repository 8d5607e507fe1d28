import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/harness.ts';

interface Operation {
  summary?: string;
  tags?: string[];
  parameters?: unknown[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

let context: TestContext;
let openapi: { paths: Record<string, Record<string, Operation>> };

beforeAll(async () => {
  context = await createTestContext();
  openapi = (await context.app.inject({ method: 'GET', url: '/openapi.json' })).json();
});
afterAll(async () => {
  await context.close();
});

describe('the v2 API description', () => {
  const v2 = () =>
    Object.entries(openapi.paths)
      .filter(([path]) => path.startsWith('/v2/'))
      .flatMap(([path, methods]) =>
        Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
      );

  it('describes every v2 route with a summary, its success schema and its errors', () => {
    const operations = v2();
    expect(operations.map(({ method, path }) => `${method} ${path}`).sort()).toEqual(
      [
        'get /v2/facilities',
        'post /v2/inbox',
        'get /v2/worklist',
        'get /v2/worklist/counts',
        'get /v2/worklist/{id}',
        'post /v2/worklist',
        'post /v2/worklist/{id}/integrate',
        'post /v2/worklist/{id}/reject',
        'post /v2/worklist/{id}/verify',
      ].sort(),
    );
    for (const { method, path, operation } of operations) {
      const label = `${method} ${path}`;
      expect(operation.summary, label).toBeTruthy();
      expect(operation.tags, label).toContain('worklist');
      const success = Object.keys(operation.responses).find((status) => status.startsWith('2'));
      expect(success, label).toBeDefined();
      expect(operation.responses[success!]?.content?.['application/json']?.schema, label).toBeDefined();
      expect(Object.keys(operation.responses), label).toEqual(expect.arrayContaining(['401', '403']));
    }
    const receive = openapi.paths['/v2/worklist']?.post;
    expect(Object.keys(receive?.requestBody?.content ?? {})).toEqual(['multipart/form-data']);
    expect(JSON.stringify(openapi.paths['/v2/worklist']?.get)).toContain('"examples"');
  });
});
