import pg from 'pg';
import { startService } from './processes.ts';

/** Round trips the cloud profile adds, in ms. */
export interface CloudDelays {
  postgresMs: number;
  s3Ms: number;
  fhirMs: number;
}

export interface NetworkProfile {
  name: 'loopback' | 'cloud';
  /** What was added, for the report. */
  description: string;
  /** The address a server under test uses for each service: the service itself, or a delaying proxy. */
  databaseUrl(url: string): string;
  s3Endpoint: string | undefined;
  fhirBaseUrl: string | undefined;
  close(): Promise<void>;
}

interface Services {
  postgresUrl: string;
  s3Endpoint?: string;
  fhirBaseUrl?: string;
}

/**
 * `loopback` reaches every service directly. `cloud` puts a TCP proxy in front of each that delays its
 * traffic by a round trip (bench/support/delay-proxy.ts): PostgreSQL as in another zone, S3 and a
 * hospital's FHIR server as over the internet. The load generator reaches the server directly in both.
 */
export async function openNetwork(
  name: NetworkProfile['name'],
  services: Services,
  delays: CloudDelays,
): Promise<NetworkProfile> {
  if (name === 'loopback') {
    return {
      name,
      description: 'loopback: nothing added',
      databaseUrl: (url) => url,
      s3Endpoint: services.s3Endpoint,
      fhirBaseUrl: services.fhirBaseUrl,
      close: async () => {},
    };
  }
  const stops: Array<() => Promise<void>> = [];
  const proxy = async (target: URL, roundTripMs: number) => {
    const started = await startService<{ host: string; port: number }>('proxy', [
      '--target',
      `${target.hostname}:${target.port || (target.protocol === 'http:' ? 80 : 5432)}`,
      '--rtt',
      String(roundTripMs),
    ]);
    stops.push(started.stop);
    return started.ready;
  };
  const postgres = await proxy(new URL(services.postgresUrl), delays.postgresMs);
  const proxiedPostgresUrl = (url: string) => {
    const rewritten = new URL(url);
    rewritten.hostname = postgres.host;
    rewritten.port = String(postgres.port);
    return rewritten.toString();
  };
  const measuredPostgresMs = await addedRoundTrip(
    services.postgresUrl,
    proxiedPostgresUrl(services.postgresUrl),
  );
  const via = (url: string, address: { host: string; port: number }) => {
    const rewritten = new URL(url);
    rewritten.hostname = address.host;
    rewritten.port = String(address.port);
    return rewritten.toString().replace(/\/$/, '');
  };
  const s3Endpoint = services.s3Endpoint
    ? via(services.s3Endpoint, await proxy(new URL(services.s3Endpoint), delays.s3Ms))
    : undefined;
  const fhirBaseUrl = services.fhirBaseUrl
    ? via(services.fhirBaseUrl, await proxy(new URL(services.fhirBaseUrl), delays.fhirMs))
    : undefined;
  return {
    name,
    description: `cloud: +${delays.postgresMs} ms round trip to PostgreSQL (measured through the proxy: +${measuredPostgresMs.toFixed(2)} ms a statement), +${delays.s3Ms} ms to S3, +${delays.fhirMs} ms to the FHIR server (TCP proxies)`,
    databaseUrl: proxiedPostgresUrl,
    s3Endpoint,
    fhirBaseUrl,
    close: async () => {
      for (const stop of stops) await stop();
    },
  };
}

/**
 * What the proxy really adds to a statement: the median of `SELECT 1` through it less the median direct.
 * Its timer wakes a little late, so a sub-millisecond delay comes out somewhat longer than asked.
 */
async function addedRoundTrip(directUrl: string, proxiedUrl: string): Promise<number> {
  const median = async (url: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const times: number[] = [];
      for (let n = 0; n < 220; n++) {
        const started = performance.now();
        await client.query('SELECT 1');
        if (n >= 20) times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      return times[Math.floor(times.length / 2)] ?? Number.NaN;
    } finally {
      await client.end();
    }
  };
  return (await median(proxiedUrl)) - (await median(directUrl));
}
