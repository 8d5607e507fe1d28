import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { type DelayProxy, startDelayProxy } from '../../bench/support/delay-proxy.ts';

/** A local TCP server; by default it echoes every byte back and ends when the client ends. */
async function startServer(onConnection: (socket: net.Socket) => void = (socket) => socket.pipe(socket)) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  await once(socket, 'connect');
  return socket;
}

function read(socket: net.Socket, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received < length) return;
      socket.off('data', onData).off('error', reject);
      resolve(Buffer.concat(chunks));
    };
    socket.on('data', onData).on('error', reject);
  });
}

/** Milliseconds from writing `payload` to reading its echo. */
async function pingPong(socket: net.Socket, payload: Buffer): Promise<number> {
  const started = performance.now();
  const echo = read(socket, payload.length);
  socket.write(payload);
  expect(await echo).toEqual(payload);
  return performance.now() - started;
}

const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function withProxy(
  target: { port: number },
  roundTripMs: number,
  test: (proxy: DelayProxy) => Promise<void>,
) {
  const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: target.port }, roundTripMs });
  try {
    await test(proxy);
  } finally {
    await proxy.close();
  }
}

describe('the delay proxy', () => {
  it.each([0, 1])(
    'returns 2 MB sent in many writes intact and in order (round trip %s ms)',
    async (roundTripMs) => {
      const server = await startServer();
      await withProxy(server, roundTripMs, async (proxy) => {
        const sent = randomBytes(2 * 1024 * 1024);
        const client = await connect(proxy.port);
        const received = read(client, sent.length);
        for (let offset = 0; offset < sent.length; ) {
          const size = 1 + Math.floor(Math.random() * 16 * 1024);
          client.write(sent.subarray(offset, offset + size));
          offset += size;
        }
        expect((await received).equals(sent)).toBe(true);
        client.destroy();
      });
      await server.close();
    },
  );

  it('stops reading from the server while the client does not read, and resumes when it does', async () => {
    let written = 0;
    const chunk = Buffer.alloc(64 * 1024);
    const server = await startServer((socket) => {
      socket.on('error', () => {});
      const writeUntilFull = () => {
        do written += chunk.length;
        while (socket.write(chunk));
      };
      socket.on('drain', writeUntilFull);
      writeUntilFull();
    });
    await withProxy(server, 1, async (proxy) => {
      const client = await connect(proxy.port);
      client.pause();
      // Until the server's writes stall: its sends stop growing over several polls in a row.
      for (let unchanged = 0, last = -1; unchanged < 5 && written < 64 * 1024 * 1024; ) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        unchanged = written === last ? unchanged + 1 : 0;
        last = written;
      }
      // Socket buffers on the way hold a few MB; a proxy that kept reading would take hundreds.
      const writtenWhileStalled = written;
      expect(writtenWhileStalled).toBeLessThan(64 * 1024 * 1024);
      let received = 0;
      client.on('data', (data: Buffer) => {
        received += data.length;
      });
      client.resume();
      await expect
        .poll(() => received, { timeout: 60_000 })
        .toBeGreaterThan(writtenWhileStalled + 16 * 1024 * 1024);
      client.destroy();
    });
    await server.close();
  });

  it('adds one round trip of 40 ms to a request and its response', async () => {
    const server = await startServer();
    await withProxy(server, 40, async (proxy) => {
      const client = await connect(proxy.port);
      const elapsed = await pingPong(client, Buffer.from('ping'));
      expect(elapsed).toBeGreaterThanOrEqual(40);
      expect(elapsed).toBeLessThan(40 + 200);
      client.destroy();
    });
    await server.close();
  });

  it('adds a round trip of 0.5 ms without rounding it up to whole milliseconds', async () => {
    const server = await startServer();
    const payload = Buffer.from('ping');
    const direct = await connect(server.port);
    const directTimes: number[] = [];
    for (let i = 0; i < 200; i++) directTimes.push(await pingPong(direct, payload));
    direct.destroy();
    await withProxy(server, 0.5, async (proxy) => {
      const client = await connect(proxy.port);
      const proxiedTimes: number[] = [];
      for (let i = 0; i < 200; i++) proxiedTimes.push(await pingPong(client, payload));
      client.destroy();
      expect(proxiedTimes.reduce((sum, time) => sum + time, 0)).toBeGreaterThanOrEqual(200 * 0.5);
      // A millisecond timer would add at least 2 ms (1 ms each way).
      expect(median(proxiedTimes) - median(directTimes)).toBeLessThan(1.5);
    });
    await server.close();
  });

  it('passes on a half-close, and closes the client when the server destroys its socket', async () => {
    let onAccepted!: (socket: net.Socket) => void;
    const accepted = new Promise<net.Socket>((resolve) => {
      onAccepted = resolve;
    });
    const server = await startServer((socket) => onAccepted(socket.resume()));
    await withProxy(server, 2, async (proxy) => {
      const client = await connect(proxy.port);
      const serverSocket = await accepted;
      const serverSawEnd = once(serverSocket, 'end');
      client.end();
      await serverSawEnd;
      // Only the client's direction is closed: the server can still answer.
      serverSocket.write('still open');
      expect((await read(client, 10)).toString()).toBe('still open');
      serverSocket.destroy();
      await once(client, 'close');
    });
    await server.close();
  });

  it('resets the client when the server resets its socket or refuses the connection', async () => {
    const resetting = await startServer((socket) => socket.resetAndDestroy());
    const refusing = await startServer();
    await refusing.close();
    for (const server of [resetting, refusing]) {
      await withProxy(server, 2, async (proxy) => {
        const client = await connect(proxy.port);
        const [error] = await once(client, 'error');
        expect((error as NodeJS.ErrnoException).code).toBe('ECONNRESET');
      });
    }
    await resetting.close();
  });

  it('counts connections and bytes, and closes while connections are open', async () => {
    const server = await startServer();
    const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: server.port }, roundTripMs: 1 });
    const clients = await Promise.all([1, 2, 3].map(() => connect(proxy.port)));
    for (const client of clients) await pingPong(client, Buffer.alloc(100, 7));
    expect(proxy.stats()).toEqual({ connections: 3, bytesUp: 300, bytesDown: 300 });
    const closed = clients.map((client) => once(client, 'close'));
    await proxy.close();
    await Promise.all(closed);
    await server.close();
  });
});
