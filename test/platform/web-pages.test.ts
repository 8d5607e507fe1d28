import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/harness.ts';

let context: TestContext;
beforeAll(async () => {
  context = await createTestContext();
});
afterAll(async () => {
  await context.close();
});

const scriptOf = (html: string) =>
  /<script type="module" src="(\/assets\/[\w-]+\.js)">/.exec(html)?.[1] ?? '';

it('serves the worklist page and its script, built under a name that changes with it', async () => {
  const page = await context.app.inject({ method: 'GET', url: '/worklist' });
  expect(page.statusCode).toBe(200);
  expect(page.headers['content-type']).toContain('text/html');
  expect(scriptOf(page.body)).toMatch(/^\/assets\/worklist-[A-Z0-9]+\.js$/);
  const script = await context.app.inject({ method: 'GET', url: scriptOf(page.body) });
  expect(script.statusCode).toBe(200);
  expect(script.headers['content-type']).toContain('text/javascript');
  expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  expect(script.body).toContain('/v2/worklist');
  expect(script.body).not.toMatch(/^import /m);
});

it('serves the dashboard page and its script', async () => {
  const page = await context.app.inject({ method: 'GET', url: '/dashboard' });
  expect(page.statusCode).toBe(200);
  expect(scriptOf(page.body)).toMatch(/^\/assets\/dashboard-[A-Z0-9]+\.js$/);
  const script = await context.app.inject({ method: 'GET', url: scriptOf(page.body) });
  expect(script.statusCode).toBe(200);
  expect(script.body).toContain('/v1/merchants/{merchantId}/dashboard');
});

it('sends a Content-Security-Policy with every page: scripts from this origin only', async () => {
  for (const url of ['/worklist', '/dashboard', '/docs']) {
    const page = await context.app.inject({ method: 'GET', url });
    expect(page.statusCode, url).toBe(200);
    const policy = String(page.headers['content-security-policy']);
    const scripts = /script-src ([^;]+)/.exec(policy)?.[1] ?? '';
    expect(scripts, url).toContain("'self'");
    expect(scripts, url).not.toContain('unsafe-inline');
    expect(policy, url).not.toMatch(/default-src[^;]*\*/);
  }
  const worklist = await context.app.inject({ method: 'GET', url: '/worklist' });
  expect(String(worklist.headers['content-security-policy'])).toMatch(
    /style-src 'self' 'sha256-[A-Za-z0-9+/=]+'/,
  );
});
