import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { documentObjects, reconcileRegistry } from '../../src/modules/documents/operations/reconcile.ts';
import { uploadVersion as uploadVersionService } from '../../src/modules/documents/service.ts';
import { tokenSecretOf } from '../../src/platform/data-dir.ts';
import type {
  DownloadUrl,
  DownloadUrlOptions,
  ListedObject,
  ObjectPage,
  ObjectStore,
  StoredObject,
  UnfinishedWrite,
} from '../../src/platform/storage/object-store.ts';
import { openObjectStore } from '../../src/platform/storage/open-store.ts';
import { sweepStorage } from '../../src/platform/storage/orphans.ts';
import { putDocument, transition, uploadVersion } from '../support/documents.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

/**
 * Failures between writing an object and committing its row: the database refusing the row (a test
 * trigger), the store failing the write, the client cutting the body off. Each must leave no version
 * row, the registry row as it was, no object of the failed attempt in storage, no gap in the numbers,
 * and nothing for reconcile to find.
 */

type PutFault = 'before-write' | 'after-write' | 'after-write-and-delete-fails';

/** The real store, with the faults a test asks for and a record of every put and whether it settled. */
class FaultyStore implements ObjectStore {
  readonly puts: { key: string; settled: boolean }[] = [];
  fault: PutFault | undefined;

  constructor(private readonly inner: ObjectStore) {}

  get kind() {
    return this.inner.kind;
  }

  get inFlight(): number {
    return this.puts.filter((put) => !put.settled).length;
  }

  async put(key: string, body: Readable, options: { contentType: string; contentLength?: number }) {
    const record = { key, settled: false };
    this.puts.push(record);
    try {
      if (this.fault === 'before-write') throw new Error('injected: the store refused the write');
      await this.inner.put(key, body, options);
      if (this.fault) throw new Error('injected: the write landed but the store answered an error');
    } finally {
      record.settled = true;
    }
  }

  head(key: string): Promise<StoredObject | undefined> {
    return this.inner.head(key);
  }

  get(key: string): Promise<{ object: StoredObject; body: Readable } | undefined> {
    return this.inner.get(key);
  }

  async delete(key: string): Promise<void> {
    if (this.fault === 'after-write-and-delete-fails') throw new Error('injected: delete failed');
    return this.inner.delete(key);
  }

  listPage(prefix: string, options?: { continuationToken?: string; maxKeys?: number }): Promise<ObjectPage> {
    return this.inner.listPage(prefix, options);
  }

  listAll(prefix: string): AsyncIterable<ListedObject[]> {
    return this.inner.listAll(prefix);
  }

  unfinishedWrites(before: Date): Promise<UnfinishedWrite[] | undefined> {
    return this.inner.unfinishedWrites(before);
  }

  discardUnfinishedWrite(write: UnfinishedWrite): Promise<void> {
    return this.inner.discardUnfinishedWrite(write);
  }

