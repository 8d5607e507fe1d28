import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { textPdf } from '../../src/platform/pdf.ts';
import { HOTPATH_BIN, startServeProcess } from '../../testkit/serve-process.ts';
import {
  adminQuery,
  type BenchPostgres,
  type DatasetOptions,
  openBenchDatabase,
  type ReusableDataset,
  reusableDataset,
} from '../support/postgres.ts';
import { onCleanup } from '../support/processes.ts';
import { BENCH_POOL_MAX } from '../support/servers.ts';

/** The facility the dropped reports go to, and the patient they name (found by birth date and name). */
export const FOLDER_DROP_FACILITY = 'FAC-DROP';
const PATIENT = { ipp: 'IPP-DROP-1', birthLastName: 'MARTIN', firstName: 'Louise', birthDate: '1958-07-04' };

export interface FolderDropDataset {
  facilityId: string;
  patients: number;
}

/**
 * A database of its own for the folder drop (migrated, one facility and the patient the reports name),
 * reused between runs like the other suites' data sets; `measureFolderDrop` removes what it ingests.
 */
export function prepareFolderDrop(
  postgres: BenchPostgres,
  options: DatasetOptions,
): Promise<ReusableDataset<FolderDropDataset>> {
  return reusableDataset<FolderDropDataset>(
    postgres,
    'folder_drop',
    { facility: FOLDER_DROP_FACILITY, patient: PATIENT },
    async (url) => {
      const database = await openBenchDatabase(url, { migrate: true });
      await database.close();
      await adminQuery(url, 'INSERT INTO facilities (facility_id, name) VALUES ($1, $2)', [
        FOLDER_DROP_FACILITY,
        'Folder drop hospital',
      ]);
      await adminQuery(
        url,
        `INSERT INTO patients (facility_id, ipp, identity_status, birth_last_name, birth_first_names, first_name,
                               birth_date, sex)
         VALUES ($1, $2, 'provisional', $3, $4, $4, $5, 'F')`,
        [FOLDER_DROP_FACILITY, PATIENT.ipp, PATIENT.birthLastName, PATIENT.firstName, PATIENT.birthDate],
      );
      return { facilityId: FOLDER_DROP_FACILITY, patients: 1 };
    },
    options,
  );
}

export interface FolderDropInput {
  /**
   * The database `hotpath ingest watch` runs on (it applies pending migrations), holding the facility:
   * `prepareFolderDrop`'s, or any other (the ingestion suite's).
   */
  databaseUrl: string;
  facilityId: string;
  /** PDFs dropped, each with a text layer and content of its own (none is a duplicate of another). */
  files: number;
  /** `--stability-ms`: how long a file must stay unchanged before it is read. Default 200 (the CLI's, 2000). */
  stabilityMs?: number;
  /** `--concurrency`: files ingested at once. Default 1, the CLI's. */
  concurrency?: number;
  log?: (line: string) => void;
  /** Keep the requests the files made; by default they are removed afterwards, so the data set stays as it was. */
  keep?: boolean;
}

export interface FolderDropResult {
  /** Files in `.done/` at the end (`files` unless some failed). */
  files: number;
  /** Files that went to `.failed/` (none expected). */
  failed: number;
  /** From the first file dropped to the last one in `.done/` (or `.failed/`). */
  seconds: number;
  filesPerSecond: number;
  /** The mean size of a dropped file. */
  fileBytes: number;
  stabilityMs: number;
  concurrency: number;
  /** What was measured, in a line (for the report's row). */
  description: string;
}

/**
 * Folder drop: `hotpath ingest watch` (the compiled CLI, in its own process, objects in a scratch file
 * store) on a scratch directory; N text-layer PDFs are dropped into it as scanning software does (written
 * as `*.part`, then renamed), and the clock runs from the first drop until every file is in `.done/`.
 * The wait for a file to stay unchanged overlaps the ingestion of the files before it, so over many files
 * it costs about one stability threshold in all; the figure is files per second through the inbox
 * (read, rules for French reports, matching, two statements, two object writes) and the moves.
 */
