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
      app.get(
        page.path,
        { schema: { hide: true }, config: { access: 'public', queryBudget: 0 } },
        async (_request, reply) =>
          reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(html),
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
