import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ingestionDepsOf } from '../../../src/app.ts';
import type { IngestionDeps } from '../../../src/modules/worklist/ingestion/service.ts';
import { documentId, oruMessage } from '../../../src/modules/worklist/operations/sample-messages.ts';
import {
  type FolderFileResult,
  type FolderWatch,
  type FolderWatchOptions,
  watchFolder,
} from '../../../src/modules/worklist/operations/watch-folder.ts';
import { onePagePdf } from '../../../src/platform/pdf.ts';
import type { DB } from '../../../src/tables.ts';
import { createTestContext, freePort, type TestContext } from '../../support/harness.ts';
import {
  CAMILLE_DUPONT,
  CAMILLE_IN_MESSAGES,
  camilleLabReportPdf,
  createFacility,
} from '../../support/worklist.ts';

const FACILITY = 'FAC-FOLDER';
/** Conditions are waited for, never times: these bounds only stop a test that hangs. */
const WAIT = { timeout: 60_000, interval: 100 };

let counter = 0;
const reportPdf = () => camilleLabReportPdf(`folder-${++counter}-${process.pid}`);

function labMessage(): Buffer {
  const extension = `FOLDER-${++counter}`;
  return oruMessage({
    controlId: `CTRL-${extension}`,
    sendingFacility: 'LABO',
    receivingFacility: FACILITY,
    patient: CAMILLE_IN_MESSAGES,
    document: {
      id: documentId(extension),
      typeCode: '11502-2',
      title: "CR d'examens biologiques",
      procedureDate: '2026-11-19',
      pdf: onePagePdf('Hemogramme', 'Camille DUPONT'),
    },
  });
}

const sha256 = (content: Buffer) => createHash('sha256').update(content).digest('hex');