export async function measureFolderDrop(input: FolderDropInput): Promise<FolderDropResult> {
  const log = input.log ?? (() => {});
  const stabilityMs = input.stabilityMs ?? 200;
  const concurrency = input.concurrency ?? 1;
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'hotpath-bench-folder-'));
  const removeScratch = onCleanup('folder drop scratch', async () =>
    rmSync(scratch, { recursive: true, force: true }),
  );
  const directory = path.join(scratch, 'drop');
  const done = path.join(directory, '.done');
  const failedDirectory = path.join(directory, '.failed');
  const run = randomBytes(4).toString('hex');
  try {
    const pdfs = Array.from({ length: input.files }, (_, index) => reportPdf(run, index));
    const fileBytes = pdfs.reduce((sum, pdf) => sum + pdf.length, 0) / Math.max(pdfs.length, 1);
    await mkdir(directory);
    const watcher = await startServeProcess(
      {
        ...process.env,
        DATABASE_URL: input.databaseUrl,
        STORAGE_URL: pathToFileURL(path.join(scratch, 'objects')).href,
        LOG_LEVEL: 'error',
        DB_POOL_MAX: String(BENCH_POOL_MAX),
        HOTPATH_INTEGRATION_WORKER: 'false',
        REDIS_URL: '',
      },
      [
        HOTPATH_BIN,
        'ingest',
        'watch',
        directory,
        '--facility',
        input.facilityId,
        '--source',
        'paper',
        '--stability-ms',
        String(stabilityMs),
        '--concurrency',
        String(concurrency),
      ],
      'watching ',
    );
    const stopWatcher = onCleanup('hotpath ingest watch', () => watcher.stop());
    try {
      log(
        `  folder drop: ${input.files} PDFs of ${Math.round(fileBytes / 1024)} KB, stability ${stabilityMs} ms, concurrency ${concurrency}`,
      );
      const started = performance.now();
      for (const [index, pdf] of pdfs.entries()) {
        const name = `scan-${String(index + 1).padStart(6, '0')}.pdf`;
        await writeFile(path.join(directory, `${name}.part`), pdf);
        await rename(path.join(directory, `${name}.part`), path.join(directory, name));
      }
      const counts = await allDecided(done, failedDirectory, input.files, () => watcher.output());
      const seconds = (performance.now() - started) / 1000;
      if (counts.failed > 0) {
        log(`  folder drop: ${counts.failed} files failed: ${failedReasons(watcher.output())}`);
      }
      return {
        files: counts.done,
        failed: counts.failed,
        seconds,
        filesPerSecond: counts.done / seconds,
        fileBytes,
        stabilityMs,
        concurrency,
        description: `${input.files} text-layer PDFs of ${(fileBytes / 1024).toFixed(1)} KB dropped into a folder watched by hotpath ingest watch (stability ${stabilityMs} ms, concurrency ${concurrency}), until all are in .done/${counts.failed > 0 ? ` (${counts.failed} in .failed/)` : ''}`,
      };
    } finally {
      await stopWatcher();
      if (!input.keep) await removeIngested(input.databaseUrl, `folder ${directory}`);
    }
  } finally {
    await removeScratch();
  }
}

/** Waits until every file is in `.done/` or `.failed/`; gives up after two minutes without progress. */
async function allDecided(
  done: string,
  failed: string,
  files: number,
  output: () => string,
): Promise<{ done: number; failed: number }> {
  const count = () => ({
    done: entries(done).length,
    failed: entries(failed).filter((name) => !name.endsWith('.reason.txt')).length,
  });
  let last = -1;
  let progressedAt = performance.now();
  for (;;) {
    const counts = count();
    if (counts.done + counts.failed >= files) return counts;
    if (counts.done + counts.failed !== last) {
      last = counts.done + counts.failed;
      progressedAt = performance.now();
    } else if (performance.now() - progressedAt > 120_000) {
      throw new Error(
        `hotpath ingest watch decided ${last} of ${files} files and then nothing for 2 minutes:\n${output().slice(-4000)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function entries(directory: string): string[] {
  try {
    return readdirSync(directory);
  } catch {
    return [];
  }
}

function failedReasons(output: string): string {
  return output
    .split('\n')
    .filter((line) => line.includes(': failed: '))
    .slice(0, 3)
    .join('; ');
}

/** A laboratory report as a scanner's text layer gives it: the same layout, a sample number of its own. */
function reportPdf(run: string, index: number): Buffer {
  return textPdf([
    [
      'Laboratoire de biologie médicale des Tilleuls',
      "COMPTE RENDU D'EXAMENS BIOLOGIQUES",
      'Nom de naissance : MARTIN',
      'Prénom(s) : Louise',
      'Née le : 04/07/1958',
      'Sexe : F',
      `N° de dossier : ${run}-${index + 1}`,
      'Prélevé le 19/11/2026',
      'Hémoglobine 13,2 g/dL',
      `Plaquettes ${150 + (index % 250)} G/L`,
      'Compte rendu validé par le Dr Bernard',
    ],
  ]);
}

/** What this run's files added, removed so that the data set (and the next run) starts as it was. */
async function removeIngested(url: string, sender: string): Promise<void> {
  const messages = `SELECT message_id FROM inbound_messages WHERE listener = 'folder' AND sender = $1`;
  const requests = `SELECT request_id FROM integration_requests WHERE message_id IN (${messages})`;
  for (const table of ['verifications', 'extracted_metadata', 'attachments']) {
    await adminQuery(url, `DELETE FROM ${table} WHERE request_id IN (${requests})`, [sender]);
  }
  await adminQuery(url, `DELETE FROM integration_requests WHERE message_id IN (${messages})`, [sender]);
  await adminQuery(url, `DELETE FROM inbound_messages WHERE listener = 'folder' AND sender = $1`, [sender]);
}
