import { type ServeProcess, startServeProcess } from '../../test/support/serve-process.ts';

/** The server under load runs in its own process, as in production, apart from the load generator. */
export function startServer(env: Record<string, string>, command?: string[]): Promise<ServeProcess> {
  return startServeProcess({ ...process.env, LOG_LEVEL: 'warn', ...env }, command);
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