describe('hotpath ingest watch: a folder with partial writes and restarts', () => {
  let context: TestContext;
  let deps: IngestionDeps;
  const open: FolderWatch[] = [];
  const directories: string[] = [];

  beforeAll(async () => {
    context = await createTestContext();
    await createFacility(context, FACILITY, { patients: [{ ipp: 'IPP-1', ...CAMILLE_DUPONT }] });
    deps = ingestionDepsOf(context.runtime);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((watch) => watch.close()));
  });
  afterAll(async () => {
    for (const directory of directories) rmSync(directory, { recursive: true, force: true });
    await context.close();
  });

  const newDirectory = () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'hotpath-drop-'));
    directories.push(directory);
    return directory;
  };

  /** A watcher with small thresholds, recording what it saw and decided. */
  async function start(
    directory: string,
    options: Partial<FolderWatchOptions> & { deps?: IngestionDeps } = {},
  ) {
    const results: FolderFileResult[] = [];
    const waiting: string[] = [];
    const lines: string[] = [];
    const { deps: own, ...rest } = options;
    const watch = await watchFolder(own ?? deps, {
      directory,
      facilityId: FACILITY,
      source: 'paper',
      maxFileBytes: 10 * 1024 * 1024,
      stabilityThresholdMs: 200,
      pollIntervalMs: 50,
      retryMinMs: 50,
      retryMaxMs: 400,
      log: (line) => lines.push(line),
      ...rest,
      onWaiting: (file, unchangedForMs) => {
        waiting.push(file);
        rest.onWaiting?.(file, unchangedForMs);
      },
      onFile: (result) => {
        results.push(result);
        rest.onFile?.(result);
      },
    });
    open.push(watch);
    const stop = async () => {
      open.splice(open.indexOf(watch), 1);
      await watch.close();
    };
    return { watch, results, waiting, lines, stop };
  }

  /** The requests made from files of the folder, with their message and their attachment. */
  async function folderRequests() {
    const { rows } = await sql<{
      request_id: number;
      listener: string;
      sender: string;
      message_size: number;
      message_sha256: string;
      attachment_size: number;
      attachment_sha256: string;
    }>`SELECT r.request_id, m.listener, m.sender, m.size_bytes AS message_size, m.sha256 AS message_sha256,
              a.size_bytes AS attachment_size, a.sha256 AS attachment_sha256
       FROM integration_requests r
       JOIN inbound_messages m ON m.message_id = r.message_id
       JOIN attachments a ON a.request_id = r.request_id
       WHERE m.listener = 'folder'
       ORDER BY r.request_id`.execute(context.runtime.database.db);
    return rows;
  }
  const requestsOf = async (content: Buffer) =>
    (await folderRequests()).filter((row) => row.message_sha256 === sha256(content));

  const listing = (directory: string) => readdirSync(directory).sort();

  it('does not read a file while it is being written: the whole file, once', async () => {
    const directory = newDirectory();
    const pdf = reportPdf();
    const half = Math.floor(pdf.length / 2);
    const file = path.join(directory, 'report.pdf');
    // What the watcher had done with the half file when it had looked at it twice and found it unchanged.
    let beforeTheRest: { results: number; inDirectory: boolean; unchangedForMs: number } | undefined;
    const { results } = await start(directory, {
      // Far above the look interval (50 ms): the second look comes long before the file could pass for
      // complete, even on a loaded machine.
      stabilityThresholdMs: 5000,
      onWaiting: (name, unchangedForMs) => {
        if (name !== 'report.pdf' || unchangedForMs === 0 || beforeTheRest) return;
        // The watcher has seen the half file stay the same size (a pause, as a slow writer makes) and is
        // still waiting. The rest is written here, before the watcher's next look can run.
        beforeTheRest = { results: results.length, inDirectory: existsSync(file), unchangedForMs };
        appendFileSync(file, pdf.subarray(half));
      },
    });
    writeFileSync(file, pdf.subarray(0, half));
    // Waits for the look that found it unchanged, or for the watcher to have (wrongly) decided it.
    await vi.waitFor(() => expect(beforeTheRest ?? results[0]).toBeDefined(), WAIT);
    expect(results).toEqual([]);
    expect(beforeTheRest).toMatchObject({ results: 0, inDirectory: true });
    expect(beforeTheRest!.unchangedForMs).toBeLessThan(5000);

    await vi.waitFor(() => expect(existsSync(path.join(directory, '.done', 'report.pdf'))).toBe(true), WAIT);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ file: 'report.pdf', outcome: 'done', attempt: 1 });
    expect(results[0]!.outcomes.map((outcome) => outcome.outcome)).toEqual(['accepted']);
    const requests = await requestsOf(pdf);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      listener: 'folder',
      message_size: pdf.length,
      attachment_size: pdf.length,
      attachment_sha256: sha256(pdf),
    });
    expect(results[0]!.outcomes[0]!.requestIds).toEqual([requests[0]!.request_id]);
    expect(listing(directory)).toEqual(['.done', '.failed']);
    expect(listing(path.join(directory, '.failed'))).toEqual([]);
  });

  it('moves what it ingested to .done/, what it refuses to .failed/ beside the reason, and leaves partial names alone', async () => {
    const directory = newDirectory();
    // Already there when it starts, as after a restart; and names of files still being written.
    const message = labMessage();
    writeFileSync(path.join(directory, 'result.hl7'), message);
    const ignored = ['.hidden.pdf', 'scan.pdf.part', 'scan.pdf.tmp', 'report.pdf.crdownload', '~$letter.pdf'];
    for (const name of ignored) writeFileSync(path.join(directory, name), reportPdf());
    const { watch, results, waiting, lines } = await start(directory, { maxFileBytes: 64 * 1024 });
    const done = path.join(directory, '.done');
    const failed = path.join(directory, '.failed');

    writeFileSync(path.join(directory, 'notes.txt'), 'nothing a hospital sends\n');
    // Readable HL7, but a message type nobody takes: rejected, with the reason.
    writeFileSync(
      path.join(directory, 'admission.hl7'),
      labMessage().toString('latin1').replace('ORU^R01^ORU_R01', 'ADT^A01^ADT_A01'),
    );
    writeFileSync(path.join(directory, 'huge.pdf'), Buffer.concat([reportPdf(), Buffer.alloc(70 * 1024)]));

    await vi.waitFor(() => expect(results.map((result) => result.file).sort()).toHaveLength(4), WAIT);
    expect(Object.fromEntries(results.map((result) => [result.file, result.outcome]))).toEqual({
      'result.hl7': 'done',
      'notes.txt': 'failed',
      'admission.hl7': 'failed',
      'huge.pdf': 'failed',
    });
    expect(listing(done)).toEqual(['result.hl7']);
    expect(listing(failed)).toEqual([
      'admission.hl7',
      'admission.hl7.reason.txt',
      'huge.pdf',
      'huge.pdf.reason.txt',
      'notes.txt',
      'notes.txt.reason.txt',
    ]);
    const reason = (name: string) => readFileSync(path.join(failed, `${name}.reason.txt`), 'utf8');
    expect(reason('notes.txt')).toContain('neither HL7 v2, CDA (XML), FHIR (JSON), a PDF');
    expect(reason('admission.hl7')).toMatch(/rejected \(A[ER]\): MSH\S* .+/);
    expect(reason('huge.pdf')).toContain('over the upload limit of 65536 bytes');
    expect(results.find((result) => result.file === 'admission.hl7')!.outcomes[0]).toMatchObject({
      outcome: 'rejected',
    });

    // The accepted one is a request from the folder, under the facility, with the file's name.
    const requests = await requestsOf(message);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ listener: 'folder', message_size: message.length });
    expect(results.find((result) => result.file === 'result.hl7')!.outcomes[0]).toMatchObject({
      outcome: 'accepted',
      requestIds: [requests[0]!.request_id],
    });
    // A line each, saying what became of it.
    expect(lines).toContainEqual(
      `result.hl7: message CTRL-${message.toString().match(/CTRL-([\w-]+)/)![1]} accepted: request ${requests[0]!.request_id} → .done/result.hl7`,
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^admission\.hl7: failed: message CTRL-\S+ rejected \(AR\): MSH\^1\^9 .+ → \.failed\/admission\.hl7$/,
      ),
    );

    // The same name again: a unique suffix, in .failed/ as in .done/.
    writeFileSync(path.join(directory, 'notes.txt'), 'still nothing\n');
    await vi.waitFor(() => expect(existsSync(path.join(failed, 'notes-1.txt.reason.txt'))).toBe(true), WAIT);
    expect(readFileSync(path.join(failed, 'notes-1.txt'), 'utf8')).toBe('still nothing\n');
    expect(readFileSync(path.join(failed, 'notes.txt'), 'utf8')).toBe('nothing a hospital sends\n');

    // Nothing is waiting: the partial names and dot-files were never taken, and are where they were.
    await vi.waitFor(
      () => expect(watch.pending()).toEqual({ settling: 0, queued: 0, inHand: 0, retrying: 0 }),
      WAIT,
    );
    for (const name of ignored) expect(existsSync(path.join(directory, name))).toBe(true);
    expect(waiting.filter((name) => ignored.includes(name))).toEqual([]);
  });

  it('after a restart, a file received before is a duplicate: moved to .done/, no second request', async () => {
    const directory = newDirectory();
    const done = path.join(directory, '.done');
    const pdf = reportPdf();
    const message = labMessage();
    const first = await start(directory);
    writeFileSync(path.join(directory, 'scan.pdf'), pdf);
    writeFileSync(path.join(directory, 'result.hl7'), message);
    await vi.waitFor(() => expect(listing(done)).toEqual(['result.hl7', 'scan.pdf']), WAIT);
    const [pdfRequest] = await requestsOf(pdf);
    const [messageRequest] = await requestsOf(message);
    expect(pdfRequest).toBeDefined();
    expect(messageRequest).toBeDefined();
    await first.stop();

    // Dropped while it was stopped: the same bytes under other names, and once under the same name.
    writeFileSync(path.join(directory, 'scan-copy.pdf'), pdf);
    writeFileSync(path.join(directory, 'scan.pdf'), pdf);
    writeFileSync(path.join(directory, 'result-resent.hl7'), message);
    const second = await start(directory);
    await vi.waitFor(() => expect(second.results).toHaveLength(3), WAIT);
    for (const result of second.results) {
      expect(result).toMatchObject({ outcome: 'done' });
      expect(result.outcomes.map((outcome) => outcome.outcome)).toEqual(['duplicate']);
    }
    const requestIds = Object.fromEntries(
      second.results.map((result) => [result.file, result.outcomes[0]!.requestIds]),
    );
    expect(requestIds).toEqual({
      'scan-copy.pdf': [pdfRequest!.request_id],
      'scan.pdf': [pdfRequest!.request_id],
      'result-resent.hl7': [messageRequest!.request_id],
    });
    expect(listing(done)).toEqual([
      'result-resent.hl7',
      'result.hl7',
      'scan-1.pdf',
      'scan-copy.pdf',
      'scan.pdf',
    ]);
    expect(listing(directory)).toEqual(['.done', '.failed']);
    expect(await requestsOf(pdf)).toHaveLength(1);
    expect(await requestsOf(message)).toHaveLength(1);
    expect(
      second.lines.some((line) => /^scan-copy\.pdf: pdf duplicate: request \d+ → \.done\//.test(line)),
    ).toBe(true);
  });

  it('leaves a file in place while the database is down, tries again later, then ingests it once', async () => {
    const directory = newDirectory();
    // A pool on a port nothing listens on: every connection is refused, as with PostgreSQL down.
    const down = new Kysely<DB>({
      dialect: new PostgresDialect({
        pool: new pg.Pool({
          connectionString: `postgres://hotpath@127.0.0.1:${await freePort()}/test`,
          connectionTimeoutMillis: 10_000,
          max: 1,
        }),
      }),
    });
    let databaseDown = false;
    const flaky: IngestionDeps = {
      ...deps,
      get db() {
        return databaseDown ? down : deps.db;
      },
    };
    const file = path.join(directory, 'late.pdf');
    const pdf = reportPdf();
    try {
      const { results, lines } = await start(directory, {
        deps: flaky,
        onFile: (result) => {
          // Down for two attempts: the file must still be there after each.
          if (result.outcome === 'retry') {
            expect(existsSync(file)).toBe(true);
            if (result.attempt >= 2) databaseDown = false;
          }
        },
      });
      databaseDown = true;
      writeFileSync(file, pdf);
      await vi.waitFor(() => expect(existsSync(path.join(directory, '.done', 'late.pdf'))).toBe(true), WAIT);
      expect(results.map((result) => [result.outcome, result.attempt])).toEqual([
        ['retry', 1],
        ['retry', 2],
        ['done', 3],
      ]);
      expect(results[0]!.retryInMs).toBe(50);
      expect(results[1]!.retryInMs).toBe(100);
      expect(results[0]!.reason).toMatch(/ECONNREFUSED|connect/);
      expect(lines[0]).toMatch(/^late\.pdf: not ingested now \(.+\); left in place, tried again in 50 ms$/);
      expect(results[2]!.outcomes.map((outcome) => outcome.outcome)).toEqual(['accepted']);
      expect(await requestsOf(pdf)).toHaveLength(1);
      expect(listing(path.join(directory, '.failed'))).toEqual([]);
    } finally {
      await down.destroy();
    }
  });

  it('on close, finishes the file in hand before it stops', async () => {
    const directory = newDirectory();
    let inHand: () => void = () => {};
    const taken = new Promise<void>((resolve) => {
      inHand = resolve;
    });
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { watch, results } = await start(directory, {
      deps: {
        ...deps,
        beforeCommit: async () => {
          inHand();
          await released;
        },
      },
    });
    const pdf = reportPdf();
    writeFileSync(path.join(directory, 'slow.pdf'), pdf);
    await taken;
    let closed = false;
    const closing = watch.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    expect(existsSync(path.join(directory, 'slow.pdf'))).toBe(true);
    release();
    await closing;
    expect(existsSync(path.join(directory, '.done', 'slow.pdf'))).toBe(true);
    expect(results.map((result) => result.outcome)).toEqual(['done']);
    expect(await requestsOf(pdf)).toHaveLength(1);
  });

  it('with polling (network shares), finds what is dropped by listing the directory', async () => {
    const directory = newDirectory();
    const { results } = await start(directory, { usePolling: true });
    const pdf = reportPdf();
    writeFileSync(path.join(directory, 'shared.pdf'), pdf);
    await vi.waitFor(() => expect(existsSync(path.join(directory, '.done', 'shared.pdf'))).toBe(true), WAIT);
    expect(results.map((result) => result.outcome)).toEqual(['done']);
    expect(await requestsOf(pdf)).toHaveLength(1);
  });

  it('refuses to start on a directory that does not exist or a facility nobody has', async () => {
    const directory = newDirectory();
    await expect(start(path.join(directory, 'missing'))).rejects.toThrow(/no such directory/);
    await expect(start(directory, { facilityId: 'FAC-NOBODY' })).rejects.toThrow(
      'facility FAC-NOBODY does not exist',
    );
  });
});
