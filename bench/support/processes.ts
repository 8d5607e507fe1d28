import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

type Cleanup = () => Promise<unknown>;
const cleanups: Array<{ label: string; run: Cleanup }> = [];

/**
 * Registers something to undo when the run ends, normally or on Ctrl-C: child processes, the embedded
 * database's lease, temporary databases. Undone last-in first-out.
 */
export function onCleanup(label: string, run: Cleanup): () => Promise<void> {
  const entry = { label, run };
  cleanups.push(entry);
  return async () => {
    const at = cleanups.indexOf(entry);
    if (at < 0) return;
    cleanups.splice(at, 1);
    await run();
  };
}

export async function cleanUp(log: (line: string) => void): Promise<void> {
  while (cleanups.length > 0) {
    const entry = cleanups.pop()!;
    try {
      await entry.run();
    } catch (error) {
      log(`cleanup of ${entry.label} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/** On Ctrl-C or SIGTERM: clean up, then exit 130 (a second Ctrl-C exits at once); on a stray error, exit 1. */
export function cleanUpOnSignals(log: (line: string) => void): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    log(`${signal}: stopping what the benchmark started`);
    void cleanUp(log).finally(() => process.exit(130));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // An error thrown outside the run's own promise chain (a library's timer) must not leave children behind.
  process.on('uncaughtException', (error) => {
    log(`failed: ${error.stack ?? error.message}`);
    void cleanUp(log).finally(() => process.exit(1));
  });
}

export interface ServiceProcess<Ready> {
  child: ChildProcess;
  ready: Ready;
  stop(): Promise<void>;
}

/**
 * One of the stand-in services (bench/support/services.ts) in its own process, so its work does not
 * share an event loop with the load generator; resolves with the JSON it prints once listening.
 */
export async function startService<Ready>(kind: string, args: string[]): Promise<ServiceProcess<Ready>> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.resolve('bench/support/services.ts'), kind, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const ready = await new Promise<Ready>((resolve, reject) => {
    let stdout = '';
    child.stdout?.on('data', (chunk) => {
      stdout += chunk;
      const line = stdout.split('\n').find((candidate) => candidate.startsWith('{'));
      if (line) resolve(JSON.parse(line) as Ready);
    });
    child.once('exit', (code) =>
      reject(new Error(`${kind} exited with ${code} before it was ready:\n${output}`)),
    );
  });
  const stop = onCleanup(kind, async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  });
  return { child, ready, stop };
}
