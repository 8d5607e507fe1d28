import { execFile, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { HOTPATH_BIN } from '../testkit/serve-process.ts';

const run = promisify(execFile);
const scratch = mkdtempSync(path.join(os.tmpdir(), 'hotpath-runtime-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A `node` on PATH older than 24 (this machine's system Node is 20), or undefined. */
function olderSystemNode(): { binary: string; version: string } | undefined {
  const found = spawnSync('sh', ['-c', 'which -a node'], { encoding: 'utf8' }).stdout.split('\n');
  for (const binary of found.filter(Boolean)) {
    const version = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim();
    if (Number(version.replace(/^v/, '').split('.')[0]) < 24) return { binary, version };
  }
  return undefined;
}

const older = olderSystemNode();

describe('the runtime', { timeout: 120_000 }, () => {
  it('runs the suite on Node.js 24 or later', () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
  });

  it('says which Node.js runs the CLI', async () => {
    const { stdout } = await run(process.execPath, [HOTPATH_BIN, '--version']);
    expect(stdout.trim()).toMatch(new RegExp(`^hotpath \\d+\\.\\d+\\.\\d+ on Node\\.js ${process.version}$`));
  });

  // Only a machine that has an older Node can start hotpath on one; this one's system Node is 20.
  describe.skipIf(!older)(`started by an older Node (${older?.version ?? 'none on this machine'})`, () => {
    it('hands the command to the packaged Node 24, with its output and exit code', async () => {
      const { stdout } = await run(older!.binary, [HOTPATH_BIN, '--version']);
      const major = Number(/on Node\.js v(\d+)\./.exec(stdout)?.[1]);
      expect(major).toBeGreaterThanOrEqual(24);

      const refused = await run(older!.binary, [HOTPATH_BIN, 'serve'], {
        env: { ...process.env, PORT: 'eighty' },
      }).catch((error: { code: number; stderr: string }) => error);
      expect(refused).toMatchObject({ code: 2 });
      expect((refused as { stderr: string }).stderr).toContain('PORT must be an integer');
    });

    it('says what to install when no packaged Node 24 is there', async () => {
      // The launcher alone, away from node_modules: as on a platform npm has no Node 24 package for.
      const bin = path.join(scratch, 'bin');
      cpSync(path.dirname(HOTPATH_BIN), bin, { recursive: true });
      const refused = await run(older!.binary, [path.join(bin, 'hotpath.js'), '--version']).catch(
        (error: { code: number; stderr: string }) => error,
      );
      expect(refused).toMatchObject({ code: 1 });
      expect((refused as { stderr: string }).stderr).toMatch(
        /hotpath needs Node\.js 24 or later and this is v\d+.*install Node\.js 24 LTS/,
      );
    });
  });
});
