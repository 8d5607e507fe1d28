import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../test/support/harness.ts';

export interface ServerUnderTest {
  baseUrl: string;
  stop(): Promise<void>;
}

/**
 * `hotpath serve` in its own process, as it runs in production, so the load generator does not share
 * its event loop.
 */
export async function startServer(env: Record<string, string>): Promise<ServerUnderTest> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [path.resolve('bin/hotpath.js'), 'serve'], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (chunk) => {
    log += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    log += chunk;
  });
  const deadline = Date.now() + 60_000;
  while (!log.includes('hotpath is serving')) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`hotpath serve did not start:\n${log}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Sums a Prometheus counter's samples whose labels match. */
export async function counterTotal(
  baseUrl: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const matches = Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`));
    if (matches) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
