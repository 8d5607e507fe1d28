import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FrameTooLarge,
  frame,
  MllpFrameReader,
} from '../../../src/modules/worklist/ingestion/mllp-framing.ts';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

const message = (id: string) =>
  Buffer.from(`MSH|^~\\&|LABO|LABO_X|HOTPATH|FAC-0001|20250611103000||ORU^R01^ORU_R01|${id}|P|2.5\rPID|1\r`);

/** Feeds the chunks one after the other; the payloads they complete. */
function readAll(chunks: Buffer[], reader = new MllpFrameReader()): string[] {
  return chunks.flatMap((chunk) => reader.push(chunk)).map((payload) => payload.toString('latin1'));
}

describe('frame', () => {
  it('wraps a payload in VT … FS CR', () => {
    expect([...frame(Buffer.from('AB'))]).toEqual([VT, 0x41, 0x42, FS, CR]);
  });
});

describe('MllpFrameReader', () => {
  it('reads a frame however it is cut in two, and cut byte by byte', () => {
    const framed = frame(message('M1'));
    for (let cut = 0; cut <= framed.length; cut++) {
      expect(readAll([framed.subarray(0, cut), framed.subarray(cut)])).toEqual([
        message('M1').toString('latin1'),
      ]);
    }
    expect(readAll([...framed].map((byte) => Buffer.of(byte)))).toEqual([message('M1').toString('latin1')]);
  });

  it('reads several frames in one chunk, and one spread over many', () => {
    const framed = Buffer.concat([frame(message('M1')), frame(message('M2')), frame(message('M3'))]);
    expect(readAll([framed])).toEqual(['M1', 'M2', 'M3'].map((id) => message(id).toString('latin1')));
    expect(readAll([framed.subarray(0, 5), framed.subarray(5, 150), framed.subarray(150)])).toHaveLength(3);
  });

  it('drops what comes before VT and between frames', () => {
    const chunk = Buffer.concat([
      Buffer.from('garbage\r\n'),
      frame(message('M1')),
      Buffer.from('\r\nnoise'),
      frame(message('M2')),
    ]);
    expect(readAll([chunk])).toEqual([message('M1').toString('latin1'), message('M2').toString('latin1')]);
    expect(readAll([Buffer.from('no frame at all')])).toEqual([]);
  });

  it('ends a frame at FS whether CR follows in the same chunk, the next, or never', () => {
    const reader = new MllpFrameReader();
    expect(readAll([Buffer.from([VT, 0x41, FS])], reader)).toEqual(['A']);
    expect(readAll([Buffer.from([CR, VT, 0x42, FS, VT, 0x43, FS, CR])], reader)).toEqual(['B', 'C']);
  });

  it('starts a frame again at a VT before its FS', () => {
    const chunk = Buffer.concat([Buffer.from([VT]), Buffer.from('half sent'), frame(message('M1'))]);
    expect(readAll([chunk])).toEqual([message('M1').toString('latin1')]);
    expect(readAll([Buffer.from([VT, 0x41]), Buffer.from([VT, 0x42]), Buffer.from([FS, CR])])).toEqual(['B']);
  });

  it('throws FrameTooLarge past the limit, in one chunk or over several', () => {
    expect(() => new MllpFrameReader({ maxFrameBytes: 10 }).push(frame(Buffer.alloc(11, 0x41)))).toThrow(
      FrameTooLarge,
    );
    expect(readAll([frame(Buffer.alloc(10, 0x41))], new MllpFrameReader({ maxFrameBytes: 10 }))).toHaveLength(
      1,
    );
    const reader = new MllpFrameReader({ maxFrameBytes: 100 });
    reader.push(Buffer.concat([Buffer.from([VT]), Buffer.alloc(60, 0x41)]));
    const error = (() => {
      try {
        reader.push(Buffer.alloc(60, 0x41));
      } catch (thrown) {
        return thrown;
      }
    })();
    expect(error).toBeInstanceOf(FrameTooLarge);
    expect((error as FrameTooLarge).limit).toBe(100);
  });

  it('reads a large frame in small chunks', () => {
    const payload = Buffer.alloc(8 * 1024 * 1024, 0x41);
    const framed = frame(payload);
    const chunks = Array.from({ length: Math.ceil(framed.length / 1024) }, (_, index) =>
      framed.subarray(index * 1024, (index + 1) * 1024),
    );
    const reader = new MllpFrameReader();
    const payloads = chunks.flatMap((chunk) => reader.push(chunk));
    expect(payloads).toHaveLength(1);
    expect(payloads[0]?.equals(payload)).toBe(true);
  });

  it('gives the same frames however the bytes are chunked', () => {
    const payloadArbitrary = fc
      .uint8Array({ maxLength: 200 })
      .map((bytes) => Buffer.from(bytes.filter((byte) => byte !== VT && byte !== FS)));
    fc.assert(
      fc.property(
        fc.array(payloadArbitrary, { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (payloads, cuts) => {
          const stream = Buffer.concat(payloads.map(frame));
          const offsets = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b);
          const chunks = [0, ...offsets, stream.length]
            .slice(1)
            .map((end, index, ends) => stream.subarray(index === 0 ? 0 : ends[index - 1], end));
          const reader = new MllpFrameReader();
          const read = chunks.flatMap((chunk) => reader.push(chunk));
          expect(read.map((payload) => payload.toString('hex'))).toEqual(
            payloads.map((payload) => payload.toString('hex')),
          );
        },
      ),
    );
  });
});
