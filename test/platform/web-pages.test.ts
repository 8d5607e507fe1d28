import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_PATHS } from '../../src/app.ts';
import { takesGzip } from '../../src/platform/http/web-pages.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

let context: TestContext;
beforeAll(async () => {
  context = await createTestContext();
});
afterAll(async () => {
  await context.close();
});

const get = (url: string) => context.app.inject({ method: 'GET', url });
const scriptOf = (html: string) =>
  /<script type="module"[^>]* src="(\/assets\/[\w-]+\.js)"/.exec(html)?.[1] ?? '';
const stylesheetOf = (html: string) =>
  /<link rel="stylesheet"[^>]* href="(\/assets\/[\w-]+\.css)"/.exec(html)?.[1] ?? '';

describe('the web apps', () => {
  it('answers each of their paths with the same page, never cached without asking', async () => {
    expect(APP_PATHS).toEqual(expect.arrayContaining(['/', '/sign-in', '/dashboard']));
    const pages = await Promise.all(APP_PATHS.map(get));
    for (const [index, page] of pages.entries()) {
      const url = APP_PATHS[index];
      expect(page.statusCode, url).toBe(200);
      expect(page.headers['content-type'], url).toContain('text/html');
      expect(page.headers['cache-control'], url).toBe('no-cache');
      expect(page.body, url).toContain('<div id="root">');
      expect(scriptOf(page.body), url).toBe(scriptOf(pages[0]!.body));
    }
    // Query strings are the app's (?merchant=…); other paths are not pages.
    expect((await get('/dashboard?merchant=shop-0001&days=90')).statusCode).toBe(200);
    const missing = await get('/no-such-page');
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toContain('application/problem+json');
  });

  it('serves their scripts and styles under names that change with them, for good', async () => {
    const page = (await get('/dashboard')).body;
    expect(scriptOf(page)).toMatch(/^\/assets\/index-[\w-]+\.js$/);
    const script = await get(scriptOf(page));
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toContain('text/javascript');
    expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(script.body).toContain('/v1/merchants/{merchantId}/daily-sales');
    const styles = await get(stylesheetOf(page));
    expect(styles.statusCode).toBe(200);
    expect(styles.headers['content-type']).toContain('text/css');
    expect(styles.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it('sends them gzipped, as the build compressed them, to a browser that takes it', async () => {
    const url = scriptOf((await get('/')).body);
    const plain = await get(url);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toBe('accept-encoding');
    const gzipped = await context.app.inject({
      method: 'GET',
      url,
      headers: { 'accept-encoding': 'br, gzip' },
    });
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(gzipped.headers.vary).toBe('accept-encoding');
    expect(gzipped.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(gzipped.rawPayload.length).toBeLessThan(plain.rawPayload.length / 2);
    expect(gunzipSync(gzipped.rawPayload).equals(plain.rawPayload)).toBe(true);
    expect(takesGzip('gzip, deflate')).toBe(true);
    expect(takesGzip('*')).toBe(true);
    expect(takesGzip('gzip;q=0, br')).toBe(false);
    expect(takesGzip('identity')).toBe(false);
    expect(takesGzip(undefined)).toBe(false);
  });

  it('has a favicon, linked from the page and where browsers look for one', async () => {
    const page = (await get('/')).body;
    const linked = /<link rel="icon" type="image\/svg\+xml" href="(\/assets\/favicon-[\w-]+\.svg)">/.exec(
      page,
    )?.[1];
    expect(linked).toBeDefined();
    for (const url of [linked!, '/favicon.svg', '/favicon.ico']) {
      const icon = await get(url);
      expect(icon.statusCode, url).toBe(200);
      expect(icon.headers['content-type'], url).toBe('image/svg+xml');
      expect(icon.body, url).toContain('<svg');
    }
  });

  it('allows its own scripts only, and styles by a nonce new on every response', async () => {
    const [first, second] = await Promise.all([get('/sign-in'), get('/sign-in')]);
    const nonceOf = (policy: unknown) =>
      /style-src 'self' 'nonce-([A-Za-z0-9+/=]+)'/.exec(String(policy))?.[1];
    const nonce = nonceOf(first!.headers['content-security-policy']);
    expect(nonce).toBeDefined();
    expect(nonceOf(second!.headers['content-security-policy'])).not.toBe(nonce);
    expect(first!.body).toContain(`<meta property="csp-nonce" nonce="${nonce}">`);
    expect(first!.body).not.toContain('HOTPATH_CSP_NONCE');
    expect(String(first!.headers['content-security-policy'])).toContain("script-src 'self';");
    expect(first!.body).not.toMatch(/<script(?![^>]* src=)[^>]*>/);
  });
});

it('sends a Content-Security-Policy with every page: scripts from this origin only', async () => {
  for (const url of ['/', '/sign-in', '/dashboard', '/worklist', '/docs']) {
    const page = await get(url);
    expect(page.statusCode, url).toBe(200);
    const policy = String(page.headers['content-security-policy']);
    const scripts = /script-src ([^;]+)/.exec(policy)?.[1] ?? '';
    expect(scripts, url).toContain("'self'");
    expect(scripts, url).not.toContain('unsafe-inline');
    expect(policy, url).not.toMatch(/default-src[^;]*\*/);
    expect(policy, url).not.toMatch(/style-src[^;]*unsafe-inline/);
  }
});

it("lets a page frame and show documents from this origin and the object store's download URLs, nothing else", async () => {
  for (const url of ['/worklist', '/worklist/12']) {
    const page = await get(url);
    expect(page.statusCode, url).toBe(200);
    const policy = String(page.headers['content-security-policy']);
    // The file-system store's URLs point at this server's public URL.
    const documents = `'self' ${new URL(context.config.publicUrl).origin}`;
    expect(/frame-src ([^;]+)/.exec(policy)?.[1], url).toBe(documents);
    expect(/img-src ([^;]+)/.exec(policy)?.[1], url).toBe(`${documents} data:`);
    expect(policy, url).toContain("frame-ancestors 'none'");
    expect(policy, url).not.toContain('object-src *');
  }
});