  downloadUrl(key: string, options: DownloadUrlOptions): Promise<DownloadUrl> {
    return this.inner.downloadUrl(key, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

let context: TestContext;
let store: FaultyStore;

beforeAll(async () => {
  context = await createTestContext({
    listen: true,
    store: (config) => {
      store = new FaultyStore(openObjectStore(config, tokenSecretOf(config)));
      return store;
    },
  });
  const db = context.runtime.database.db;
  // The database refuses a version row for two marked content types: at once (BEFORE INSERT), or only
  // when the statement's transaction commits (a deferred constraint trigger).
  await sql`
    CREATE FUNCTION test_refuse_marked_versions() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.content_type = TG_ARGV[0] THEN
        RAISE EXCEPTION 'injected failure recording % v%', NEW.logical_id, NEW.version;
      END IF;
      RETURN NEW;
    END $$`.execute(db);
  await sql`
    CREATE TRIGGER test_refuse_on_insert BEFORE INSERT ON document_versions
    FOR EACH ROW EXECUTE FUNCTION test_refuse_marked_versions('application/x-fail-insert')`.execute(db);
  await sql`
    CREATE CONSTRAINT TRIGGER test_refuse_at_commit AFTER INSERT ON document_versions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION test_refuse_marked_versions('application/x-fail-commit')`.execute(db);
});
afterAll(async () => {
  await context.close();
});
beforeEach(() => {
  store.fault = undefined;
});

interface Snapshot {
  registry: Record<string, unknown>;
  versions: { version: number; storage_key: string }[];
}

async function snapshot(logicalId: string): Promise<Snapshot> {
  const db = context.runtime.database.db;
  const { rows: registry } = await sql<Record<string, unknown>>`
    SELECT * FROM document_registry WHERE logical_id = ${logicalId}`.execute(db);
  const { rows: versions } = await sql<{ version: number; storage_key: string }>`
    SELECT version, storage_key FROM document_versions WHERE logical_id = ${logicalId} ORDER BY version`.execute(
    db,
  );
  return { registry: registry[0] as Record<string, unknown>, versions };
}

async function storedKeys(logicalId: string): Promise<string[]> {
  const page = await store.listPage(`documents/${logicalId}/`);
  return page.objects.map((object) => object.key).sort();
}

/** A document with v1 approved and v2 a draft, its objects in storage. */
async function seedDocument(logicalId: string): Promise<Snapshot> {
  await putDocument(context, logicalId);
  await uploadVersion(context, logicalId, `${logicalId} v1`);
  await uploadVersion(context, logicalId, `${logicalId} v2`);
  expect((await transition(context, logicalId, 1, 'approve')).statusCode).toBe(200);
  const seeded = await snapshot(logicalId);
  expect(await storedKeys(logicalId)).toEqual(seeded.versions.map((version) => version.storage_key).sort());
  return seeded;
}

function expectInternalProblem(response: {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}) {
  expect(response.statusCode).toBe(500);
  expect(String(response.headers['content-type'])).toContain('application/problem+json');
  const problem = JSON.parse(response.body);
  expect(problem).toMatchObject({ status: 500, title: 'Internal Server Error', type: expect.any(String) });
  // Nothing of the failure's internals reaches the client: no message, no stack, no source path.
  expect(response.body).not.toMatch(/injected|stack|\.ts:\d+|\n\s+at /);
}

/** Nothing of the failed attempt is left, nothing changed, and the document still works. */
async function expectUntouched(logicalId: string, before: Snapshot): Promise<void> {
  const after = await snapshot(logicalId);
  expect(after).toEqual(before);
  expect(await storedKeys(logicalId)).toEqual(before.versions.map((version) => version.storage_key).sort());
  await expectLatestApprovedServable(logicalId, 1);

  // The failed attempt burned no number.
  const next = await uploadVersion(context, logicalId, `${logicalId} after the failure`);
  expect(next.version).toBe(before.versions.length + 1);
  const registry = (await snapshot(logicalId)).registry;
  expect(registry.latest_version).toBe(before.versions.length + 1);
  expect(Number(registry.revision)).toBeGreaterThan(Number(before.registry.revision));

  const reconciled = await reconcileRegistry(context.runtime.database.db, context.runtime.store, {
    fix: false,
    showProgress: false,
  });
  expect(reconciled.findings).toEqual([]);
  expect(reconciled.mismatches).toBe(0);
}

/** GET latest approved answers this version, and its object is there to download. */
async function expectLatestApprovedServable(logicalId: string, version: number): Promise<void> {
  const latest = await context.app.inject({
    method: 'GET',
    url: `/v1/documents/${logicalId}`,
    headers: context.auth('reader'),
  });
  expect(latest.statusCode).toBe(200);
  expect(latest.json().version).toBe(version);
  const { approved_key: approvedKey } = (await snapshot(logicalId)).registry;
  expect(await store.head(approvedKey as string)).toMatchObject({ sizeBytes: latest.json().sizeBytes });
  const download = await fetch(latest.json().downloadUrl);
  expect(download.status).toBe(200);
  const bytes = Buffer.from(await download.arrayBuffer());
  expect(createHash('sha256').update(bytes).digest('hex')).toBe(latest.json().sha256);
}

function rawUpload(logicalId: string, contentType: string, body: Buffer) {
  return context.app.inject({
    method: 'POST',
    url: `/v1/documents/${logicalId}/versions`,
    headers: { ...context.auth('author'), 'content-type': contentType },
    payload: body,
  });
}

describe('the database refuses the version row after the object was written', () => {
  for (const [when, contentType] of [
    ['on insert', 'application/x-fail-insert'],
    ['at commit', 'application/x-fail-commit'],
  ] as const) {
    it(`${when}: 500 problem, registry unchanged, the object deleted, no gap, no drift`, async () => {
      const logicalId = `fail-db-${when.replace(' ', '-')}`;
      const before = await seedDocument(logicalId);
      const putsBefore = store.puts.length;

      expectInternalProblem(await rawUpload(logicalId, contentType, Buffer.from('never recorded')));

      // The object was written before the row was refused, then removed.
      const attempt = store.puts.at(-1);
      expect(store.puts.length).toBe(putsBefore + 1);
      expect(attempt?.key.startsWith(`documents/${logicalId}/`)).toBe(true);
      expect(await store.head(attempt?.key as string)).toBeUndefined();
      await expectUntouched(logicalId, before);
    });
  }
});

describe('the object store fails the write', () => {
  it('refused before any byte is written: 500 problem, no version row, no registry change', async () => {
    const before = await seedDocument('fail-put-before');
    store.fault = 'before-write';
    expectInternalProblem(await rawUpload('fail-put-before', 'application/pdf', Buffer.alloc(4096, 7)));
    store.fault = undefined;
    await expectUntouched('fail-put-before', before);
  });

  it('fails after the bytes landed: the object is deleted all the same', async () => {
    const before = await seedDocument('fail-put-after');
    store.fault = 'after-write';
    expectInternalProblem(await rawUpload('fail-put-after', 'application/pdf', Buffer.alloc(4096, 7)));
    store.fault = undefined;
    await expectUntouched('fail-put-after', before);
  });

  it('fails, and so does the cleanup: an orphan object nothing points at, never a row pointing at nothing', async () => {
    const before = await seedDocument('fail-put-orphan');
    store.fault = 'after-write-and-delete-fails';
    expectInternalProblem(await rawUpload('fail-put-orphan', 'application/pdf', Buffer.alloc(1024, 3)));
    store.fault = undefined;
    const orphan = store.puts.at(-1)?.key as string;
    expect(await store.head(orphan)).toBeDefined();
    expect(await snapshot('fail-put-orphan')).toEqual(before);
    // Reconcile's sweep finds it (nothing refers to it), and removes it when asked to.
    const owners = [documentObjects(context.runtime.database.db)];
    const found = await sweepStorage(store, owners, { before: new Date(Date.now() + 1_000), remove: false });
    expect(found.orphans).toEqual([orphan]);
    const swept = await sweepStorage(store, owners, { before: new Date(Date.now() + 1_000), remove: true });
    expect(swept.removed).toBeGreaterThanOrEqual(1);
    expect(await store.head(orphan)).toBeUndefined();
    await expectUntouched('fail-put-orphan', before);
  });
});

describe('the client cuts the body off midway', () => {
  /**
   * Sends the head and part of the body over a real socket, then drops the connection, and waits for
   * the server's write to storage to end one way or the other.
   */
  async function cutOffUpload(logicalId: string, framing: 'content-length' | 'chunked'): Promise<void> {
    const putsBefore = store.puts.length;
    const url = new URL(context.baseUrl);
    const socket = connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.on('error', () => {});
    const part = Buffer.alloc(64 * 1024, 9);
    const head = [
      `POST /v1/documents/${logicalId}/versions HTTP/1.1`,
      `Host: ${url.host}`,
      `Authorization: ${context.auth('author').authorization}`,
      'Content-Type: application/pdf',
      framing === 'content-length' ? `Content-Length: ${part.length * 4}` : 'Transfer-Encoding: chunked',
      '',
      '',
    ].join('\r\n');
    const body =
      framing === 'chunked'
        ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')])
        : part;
    await new Promise<void>((resolve, reject) =>
      socket.write(Buffer.concat([Buffer.from(head), body]), (error) => (error ? reject(error) : resolve())),
    );
    // The server has started writing this upload to storage before the connection drops.
    await waitFor(() => store.puts.length > putsBefore, 'the upload to reach the store');
    socket.destroy();
    await waitFor(() => store.inFlight === 0, 'the write to storage to end after the client left');
  }

  async function waitFor(condition: () => boolean, what: string): Promise<void> {
    for (let waited = 0; !condition(); waited += 20) {
      if (waited > 120_000) throw new Error(`gave up waiting for ${what}`);
      await sleep(20);
    }
  }

  for (const framing of ['content-length', 'chunked'] as const) {
    it(`with ${framing} framing: no version row, no object, no gap`, async () => {
      const logicalId = `fail-cut-${framing}`;
      const before = await seedDocument(logicalId);
      await cutOffUpload(logicalId, framing);
      // The server may still be cleaning up; wait until the attempt's object is gone.
      const attempt = store.puts.at(-1)?.key as string;
      for (let waited = 0; (await store.head(attempt)) && waited < 120_000; waited += 20) await sleep(20);
      await expectUntouched(logicalId, before);
    });
  }

  it('through the service: a body stream that fails midway is a 400, with no row and no object', async () => {
    const before = await seedDocument('fail-cut-service');
    const putsBefore = store.puts.length;
    const body = Readable.from(
      (async function* () {
        yield Buffer.alloc(32 * 1024, 5);
        await sleep(10);
        throw new Error('connection reset by peer');
      })(),
    );
    const attempt = uploadVersionService(context.runtime.database.db, store, {
      logicalId: 'fail-cut-service',
      body,
      contentType: 'application/pdf',
      contentLength: undefined,
      limitBytes: context.config.uploadLimitBytes,
      uploadedBy: 'author-1',
    });
    // Bounded, so a write left waiting for bytes that never come fails here and not at the timeout.
    const outcome = await Promise.race([
      attempt.then(
        () => 'recorded',
        (error: unknown) => error,
      ),
      sleep(120_000, 'still waiting for the body'),
    ]);
    expect(outcome).toMatchObject({ status: 400 });
    expect(store.puts.length).toBe(putsBefore + 1);
    expect(store.inFlight).toBe(0);
    await expectUntouched('fail-cut-service', before);
  });
});
