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
    description: `cloud: +${delays.postgresMs} ms round trip to PostgreSQL, +${delays.s3Ms} ms to S3, +${delays.fhirMs} ms to the FHIR server (TCP proxies)`,
    databaseUrl: (url) => {
      const rewritten = new URL(url);
      rewritten.hostname = postgres.host;
      rewritten.port = String(postgres.port);
      return rewritten.toString();
    },
    s3Endpoint,
    fhirBaseUrl,
    close: async () => {
      for (const stop of stops) await stop();
    },
  };
}
