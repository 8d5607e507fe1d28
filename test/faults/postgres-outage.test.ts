import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenAuthority } from '../../src/platform/auth/tokens.ts';
import { adminQuery, type StoppablePostgres, startStoppablePostgres } from '../../testkit/postgres-server.ts';
import { HOTPATH_BIN, type ServeProcess, startServeProcess } from '../../testkit/serve-process.ts';

const run = promisify(execFile);
const SECRET = 'fault-suite-secret-0123456789abcdef0123';

/**
 * PostgreSQL stopped (`pg_ctl stop -m fast`, every connection terminated) and started again while a
 * real `hotpath serve` takes uploads, approvals, reads, orders, dashboard misses and worklist pages.
 * The process must stay up, answer only 2xx or 503 with Retry-After, lose nothing it acknowledged,
 * and recover by itself.
 */
let postgres: StoppablePostgres;
let server: ServeProcess;
let env: NodeJS.ProcessEnv;
const token = new TokenAuthority(SECRET).issue({
  subject: 'fault-suite',
  role: 'admin',
  facilities: ['FAC-0001', 'FAC-0002', 'FAC-0003'],
  merchants: ['shop-0001'],
  expiresInSeconds: 3600,
});
const headers = { authorization: `Bearer ${token}` };

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hotpath-fault-data-'));

beforeAll(async () => {
  postgres = await startStoppablePostgres('hotpath-fault-pg');
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  env = {
    ...inherited,
    DATABASE_URL: postgres.adminUrl,
    HOTPATH_TOKEN_SECRET: SECRET,
    LOG_LEVEL: 'warn',
    DB_CONNECTION_TIMEOUT_MS: '2000',
    HOTPATH_DATA_DIR: dataDir,
  };
  server = await startServeProcess(env, [HOTPATH_BIN, 'serve', '--demo']);
  await adminQuery(postgres.adminUrl, 'UPDATE products SET stock_quantity = 1000000000');
});

