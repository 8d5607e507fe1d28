#!/usr/bin/env node
// Runs the compiled service (dist/, built by `npm install`, `npm start` and `npm test`).
import { existsSync } from 'node:fs';
import { onSupportedNode } from './runtime.js';

await onSupportedNode();
const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('hotpath is not built: run npm run build (npm install does it)\n');
  process.exit(1);
}
await import(cli.href);
