import net from 'node:net';
import { frame, MllpFrameReader } from './mllp-framing.ts';

/**
 * A sender's side of MLLP, as interface engines behave: one connection, one message at a time, the
 * next sent only once the ACK of the last has come back. Used by the demo and the benchmark.
 */
export class MllpClient {
  private readonly reader = new MllpFrameReader({ maxFrameBytes: 16 * 1024 * 1024 });
  private readonly acks: Buffer[] = [];
  private waiting: { resolve: (ack: Buffer) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      for (const ack of this.reader.push(chunk)) {
        if (this.waiting) {
          const { resolve } = this.waiting;
          this.waiting = undefined;
          resolve(ack);
        } else this.acks.push(ack);
      }
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      this.waiting?.reject(error);
      this.waiting = undefined;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the MLLP connection closed before the ACK came')));
  }

  static connect(host: string, port: number): Promise<MllpClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port }, () => {
        socket.off('error', reject);
        resolve(new MllpClient(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Sends one message and waits for its acknowledgment (the ACK's bytes, unframed). */
  send(message: Buffer, timeoutMs = 30_000): Promise<Buffer> {
    const queued = this.acks.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        // A late ACK would be taken for the next message's: this connection is done.
        this.failure = new Error(`no ACK within ${timeoutMs} ms`);
        this.socket.destroy();
        reject(this.failure);
      }, timeoutMs);
      this.waiting = {
        resolve: (ack) => {
          clearTimeout(timer);
          resolve(ack);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.socket.write(frame(message));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }
}

/** MSA-1 and MSA-2 of an ACK: the code, and the control id it acknowledges. */
export function acknowledgmentOf(ack: Buffer): { code: string; controlId: string; text: string } {
  const text = ack.toString('latin1');
  const msa = text.split(/\r\n?|\n/).find((segment) => segment.startsWith('MSA'));
  const separator = text[3] ?? '|';
  const fields = msa?.split(separator) ?? [];
  const err = text
    .split(/\r\n?|\n/)
    .filter((segment) => segment.startsWith('ERR'))
    .map((segment) => segment.split(separator)[8] ?? '')
    .join('; ');
  return { code: fields[1] ?? '', controlId: fields[2] ?? '', text: err };
}