afterAll(async () => {
  await server?.stop();
  await postgres?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Answer {
  kind: string;
  status: number;
  retryAfter: string | null;
  at: number;
}

describe('a PostgreSQL outage under load', () => {
  it('is ridden out: the process stays up, answers 2xx or 503, loses nothing acknowledged, recovers', {
    timeout: 1_200_000,
  }, async () => {
    const base = server.baseUrl;
    const answers: Answer[] = [];
    const uploads: Array<{ logicalId: string; version: number; sha256: string }> = [];
    const orders: number[] = [];
    const integrations: number[] = [];
    const verifiedRequests = await adminQuery<{ request_id: string }>(
      postgres.adminUrl,
      // The demo writes files for its 200 newest requests only; integration pushes the file.
      `SELECT request_id FROM (SELECT request_id, facility_id, status, integration_state FROM integration_requests
         ORDER BY received_at DESC, request_id DESC LIMIT 200) newest
       WHERE status = 'verified' AND integration_state IS NULL`,
    );
    const toIntegrate = verifiedRequests.map((row) => Number(row.request_id));
    const [product] = await adminQuery<{ product_id: number }>(
      postgres.adminUrl,
      "SELECT product_id FROM products WHERE merchant_id = 'shop-0001' ORDER BY product_id LIMIT 1",
    );
    const [customer] = await adminQuery<{ customer_id: number }>(
      postgres.adminUrl,
      "SELECT customer_id FROM customers WHERE merchant_id = 'shop-0001' ORDER BY customer_id LIMIT 1",
    );
    let running = true;
    let outageOver = false;
    const record = (kind: string, response: Response) =>
      answers.push({
        kind,
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        at: Date.now(),
      });
    const call = async (kind: string, path: string, init: RequestInit = {}) => {
      const response = await fetch(`${base}${path}`, {
        ...init,
        headers: { ...headers, ...(init.headers as Record<string, string>) },
        signal: AbortSignal.timeout(120_000),
      });
      record(kind, response);
      return response;
    };

    const workers: Array<() => Promise<void>> = [
      ...Array.from({ length: 4 }, (_, n) => async () => {
        const logicalId = `ONC-2024-001-csr-14-2-00${n + 1}`;
        const body = randomBytes(2048);
        const response = await call('upload', `/v1/documents/${logicalId}/versions`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/pdf' },
        });
        if (response.status !== 201) return;
        const { version, sha256 } = (await response.json()) as { version: number; sha256: string };
        expect(sha256).toBe(createHash('sha256').update(body).digest('hex'));
        uploads.push({ logicalId, version, sha256 });
        await call('approve', `/v1/documents/${logicalId}/versions/${version}/approve`, { method: 'POST' });
      }),
      ...Array.from({ length: 4 }, () => async () => {
        await (await call('read', '/v1/documents/ONC-2024-001-csr-14-2-005')).arrayBuffer();
      }),
      ...Array.from({ length: 2 }, () => async () => {
        const response = await call('order', '/v1/merchants/shop-0001/orders', {
          method: 'POST',
          body: JSON.stringify({
            customerId: Number(customer?.customer_id),
            items: [{ productId: Number(product?.product_id), quantity: 1 }],
          }),
          headers: { 'content-type': 'application/json' },
        });
        if (response.status === 201) orders.push(((await response.json()) as { id: number }).id);
      }),
      async () => {
        await (
          await call('dashboard', '/v1/merchants/shop-0001/dashboard', {
            headers: { 'cache-control': 'no-cache' },
          })
        ).arrayBuffer();
      },
      async () => {
        await (await call('worklist', '/v2/worklist?facilityId=FAC-0001&limit=20')).arrayBuffer();
      },
      async () => {
        // A few before the outage, so that some are left to ask for after it.
        const id = integrations.length < (outageOver ? 60 : 4) ? toIntegrate.shift() : undefined;
        // Enough acknowledged: this worker idles (without spinning) while the others go on.
        if (id === undefined) return void (await new Promise((resolve) => setTimeout(resolve, 50)));
        const response = await call('integrate', `/v2/worklist/${id}/integrate`, { method: 'POST' });
        if (response.status === 202) integrations.push(id);
        else toIntegrate.push(id);
        await response.arrayBuffer();
      },
    ];
    const loops = workers.map(async (work) => {
      while (running)
        await work().catch((error: Error) =>
          answers.push({ kind: `failed: ${error.message}`, status: 0, retryAfter: null, at: Date.now() }),
        );
    });

    // What the server said beyond the expected warnings: errors, crashes.
    const serverTrouble = () =>
      server
        .output()
        .split('\n')
        .filter((line) => !/^\{"level":(30|40),/.test(line))
        .slice(-40)
        .join('\n');
    const summary = () => {
      const byKind = new Map<string, number>();
      for (const answer of answers)
        byKind.set(
          `${answer.kind} ${answer.status}`,
          (byKind.get(`${answer.kind} ${answer.status}`) ?? 0) + 1,
        );
      return [...byKind.entries()].map(([key, value]) => `${key}×${value}`).join(', ');
    };
    const until = async (condition: () => boolean, what: string) => {
      for (const deadline = Date.now() + 240_000; !condition(); ) {
        if (Date.now() > deadline || server.child.exitCode !== null) {
          running = false;
          throw new Error(
            `gave up waiting for ${what} (process exit code ${server.child.exitCode}); answers: ${summary()}\n${serverTrouble()}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await until(() => uploads.length >= 20 && orders.length >= 10, 'load before the outage');
    await postgres.stopServer();
    const stoppedAt = Date.now();
    // Down for a few seconds, as in a failover: long enough for requests to queue for connections.
    await until(
      () =>
        Date.now() - stoppedAt >= 5_000 &&
        answers.filter((answer) => answer.at > stoppedAt && answer.status === 503).length >= 30,
      'answers during the outage',
    );
    await postgres.startServer();
    const startedAt = Date.now();
    outageOver = true;
    const kinds = ['upload', 'approve', 'read', 'order', 'dashboard', 'worklist', 'integrate'];
    await until(
      () =>
        kinds.every((kind) =>
          answers.some((answer) => answer.kind === kind && answer.at > startedAt && answer.status < 300),
        ),
      'every kind of request to succeed again',
    );
    const recoveredAt = Date.now();
    const uploadsBefore = uploads.length;
    await until(() => uploads.length >= uploadsBefore + 10, 'uploads after recovery');
    running = false;
    await Promise.all(loops);

    expect(server.child.exitCode, server.output()).toBeNull();
    // Asked again after a 503 whose transaction had committed, an integration is already queued: 202, or
    // 409 once it is integrated.
    const unexpected = answers.filter(
      (answer) =>
        !(answer.status >= 200 && answer.status < 300) &&
        answer.status !== 503 &&
        !(answer.kind === 'integrate' && answer.status === 409),
    );
    expect(unexpected.slice(0, 5), serverTrouble()).toEqual([]);
    expect(answers.filter((answer) => answer.status === 503 && !answer.retryAfter)).toEqual([]);

    const versions = await adminQuery<{ logical_id: string; version: number; sha256: string }>(
      postgres.adminUrl,
      'SELECT logical_id, version, sha256 FROM document_versions WHERE uploaded_by = $1',
      ['fault-suite'],
    );
    const stored = new Set(versions.map((row) => `${row.logical_id}@${row.version}:${row.sha256}`));
    const lostUploads = uploads.filter(
      (upload) => !stored.has(`${upload.logicalId}@${upload.version}:${upload.sha256}`),
    );
    expect(lostUploads).toEqual([]);
    const placed = await adminQuery<{ order_id: number }>(
      postgres.adminUrl,
      'SELECT order_id FROM orders WHERE order_id = ANY($1::bigint[])',
      [orders],
    );
    expect(placed).toHaveLength(orders.length);

    // Every integration acknowledged (202) is carried out once the database is back: its job outlived the outage.
    let integrated = 0;
    for (const deadline = Date.now() + 240_000; integrated < integrations.length && Date.now() < deadline; ) {
      const [row] = await adminQuery<{ done: number }>(
        postgres.adminUrl,
        "SELECT count(*)::int AS done FROM integration_requests WHERE request_id = ANY($1::bigint[]) AND status = 'integrated'",
        [integrations],
      );
      integrated = row?.done ?? 0;
      if (integrated < integrations.length) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const stuck = await adminQuery(
      postgres.adminUrl,
      `SELECT r.request_id, r.status, r.integration_state, r.integration_error, j.state AS job, j.retry_count
       FROM integration_requests r LEFT JOIN pgboss.job j ON j.name = 'worklist-integration' AND (j.data->>'requestId')::bigint = r.request_id
       WHERE r.request_id = ANY($1::bigint[]) AND r.status <> 'integrated'`,
      [integrations],
    );
    expect(integrated, JSON.stringify(stuck)).toBe(integrations.length);
    // Every object a failed upload wrote was deleted with its rollback: nothing for reconcile to find.
    const reconciled = await run(process.execPath, [HOTPATH_BIN, 'reconcile', '--older-than', '0'], {
      env,
      timeout: 300_000,
    });
    expect(reconciled.stdout).toMatch(/, 0 mismatches/);
    expect(reconciled.stdout).toMatch(/storage: 0 orphan objects, 0 unfinished writes/);
    const verified = await run(process.execPath, [HOTPATH_BIN, 'dashboard', 'verify'], {
      env,
      timeout: 300_000,
    });
    expect(verified.stdout).toMatch(/, 0 differences/);

    const count = (predicate: (answer: Answer) => boolean) => answers.filter(predicate).length;
    process.stdout.write(
      `postgres outage: ${answers.length} answers (${count((a) => a.status < 300)} 2xx, ${count((a) => a.status === 503)} 503, ${unexpected.length} other); ` +
        `${uploads.length} uploads, ${orders.length} orders and ${integrations.length} integrations acknowledged, ${lostUploads.length} uploads lost, ${integrations.length - integrated} integrations not done; ` +
        `outage ${startedAt - stoppedAt} ms, every kind answering again ${recoveredAt - startedAt} ms after the restart\n`,
    );
  });
});
