import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDocumentsDataset } from '../../src/modules/documents/operations/dataset.ts';
import { putDocument, transition, uploadVersion } from '../support/documents.ts';
import { costOf, createTestContext, type TestContext } from '../support/harness.ts';

let context: TestContext;

beforeAll(async () => {
  context = await createTestContext();
});
afterAll(async () => {
  await context.close();
});

const get = (url: string, role: 'reader' | 'author' | 'approver' | 'admin' = 'reader', headers = {}) =>
  context.app.inject({ method: 'GET', url, headers: { ...context.auth(role), ...headers } });

describe('documents API', () => {
  it('creates, retitles and refuses to move a document', async () => {
    const created = await context.app.inject({
      method: 'PUT',
      url: '/v1/documents/doc-a',
      headers: context.auth('author'),
      payload: { studyId: 'S1', sectionId: 'sec-1', documentType: 'CSR', title: 'First title' },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      logicalId: 'doc-a',
      studyId: 'S1',
      sectionId: 'sec-1',
      documentType: 'CSR',
    });

    const retitled = await context.app.inject({
      method: 'PUT',
      url: '/v1/documents/doc-a',
      headers: context.auth('author'),
      payload: { studyId: 'S1', sectionId: 'sec-1', documentType: 'CSR', title: 'Second title' },
    });
    expect(retitled.statusCode).toBe(200);
    expect(retitled.json().title).toBe('Second title');

    const moved = await context.app.inject({
      method: 'PUT',
      url: '/v1/documents/doc-a',
      headers: context.auth('author'),
      payload: { studyId: 'S1', sectionId: 'sec-2', documentType: 'CSR', title: 'Moved' },
    });
    expect(moved.statusCode).toBe(409);

    const wrongType = await context.app.inject({
      method: 'PUT',
      url: '/v1/documents/doc-b',
      headers: context.auth('author'),
      payload: { studyId: 'S1', sectionId: 'sec-1', documentType: 'DSUR', title: 'Wrong type' },
    });
    expect(wrongType.statusCode).toBe(409);
    expect(wrongType.json().detail).toContain('holds CSR documents');
  });

  it('uploads versions with consecutive numbers, the content type kept and the SHA-256 of the bytes', async () => {
    await putDocument(context, 'doc-upload');
    const body = Buffer.from('%PDF-1.4 hello');
    const first = await context.app.inject({
      method: 'POST',
      url: '/v1/documents/doc-upload/versions',
      headers: { ...context.auth('author', 'alice'), 'content-type': 'application/pdf' },
      payload: body,
    });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({
      logicalId: 'doc-upload',
      version: 1,
      state: 'draft',
      contentType: 'application/pdf',
      sizeBytes: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      uploadedBy: 'alice',
    });
    const second = await uploadVersion(context, 'doc-upload', 'second', 'text/plain');
    expect(second.version).toBe(2);
    const version = await get('/v1/documents/doc-upload/versions/2', 'author');
    expect(version.json()).toMatchObject({ version: 2, state: 'draft', contentType: 'text/plain' });
  });

  it('answers the latest approved version in one statement and no storage request, and follows withdrawals', async () => {
    await putDocument(context, 'doc-flow', { title: 'Flow' });
    for (let n = 0; n < 3; n++) await uploadVersion(context, 'doc-flow', `v${n + 1}`);

    expect((await get('/v1/documents/doc-flow')).statusCode).toBe(404);
    expect((await transition(context, 'doc-flow', 1, 'approve')).statusCode).toBe(200);
    expect((await transition(context, 'doc-flow', 3, 'approve')).statusCode).toBe(200);
    expect((await transition(context, 'doc-flow', 2, 'reject', 'wrong tables')).json()).toMatchObject({
      state: 'rejected',
      rejectedBy: 'approver-1',
      reason: 'wrong tables',
    });

    const latest = await get('/v1/documents/doc-flow');
    expect(latest.statusCode).toBe(200);
    expect(latest.json()).toMatchObject({
      logicalId: 'doc-flow',
      studyId: 'S1',
      sectionId: 'sec-1',
      documentType: 'CSR',
      title: 'Flow',
      version: 3,
      approvedBy: 'approver-1',
      contentType: 'application/pdf',
    });
    expect(costOf(latest.headers)).toEqual({ queries: 1, storage: 0, ext: 0 });

    const download = await context.app.inject({
      method: 'GET',
      url: new URL(latest.json().downloadUrl).pathname + new URL(latest.json().downloadUrl).search,
    });
    expect(download.statusCode).toBe(200);
    expect(download.body).toBe('v3');

    const withdrawn = await transition(context, 'doc-flow', 3, 'withdraw', 'data cut error');
    expect(withdrawn.json()).toMatchObject({
      state: 'withdrawn',
      withdrawnBy: 'approver-1',
      reason: 'data cut error',
    });
    expect((await get('/v1/documents/doc-flow')).json().version).toBe(1);

    await transition(context, 'doc-flow', 1, 'withdraw', 'superseded');
    const none = await get('/v1/documents/doc-flow');
    expect(none.statusCode).toBe(404);
    expect(none.headers['content-type']).toContain('application/problem+json');
  });

  it('answers 304 to a matching If-None-Match, and a new ETag after a change', async () => {
    await putDocument(context, 'doc-etag');
    await uploadVersion(context, 'doc-etag');
    await transition(context, 'doc-etag', 1, 'approve');
    const first = await get('/v1/documents/doc-etag');
    const etag = String(first.headers.etag);
    const again = await get('/v1/documents/doc-etag', 'reader', { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect(costOf(again.headers).queries).toBe(1);

    await uploadVersion(context, 'doc-etag');
    await transition(context, 'doc-etag', 2, 'approve');
    const changed = await get('/v1/documents/doc-etag', 'reader', { 'if-none-match': etag });
    expect(changed.statusCode).toBe(200);
    expect(changed.json().version).toBe(2);
  });

  it('refuses illegal transitions with 409 and unknown versions with 404', async () => {
    await putDocument(context, 'doc-409');
    await uploadVersion(context, 'doc-409');
    await transition(context, 'doc-409', 1, 'approve');
    expect((await transition(context, 'doc-409', 1, 'approve')).statusCode).toBe(409);
    expect((await transition(context, 'doc-409', 1, 'reject')).statusCode).toBe(409);
    await transition(context, 'doc-409', 1, 'withdraw');
    const again = await transition(context, 'doc-409', 1, 'withdraw');
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ status: 409, title: 'Conflict' });
    expect(again.json().detail).toContain('withdrawn');
    expect((await transition(context, 'doc-409', 9, 'approve')).statusCode).toBe(404);
    expect((await transition(context, 'no-such-doc', 1, 'approve')).statusCode).toBe(404);
  });

  it('pages the history newest first, hiding drafts from readers', async () => {
    await putDocument(context, 'doc-history');
    for (let n = 0; n < 7; n++) await uploadVersion(context, 'doc-history');
    for (const version of [1, 2, 4, 6]) await transition(context, 'doc-history', version, 'approve');

    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page = await get(
        `/v1/documents/doc-history/versions?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
        'author',
      );
      expect(page.statusCode).toBe(200);
      expect(costOf(page.headers).queries).toBe(1);
      seen.push(...page.json().versions.map((version: { version: number }) => version.version));
      cursor = page.json().nextCursor;
    } while (cursor);
    expect(seen).toEqual([7, 6, 5, 4, 3, 2, 1]);

    const asReader = await get('/v1/documents/doc-history/versions?limit=100');
    expect(asReader.json().versions.map((version: { version: number }) => version.version)).toEqual([
      6, 4, 2, 1,
    ]);
    expect(asReader.json().nextCursor).toBeNull();

    expect((await get('/v1/documents/doc-history/versions/7')).statusCode).toBe(403);
    const approved = await get('/v1/documents/doc-history/versions/6');
    expect(approved.statusCode).toBe(200);
    expect(approved.json().downloadUrl).toContain('/v1/objects/documents/doc-history/');

    expect((await get('/v1/documents/nope/versions')).statusCode).toBe(404);
    await putDocument(context, 'doc-empty');
    const empty = await get('/v1/documents/doc-empty/versions');
    expect(empty.statusCode).toBe(200);
    expect(empty.json()).toEqual({ logicalId: 'doc-empty', versions: [], nextCursor: null });
  });

  it('batch-gets the latest approved of many documents in one statement, naming the missing', async () => {
    for (const id of ['batch-1', 'batch-2', 'batch-3']) {
      await putDocument(context, id);
      await uploadVersion(context, id);
    }
    await transition(context, 'batch-1', 1, 'approve');
    await transition(context, 'batch-3', 1, 'approve');
    const response = await context.app.inject({
      method: 'POST',
      url: '/v1/documents/batch-get',
      headers: context.auth('reader'),
      payload: { logicalIds: ['batch-3', 'batch-2', 'unknown-doc', 'batch-1', 'batch-3'] },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().documents.map((document: { logicalId: string }) => document.logicalId)).toEqual([
      'batch-3',
      'batch-1',
    ]);
    expect(response.json().missing).toEqual(['batch-2', 'unknown-doc']);
    expect(costOf(response.headers)).toEqual({ queries: 1, storage: 0, ext: 0 });
  });
});

describe('batch-get at its limit', () => {
  it('answers 100 documents in one statement and no storage request', async () => {
    await generateDocumentsDataset(context.runtime.database.db, {
      documents: 150,
      versionsPerDocument: 2,
      sectionSize: 50,
    });
    const logicalIds = Array.from({ length: 100 }, (_, n) => `bench-${String(n + 1).padStart(8, '0')}`);
    const response = await context.app.inject({
      method: 'POST',
      url: '/v1/documents/batch-get',
      headers: context.auth('reader'),
      payload: { logicalIds },
    });
    expect(response.statusCode).toBe(200);
    const { documents, missing } = response.json() as {
      documents: Array<{ logicalId: string }>;
      missing: string[];
    };
    expect(documents.length + missing.length).toBe(100);
    expect(documents.length).toBeGreaterThan(50);
    expect([...documents.map((document) => document.logicalId), ...missing].sort()).toEqual(logicalIds);
    expect(costOf(response.headers)).toEqual({ queries: 1, storage: 0, ext: 0 });
  });
});

describe('bad input answers problem+json with the right status', () => {
  const expectProblem = (
    response: { statusCode: number; headers: Record<string, unknown>; json(): unknown },
    status: number,
  ) => {
    expect(response.statusCode).toBe(status);
    expect(String(response.headers['content-type'])).toContain('application/problem+json');
    expect(response.json()).toMatchObject({
      status,
      type: expect.any(String),
      title: expect.any(String),
      detail: expect.any(String),
    });
  };

  it('404 for an unknown document', async () => {
    expectProblem(await get('/v1/documents/never-created'), 404);
  });

  it('400 for a malformed id, naming the field', async () => {
    const response = await get('/v1/documents/-bad!id');
    expectProblem(response, 400);
    expect((response.json() as { detail: string }).detail).toContain('params.logicalId');
  });

  it('400 for malformed JSON and for a missing or unknown field', async () => {
    const malformed = await context.app.inject({
      method: 'PUT',
      url: '/v1/documents/doc-json',
      headers: { ...context.auth('author'), 'content-type': 'application/json' },
      payload: '{"studyId": ',
    });
    expectProblem(malformed, 400);
    const missing = await context.app.inject({
      method: 'PUT',
      url: '/v1/documents/doc-json',
      headers: context.auth('author'),
      payload: { studyId: 'S1', sectionId: 'sec-1', documentType: 'CSR' },
    });
    expectProblem(missing, 400);
    expect((missing.json() as { detail: string }).detail).toContain('body.title');
    const unknown = await context.app.inject({
      method: 'PUT',
      url: '/v1/documents/doc-json',
      headers: context.auth('author'),
      payload: { studyId: 'S1', sectionId: 'sec-1', documentType: 'CSR', title: 't', colour: 'red' },
    });
    expectProblem(unknown, 400);
    expect((unknown.json() as { detail: string }).detail).toContain('body.colour');
    const tooMany = await context.app.inject({
      method: 'POST',
      url: '/v1/documents/batch-get',
      headers: context.auth('reader'),
      payload: { logicalIds: Array.from({ length: 101 }, (_, n) => `d-${n}`) },
    });
    expectProblem(tooMany, 400);
  });

  it('413 for an upload over the limit, with nothing recorded', async () => {
    const small = await createTestContext({ env: { HOTPATH_UPLOAD_LIMIT_BYTES: '1024' } });
    try {
      await putDocument(small, 'doc-big');
      const response = await small.app.inject({
        method: 'POST',
        url: '/v1/documents/doc-big/versions',
        headers: { ...small.auth('author'), 'content-type': 'application/pdf' },
        payload: Buffer.alloc(4096, 1),
      });
      expectProblem(response, 413);
      const history = await small.app.inject({
        method: 'GET',
        url: '/v1/documents/doc-big/versions',
        headers: small.auth('author'),
      });
      expect(history.json().versions).toEqual([]);
    } finally {
      await small.close();
    }
  });

  it('401 without a token or with a forged one, 403 for the wrong role', async () => {
    expectProblem(await context.app.inject({ method: 'GET', url: '/v1/documents/doc-a' }), 401);
    const forged = await context.app.inject({
      method: 'GET',
      url: '/v1/documents/doc-a',
      headers: { authorization: `${context.auth('admin').authorization}x` },
    });
    expectProblem(forged, 401);
    expect(forged.headers['www-authenticate']).toBe('Bearer');
    const readerWrites = await context.app.inject({
      method: 'PUT',
      url: '/v1/documents/doc-a',
      headers: context.auth('reader'),
      payload: { studyId: 'S1', sectionId: 'sec-1', documentType: 'CSR', title: 'x' },
    });
    expectProblem(readerWrites, 403);
    const authorApproves = await context.app.inject({
      method: 'POST',
      url: '/v1/documents/doc-a/versions/1/approve',
      headers: context.auth('author'),
    });
    expectProblem(authorApproves, 403);
  });

  it('403 for a tampered download URL and 410 for an expired one', async () => {
    await putDocument(context, 'doc-url');
    await uploadVersion(context, 'doc-url', 'secret bytes');
    await transition(context, 'doc-url', 1, 'approve');
    const url = new URL((await get('/v1/documents/doc-url')).json().downloadUrl);
    const tamperedKey = await context.app.inject({ method: 'GET', url: `${url.pathname}x${url.search}` });
    expectProblem(tamperedKey, 403);
    const later = new URLSearchParams(url.search);
    later.set('expires', String(Number(later.get('expires')) + 3600));
    expectProblem(await context.app.inject({ method: 'GET', url: `${url.pathname}?${later}` }), 403);

    const expiredAt = Math.floor(Date.now() / 1000) - 10;
    const signature = context.runtime.urlSigner.sign(
      decodeURIComponent(url.pathname.replace('/v1/objects/', '')),
      expiredAt,
    );
    const expired = await context.app.inject({
      method: 'GET',
      url: `${url.pathname}?expires=${expiredAt}&signature=${signature}`,
    });
    expectProblem(expired, 410);
  });

  it('404 problem for an unknown route', async () => {
    expectProblem(await context.app.inject({ method: 'GET', url: '/v1/nothing-here' }), 404);
  });
});

describe('operations endpoints', () => {
  it('serves health, readiness, metrics and the OpenAPI document', async () => {
    expect((await context.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await context.app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({
      status: 'ready',
      redis: 'off',
    });
    const metrics = await context.app.inject({ method: 'GET', url: '/metrics' });
    for (const name of [
      'http_request_duration_seconds',
      'hotpath_db_queries_total',
      'hotpath_db_query_duration_seconds',
      'hotpath_storage_requests_total',
      'hotpath_db_pool_in_use',
      'hotpath_db_pool_idle',
      'hotpath_db_pool_waiting',
      'hotpath_documents_registry_mismatches',
    ]) {
      expect(metrics.body).toContain(name);
    }
    expect(metrics.body).toMatch(
      /hotpath_db_query_duration_seconds_count\{query="documents.latestApproved"\} \d+/,
    );
    const openapi = (await context.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(openapi.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining([
        '/v1/documents/{logicalId}',
        '/v1/documents/batch-get',
        '/v1/documents/{logicalId}/versions',
      ]),
    );
    expect((await context.app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });

  it('carries the request id through, or makes one', async () => {
    const given = await context.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'trace-123' },
    });
    expect(given.headers['x-request-id']).toBe('trace-123');
    // Made ids: this process's prefix and a counter, so two requests never share one.
    const made = await context.app.inject({ method: 'GET', url: '/healthz' });
    const next = await context.app.inject({ method: 'GET', url: '/healthz' });
    expect(String(made.headers['x-request-id'])).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
    expect(next.headers['x-request-id']).not.toBe(made.headers['x-request-id']);
  });
});
