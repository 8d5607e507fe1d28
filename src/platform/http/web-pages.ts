import { randomBytes } from 'node:crypto';
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

/**
 * The web apps (web/, React): the same index.html at each of their paths, where the router in the
 * browser takes over, with a Content-Security-Policy whose style nonce is new on every response; their
 * scripts, styles and images under names that change with their content, kept by browsers for good;
 * and the favicon at the addresses browsers ask for it.
 */
export function webApp(
  paths: string[],
  options: { documentOrigins?: Promise<string[]> | string[] } = {},
): RoutesPlugin {
  return async (app) => {
    const documentOrigins = await options.documentOrigins;
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
          .header('content-security-policy', appContentSecurityPolicy(nonce, documentOrigins))
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
 * page's `<meta property="csp-nonce">`); no plugins or foreign connections. Frames and images only
 * from this origin and where the object store's download URLs point (`documentOrigins`): the
 * worklist shows a document's PDF in the browser's viewer, in an <iframe>, and a scan as an image.
 */
export function appContentSecurityPolicy(nonce: string, documentOrigins: string[] = []): string {
  const documents = ["'self'", ...new Set(documentOrigins)].join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${nonce}'`,
    `img-src ${documents} data:`,
    `frame-src ${documents}`,
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}
