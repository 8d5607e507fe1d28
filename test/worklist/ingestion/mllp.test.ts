import net from 'node:net';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestionDepsOf } from '../../../src/app.ts';
import { acknowledgmentOf, MllpClient } from '../../../src/modules/worklist/ingestion/mllp-client.ts';
import { frame } from '../../../src/modules/worklist/ingestion/mllp-framing.ts';
import {
  type MllpListener,
  startMllpListener,
} from '../../../src/modules/worklist/ingestion/mllp-listener.ts';
import { addReceivingIdentifiers } from '../../../src/modules/worklist/operations/ingest-files.ts';
import {
  documentId,
  oruMessage,
  type SampleDocument,
} from '../../../src/modules/worklist/operations/sample-messages.ts';
import { onePagePdf } from '../../../src/platform/pdf.ts';
import { createTestContext, type TestContext } from '../../support/harness.ts';
import { CAMILLE_DUPONT, CAMILLE_IN_MESSAGES, createFacility } from '../../support/worklist.ts';

const FACILITY = 'FAC-MLLP';
const camille = CAMILLE_IN_MESSAGES;
let counter = 0;
const report = (): SampleDocument => ({
  id: documentId(`MLLP-${++counter}`),
  typeCode: '11502-2',
  title: "CR d'examens biologiques",
  procedureDate: '2026-11-19',
  pdf: onePagePdf('Ionogramme', 'Camille DUPONT'),
});
const oru = (controlId: string, receivingFacility = FACILITY, sendingFacility = 'LABO') =>
  oruMessage({ controlId, sendingFacility, receivingFacility, patient: camille, document: report() });

