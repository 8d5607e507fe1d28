import { once } from 'node:events';
import net from 'node:net';
import { Worker } from 'node:worker_threads';

export interface DelayProxy {
  /** host:port clients connect to */
  readonly host: string;
  readonly port: number;
  /** connections accepted and bytes forwarded so far */
  stats(): { connections: number; bytesUp: number; bytesDown: number };
  /** stops listening, destroys open connections, stops the timer worker */
  close(): Promise<void>;
}

/** One direction of one connection: what is read from `from` is written to `to`. */
interface Direction {
  from: net.Socket;
  to: net.Socket;
  count(bytes: number): void;
}

/** Something read and not yet delivered; 'reset' stands for the reading side closing abnormally. */
interface InFlight {
  due: bigint;
  direction: Direction;
  item: Buffer | 'end' | 'reset';
  next: InFlight | undefined;
}

/**
 * Runs in a worker thread. Node's timers are millisecond-grained, but Atomics.wait takes a fractional
 * timeout and sleeps in the kernel, so this thread can wake the main thread a quarter millisecond from
 * now without anyone spinning. The main thread publishes the earliest deadline (process.hrtime in ns,
 * the same monotonic clock in every thread; 0 = nothing pending) and bumps `generation` whenever it
 * changes, which ends any wait in progress.
 */
const timerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const generation = new Int32Array(workerData, 0, 1);
const deadline = new BigInt64Array(workerData, 8, 1);
for (;;) {
  const seen = Atomics.load(generation, 0);
  const due = Atomics.load(deadline, 0);
  if (due === 0n) {
    Atomics.wait(generation, 0, seen);
    continue;
  }
  const remainingMs = Number(due - process.hrtime.bigint()) / 1e6;
  if (remainingMs > 0) {
    Atomics.wait(generation, 0, seen, remainingMs);
  } else {
    parentPort.postMessage(null);
    // The main thread answers by publishing the next deadline.
    Atomics.wait(generation, 0, seen);
  }
}
`;

interface Timer {
  /** Call onDue at `due` (process.hrtime ns), replacing any earlier request. */
  wakeAt(due: bigint): void;
  stop(): Promise<void>;
}

/** onDue returns the next deadline to wake at, or 0n for none. */
async function startTimer(onDue: () => bigint): Promise<Timer> {
  const shared = new SharedArrayBuffer(16);
  const generation = new Int32Array(shared, 0, 1);
  const deadline = new BigInt64Array(shared, 8, 1);
  const wakeAt = (due: bigint) => {
    Atomics.store(deadline, 0, due);
    Atomics.add(generation, 0, 1);
    Atomics.notify(generation, 0);
  };
  const worker = new Worker(timerSource, { eval: true, workerData: shared });
  worker.on('message', () => wakeAt(onDue()));
  // Traffic arriving before the worker runs would otherwise be late by its start-up time.
  await once(worker, 'online');
  // The proxy's server keeps the process alive while it is open; the timer never should. (Not before
  // 'online': in a process with nothing else to do yet, an unref'd worker could never come online.)
  worker.unref();
  return {
    wakeAt,
    async stop() {
      // terminate() interrupts Atomics.wait.
      await worker.terminate();
    },
  };
}

/**
 * A TCP proxy that adds `roundTripMs` of network distance: every chunk, end and reset is delivered
 * roundTripMs / 2 after it was read, in each direction, in order.
 */
export async function startDelayProxy(options: {
  target: { host: string; port: number };
  /** round trip added to the connection's traffic, in ms; may be fractional (0.5) or 0 */
  roundTripMs: number;
  host?: string;
  port?: number;
}): Promise<DelayProxy> {
  const { target, roundTripMs, host = '127.0.0.1', port = 0 } = options;
  if (!(roundTripMs >= 0)) throw new RangeError(`roundTripMs must be 0 or more, not ${roundTripMs}`);
  const oneWayNs = BigInt(Math.round((roundTripMs / 2) * 1e6));

  let connections = 0;
  let bytesUp = 0;
  let bytesDown = 0;
  let closed = false;
  const openSockets = new Set<net.Socket>();

  const deliver = ({ from, to, count }: Direction, item: InFlight['item']) => {
    if (to.destroyed) return;
    if (item === 'reset') {
      // The peer sees a reset, as it would across a real network, rather than a clean end.
      to.resetAndDestroy();
    } else if (item === 'end') {
      to.end();
    } else {
      count(item.length);
      if (!to.write(item)) from.pause();
    }
  };

  // Every item waits the same time, so deadlines grow in arrival order and a FIFO across all
  // connections is already sorted: its head is the only deadline the timer needs.
  let first: InFlight | undefined;
  let last: InFlight | undefined;
  const deliverDue = () => {
    const now = process.hrtime.bigint();
    while (first && first.due <= now) {
      const { direction, item } = first;
      first = first.next;
      deliver(direction, item);
    }
    if (!first) last = undefined;
    return first?.due ?? 0n;
  };
  const timer = oneWayNs > 0n ? await startTimer(deliverDue) : undefined;

  const send = (direction: Direction, item: InFlight['item']) => {
    if (closed) return;
    if (!timer) {
      deliver(direction, item);
      return;
    }
    const inFlight: InFlight = { due: process.hrtime.bigint() + oneWayNs, direction, item, next: undefined };
    if (last) {
      last.next = inFlight;
    } else {
      first = inFlight;
      timer.wakeAt(inFlight.due);
    }
    last = inFlight;
  };

  const forward = (direction: Direction) => {
    const { from, to } = direction;
    openSockets.add(from);
    from.on('data', (chunk: Buffer) => send(direction, chunk));
    from.on('end', () => send(direction, 'end'));
    // The error itself is reported to the other side as a reset, from the 'close' that follows.
    from.on('error', () => {});
    from.on('close', (hadError) => {
      openSockets.delete(from);
      if (hadError || !from.readableEnded) send(direction, 'reset');
    });
    to.on('drain', () => from.resume());
  };

  // allowHalfOpen: a side that ends keeps receiving until the other side ends too, as with real TCP.
  // noDelay: Nagle's algorithm would hold back small writes and add delay of its own.
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    connections += 1;
    const upstream = net.connect({ ...target, allowHalfOpen: true, noDelay: true });
    forward({ from: client, to: upstream, count: (bytes) => (bytesUp += bytes) });
    forward({ from: upstream, to: client, count: (bytes) => (bytesDown += bytes) });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
  } catch (error) {
    await timer?.stop();
    throw error;
  }
  const address = server.address() as net.AddressInfo;

  return {
    host,
    port: address.port,
    stats: () => ({ connections, bytesUp, bytesDown }),
    async close() {
      closed = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of openSockets) socket.destroy();
      first = undefined;
      last = undefined;
      await Promise.all([stopped, timer?.stop()]);
    },
  };
}
