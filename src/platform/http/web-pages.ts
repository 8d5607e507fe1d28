import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RoutesPlugin } from './app.ts';

/** What `npm run build` (run by `npm install`, `npm start` and `npm test`) made of web/. */
const BUILT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../dist/web');
/** The web apps, built by Vite from web/index.html: index.html and assets/, named by their content. */
const APP_DIR = path.join(BUILT_DIR, 'app');
/** Vite writes it where a nonce goes (`html.cspNonce` in web/vite.config.mjs); each response gets its own. */
const CSP_NONCE_PLACEHOLDER = 'HOTPATH_CSP_NONCE';
const IMMUTABLE = 'public, max-age=31536000, immutable';
const MEDIA_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

interface BuiltPage {
  html: string;
  script: string;
}

/**
 * Serves the browser pages built from web/: each page's HTML at its path, and its script under a
 * name that changes with its content, so browsers may keep it for good.
 */
export function webPages(pages: Array<{ path: string; name: string }>): RoutesPlugin {
  return async (app) => {
    let manifest: Record<string, BuiltPage>;
    try {
      manifest = JSON.parse(readFileSync(path.join(BUILT_DIR, 'manifest.json'), 'utf8'));
    } catch {
      throw new Error(`the web pages are not built (no ${BUILT_DIR}/manifest.json): run npm run build`);
    }
    for (const page of pages) {
      const built = manifest[page.name];
      if (!built) throw new Error(`the web page ${page.name} is not built: run npm run build`);
      const html = readFileSync(path.join(BUILT_DIR, built.html), 'utf8');
      const script = readFileSync(path.join(BUILT_DIR, built.script), 'utf8');
      const policy = contentSecurityPolicy(html);
      app.get(
        page.path,
        { schema: { hide: true }, config: { access: 'public', queryBudget: 0, page: true } },
        async (_request, reply) =>
          reply
            .type('text/html; charset=utf-8')
            .header('cache-control', 'no-cache')
            .header('content-security-policy', policy)
            .send(html),
      );
      app.get(
        `/assets/${built.script}`,
        { schema: { hide: true }, config: { access: 'public', queryBudget: 0 } },
        async (_request, reply) =>
          reply.type('text/javascript; charset=utf-8').header('cache-control', IMMUTABLE).send(script),
      );
    }
  };
}

/**
 * Scripts from this origin only, never inline; the page's own inline styles by their hash; no frames,
 * plugins or foreign connections. A token in the page cannot be sent anywhere else by injected markup.
 */
export function contentSecurityPolicy(html: string): string {
  const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map(
    (match) =>
      `'sha256-${createHash('sha256')
        .update(match[1] ?? '')
        .digest('base64')}'`,
  );
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' ${styles.join(' ')}`.trim(),
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * The web apps (web/, React): the same index.html at each of their paths, where the router in the
 * browser takes over, with a Content-Security-Policy whose style nonce is new on every response; their
 * scripts, styles and images under names that change with their content, kept by browsers for good;
 * and the favicon at the addresses browsers ask for it.
 */
export function webApp(paths: string[]): RoutesPlugin {
  return async (app) => {
    const index = path.join(APP_DIR, 'index.html');
    if (!existsSync(index)) throw new Error(`the web apps are not built (no ${index}): run npm run build`);
    const html = readFileSync(index, 'utf8').split(CSP_NONCE_PLACEHOLDER);
    const page = {
      schema: { hide: true },
      config: { access: 'public' as const, queryBudget: 0, page: true },
    };
    const asset = { schema: { hide: true }, config: { access: 'public' as const, queryBudget: 0 } };
    for (const url of paths) {
      app.get(url, page, async (_request, reply) => {
        const nonce = randomBytes(18).toString('base64');
        return reply
          .type('text/html; charset=utf-8')
          .header('cache-control', 'no-cache')
          .header('content-security-policy', appContentSecurityPolicy(nonce))
          .send(html.join(nonce));
      });
    }
    const assets = path.join(APP_DIR, 'assets');
    const names = new Set(readdirSync(assets));
    let favicon: Buffer | undefined;
    for (const name of names) {
      const type = MEDIA_TYPES[path.extname(name)];
      if (!type) continue;
      const body = readFileSync(path.join(assets, name));
      // The build's gzip of it, where it made one: a third of the bytes for a script.
      const gzipped = names.has(`${name}.gz`) ? readFileSync(path.join(assets, `${name}.gz`)) : undefined;
      if (/^favicon-[\w-]+\.svg$/.test(name)) favicon = body;
      app.get(`/assets/${name}`, asset, async (request, reply) => {
        reply.type(type).header('cache-control', IMMUTABLE);
        if (!gzipped) return reply.send(body);
        reply.header('vary', 'accept-encoding');
        if (!takesGzip(request.headers['accept-encoding'])) return reply.send(body);
        return reply.header('content-encoding', 'gzip').send(gzipped);
      });
    }
    if (favicon) {
      const icon = favicon;
      // Asked for by name, without a link (the API docs, a bookmark): kept a day, not for good.
      for (const url of ['/favicon.svg', '/favicon.ico']) {
        app.get(url, asset, async (_request, reply) =>
          reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(icon),
        );
      }
    }
  };
}

/** Whether an Accept-Encoding header takes gzip (by name or `*`, with a q-value above 0). */
export function takesGzip(acceptEncoding: string | undefined): boolean {
  if (!acceptEncoding) return false;
  return acceptEncoding.split(',').some((entry) => {
    const [coding, ...parameters] = entry.split(';').map((part) => part.trim().toLowerCase());
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = parameters.find((parameter) => parameter.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/**
 * The apps' policy: scripts from this origin only, never inline; styles from this origin and those
 * carrying this response's nonce (a component library that adds a <style> element reads it from the
 * page's `<meta property="csp-nonce">`); no frames, plugins or foreign connections.
 */
export function appContentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}
