import type { Stats } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { type FSWatcher, watch } from 'chokidar';
import { countFailedMessage, type MessageOutcome, receive } from '../ingestion/inbox.ts';
import type { IngestionDeps, Source } from '../ingestion/service.ts';
import { formatOfFile } from './ingest-files.ts';

/** Where a file goes once it is decided, beside the files still to come (dot-names: never watched). */
export const DONE_DIRECTORY = '.done';
export const FAILED_DIRECTORY = '.failed';

export interface FolderWatchOptions {
  /** The directory scanners, devices or a laboratory's export drop files into. */
  directory: string;
  facilityId: string;
  source: Source;
  /** A larger file is failed unread (the configuration's upload limit). */
  maxFileBytes: number;
  /**
   * How long a file's size and modification time must stay unchanged before it is read: a file still
   * being written (over a share, by a slow scanner) is left alone until then. Default 2,000 ms.
   */
  stabilityThresholdMs?: number;
  /** How often a file that is settling is looked at again. Default 100 ms. */
  pollIntervalMs?: number;
  /** Files ingested at once. Default 1. */
  concurrency?: number;
  /** The wait after a failure of ours (the database, the object store), doubled at each one. Default 1 s. */
  retryMinMs?: number;
  /** The longest such wait. Default 60 s. */
  retryMaxMs?: number;
  /** List the directory every second instead of waiting for file-system events (network shares). */
  usePolling?: boolean;
  /** Who sent it, for formats without a sender of their own (PDF, CDA…). Default `folder <directory>`. */
  sender?: string;
  /** A line per file: what became of it. */
  log: (line: string) => void;
  /** The watcher's own troubles (an error from the file system). Default: `log`. */
  warn?: (line: string) => void;
  /**
   * A file is waiting to be left unchanged for `stabilityThresholdMs`: called when it is first seen
   * (`unchangedForMs` 0), and at each look that finds it not settled yet, with how long it has not changed.
   */
  onWaiting?: (file: string, unchangedForMs: number) => void;
  /** What became of a file, each time something did (a retry too). */
  onFile?: (result: FolderFileResult) => void;
}

export interface FolderFileResult {
  /** Its name in the directory. */
  file: string;
  /**
   * `done`: every message in it accepted or already received, moved to `.done/`; `failed`: refused
   * (unreadable, too large, rejected), moved to `.failed/` beside a `.reason.txt`; `retry`: a failure of
   * ours, left where it is and tried again after `retryInMs`; `gone`: it disappeared before it was read.
   */
  outcome: 'done' | 'failed' | 'retry' | 'gone';
  outcomes: MessageOutcome[];
  /** Where it was moved, for `done` and `failed`. */
  movedTo?: string;
  /** Why it failed or is retried. */
  reason?: string;
  /** 1 for the first try. */
  attempt: number;
  /** For `retry`: when it is tried again; absent when the watcher is closing (at the next start, then). */
  retryInMs?: number;
}

export interface FolderWatch {
  directory: string;
  /** Files seen and not yet decided, by what they are waiting for. */
  pending(): { settling: number; queued: number; inHand: number; retrying: number };
  /** Stops watching, drops what waits (it stays in the directory), and finishes the files in hand. */
  close(): Promise<void>;
}

/** With `usePolling`: a share is listed (and its files looked at) once a second, not more. */
const POLLING_INTERVAL_MS = 1000;

const DEFAULTS = {
  stabilityThresholdMs: 2000,
  pollIntervalMs: 100,
  concurrency: 1,
  retryMinMs: 1000,
  retryMaxMs: 60_000,
};

/** Names that are never taken: dot-files (and `.done/`, `.failed/`), and files still being written. */
export function isIgnoredName(name: string): boolean {
  return (
    name.startsWith('.') ||
    name.startsWith('~$') ||
    /\.(part|partial|tmp|temp|crdownload|download|filepart)$/i.test(name)
  );
}

interface Tracked {
  state: 'settling' | 'queued' | 'inHand' | 'retrying';
  size: number;
  mtimeMs: number;
  /** When its size or modification time last changed (or it was first seen), on the monotonic clock. */
  since: number;
  timer: NodeJS.Timeout | undefined;
  attempts: number;
}

