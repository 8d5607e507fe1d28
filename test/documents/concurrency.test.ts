import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileRegistry } from '../../src/modules/documents/operations/reconcile.ts';
import type { VersionState } from '../../src/modules/documents/schemas.ts';
import { seededRandom } from '../../src/platform/seeded-random.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

/**
 * Many requests at once over real HTTP: uploads to one document must get the numbers 1..n each once
 * with their own bytes, and racing approvals and withdrawals must leave the registry pointing at the
 * newest version the versions table says is approved.
 */

let context: TestContext;

beforeAll(async () => {
  context = await createTestContext({ listen: true });
});
afterAll(async () => {
  await context.close();
});

type Role = 'reader' | 'author' | 'approver';

async function call(
  method: string,
  path: string,
  role: Role,
  body?: { json: unknown } | { bytes: Buffer; contentType: string },
): Promise<{ status: number; json: () => Promise<Record<string, unknown>> }> {
  const headers: Record<string, string> = { ...context.auth(role, `${role}-concurrency`) };
  let payload: string | Buffer | undefined;
  if (body && 'json' in body) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body.json);
  } else if (body) {
    headers['content-type'] = body.contentType;
    payload = body.bytes;
  }
  const response = await fetch(`${context.baseUrl}${path}`, { method, headers, body: payload });
  const text = await response.text();
  return { status: response.status, json: async () => JSON.parse(text) };
}

async function createDocument(logicalId: string, sectionId = 'concurrency'): Promise<number> {
  const response = await call('PUT', `/v1/documents/${logicalId}`, 'author', {
    json: { studyId: 'CONC', sectionId, documentType: 'CSR', title: `Concurrent ${logicalId}` },
  });
  return response.status;
}

function upload(logicalId: string, bytes: Buffer) {
  return call('POST', `/v1/documents/${logicalId}/versions`, 'author', {
    bytes,
    contentType: 'application/octet-stream',
  });
}

async function registryOf(logicalId: string) {
  const { rows } = await sql<{
    latest_version: number | null;
    approved_version: number | null;
    approved_key: string | null;
  }>`SELECT latest_version, approved_version, approved_key FROM document_registry
     WHERE logical_id = ${logicalId}`.execute(context.runtime.database.db);
  return rows[0];
}

async function versionStates(logicalId: string): Promise<Map<number, VersionState>> {
  const { rows } = await sql<{ version: number; state: VersionState }>`
    SELECT version, state FROM document_versions WHERE logical_id = ${logicalId} ORDER BY version`.execute(
    context.runtime.database.db,
  );
  return new Map(rows.map((row) => [row.version, row.state]));
}

async function expectReconciled(): Promise<void> {
  const result = await reconcileRegistry(context.runtime.database.db, context.runtime.store, {
    fix: false,
    showProgress: false,
  });
  expect(result.findings).toEqual([]);
  expect(result.mismatches).toBe(0);
}

function shuffle<T>(items: T[], random: () => number): T[] {
  const shuffled = [...items];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j] as T, shuffled[i] as T];
  }
  return shuffled;
}

describe('concurrent uploads', () => {
  it('gives 50 concurrent uploads to one document the numbers 1..50 once each, each with its own bytes', async () => {
    expect(await createDocument('conc-uploads')).toBe(201);
    const bodies = Array.from({ length: 50 }, (_, n) =>
      Buffer.concat([Buffer.from(`upload ${n} `), randomBytes(512 + n * 37)]),
    );
    const responses = await Promise.all(bodies.map((bytes) => upload('conc-uploads', bytes)));
    expect(responses.map((response) => response.status)).toEqual(bodies.map(() => 201));
    const results = await Promise.all(responses.map((response) => response.json()));

    const numbers = results.map((result) => result.version as number).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 50 }, (_, n) => n + 1));
    expect((await registryOf('conc-uploads'))?.latest_version).toBe(50);

    // Each version holds the bytes of the request that was told that number.
    for (const [index, result] of results.entries()) {
      const sent = bodies[index] as Buffer;
      expect(result.sha256).toBe(createHash('sha256').update(sent).digest('hex'));
      expect(result.sizeBytes).toBe(sent.length);
      const version = await call('GET', `/v1/documents/conc-uploads/versions/${result.version}`, 'author');
      expect(version.status).toBe(200);
      const described = await version.json();
      expect(described.sha256).toBe(result.sha256);
      const download = await fetch(described.downloadUrl as string);
      expect(download.status).toBe(200);
      expect(Buffer.from(await download.arrayBuffer()).equals(sent)).toBe(true);
    }

    const listed = await context.runtime.store.listPage('documents/conc-uploads/');
    expect(listed.objects).toHaveLength(50);
    await expectReconciled();
  });

  it('creates many documents in one new section at once, and uploads to all of them at once', async () => {
    const ids = Array.from({ length: 12 }, (_, n) => `conc-new-section-${n}`);
    const created = await Promise.all(ids.map((id) => createDocument(id, 'brand-new-section')));
    expect(created).toEqual(ids.map(() => 201));
    const uploads = await Promise.all(
      ids.flatMap((id) => [1, 2, 3].map((n) => upload(id, Buffer.from(`${id} ${n}`)))),
    );
    expect(uploads.map((response) => response.status)).toEqual(uploads.map(() => 201));
    for (const id of ids) {
      expect([...(await versionStates(id)).keys()]).toEqual([1, 2, 3]);
      expect((await registryOf(id))?.latest_version).toBe(3);
    }
    await expectReconciled();
  });
});

