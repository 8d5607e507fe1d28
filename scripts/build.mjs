// Builds what `hotpath` runs: src/ to dist/ as JavaScript, file for file (so paths relative to the
// project root stay right), and the browser pages' scripts bundled under hashed names. Run by `npm
// install` (prepare) and before `npm start` and `npm test`; it takes well under a second.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');

function sourcesUnder(directory) {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) return sourcesUnder(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** Every import stays an import; a relative one to a `.ts` file points at its `.js` twin. */
const keepImports = {
  name: 'keep-imports',
  setup(builder) {
    builder.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      const relative = args.path.startsWith('.');
      return { path: relative ? args.path.replace(/\.ts$/, '.js') : args.path, external: true };
    });
  },
};

const started = performance.now();
rmSync(dist, { recursive: true, force: true });
await build({
  entryPoints: sourcesUnder(path.join(root, 'src')),
  outdir: dist,
  outbase: path.join(root, 'src'),
  bundle: true,
  plugins: [keepImports],
  platform: 'node',
  format: 'esm',
  target: 'node24',
  sourcemap: true,
  logLevel: 'warning',
});

// The pages' scripts: one bundle each, named by their content so they can be cached for good.
const pages = ['worklist', 'dashboard'];
const webOut = path.join(dist, 'web');
mkdirSync(webOut, { recursive: true });
const bundled = await build({
  entryPoints: pages.map((page) => path.join(root, 'web', 'src', `${page}.ts`)),
  outdir: webOut,
  entryNames: '[name]-[hash]',
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  metafile: true,
  logLevel: 'warning',
});
const assets = {};
for (const [output, meta] of Object.entries(bundled.metafile.outputs)) {
  if (meta.entryPoint) assets[path.basename(meta.entryPoint, '.ts')] = path.basename(output);
}
const manifest = {};
for (const page of pages) {
  const html = readFileSync(path.join(root, 'web', `${page}.html`), 'utf8').replace(
    `/assets/${page}.js`,
    `/assets/${assets[page]}`,
  );
  writeFileSync(path.join(webOut, `${page}.html`), html);
  manifest[page] = {
    html: `${page}.html`,
    script: assets[page],
    sha256: createHash('sha256').update(html).digest('hex'),
  };
}
writeFileSync(path.join(webOut, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
process.stderr.write(`built dist/ in ${Math.round(performance.now() - started)} ms\n`);