/** Failures of the file system worth another try rather than `.failed/`. */
const TRANSIENT_FS_ERRORS = new Set(['EMFILE', 'ENFILE', 'EBUSY', 'EAGAIN', 'EIO', 'ETIMEDOUT', 'ESTALE']);

class Refused extends Error {}

/**
 * `hotpath ingest watch DIR`: every file dropped into the directory, and every file already there, is
 * read once its size and modification time have stayed the same for the stability threshold, received
 * through the inbox as the other listeners' messages are (listener `folder`), then moved to `.done/` or,
 * with a `<name>.reason.txt` beside it, to `.failed/`. A failure of ours leaves the file where it is,
 * tried again with a growing wait. A file received again after a restart (the process stopped after the
 * commit and before the move, or the same file dropped twice) is the duplicate the inbox recognises by
 * its control id or content hash, and is moved to `.done/` with the requests it made the first time.
 *
 * chokidar finds the files; it does not judge whether they are complete, as its `awaitWriteFinish` is
 * not applied to the files found when it starts (a restart in the middle of a copy) and compares sizes
 * only. Resolves once the files already there have been seen.
 */
export async function watchFolder(deps: IngestionDeps, options: FolderWatchOptions): Promise<FolderWatch> {
  const settings = { ...DEFAULTS, ...definedOf(options) };
  const directory = path.resolve(options.directory);
  const warn = options.warn ?? options.log;
  const sender = options.sender ?? `folder ${directory}`;
  const info = await stat(directory).catch((error: NodeJS.ErrnoException) => {
    throw new Error(
      `cannot watch ${directory}: ${error.code === 'ENOENT' ? 'no such directory' : error.message}`,
    );
  });
  if (!info.isDirectory()) throw new Error(`cannot watch ${directory}: not a directory`);
  const facility = await deps.db
    .selectFrom('facilities')
    .select('facility_id')
    .where('facility_id', '=', options.facilityId)
    .executeTakeFirst();
  if (!facility) throw new Error(`facility ${options.facilityId} does not exist`);
  await mkdir(path.join(directory, DONE_DIRECTORY), { recursive: true });
  await mkdir(path.join(directory, FAILED_DIRECTORY), { recursive: true });

  const tracked = new Map<string, Tracked>();
  const queue: string[] = [];
  const inHand = new Set<Promise<void>>();
  let closed = false;
  // Moves one at a time, so that two files of the same name never pick the same free name.
  let moves: Promise<unknown> = Promise.resolve();

  const report = (result: FolderFileResult) => {
    try {
      options.log(lineOf(result));
      options.onFile?.(result);
    } catch (error) {
      warn(`${result.file}: ${(error as Error).message}`);
    }
  };

  const waiting = (name: string, unchangedForMs: number) => {
    try {
      options.onWaiting?.(name, unchangedForMs);
    } catch (error) {
      warn(`${name}: ${(error as Error).message}`);
    }
  };

  function seen(fullPath: string, stats: Stats | undefined): void {
    if (closed || path.dirname(fullPath) !== directory) return;
    const name = path.basename(fullPath);
    if (isIgnoredName(name) || (stats && !stats.isFile())) return;
    // Already known: settling looks again on its own, a queued or retried file is read afresh, and a
    // file in hand is compared with what was settled once it has been read.
    if (tracked.has(name)) return;
    const entry: Tracked = {
      state: 'settling',
      size: stats?.size ?? -1,
      mtimeMs: stats?.mtimeMs ?? -1,
      since: performance.now(),
      timer: undefined,
      attempts: 0,
    };
    tracked.set(name, entry);
    waiting(name, 0);
    settleLater(name, entry);
  }

  function settleLater(name: string, entry: Tracked): void {
    entry.state = 'settling';
    entry.timer = setTimeout(() => void settle(name, entry), settings.pollIntervalMs);
  }

  async function settle(name: string, entry: Tracked): Promise<void> {
    entry.timer = undefined;
    if (closed || tracked.get(name) !== entry) return;
    let current: Stats;
    try {
      current = await stat(path.join(directory, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') tracked.delete(name);
      else settleLater(name, entry);
      return;
    }
    if (closed || tracked.get(name) !== entry) return;
    if (!current.isFile()) {
      tracked.delete(name);
      return;
    }
    const now = performance.now();
    if (current.size !== entry.size || current.mtimeMs !== entry.mtimeMs) {
      entry.size = current.size;
      entry.mtimeMs = current.mtimeMs;
      entry.since = now;
    }
    if (now - entry.since < settings.stabilityThresholdMs) {
      settleLater(name, entry);
      waiting(name, now - entry.since);
      return;
    }
    entry.state = 'queued';
    queue.push(name);
    pump();
  }

  function pump(): void {
    while (!closed && inHand.size < settings.concurrency && queue.length > 0) {
      const name = queue.shift()!;
      const entry = tracked.get(name);
      if (entry?.state !== 'queued') continue;
      entry.state = 'inHand';
      const work: Promise<void> = take(name, entry)
        .catch((error: unknown) => {
          // Not expected (every failure is decided above): the file stays, seen again when it changes.
          if (tracked.get(name) === entry) tracked.delete(name);
          warn(`${name}: ${(error as Error).message}`);
        })
        .finally(() => {
          inHand.delete(work);
          pump();
        });
      inHand.add(work);
    }
  }

  async function take(name: string, entry: Tracked): Promise<void> {
    entry.attempts += 1;
    const attempt = entry.attempts;
    const file = path.join(directory, name);
    let outcomes: MessageOutcome[] = [];
    try {
      let content: Buffer;
      try {
        if (entry.size > options.maxFileBytes) {
          throw new Refused(
            `${entry.size} bytes, over the upload limit of ${options.maxFileBytes} bytes (HOTPATH_UPLOAD_LIMIT_BYTES)`,
          );
        }
        content = await readFile(file);
        const after = await stat(file);
        if (after.size !== content.length || after.size !== entry.size || after.mtimeMs !== entry.mtimeMs) {
          // Written to again since it settled: it settles again before it is read.
          entry.size = after.size;
          entry.mtimeMs = after.mtimeMs;
          entry.since = performance.now();
          entry.attempts -= 1;
          if (!closed) settleLater(name, entry);
          return;
        }
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          tracked.delete(name);
          report({ file: name, outcome: 'gone', outcomes: [], attempt });
          return;
        }
        if (error instanceof Refused || code === undefined || !TRANSIENT_FS_ERRORS.has(code)) {
          throw error instanceof Refused ? error : new Refused(`cannot be read: ${(error as Error).message}`);
        }
        throw error;
      }
      const kind = formatOfFile(name, content);
      if (!kind) {
        throw new Refused(
          'neither HL7 v2, CDA (XML), FHIR (JSON), a PDF, a scan (TIFF, PNG, JPEG) nor a zip',
        );
      }
      try {
        outcomes = await receive(
          deps,
          {
            listener: 'folder',
            facilityId: options.facilityId,
            sender,
            source: options.source,
            fileName: name,
          },
          kind,
          content,
        );
      } catch (error) {
        countFailedMessage('folder', kind === 'xdm' ? 'cda' : kind);
        throw error;
      }
      const rejected = outcomes.filter((outcome) => outcome.outcome === 'rejected');
      if (outcomes.length === 0) throw new Refused('it holds no document');
      if (rejected.length > 0) {
        const received = outcomes.length - rejected.length;
        throw new Refused(
          outcomes.length === 1
            ? describeOutcome(rejected[0]!)
            : [
                `${rejected.length} of ${outcomes.length} messages rejected${received > 0 ? ` (${received} received, sent again they are duplicates)` : ''}:`,
                ...outcomes.map(describeOutcome),
              ].join('\n'),
        );
      }
      const movedTo = await moveAside(name, DONE_DIRECTORY, undefined);
      tracked.delete(name);
      report({ file: name, outcome: 'done', outcomes, movedTo, attempt });
    } catch (error) {
      let failure = error;
      if (error instanceof Refused) {
        try {
          const movedTo = await moveAside(name, FAILED_DIRECTORY, error.message);
          tracked.delete(name);
          report({ file: name, outcome: 'failed', outcomes, movedTo, reason: error.message, attempt });
          return;
        } catch (moveError) {
          failure = moveError;
        }
      }
      if ((failure as NodeJS.ErrnoException).code === 'ENOENT' && !(await exists(file).catch(() => true))) {
        // Taken by someone else (another watcher of the same directory) between the read and the move.
        tracked.delete(name);
        report({ file: name, outcome: 'gone', outcomes, attempt });
        return;
      }
      const retryInMs = Math.min(settings.retryMaxMs, settings.retryMinMs * 2 ** (attempt - 1));
      report({
        file: name,
        outcome: 'retry',
        outcomes,
        reason: (failure as Error).message,
        attempt,
        ...(closed ? {} : { retryInMs }),
      });
      if (closed) return;
      entry.state = 'retrying';
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        if (closed || tracked.get(name) !== entry) return;
        entry.state = 'queued';
        queue.push(name);
        pump();
      }, retryInMs);
    }
  }

  /** Moves a decided file under `.done/` or `.failed/`, under a free name (`name-1.ext`…), reason first. */
  function moveAside(name: string, to: string, reason: string | undefined): Promise<string> {
    const move = moves.then(async () => {
      await mkdir(path.join(directory, to), { recursive: true });
      const target = await freeName(path.join(directory, to), name, reason !== undefined);
      if (reason !== undefined) {
        await writeFile(
          `${target}.reason.txt`,
          `${name}: not ingested (${new Date().toISOString()})\n${reason}\n`,
        );
      }
      await rename(path.join(directory, name), target);
      return target;
    });
    moves = move.catch(() => undefined);
    return move;
  }

  const watcher: FSWatcher = watch(directory, {
    depth: 0,
    ignoreInitial: false,
    alwaysStat: true,
    usePolling: options.usePolling ?? false,
    interval: POLLING_INTERVAL_MS,
    binaryInterval: POLLING_INTERVAL_MS,
    ignored: (candidate: string) => candidate !== directory && isIgnoredName(path.basename(candidate)),
  });
  watcher.on('add', seen);
  watcher.on('change', seen);
  watcher.on('error', (error) => warn(`watching ${directory}: ${(error as Error).message}`));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  // Polling chokidar stats the directory and compares its mtime with the first stat: a file written
  // between its first listing and that stat would never be seen. Listing it each time closes the gap.
  const lister = options.usePolling
    ? setInterval(() => {
        readdir(directory, { withFileTypes: true })
          .then((entries) => {
            for (const entry of entries)
              if (entry.isFile()) seen(path.join(directory, entry.name), undefined);
          })
          .catch((error: Error) => warn(`listing ${directory}: ${error.message}`));
      }, POLLING_INTERVAL_MS)
    : undefined;

  return {
    directory,
    pending() {
      const counts = { settling: 0, queued: 0, inHand: 0, retrying: 0 };
      for (const entry of tracked.values()) counts[entry.state] += 1;
      return counts;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(lister);
      await watcher.close();
      for (const entry of tracked.values()) clearTimeout(entry.timer);
      queue.length = 0;
      await Promise.allSettled([...inHand]);
      await moves;
      tracked.clear();
    },
  };
}

