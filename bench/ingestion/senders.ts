import { performance } from 'node:perf_hooks';
import { acknowledgmentOf, MllpClient } from '../../src/modules/worklist/ingestion/mllp-client.ts';
import type { SamplePatient } from '../../src/modules/worklist/operations/sample-messages.ts';
import {
  fill,
  ID_LENGTH,
  type MessageKind,
  type MessageTemplate,
  messageTemplate,
  PDF_BYTES,
  paddedPdf,
} from './messages.ts';

/**
 * The ingestion benchmark's load generator, in a process of its own (forked by the suite, driven over
 * IPC), so its event loop is not shared with the benchmark's progress bars and metric scrapes: N
 * senders, each one MLLP connection sending a message and waiting for its ACK before the next, as
 * interface engines do. Every message is a copy of a prebuilt one with a fresh id, so none is a
 * duplicate.
 */

export type SendersCommand =
  | { type: 'prepare'; facilityId: string; patients: SamplePatient[]; procedureDate: string }
  | {
      type: 'run';
      id: number;
      kind: MessageKind;
      host: string;
      port: number;
      senders: number;
      seconds: number;
    };

export interface SendersResult {
  /** Messages acknowledged (whatever the code). */
  messages: number;
  /** From the first message sent to the last ACK received. */
  seconds: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  /** ACKs by MSA-1, for the message they answered; an ACK naming another MSA-2 is counted apart. */
  acks: Record<string, number>;
  /** Messages that got no ACK: a timeout, or the connection closed. */
  errors: number;
  errorSamples: string[];
  messageBytes: number;
  ackBytes: number;
}

export type SendersReply =
  | { type: 'prepared'; messageBytes: Record<MessageKind, number>; templates: number }
  | { type: 'result'; id: number; result: SendersResult }
  | { type: 'failed'; id: number; error: string };

const templates: Record<MessageKind, MessageTemplate[]> = { oru: [], mdm: [] };
const runTag = Date.now().toString(36).toUpperCase().slice(-6).padStart(6, '0');
let sequence = 0;
/** Unique within this process, and across runs by the tag: [0-9A-Z]{16}. */
const nextId = () =>
  `${runTag}${(sequence++)
    .toString(36)
    .toUpperCase()
    .padStart(ID_LENGTH - 6, '0')}`;

function prepare(command: Extract<SendersCommand, { type: 'prepare' }>): SendersReply {
  const pdfs: Record<MessageKind, Buffer> = {
    oru: paddedPdf(PDF_BYTES.oru, "Compte rendu d'examens biologiques", 1),
    mdm: paddedPdf(PDF_BYTES.mdm, "Compte rendu d'imagerie medicale", 2),
  };
  const messageBytes = { oru: 0, mdm: 0 };
  for (const kind of ['oru', 'mdm'] as const) {
    templates[kind] = command.patients.map((patient) =>
      messageTemplate(kind, {
        facilityId: command.facilityId,
        patient,
        pdf: pdfs[kind],
        procedureDate: command.procedureDate,
      }),
    );
    messageBytes[kind] =
      templates[kind].reduce((sum, template) => sum + template.bytes.length, 0) / templates[kind].length;
  }
  return { type: 'prepared', messageBytes, templates: command.patients.length };
}

async function run(command: Extract<SendersCommand, { type: 'run' }>): Promise<SendersResult> {
  const pool = templates[command.kind];
  if (pool.length === 0) throw new Error('no messages prepared');
  let next = 0;
  const message = () => {
    const id = nextId();
    return { id, bytes: fill(pool[next++ % pool.length] as MessageTemplate, id) };
  };
  const connect = () => MllpClient.connect(command.host, command.port);
  const clients = await Promise.all(Array.from({ length: command.senders }, connect));
  const times: number[] = [];
  const acks: Record<string, number> = {};
  const errorSamples: string[] = [];
  let errors = 0;
  let messageBytes = 0;
  let ackBytes = 0;
  const started = performance.now();
  const deadline = started + command.seconds * 1000;
  await Promise.all(
    clients.map(async (connected) => {
      let client: MllpClient | undefined = connected;
      let current = message();
      while (performance.now() < deadline) {
        const sentAt = performance.now();
        try {
          client ??= await connect();
          const answer = client.send(current.bytes);
          // The next copy is made while this message is in the server's hands, not on the clock.
          const upcoming = message();
          const ack = await answer;
          times.push(performance.now() - sentAt);
          messageBytes += current.bytes.length;
          ackBytes += ack.length;
          const { code, controlId } = acknowledgmentOf(ack);
          const key = controlId === current.id ? code || '(no MSA-1)' : `${code || '?'} naming another MSA-2`;
          acks[key] = (acks[key] ?? 0) + 1;
          current = upcoming;
        } catch (error) {
          errors++;
          if (errorSamples.length < 5) errorSamples.push((error as Error).message);
          await client?.close().catch(() => {});
          client = undefined;
          current = message();
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      await client?.close();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN;
  return {
    messages: times.length,
    seconds,
    mean: times.length ? times.reduce((sum, time) => sum + time, 0) / times.length : Number.NaN,
    p50: at(0.5),
    p90: at(0.9),
    p95: at(0.95),
    p99: at(0.99),
    max: times[times.length - 1] ?? Number.NaN,
    acks,
    errors,
    errorSamples,
    messageBytes: times.length ? messageBytes / times.length : 0,
    ackBytes: times.length ? ackBytes / times.length : 0,
  };
}

const reply = (message: SendersReply) => process.send?.(message);
process.on('message', (command: SendersCommand) => {
  if (command.type === 'prepare') {
    reply(prepare(command));
    return;
  }
  run(command).then(
    (result) => reply({ type: 'result', id: command.id, result }),
    (error: Error) => reply({ type: 'failed', id: command.id, error: error.stack ?? error.message }),
  );
});
// The benchmark ends this process; Ctrl-C reaches the whole group and the benchmark stops it itself.
process.on('SIGINT', () => {});
process.on('disconnect', () => process.exit(0));
