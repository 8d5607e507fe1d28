import cluster, { type Worker } from 'node:cluster';
import client from 'prom-client';
import { metricsRegistry } from './metrics/registry.ts';

/**
 * What the processes of one `serve --workers N` say to each other, through the primary: a cache
 * generation one worker's write moved (so a sibling never answers from the older entry after the
 * write has answered), and a metrics scrape that sums every worker.
 */
type Message =
  | { type: 'hotpath:bump'; id: number; scope: string; generation: number }
  | { type: 'hotpath:bump-ack'; id: number }
  | { type: 'hotpath:bump-done'; id: number }
  | { type: 'hotpath:metrics-request'; id: number }
  | { type: 'hotpath:metrics'; id: number; text: string; error?: string }
  | { type: 'hotpath:built' }
  | { type: 'hotpath:go' }
  | { type: 'hotpath:ready' };

/**
 * How long a write waits for its siblings to take its generation. They answer in well under 1 ms on an
 * idle machine, but a worker busy with a long synchronous stretch on a loaded one can take hundreds of
 * milliseconds; the wait only ends early for a sibling that does not answer at all.
 */
const BUMP_WAIT_MS = 2_000;
const SCRAPE_WAIT_MS = 5_000;

function isMessage(value: unknown): value is Message {
  return (
    typeof value === 'object' &&
    value !== null &&
    String((value as { type?: unknown }).type).startsWith('hotpath:')
  );
}

/** A worker's line to its siblings; undefined outside `serve --workers N` (N > 1). */
export interface Siblings {
  /** Tells every other worker a scope's new generation; resolves once they all hold it (or 250 ms). */
  publish(scope: string, generation: number): Promise<void>;
  /** What to do with a sibling's generation. */
  onBump(handler: (scope: string, generation: number) => void): void;
  /** The metrics of every worker, summed by the primary. */
  scrape(): Promise<string>;
  /** Resolves once the primary says the database is ready for this worker to serve. */
  cleared(): Promise<void>;
  /** Tells the primary this worker is serving. */
  ready(): void;
}

let siblings: Siblings | undefined;

export function clusterSiblings(): Siblings | undefined {
  if (!cluster.isWorker) return undefined;
  if (siblings) return siblings;
  // Answers the primary's scrapes with this worker's registry (prom-client's own protocol).
  new client.AggregatorRegistry();
  client.AggregatorRegistry.setRegistries([metricsRegistry]);
  let next = 0;
  const pending = new Map<number, (message: Message) => void>();
  let onBump: (scope: string, generation: number) => void = () => {};
  let go: () => void = () => {};
  const goSaid = new Promise<void>((resolve) => {
    go = resolve;
  });
  const send = (message: Message) => process.send?.(message);
  process.on('message', (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === 'hotpath:bump') {
      onBump(message.scope, message.generation);
      send({ type: 'hotpath:bump-ack', id: message.id });
    } else if (message.type === 'hotpath:go') {
      go();
    } else if (message.type === 'hotpath:bump-done' || message.type === 'hotpath:metrics') {
      pending.get(message.id)?.(message);
    }
  });
  const ask = (message: Message & { id: number }, waitMs: number) =>
    new Promise<Message | undefined>((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(message.id);
        resolve(undefined);
      }, waitMs);
      timer.unref();
      pending.set(message.id, (answer) => {
        clearTimeout(timer);
        pending.delete(message.id);
        resolve(answer);
      });
      send(message);
    });
  siblings = {
    async publish(scope, generation) {
      next += 1;
      await ask({ type: 'hotpath:bump', id: next, scope, generation }, BUMP_WAIT_MS);
    },
    onBump(handler) {
      onBump = handler;
    },
    async scrape() {
      next += 1;
      const answer = await ask({ type: 'hotpath:metrics-request', id: next }, SCRAPE_WAIT_MS);
      if (answer?.type !== 'hotpath:metrics' || answer.error) {
        throw new Error(
          `the primary could not gather the workers' metrics${answer?.type === 'hotpath:metrics' ? `: ${answer.error}` : ''}`,
        );
      }
      return answer.text;
    },
    cleared() {
      send({ type: 'hotpath:built' });
      return goSaid;
    },
    ready() {
      send({ type: 'hotpath:ready' });
    },
  };
  return siblings;
}

/**
 * The primary's side: relays a worker's generation to the others and says when all have it, answers
 * a worker's scrape with every worker's metrics summed (counters, histograms, pool gauges), and lets
 * workers serve once `open()` says the database is ready (a worker started again later at once).
 */
export function relayBetweenWorkers(): { open(): void } {
  const aggregator = new client.AggregatorRegistry();
  let opened = false;
  const waiting = new Set<Worker>();
  let next = 0;
  const bumps = new Map<number, { from: Worker; id: number; waiting: Set<number> }>();
  const settle = (key: number) => {
    const bump = bumps.get(key);
    if (!bump || bump.waiting.size > 0) return;
    bumps.delete(key);
    if (bump.from.isConnected()) bump.from.send({ type: 'hotpath:bump-done', id: bump.id } satisfies Message);
  };
  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === 'hotpath:built') {
      if (opened) worker.send({ type: 'hotpath:go' } satisfies Message);
      else waiting.add(worker);
    } else if (message.type === 'hotpath:bump') {
      next += 1;
      const key = next;
      const others = Object.values(cluster.workers ?? {}).filter(
        (other): other is Worker => other !== undefined && other !== worker && other.isConnected(),
      );
      bumps.set(key, { from: worker, id: message.id, waiting: new Set(others.map((other) => other.id)) });
      for (const other of others) other.send({ ...message, id: key } satisfies Message);
      settle(key);
    } else if (message.type === 'hotpath:bump-ack') {
      bumps.get(message.id)?.waiting.delete(worker.id);
      settle(message.id);
    } else if (message.type === 'hotpath:metrics-request') {
      aggregator.clusterMetrics().then(
        (text) => worker.send({ type: 'hotpath:metrics', id: message.id, text } satisfies Message),
        (error: Error) =>
          worker.send({
            type: 'hotpath:metrics',
            id: message.id,
            text: '',
            error: error.message,
          } satisfies Message),
      );
    }
  });
  // A worker that exits owes no acknowledgement.
  cluster.on('exit', (worker) => {
    waiting.delete(worker);
    for (const [key, bump] of bumps) {
      bump.waiting.delete(worker.id);
      settle(key);
    }
  });
  return {
    open() {
      opened = true;
      for (const worker of waiting)
        if (worker.isConnected()) worker.send({ type: 'hotpath:go' } satisfies Message);
      waiting.clear();
    },
  };
}

/** Resolves when the worker says it is serving; rejects if it exits first. */
export function workerReady(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown) => {
      if (isMessage(message) && message.type === 'hotpath:ready') {
        worker.off('exit', onExit);
        worker.off('message', onMessage);
        resolve();
      }
    };
    const onExit = (code: number | null, signal: string | null) =>
      reject(new Error(`worker ${worker.id} exited before serving (${signal ?? `exit code ${code}`})`));
    worker.on('message', onMessage);
    worker.once('exit', onExit);
  });
}