async function freeName(directory: string, name: string, withReason: boolean): Promise<string> {
  const extension = path.extname(name);
  const stem = name.slice(0, name.length - extension.length);
  for (let n = 0; ; n++) {
    const candidate = path.join(directory, n === 0 ? name : `${stem}-${n}${extension}`);
    if (!(await exists(candidate)) && !(withReason && (await exists(`${candidate}.reason.txt`)))) {
      return candidate;
    }
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

function describeOutcome(outcome: MessageOutcome): string {
  const what = outcome.controlId ? `message ${outcome.controlId}` : outcome.format;
  if (outcome.outcome === 'rejected') {
    const problems = outcome.problems.map((problem) => `${problem.location} ${problem.text}`).join('; ');
    return `${what} rejected (${outcome.acknowledgment}): ${problems}`;
  }
  return `${what} ${outcome.outcome}: request ${outcome.requestIds.join(', ')}`;
}

function lineOf(result: FolderFileResult): string {
  const where = result.movedTo
    ? ` → ${path.basename(path.dirname(result.movedTo))}/${path.basename(result.movedTo)}`
    : '';
  switch (result.outcome) {
    case 'done':
      return `${result.file}: ${result.outcomes.map(describeOutcome).join('; ')}${where}`;
    case 'failed':
      return `${result.file}: failed: ${result.reason?.replaceAll('\n', ' ')}${where}`;
    case 'gone':
      return `${result.file}: gone before it was decided`;
    case 'retry':
      return `${result.file}: not ingested now (${result.reason}); left in place, tried again ${result.retryInMs === undefined ? 'at the next start' : `in ${formatMs(result.retryInMs)}`}`;
  }
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}

function definedOf<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
