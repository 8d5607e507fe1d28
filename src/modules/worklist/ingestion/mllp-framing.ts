/** MLLP, HL7 v2 over TCP: each message travels as `<VT 0x0B> payload <FS 0x1C><CR 0x0D>`. */

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;
const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** A frame's payload grew past the reader's limit: answer, then close the connection. */
export class FrameTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`an MLLP frame is over the limit of ${limit} bytes`);
    this.name = 'FrameTooLarge';
  }
}

/**
 * Reassembles frames from the chunks a socket delivers, however they are cut. Linear in the bytes: each
 * chunk is scanned once, a frame's pieces are kept as they came and joined once, when it ends.
 *
 * A frame ends at FS; the CR that should follow is, like any byte between frames, dropped: a sender that
 * leaves it out is not kept waiting, and an FS and CR split across chunks need nothing special. A VT
 * inside a frame starts it again: the sender gave up on a frame half sent and sends anew, and keeping
 * the older bytes would glue two messages together.
 *
 * Past `maxFrameBytes` of payload, `push` throws FrameTooLarge and forgets the frame; frames completed
 * earlier in the same chunk go with it (the listener closes, and the sender resends what it did not see
 * acknowledged).
 */
export class MllpFrameReader {
  private readonly maxFrameBytes: number;
  private inFrame = false;
  private pieces: Buffer[] = [];
  private size = 0;

  constructor(options: { maxFrameBytes?: number } = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Whether a frame has begun and not ended: the listener bounds how long one may take. */
  get midFrame(): boolean {
    return this.inFrame;
  }

  /** The first bytes of the frame in hand (its MSH, to address a refusal), at most `limit`. */
  head(limit = 64 * 1024): Buffer {
    return Buffer.concat(this.pieces, this.size).subarray(0, limit);
  }

  /** Takes the next chunk; returns the payloads of the frames it completes, in order. */
  push(chunk: Buffer): Buffer[] {
    const payloads: Buffer[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (!this.inFrame) {
        const start = chunk.indexOf(VT, at);
        if (start === -1) break;
        this.begin();
        at = start + 1;
        continue;
      }
      const end = chunk.indexOf(FS, at);
      const stop = end === -1 ? chunk.length : end;
      const restart = chunk.subarray(at, stop).lastIndexOf(VT);
      if (restart !== -1) {
        this.begin();
        at += restart + 1;
      }
      this.append(chunk.subarray(at, stop));
      if (end === -1) break;
      payloads.push(Buffer.concat(this.pieces, this.size));
      this.inFrame = false;
      this.pieces = [];
      at = end + 1;
    }
    return payloads;
  }

  private begin(): void {
    this.inFrame = true;
    this.pieces = [];
    this.size = 0;
  }

  private append(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.size + piece.length > this.maxFrameBytes) {
      this.inFrame = false;
      this.pieces = [];
      this.size = 0;
      throw new FrameTooLarge(this.maxFrameBytes);
    }
    this.pieces.push(piece);
    this.size += piece.length;
  }
}

/** Wraps a payload in an MLLP frame. */
export function frame(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.of(VT), payload, Buffer.of(FS, CR)]);
}
