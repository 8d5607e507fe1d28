import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { RoutesPlugin } from './app.ts';

const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../web');

/**
 * Serves browser pages from web/: an HTML file at its path and its TypeScript entry bundled by
 * esbuild once, when the app starts, so there is no build step between a clone and `npm start`.
 */
export function webPages(pages: Array<{ path: string; html: string; script: string }>): RoutesPlugin {
  return async (app) => {
    for (const page of pages) {
      const [html, bundle] = await Promise.all([
        readFile(path.join(WEB_DIR, page.html), 'utf8'),
        build({
          entryPoints: [path.join(WEB_DIR, page.script)],
          bundle: true,
          format: 'esm',
          target: 'es2022',
          minify: true,
          write: false,
          logLevel: 'silent',
        }),
      ]);
      const script = bundle.outputFiles[0]?.text ?? '';
      const scriptPath = `/assets/${path.basename(page.script).replace(/\.ts$/, '.js')}`;
      const policy = contentSecurityPolicy(html);
      app.get(
        page.path,
        { schema: { hide: true }, config: { access: 'public', queryBudget: 0 } },
        async (_request, reply) =>
          reply
            .type('text/html; charset=utf-8')
            .header('cache-control', 'no-cache')
            .header('content-security-policy', policy)
            .send(html),
      );
      app.get(
        scriptPath,
        { schema: { hide: true }, config: { access: 'public', queryBudget: 0 } },
        async (_request, reply) =>
          reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(script),
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
