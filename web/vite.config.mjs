// The web apps (web/index.html → web/src/main.tsx): built into dist/web/app by scripts/build.mjs
// (`npm install`, `npm start`, `npm test`), served by hotpath; `npm run dev:web` serves them from source
// with hot reload, the API proxied to a running hotpath (HOTPATH_URL, default http://127.0.0.1:3000).
// JavaScript, not TypeScript: scripts/build.mjs imports it on the system Node (20), which cannot load .ts.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const web = path.dirname(fileURLToPath(import.meta.url));
const hotpath = process.env.HOTPATH_URL ?? 'http://127.0.0.1:3000';

/** What hotpath answers that is not the app: the API (with the objects' download URLs) and its docs. */
const PROXIED = ['/v1', '/v2', '/openapi.json', '/docs', '/healthz', '/readyz', '/metrics'];

/**
 * Replaced by a fresh value on every response (src/platform/http/web-pages.ts): the page's styles are
 * allowed by it, so a library that adds a <style> element can be given it (README.md here).
 */
export const CSP_NONCE_PLACEHOLDER = 'HOTPATH_CSP_NONCE';

export default defineConfig({
  root: web,
  // The app's own files only: nothing copied as is.
  publicDir: false,
  plugins: [react()],
  html: { cspNonce: CSP_NONCE_PLACEHOLDER },
  build: {
    outDir: path.join(web, '../dist/web/app'),
    emptyOutDir: false,
    // Every asset a file of its own, named by its content: no data: URLs in the HTML or the styles.
    assetsInlineLimit: 0,
    // Browsers this old are not supported; the polyfill would be an inline script.
    modulePreload: { polyfill: false },
    sourcemap: true,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    strictPort: false,
    proxy: Object.fromEntries(PROXIED.map((prefix) => [prefix, { target: hotpath, changeOrigin: false }])),
  },
  preview: { port: 4173 },
});
