// Builds what `hotpath` runs: src/ to dist/ as JavaScript, file for file (so paths relative to the
// project root stay right), and the browser pages' scripts bundled under hashed names. Run by `npm
// install` (prepare) and before `npm start` and `npm test`; it takes well under a second.
//
// Two builds may run at once (two `npm test` side by side), and a server or a test may be loading
// dist/ meanwhile: nothing is ever removed and rewritten. Each file is written whole under a temporary
// name and renamed into place, and only when its content changed; files the build no longer makes go.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/** Every file under `directory`, as absolute paths. */
function filesUnder(directory) {
  if (!existsSync(directory)) return [];
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    return entry.isDirectory() ? filesUnder(full) : [full];
  });
}

const made = new Set();
/** Writes `file` whole, by rename, unless it already holds `contents`. */
function place(file, contents) {
  made.add(file);
  const bytes = Buffer.from(contents);
  if (existsSync(file) && readFileSync(file).equals(bytes)) return;
  mkdirSync(path.dirname(file), { recursive: true });
  const staged = `${file}.${process.pid}.tmp`;
  writeFileSync(staged, bytes);
  renameSync(staged, file);
}

const started = performance.now();
const server = await build({
  entryPoints: sourcesUnder(path.join(root, 'src')),
  outdir: dist,
  outbase: path.join(root, 'src'),
  bundle: true,
  plugins: [keepImports],
  platform: 'node',
  format: 'esm',
  target: 'node24',
  sourcemap: true,
  write: false,
  logLevel: 'warning',
});
for (const output of server.outputFiles) place(output.path, output.contents);

// The pages' scripts: one bundle each, named by their content so they can be cached for good.
const pages = ['worklist', 'dashboard'];
const webOut = path.join(dist, 'web');
const bundled = await build({
  entryPoints: pages.map((page) => path.join(root, 'web', 'src', `${page}.ts`)),
  outdir: webOut,
  entryNames: '[name]-[hash]',
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  metafile: true,
  write: false,
  logLevel: 'warning',
});
for (const output of bundled.outputFiles) place(output.path, output.contents);
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
  place(path.join(webOut, `${page}.html`), html);
  manifest[page] = {
    html: `${page}.html`,
    script: assets[page],
    sha256: createHash('sha256').update(html).digest('hex'),
  };
}
place(path.join(webOut, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
for (const file of filesUnder(dist)) {
  // Another build's staged file is its own to rename.
  if (!made.has(file) && !file.endsWith('.tmp')) rmSync(file, { force: true });
}
process.stderr.write(`built dist/ in ${Math.round(performance.now() - started)} ms\n`);
