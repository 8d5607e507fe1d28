import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../src/platform/free-port.ts';

export const HOTPATH_BIN = path.resolve('bin/hotpath.js');

export interface ServeProcess {
  child: ChildProcess;
  baseUrl: string;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>;
}

/**
 * `hotpath serve` in its own process, on a free port, once it says it is serving. `command` replaces
 * the CLI, e.g. with the benchmark's server entry, which prints `readyText` once listening.
 */
export async function startServeProcess(
  env: NodeJS.ProcessEnv,
  command: string[] = [HOTPATH_BIN, 'serve'],
  readyText = 'hotpath is serving',
): Promise<ServeProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, command, {
    env: { ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // Resolved by the output itself, not by polling it: the benchmark times `serve` until its banner.
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => fail('did not start within 300 s'), 300_000);
    const fail = (why: string) => {
      clearTimeout(deadline);
      child.kill('SIGKILL');
      reject(new Error(`${command.join(' ')} ${why}:\n${output}`));
    };
    const take = (chunk: Buffer) => {
      output += chunk;
      if (output.includes(readyText)) {
        clearTimeout(deadline);
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null) => fail(`exited (${code}) before it was ready`);
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
    child.once('exit', onExit);
  });
  return {
    child,
    baseUrl: `http://127.0.0.1:${port}`,
    output: () => output,
    stop: () => {
      if (child.exitCode !== null) return Promise.resolve(child.exitCode);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      return exited;
    },
  };
}
