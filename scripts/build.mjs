// Builds what `hotpath` runs: src/ to dist/ as JavaScript, file for file (so paths relative to the
// project root stay right); and the web apps (web/index.html, React) with Vite into dist/web/app. Run
// by `npm install` (prepare) and before `npm start` and `npm test`. The server takes well under a
// second; the apps a few seconds, and only when something they are built from changed (see appInputs).
//
// Two builds may run at once (two `npm test` side by side), and a server or a test may be loading
// dist/ meanwhile: nothing is ever removed and rewritten. Each file is written whole under a temporary
// name and renamed into place, and only when its content changed; files the build no longer makes go.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { build as viteBuild } from 'vite';
import viteConfig from '../web/vite.config.mjs';

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

/**
 * A digest of everything the apps are built from: web/ (but the built pages' own files), the locked
 * dependencies and this script. The same digest, the same build.
 */
function appInputs() {
  const digest = createHash('sha256');
  const inputs = [
    ...filesUnder(path.join(root, 'web')),
    path.join(root, 'package-lock.json'),
    fileURLToPath(import.meta.url),
  ].sort();
  for (const file of inputs) {
    digest.update(path.relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return digest.digest('hex');
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

const webOut = path.join(dist, 'web');

// The web apps, with Vite. Their inputs' digest is kept beside them: unchanged, the last build stands.
const appOut = path.join(webOut, 'app');
const stampFile = path.join(appOut, '.inputs.sha256');
const stamp = appInputs();
const previous = existsSync(stampFile) ? readFileSync(stampFile, 'utf8') : '';
const previousFiles = filesUnder(appOut);
if (previous === stamp && previousFiles.some((file) => file.endsWith('index.html'))) {
  for (const file of previousFiles) made.add(file);
} else {
  const appStarted = performance.now();
  const result = await viteBuild({
    ...viteConfig,
    configFile: false,
    mode: 'production',
    logLevel: 'warn',
    build: { ...viteConfig.build, write: false },
  });
  for (const output of [result].flat().flatMap((bundle) => bundle.output)) {
    const file = path.join(appOut, output.fileName);
    const contents = output.type === 'chunk' ? output.code : output.source;
    place(file, contents);
    if (output.type === 'chunk' && output.map) place(`${file}.map`, output.map.toString());
    // Compressed once here, not by the server on every response: sent to browsers that take gzip.
    if (/^assets\/.*\.(js|css|svg)$/.test(output.fileName))
      place(`${file}.gz`, gzipSync(contents, { level: 9 }));
  }
  place(stampFile, stamp);
  process.stderr.write(`built the web apps in ${Math.round(performance.now() - appStarted)} ms\n`);
}
for (const file of filesUnder(dist)) {
  // Another build's staged file is its own to rename.
  if (!made.has(file) && !file.endsWith('.tmp')) rmSync(file, { force: true });
}
process.stderr.write(`built dist/ in ${Math.round(performance.now() - started)} ms\n`);