describe('racing transitions', () => {
  const VERSIONS = 10;

  it('leaves the registry on the newest approved version after concurrent approvals, rejections and withdrawals', async () => {
    const baseSeed = Date.now() % 100_000;
    for (let round = 0; round < 5; round++) {
      const seed = baseSeed + round;
      const random = seededRandom(seed);
      const logicalId = `conc-race-${round}`;
      const label = `round ${round}, seed ${seed}`;
      expect(await createDocument(logicalId)).toBe(201);
      for (let n = 1; n <= VERSIONS; n++) {
        expect((await upload(logicalId, Buffer.from(`${logicalId} v${n}`))).status).toBe(201);
      }
      // Some versions start approved, so withdrawals have something to take back from the start.
      const initiallyApproved = new Set<number>();
      for (let n = 1; n <= VERSIONS; n++) {
        if (random() < 0.4) {
          expect(
            (await call('POST', `/v1/documents/${logicalId}/versions/${n}/approve`, 'approver')).status,
          ).toBe(200);
          initiallyApproved.add(n);
        }
      }

      type Request = { action: 'approve' | 'reject' | 'withdraw'; version: number } | { action: 'upload' };
      const requests: Request[] = [];
      for (let n = 1; n <= VERSIONS; n++) {
        requests.push({ action: 'approve', version: n }, { action: 'approve', version: n });
        requests.push({ action: 'withdraw', version: n }, { action: 'withdraw', version: n });
        if (random() < 0.3) requests.push({ action: 'reject', version: n });
      }
      requests.push({ action: 'upload' }, { action: 'upload' }, { action: 'upload' });
      const order = shuffle(requests, random);

      const statuses = await Promise.all(
        order.map(async (request) => {
          if (request.action === 'upload') {
            return (await upload(logicalId, randomBytes(64))).status;
          }
          return (
            await call(
              'POST',
              `/v1/documents/${logicalId}/versions/${request.version}/${request.action}`,
              'approver',
              request.action === 'approve' ? undefined : { json: { reason: 'racing' } },
            )
          ).status;
        }),
      );

      // Every answer is a success or a conflict, and the successes tell each version's story.
      const succeeded = new Map<string, number>();
      for (const [index, request] of order.entries()) {
        const status = statuses[index];
        if (request.action === 'upload') {
          expect(status, label).toBe(201);
          continue;
        }
        expect([200, 409], `${label}: ${request.action} v${request.version}`).toContain(status);
        if (status === 200) {
          const key = `${request.action}:${request.version}`;
          succeeded.set(key, (succeeded.get(key) ?? 0) + 1);
        }
      }
      const states = await versionStates(logicalId);
      expect([...states.keys()], label).toEqual(Array.from({ length: VERSIONS + 3 }, (_, n) => n + 1));
      for (let n = 1; n <= VERSIONS; n++) {
        const approved = succeeded.get(`approve:${n}`) ?? 0;
        const rejected = succeeded.get(`reject:${n}`) ?? 0;
        const withdrawn = succeeded.get(`withdraw:${n}`) ?? 0;
        expect(approved + rejected, `${label}: v${n} left draft at most once`).toBeLessThanOrEqual(
          initiallyApproved.has(n) ? 0 : 1,
        );
        expect(withdrawn, `${label}: v${n} withdrawn at most once`).toBeLessThanOrEqual(1);
        if (withdrawn) expect(initiallyApproved.has(n) || approved === 1, label).toBe(true);
        const expected: VersionState = withdrawn
          ? 'withdrawn'
          : initiallyApproved.has(n) || approved
            ? 'approved'
            : rejected
              ? 'rejected'
              : 'draft';
        expect(states.get(n), `${label}: v${n}`).toBe(expected);
      }

      const newestApproved = Math.max(
        0,
        ...[...states].filter(([, state]) => state === 'approved').map(([version]) => version),
      );
      const registry = await registryOf(logicalId);
      expect(registry?.latest_version, label).toBe(VERSIONS + 3);
      expect(registry?.approved_version ?? 0, label).toBe(newestApproved);
      const latest = await call('GET', `/v1/documents/${logicalId}`, 'reader');
      if (newestApproved === 0) expect(latest.status, label).toBe(404);
      else {
        expect(latest.status, label).toBe(200);
        expect((await latest.json()).version, label).toBe(newestApproved);
        expect(await context.runtime.store.head(registry?.approved_key as string), label).toBeDefined();
      }
      await expectReconciled();
    }
  });
});
