import net from 'node:net';
import { buildAck, readHeaderLeniently } from './hl7.ts';
import { countFailedMessage, receive } from './inbox.ts';
import { FrameTooLarge, frame, MllpFrameReader } from './mllp-framing.ts';
import type { IngestionDeps } from './service.ts';

export interface MllpListenerOptions {
  port: number;
  host: string;
  /** The largest message accepted, in bytes: the upload limit. */
  maxMessageBytes: number;
  /** A connection with nothing to say for this long is closed. */
  idleTimeoutMs: number;
  /** Connections at once; more are refused (a sender retries), so a flood cannot exhaust memory. */
  maxConnections?: number;
  /** A frame begun must end within this long, however slowly its bytes trickle in. */
  frameDeadlineMs?: number;
  log: { info(message: string): void; warn(message: string): void };
}

export interface MllpListener {
  port: number;
  /** Stops taking connections, lets each finish the message in hand, then closes them. */
  close(): Promise<void>;
}

/**
 * HL7 v2 over MLLP, in original acknowledgment mode: on each connection, messages are taken one at a
 * time, in order, and each is acknowledged only once what it carries is committed. A message that
 * cannot be accepted gets AE or AR with its reasons. A failure of ours (the database or the object
 * store down) gets no ACK and the connection is closed: the sender keeps the message and sends it
 * again, and the resend is stored once.
 */
export async function startMllpListener(
  deps: IngestionDeps,
  options: MllpListenerOptions,
): Promise<MllpListener> {
  const connections = new Set<Connection>();
  const server = net.createServer((socket) => {
    const connection = new Connection(socket, deps, options);
    connections.add(connection);
    socket.once('close', () => connections.delete(connection));
  });
  server.maxConnections = options.maxConnections ?? 256;
  server.on('error', (error) => options.log.warn(`MLLP listener: ${error.message}`));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...connections].map((connection) => connection.finish()));
      await closed;
    },
  };
}

class Connection {
  private readonly reader: MllpFrameReader;
  private readonly pending: Buffer[] = [];
  private working: Promise<void> | undefined;
  private finishing = false;
  /** Set once an over-long frame was refused: nothing more is read on this connection. */
  private refused = false;
  private frameTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: net.Socket,
    private readonly deps: IngestionDeps,
    private readonly options: MllpListenerOptions,
  ) {
    this.reader = new MllpFrameReader({ maxFrameBytes: options.maxMessageBytes });
    socket.setNoDelay(true);
    socket.setTimeout(options.idleTimeoutMs, () => socket.destroy());
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => this.take(chunk));
  }

  private take(chunk: Buffer): void {
    if (this.refused) return;
    if (!this.reader.midFrame) this.frameHead = chunk.subarray(0, 64 * 1024);
    try {
      this.pending.push(...this.reader.push(chunk));
    } catch (error) {
      if (!(error instanceof FrameTooLarge)) throw error;
      // Whatever else is in flight is answered first; then the over-long message is refused.

      this.pending.push(Buffer.alloc(0));
      this.refused = true;
    }
    this.watchFrame();
    if (this.pending.length > 0) this.work();
  }

  /** The start of the frame in hand, to address the AR of an over-long one to its MSH-10. */
  private frameHead: Buffer | undefined;

  /** A frame begun must end before its deadline: a sender trickling bytes cannot hold memory forever. */
  private watchFrame(): void {
    if (!this.reader.midFrame) {
      clearTimeout(this.frameTimer);
      this.frameTimer = undefined;
      return;
    }
    this.frameTimer ??= setTimeout(() => {
      this.options.log.warn(
        `MLLP: a message from ${this.socket.remoteAddress} did not end in time; connection closed`,
      );
      this.socket.destroy();
    }, this.options.frameDeadlineMs ?? 120_000);
    this.frameTimer.unref();
  }

  private work(): void {
    if (this.working) return;
    // One message at a time: a sender that does not wait for its ACKs is read as fast as we store.
    this.socket.pause();
    this.working = (async () => {
      while (this.pending.length > 0 && !this.socket.destroyed) {
        const payload = this.pending.shift() as Buffer;
        if (payload.length === 0 && this.refused) {
          this.refuseTooLarge();
          return;
        }
        await this.answer(payload);
      }
    })().finally(() => {
      this.working = undefined;
      if (this.finishing) this.socket.end();
      else if (!this.socket.destroyed && !this.refused) this.socket.resume();
    });
  }

  private async answer(payload: Buffer): Promise<void> {
    try {
      const outcomes = await receive(
        this.deps,
        {
          listener: 'mllp',
          facilityId: undefined,
          sender: this.socket.remoteAddress ?? 'mllp',
          source: undefined,
        },
        'hl7v2',
        payload,
      );
      for (const outcome of outcomes) {
        if (outcome.ack) this.socket.write(frame(outcome.ack));
        if (outcome.acknowledgment !== 'AA') {
          const text = outcome.problems.map((problem) => `${problem.location} ${problem.text}`).join('; ');
          this.options.log.warn(
            `MLLP: ${outcome.acknowledgment} for message ${outcome.controlId ?? '?'}: ${text}`,
          );
        }
      }
    } catch (error) {
      countFailedMessage('mllp', 'hl7v2');
      const header = readHeaderLeniently(payload);
      this.options.log.warn(
        loggable(
          `MLLP: message ${header.controlId || '?'} not acknowledged, the sender will send it again: ${(error as Error).message}`,
        ),
      );
      this.socket.destroy();
    }
  }

  private refuseTooLarge(): void {
    const ack = buildAck(
      readHeaderLeniently(this.frameHead ?? Buffer.alloc(0)),
      {
        code: 'AR',
        problems: [
          {
            location: 'MSH',
            code: 207,
            text: `the message is over the limit of ${this.options.maxMessageBytes} bytes`,
          },
        ],
      },
      { controlId: `HPTOOLARGE${Date.now().toString(36)}`.slice(0, 20) },
    );
    // Whatever follows on this connection is not read: the sender resends it, acknowledged or not.
    this.socket.end(frame(ack));
    this.socket.destroySoon();
  }

  /** Lets the message in hand finish and be acknowledged, then ends the connection. */
  async finish(): Promise<void> {
    this.finishing = true;
    clearTimeout(this.frameTimer);
    this.pending.length = 0;
    if (this.working) await this.working;
    else this.socket.end();
    await new Promise<void>((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, 5_000).unref();
    });
  }
}

/** What senders wrote, made one log line: control characters shown escaped, never as new lines. */
function loggable(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped.
    /[\u0000-\u001f\u007f]/g,
    (character) => `\\x${character.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}
