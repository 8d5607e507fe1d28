// hotpath runs on Node.js 24 LTS. npm scripts and `npx hotpath` find it first on PATH: the
// node-<platform>-<arch> optional dependency links its official binary as node_modules/.bin/node.
// Started any other way on an older Node (`node bin/hotpath.js`, a system-wide link), this hands the
// command over to that binary, or says what to install.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export const REQUIRED_MAJOR = 24;

/** The node-<platform>-<arch> package's binary for this machine, when npm installed one. */
export function packagedNode() {
  const platform = process.platform === 'win32' ? 'win' : process.platform;
  const name = `node-${platform}-${process.arch}`;
  try {
    const manifest = createRequire(import.meta.url).resolve(`${name}/package.json`);
    const binary = path.join(
      path.dirname(manifest),
      'bin',
      process.platform === 'win32' ? 'node.exe' : 'node',
    );
    return existsSync(binary) ? binary : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resolves when this process may go on: it already runs on Node ≥ 24. Otherwise it runs the same
 * command on the packaged Node 24, passes signals on, exits with its code, and never resolves.
 */
export function onSupportedNode() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= REQUIRED_MAJOR) return Promise.resolve();
  const binary = packagedNode();
  if (!binary) {
    process.stderr.write(
      `hotpath needs Node.js ${REQUIRED_MAJOR} or later and this is ${process.version}; npm installs it as ` +
        `node-${process.platform === 'win32' ? 'win' : process.platform}-${process.arch}, which has no Node ` +
        `${REQUIRED_MAJOR} build for this machine: install Node.js ${REQUIRED_MAJOR} LTS (https://nodejs.org) and run again.\n`,
    );
    process.exit(1);
  }
  const child = spawn(binary, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  // Ctrl-C reaches the child from the terminal already (same process group): passing it on too would
  // be a second signal, which cuts its graceful shutdown short. A signal sent to this pid alone is passed on.
  process.on('SIGINT', () => {});
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', (error) => {
    process.stderr.write(`hotpath: could not start ${binary}: ${error.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 1);
  });
  return new Promise(() => {});
}
