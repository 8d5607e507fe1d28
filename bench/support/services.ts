import { parseArgs } from 'node:util';
import { startFhirDevServer } from '../../src/modules/worklist/fhir/dev-server.ts';
import { startLocalS3 } from '../../testkit/local-s3.ts';
import { startDelayProxy } from './delay-proxy.ts';

/**
 * Entry point of the benchmark's stand-in services, one per process (see startService): prints one
 * JSON line once listening, stops on SIGTERM.
 *
 *   s3 --dir <directory> --bucket <name>       s3rver, objects kept in the directory
 *   fhir                                        the development FHIR server, any Patient id answered
 *   proxy --target <host:port> --rtt <ms>      a TCP proxy adding a round trip
 */
const [kind, ...rest] = process.argv.slice(2);
const { values } = parseArgs({
  args: rest,
  options: {
    dir: { type: 'string' },
    bucket: { type: 'string' },
    target: { type: 'string' },
    rtt: { type: 'string' },
  },
});

const print = (ready: object) => process.stdout.write(`${JSON.stringify(ready)}\n`);
let close: () => Promise<unknown>;
if (kind === 's3') {
  const s3 = await startLocalS3({ bucket: values.bucket!, directory: values.dir! });
  close = () => s3.close();
  print({ endpoint: s3.endpoint, port: s3.port });
} else if (kind === 'fhir') {
  const fhir = await startFhirDevServer({ synthesizePatients: true });
  close = () => fhir.close();
  print({ baseUrl: fhir.baseUrl });
} else if (kind === 'proxy') {
  const [host = '127.0.0.1', port] = values.target!.split(':');
  const proxy = await startDelayProxy({
    target: { host, port: Number(port) },
    roundTripMs: Number(values.rtt),
  });
  close = () => proxy.close();
  print({ host: proxy.host, port: proxy.port });
} else {
  throw new Error(`unknown service '${kind}': s3, fhir or proxy`);
}
process.once('SIGTERM', () => void close().finally(() => process.exit(0)));
// Ctrl-C reaches the whole process group; the benchmark stops its services itself.
process.on('SIGINT', () => {});
