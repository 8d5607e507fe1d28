import net from 'node:net';
import { buildAck, readHeaderLeniently } from '../../src/modules/worklist/ingestion/hl7.ts';
import { frame, MllpFrameReader } from '../../src/modules/worklist/ingestion/mllp-framing.ts';

/**
 * What the machine can do at all for the ingestion rows: a bare MLLP server on PORT that reads each
 * frame (hotpath's frame reader), reads its MSH leniently and answers AA (hotpath's ACK builder), one
 * message at a time per connection as hotpath's listener does, storing nothing: no parsing past MSH,
 * no database, no object store, no metrics.
 */
let sequence = 0;
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  const reader = new MllpFrameReader({ maxFrameBytes: 100 * 1024 * 1024 });
  socket.on('data', (chunk: Buffer) => {
    for (const payload of reader.push(chunk)) {
      sequence = (sequence + 1) % 1_000_000;
      const ack = buildAck(readHeaderLeniently(payload), { code: 'AA' }, { controlId: `LIMIT${sequence}` });
      socket.write(frame(ack));
    }
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  process.stderr.write('MLLP limit server listening\n');
});
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