describe('the MLLP listener', () => {
  let context: TestContext;
  let listener: MllpListener;
  /** Set by a test to fail the next commit, as a crash between receipt and commit would. */
  let crashNextCommit = false;
  const warnings: string[] = [];

  beforeAll(async () => {
    context = await createTestContext();
    await createFacility(context, FACILITY, { patients: [{ ipp: 'IPP-1', ...CAMILLE_DUPONT }] });
    listener = await startMllpListener(
      {
        ...ingestionDepsOf(context.runtime),
        beforeCommit: () => {
          if (!crashNextCommit) return;
          crashNextCommit = false;
          throw new Error('the process died before the commit');
        },
      },
      {
        port: 0,
        host: '127.0.0.1',
        maxMessageBytes: 2 * 1024 * 1024,
        idleTimeoutMs: 60_000,
        log: { info: () => {}, warn: (message) => warnings.push(message) },
      },
    );
  });
  afterAll(async () => {
    await listener.close();
    await context.close();
  });

  const connect = () => MllpClient.connect('127.0.0.1', listener.port);
  const storedFor = async (controlId: string) => {
    const { rows } = await sql<{ messages: number; requests: number }>`
      SELECT count(DISTINCT m.message_id)::int AS messages, count(r.request_id)::int AS requests
      FROM inbound_messages m LEFT JOIN integration_requests r ON r.message_id = m.message_id
      WHERE m.control_id = ${controlId}`.execute(context.runtime.database.db);
    return rows[0];
  };

  it('acknowledges each of several messages on one connection, in order, AA with MSA-2 = MSH-10', async () => {
    const client = await connect();
    try {
      for (const controlId of ['SEQ-1', 'SEQ-2', 'SEQ-3']) {
        const ack = await client.send(oru(controlId));
        expect(acknowledgmentOf(ack)).toMatchObject({ code: 'AA', controlId });
        // The ACK speaks the message's character set (MSH-18).
        expect(ack.toString('latin1')).toContain('|UNICODE UTF-8');
        expect(await storedFor(controlId)).toEqual({ messages: 1, requests: 1 });
      }
    } finally {
      await client.close();
    }
  });

  it('refuses a receiving facility nobody has (AR), and routes one added as a receiving identifier', async () => {
    const client = await connect();
    try {
      const unknown = acknowledgmentOf(await client.send(oru('ROUTE-1', 'LAB-DESTINATION')));
      expect(unknown).toMatchObject({ code: 'AR', controlId: 'ROUTE-1' });
      expect(unknown.text).toMatch(/LAB-DESTINATION/);
      await addReceivingIdentifiers(context.runtime.database.db, FACILITY, ['LAB-DESTINATION']);
      expect(acknowledgmentOf(await client.send(oru('ROUTE-2', 'LAB-DESTINATION')))).toMatchObject({
        code: 'AA',
      });
      expect(await storedFor('ROUTE-2')).toEqual({ messages: 1, requests: 1 });
    } finally {
      await client.close();
    }
  });

  it('sends no ACK when it fails before the commit; the resend is stored once', async () => {
    const message = oru('CRASH-1');
    crashNextCommit = true;
    const first = await connect();
    await expect(first.send(message)).rejects.toThrow(/closed before the ACK/);
    expect(await storedFor('CRASH-1')).toEqual({ messages: 0, requests: 0 });
    const second = await connect();
    try {
      expect(acknowledgmentOf(await second.send(message))).toMatchObject({
        code: 'AA',
        controlId: 'CRASH-1',
      });
      // The sender never saw the first ACK either time it was lost: resending again stores nothing new.
      expect(acknowledgmentOf(await second.send(message))).toMatchObject({
        code: 'AA',
        controlId: 'CRASH-1',
      });
    } finally {
      await second.close();
    }
    expect(await storedFor('CRASH-1')).toEqual({ messages: 1, requests: 1 });
  });

  it('stores a message sent on two connections at once only once', async () => {
    const message = oru('RACE-1');
    const clients = await Promise.all([connect(), connect(), connect()]);
    try {
      const acks = await Promise.all(clients.map((client) => client.send(message)));
      for (const ack of acks)
        expect(acknowledgmentOf(ack)).toMatchObject({ code: 'AA', controlId: 'RACE-1' });
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
    expect(await storedFor('RACE-1')).toEqual({ messages: 1, requests: 1 });
  });

  it('answers every frame of random bytes or cut messages with an ACK, and keeps serving', async () => {
    const whole = oru('FUZZ-BASE');
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
          fc.integer({ min: 1, max: whole.length - 1 }).map((cut) => whole.subarray(0, cut)),
          fc.string({ maxLength: 200 }).map((text) => Buffer.from(`MSH|^~\\&|${text}`)),
        ),
        async (payload) => {
          // Bytes that would end or restart the frame are not the payload's: MLLP cannot carry them.
          const clean = Buffer.from(payload.filter((byte) => byte !== 0x0b && byte !== 0x1c));
          const client = await connect();
          try {
            const ack = acknowledgmentOf(await client.send(clean));
            expect(['AA', 'AE', 'AR']).toContain(ack.code);
          } finally {
            await client.close();
          }
        },
      ),
      { numRuns: 60 },
    );
    const client = await connect();
    try {
      expect(acknowledgmentOf(await client.send(oru('AFTER-FUZZ')))).toMatchObject({ code: 'AA' });
    } finally {
      await client.close();
    }
  });

  it('survives 1,000 connections opened and dropped, some mid-frame', async () => {
    const half = frame(oru('DROPPED')).subarray(0, 50);
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from(
          { length: 100 },
          (_, n) =>
            new Promise<void>((resolve) => {
              const socket = net.connect({ host: '127.0.0.1', port: listener.port }, () => {
                if (n % 2 === 0) socket.write(half);
                socket.destroy();
              });
              socket.on('close', () => resolve());
              socket.on('error', () => resolve());
            }),
        ),
      );
    }
    const client = await connect();
    try {
      expect(acknowledgmentOf(await client.send(oru('AFTER-DROPS')))).toMatchObject({ code: 'AA' });
    } finally {
      await client.close();
    }
    expect(await storedFor('DROPPED')).toEqual({ messages: 0, requests: 0 });
  });

  it('refuses a message over the size limit with AR and closes the connection', async () => {
    const huge = oruMessage({
      controlId: 'HUGE-1',
      sendingFacility: 'LABO',
      receivingFacility: FACILITY,
      patient: camille,
      document: { ...report(), pdf: Buffer.concat([onePagePdf('x'), Buffer.alloc(3 * 1024 * 1024, 32)]) },
    });
    // A sender pipelining another message behind the refused one: that one is not read either.
    const socket = net.connect({ host: '127.0.0.1', port: listener.port });
    const answers: Buffer[] = [];
    socket.on('data', (chunk) => answers.push(chunk));
    // The listener stops reading after its refusal: the rest of the write may meet a closed socket.
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
    socket.write(Buffer.concat([frame(huge), frame(oru('BEHIND-HUGE'))]));
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const ack = acknowledgmentOf(Buffer.concat(answers).subarray(1));
    expect(ack).toMatchObject({ code: 'AR', controlId: 'HUGE-1' });
    expect(ack.text).toMatch(/limit/);
    expect(await storedFor('BEHIND-HUGE')).toEqual({ messages: 0, requests: 0 });
  });

  it("never lets a receiving identifier take another facility's own id", async () => {
    await createFacility(context, 'FAC-MLLP-2');
    const added = await addReceivingIdentifiers(context.runtime.database.db, FACILITY, ['FAC-MLLP-2']);
    expect(added).toMatchObject({
      added: 0,
      heldElsewhere: [{ identifier: 'FAC-MLLP-2', facility_id: 'FAC-MLLP-2' }],
    });
    const client = await connect();
    try {
      expect(acknowledgmentOf(await client.send(oru('OWN-ID', 'FAC-MLLP-2')))).toMatchObject({ code: 'AA' });
    } finally {
      await client.close();
    }
    const { rows } = await sql<{ facility_id: string }>`
      SELECT facility_id FROM inbound_messages WHERE control_id = 'OWN-ID'`.execute(
      context.runtime.database.db,
    );
    expect(rows).toEqual([{ facility_id: 'FAC-MLLP-2' }]);
  });
});
