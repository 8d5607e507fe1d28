// An MLLP client nobody here wrote, against the demo: Debian's python3-hl7 `mllp_send` sends a file of
// messages to `hotpath serve --demo`'s MLLP port and every ACK is checked: AA for the good ones, AE
// with an ERR segment for a message whose PDF was cut off, AR for a receiving facility nobody has.
// CI runs it (`node scripts/check-mllp-send.mjs`); it needs `mllp_send` on the PATH and a built dist/.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { documentId, oruMessage, mdmMessage, cdaDocument, insWithKey } = await import(
  path.join(root, 'dist/modules/worklist/operations/sample-messages.js')
);
const { onePagePdf } = await import(path.join(root, 'dist/platform/pdf.js'));
const { freePort } = await import(path.join(root, 'dist/platform/free-port.js'));

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hotpath-mllp-send-'));
const [httpPort, mllpPort] = [await freePort(), await freePort()];
const server = spawn(
  process.execPath,
  [path.join(root, 'bin/hotpath.js'), 'serve', '--demo', '--workers', '1'],
  {
    env: {
      ...process.env,
      HOTPATH_DATA_DIR: dataDir,
      PORT: String(httpPort),
      HOTPATH_MLLP_PORT: String(mllpPort),
      HOTPATH_LOG_FORMAT: 'json',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  },
);
let banner = '';
try {
  await new Promise((resolve, reject) => {
    server.stderr.on('data', (chunk) => {
      banner += chunk;
      if (banner.includes('stop with Ctrl-C')) resolve();
    });
    server.once('exit', (code) => reject(new Error(`hotpath serve --demo ended (${code}):\n${banner}`)));
  });

  const patient = {
    ins: insWithKey('1840312345678'),
    ipp: 'MLLP-SEND-1',
    birthLastName: 'MARTIN',
    givenNames: ['Noël', 'Jean'],
    birthDate: '1984-03-12',
    sex: 'M',
  };
  const document = (n) => ({
    id: documentId(`MLLP-SEND-${Date.now()}-${n}`),
    typeCode: '11502-2',
    title: "CR d'examens biologiques",
    procedureDate: '2026-11-19',
    pdf: onePagePdf('Hemogramme', 'MARTIN Noel'),
  });
  const cases = [
    {
      expect: 'AA',
      message: oruMessage({
        controlId: 'SEND-1',
        sendingFacility: 'LABO',
        receivingFacility: 'FAC-0001',
        patient,
        document: document(1),
      }),
    },
    {
      expect: 'AA',
      message: oruMessage({
        controlId: 'SEND-2',
        sendingFacility: 'LABO',
        receivingFacility: 'FAC-0002',
        patient,
        document: document(2),
        charset: '8859/1',
        placement: 'component1',
      }),
    },
    {
      expect: 'AA',
      message: (() => {
        const report = document(3);
        return mdmMessage({
          controlId: 'SEND-3',
          sendingFacility: 'RIS',
          receivingFacility: 'FAC-0001',
          patient,
          document: report,
          cda: cdaDocument({ patient, document: report, facilityId: 'FAC-0001' }),
        });
      })(),
    },
    {
      expect: 'AE',
      message: oruMessage({
        controlId: 'SEND-4',
        sendingFacility: 'LABO',
        receivingFacility: 'FAC-0001',
        patient,
        document: { ...document(4), pdf: onePagePdf('cut').subarray(0, 300) },
      }),
    },
    {
      expect: 'AR',
      message: oruMessage({
        controlId: 'SEND-5',
        sendingFacility: 'LABO',
        receivingFacility: 'NOBODY',
        patient,
        document: document(5),
      }),
    },
    // The first again: acknowledged again, stored once.
    {
      expect: 'AA',
      message: oruMessage({
        controlId: 'SEND-1',
        sendingFacility: 'LABO',
        receivingFacility: 'FAC-0001',
        patient,
        document: document(1),
      }),
    },
  ];
  const file = path.join(dataDir, 'messages.mllp');
  writeFileSync(
    file,
    Buffer.concat(cases.flatMap(({ message }) => [Buffer.from([0x0b]), message, Buffer.from([0x1c, 0x0d])])),
  );
  const { stdout } = await promisify(execFile)(
    'mllp_send',
    ['--port', String(mllpPort), '--file', file, '127.0.0.1'],
    {
      encoding: 'latin1',
      timeout: 120_000,
    },
  );
  const acks = stdout
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the MLLP frame bytes are what splits ACKs.
    .split(/[\x0b\x1c]/)
    .map((ack) => ack.trim())
    .filter((ack) => ack.startsWith('MSH'));
  const failures = [];
  if (acks.length !== cases.length)
    failures.push(`${cases.length} messages sent, ${acks.length} ACKs printed`);
  for (const [index, { expect }] of cases.entries()) {
    const segments = (acks[index] ?? '').split(/\r\n?|\n/);
    const msa = segments.find((segment) => segment.startsWith('MSA|'))?.split('|') ?? [];
    const sent = cases[index].message.toString('latin1').split('\r')[0].split('|')[9];
    const err = segments.find((segment) => segment.startsWith('ERR|'));
    const line = `message ${sent}: ${msa[1] ?? 'no ACK'} for ${msa[2] ?? '?'}${err ? `  ${err}` : ''}`;
    process.stdout.write(`${line}\n`);
    if (msa[1] !== expect || msa[2] !== sent) failures.push(`${line} (expected ${expect} for ${sent})`);
    if (expect !== 'AA' && !err) failures.push(`message ${sent}: ${expect} without an ERR segment`);
  }
  if (failures.length > 0) {
    process.stderr.write(`mllp_send check failed:\n  ${failures.join('\n  ')}\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write(`mllp_send: ${cases.length} messages, every ACK as expected\n`);
  }
} finally {
  server.kill('SIGTERM');
  await new Promise((resolve) => (server.exitCode === null ? server.once('exit', resolve) : resolve()));
  rmSync(dataDir, { recursive: true, force: true });
}
