import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RoutesPlugin } from './app.ts';

/** What `npm run build` (run by `npm install`, `npm start` and `npm test`) made of web/. */
const BUILT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../dist/web');

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
          reply
            .type('text/javascript; charset=utf-8')
            .header('cache-control', 'public, max-age=31536000, immutable')
            .send(script),
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
