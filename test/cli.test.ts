import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cdaDocument,
  documentId,
  fhirDocumentBundle,
  insWithKey,
  oruMessage,
} from '../src/modules/worklist/operations/sample-messages.ts';
import { onePagePdf } from '../src/platform/pdf.ts';
import { HOTPATH_BIN, type ServeProcess, startServeProcess } from '../testkit/serve-process.ts';
import { costOf } from './support/harness.ts';

const run = promisify(execFile);

/**
 * The CLI as a newcomer uses it, on the embedded default: `serve` and other commands share one
 * embedded PostgreSQL in the data dir, whichever starts first; the last one out stops it.
 */
// Real processes doing real work (the demo loads all three modules' data): on a two-core machine shared
// with the rest of the suite that takes longer than a unit test may.
describe('hotpath CLI on the embedded default', { timeout: 900_000 }, () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let server: ServeProcess;
  let baseUrl: string;

  const hotpath = (...args: string[]) =>
    run(process.execPath, [HOTPATH_BIN, ...args], { env, timeout: 300_000 });
  const clusterPid = () => {
    const pidFile = path.join(dataDir, 'pg', 'postmaster.pid');
    return existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : undefined;
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'hotpath-cli-'));
    // mkdtemp makes it 0700; as root, the embedded server runs as `postgres`, which must reach its cluster here.
    chmodSync(dataDir, 0o755);
    const { DATABASE_URL: _ignored, ...inherited } = process.env;
    env = { ...inherited, HOTPATH_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    server = await startServeProcess(env);
    baseUrl = server.baseUrl;
  });

  afterAll(async () => {
    if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('says in its banner and its metrics which Node.js serves', async () => {
    expect(server.output()).toContain(`hotpath is serving ${baseUrl} on Node.js ${process.version}`);
    const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
    expect(metrics).toContain(`nodejs_version_info{version="${process.version}"`);
  });

  it('mints a token alone on stdout', async () => {
    const { stdout } = await hotpath('token', 'create', '--role', 'reader', '--subject', 'cli-test');
    expect(stdout).toMatch(/^hp1\.[\w-]+\.[\w-]+\n$/);
  });

  it('runs demo, import-bucket, backfill and reconcile beside the running server, on its database', async () => {
    await hotpath('demo');
    const token = (
      await hotpath('token', 'create', '--role', 'reader', '--subject', 'cli-test')
    ).stdout.trim();
    const response = await fetch(`${baseUrl}/v1/documents/ONC-2024-001-csr-14-2-001`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(200);
    expect(costOf(Object.fromEntries(response.headers))).toEqual({ queries: 1, storage: 0, ext: 0 });

    const imported = await hotpath('import-bucket');
    expect(imported.stdout).toMatch(
      /imported \d+ versions of 60 documents, skipped \d+ keys that are not versions/,
    );
    const backfilled = await hotpath('backfill', '--batch-size', '50');
    expect(backfilled.stdout).toMatch(
      /backfilled 360 documents \(\d+ versions, 0 registry rows changed\).*versions\/s/,
    );
    const reconciled = await hotpath('reconcile', '--older-than', '0');
    expect(reconciled.stdout).toMatch(/checked 360 documents, 0 mismatches/);
    expect(reconciled.stdout).toMatch(/storage: 0 orphan objects, 0 unfinished writes older than 0 min/);

    const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/hotpath_documents_registry_mismatches 0/);
    expect(metrics).toMatch(/hotpath_documents_reconcile_last_run_timestamp_seconds [1-9]/);
  });

  it('ingests HL7, CDA and FHIR files, a line each, once; and routes a receiving identifier', async () => {
    const patient = {
      ins: insWithKey('1840312345678'),
      ipp: 'CLI-1',
      birthLastName: 'MARTIN',
      givenNames: ['Noël'],
      birthDate: '1984-03-12',
      sex: 'M' as const,
    };
    const report = (extension: string) => ({
      id: documentId(extension),
      typeCode: '11502-2',
      title: "CR d'examens biologiques",
      procedureDate: '2026-11-19',
      pdf: onePagePdf(extension),
    });
    const files = {
      'result.hl7': oruMessage({
        controlId: 'CLI-1',
        sendingFacility: 'LABO',
        receivingFacility: 'FAC-0001',
        patient,
        document: report('CLI-HL7'),
      }),
      'letter.xml': cdaDocument({ patient, document: report('CLI-CDA'), facilityId: 'FAC-0001' }),
      'bundle.json': Buffer.from(
        JSON.stringify(fhirDocumentBundle({ patient, document: report('CLI-FHIR'), facilityId: 'FAC-0001' })),
      ),
      'broken.hl7': Buffer.from('MSH|^~\\&|LABO|L|HOTPATH|FAC-0001|20261119||ADT^A01|X1|P|2.5\r'),
    };
    const paths = Object.entries(files).map(([name, content]) => {
      const file = path.join(dataDir, name);
      writeFileSync(file, content);
      return file;
    });
    const first = await hotpath('ingest', ...paths, '--facility', 'FAC-0001').catch((error) => error);
    expect(first.code).toBe(1);
    expect(first.stdout).toMatch(/result\.hl7: message CLI-1 accepted: request \d+/);
    expect(first.stdout).toMatch(/letter\.xml: cda accepted: request \d+/);
    expect(first.stdout).toMatch(/bundle\.json: fhir accepted: request \d+/);
    expect(first.stdout).toMatch(/broken\.hl7: message X1 rejected \(AR\): MSH\^1\^9/);
    const again = await hotpath('ingest', ...paths.slice(0, 3), '--facility', 'FAC-0001');
    expect(again.stdout.match(/ duplicate: request /g)).toHaveLength(3);

    const routed = await hotpath('facility', 'receive-as', 'FAC-0001', 'LABO-DESTINATION');
    expect(routed.stdout).toContain('FAC-0001 receives messages addressed to FAC-0001, LABO-DESTINATION');
    const refused = await hotpath('facility', 'receive-as', 'FAC-0002', 'LABO-DESTINATION').catch(
      (error) => error,
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('LABO-DESTINATION already routes to FAC-0001');
  });

  it('stops cleanly on SIGTERM and leaves the database to whoever is still attached', async () => {
    expect(clusterPid()).toBeGreaterThan(0);
    expect(await server.stop()).toBe(0);
    expect(clusterPid()).toBeUndefined();

    // With no server running, a command starts the embedded database itself and stops it after.
    const reconciled = await hotpath('reconcile');
    expect(reconciled.stdout).toMatch(/checked 360 documents, 0 mismatches/);
    expect(clusterPid()).toBeUndefined();
  });

  it.skipIf(!process.env.REDIS_URL)(
    'exits after a command with REDIS_URL set (its Redis connections closed)',
    async () => {
      const migrated = await run(process.execPath, [HOTPATH_BIN, 'migrate'], {
        env: { ...env, REDIS_URL: process.env.REDIS_URL },
        timeout: 300_000,
      });
      expect(migrated.stderr).toContain('migrations are up to date');
    },
  );

  it('refuses a bad configuration with exit code 2, naming the variable', async () => {
    const failure = await run(process.execPath, [HOTPATH_BIN, 'serve'], {
      env: { ...env, PORT: 'eighty' },
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toContain('PORT must be an integer');
  });
});
