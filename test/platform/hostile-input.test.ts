import { connect } from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShop, type ShopFixture } from '../support/dashboard.ts';
import { putDocument } from '../support/documents.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';
import { createFacility, multipartBody, receive } from '../support/worklist.ts';

/** The malformed and hostile requests found answering 500, or worse, 2xx: each must now be a 4xx problem. */
let context: TestContext;
let shop: ShopFixture;
let pendingId: number;
const FACILITY = 'FAC-HI';

beforeAll(async () => {
  context = await createTestContext({ listen: true, env: { HOTPATH_UPLOAD_LIMIT_BYTES: '4096' } });
  shop = await createShop(context, 'hostile-shop', { products: [{ price: 1500, stock: 10 }] });
  await createFacility(context, FACILITY, {
    patients: [
      { ipp: 'H-1', birthLastName: 'Durand', birthFirstNames: 'Paul', birthDate: '1970-05-06', sex: 'M' },
    ],
  });
  const received = await receive(context, {
    metadata: {
      facilityId: FACILITY,
      source: 'lab',
      title: 'Unmatched report',
      extracted: { extractor: 'cda' },
    },
  });
  pendingId = received.json().id;
  await putDocument(context, 'hostile-doc');
});
afterAll(async () => {
  await context.close();
});

const admin = () =>
  context.auth('admin', 'hostile-admin', { facilities: [FACILITY], merchants: ['hostile-shop'] });

function expectProblem(response: LightMyRequestResponse, status: number, detail?: RegExp): void {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  if (detail) expect(response.json().detail).toMatch(detail);
}

describe('no coercion of JSON values', () => {
  it('refuses a null price instead of setting it to 0', async () => {
    const productId = shop.productIds[0];
    const response = await context.app.inject({
      method: 'PATCH',
      url: `/v1/products/${productId}`,
      headers: admin(),
      payload: { price: null },
    });
    expectProblem(response, 400, /body\.price/);
    const { rows } = await sql<{
      price_minor: number;
    }>`SELECT price_minor FROM products WHERE product_id = ${productId}`.execute(context.runtime.database.db);
    expect(rows[0]?.price_minor).toBe(1500);
  });

  it('refuses a boolean patient id instead of linking the document to patient 1', async () => {
    const response = await context.app.inject({
      method: 'POST',
      url: `/v2/worklist/${pendingId}/verify`,
      headers: admin(),
      payload: { patientId: true },
    });
    expectProblem(response, 400, /body\.patientId/);
    const detail = await context.app.inject({
      method: 'GET',
      url: `/v2/worklist/${pendingId}`,
      headers: admin(),
    });
    expect(detail.json().patient).toBeNull();
  });

  it('still reads numbers from the path and the query string', async () => {
    const response = await context.app.inject({
      method: 'GET',
      url: `/v1/documents/hostile-doc/versions?limit=5`,
      headers: admin(),
    });
    expect(response.statusCode).toBe(200);
  });
});

describe('values PostgreSQL cannot hold', () => {
  it('refuses NUL characters in a JSON field, a query string and a multipart part, naming them', async () => {
    const json = await context.app.inject({
      method: 'PUT',
      url: '/v1/documents/hostile-nul',
      headers: admin(),
      payload: { studyId: 'S1', sectionId: 'sec-1', documentType: 'CSR', title: 'a\u0000b' },
    });
    expectProblem(json, 400, /^body\.title contains a NUL character$/);
    const query = await context.app.inject({
      method: 'GET',
      url: `/v2/worklist?facilityId=${FACILITY}&q=ab%00c`,
      headers: admin(),
    });
    expectProblem(query, 400, /^querystring\.q contains a NUL character$/);
    const part = await receive(
      context,
      {
        metadata: { facilityId: FACILITY, source: 'lab', title: 'x\u0000', extracted: { extractor: 'cda' } },
      },
      admin(),
    );
    expectProblem(part, 400, /^metadata\.title contains a NUL character$/);
  });

  it('refuses ids beyond what bigint and JavaScript hold', async () => {
    for (const customerId of [1e21, 2 ** 63, 9_007_199_254_740_992]) {
      const response = await context.app.inject({
        method: 'POST',
        url: '/v1/merchants/hostile-shop/orders',
        headers: admin(),
        payload: { customerId, items: [{ productId: shop.productIds[0], quantity: 1 }] },
      });
      expectProblem(response, 400, /body\.customerId/);
    }
  });

  it('refuses year 0000 and impossible dates', async () => {
    const query = await context.app.inject({
      method: 'GET',
      url: `/v2/worklist?facilityId=${FACILITY}&receivedFrom=0000-01-01T00:00:00Z`,
      headers: admin(),
    });
    expectProblem(query, 400, /receivedFrom/);
    for (const procedureDate of ['0000-01-01', '2025-02-29', '2026-04-31']) {
      const response = await receive(
        context,
        {
          metadata: {
            facilityId: FACILITY,
            source: 'lab',
            title: 'Dated',
            procedureDate,
            extracted: { extractor: 'cda' },
          },
        },
        admin(),
      );
      expectProblem(response, 400, /procedureDate/);
    }
  });

  it('refuses cursors it did not issue', async () => {
    for (const forged of [
      '99999999999999999999.1',
      '-99999999999999999.1',
      '1.99999999999999999',
      'garbage!',
    ]) {
      const response = await context.app.inject({
        method: 'GET',
        url: `/v2/worklist?facilityId=${FACILITY}&cursor=${Buffer.from(forged).toString('base64url')}`,
        headers: admin(),
      });
      expectProblem(response, 400, /cursor/);
    }
    const history = await context.app.inject({
      method: 'GET',
      url: '/v1/documents/hostile-doc/versions?cursor=v9999999999',
      headers: admin(),
    });
    expectProblem(history, 400, /cursor/);
  });
});

describe('bodies', () => {
  it('refuses an empty upload and records no version', async () => {
    for (const headers of [{ 'content-length': '0' }, { 'transfer-encoding': 'chunked' }]) {
      const response = await context.app.inject({
        method: 'POST',
        url: '/v1/documents/hostile-doc/versions',
        headers: { ...admin(), 'content-type': 'application/pdf', ...headers },
        payload: '',
      });
      expectProblem(response, 400, /the body is empty/);
    }
    const { rows } = await sql<{ versions: number }>`
      SELECT count(*)::int AS versions FROM document_versions WHERE logical_id = 'hostile-doc'`.execute(
      context.runtime.database.db,
    );
    expect(rows[0]?.versions).toBe(0);
  });

  it('answers multipart bodies that are not multipart as declared with 400', async () => {
    const bodies: Array<[string, string]> = [
      ['multipart/form-data', '--x\r\n\r\n'],
      [
        'multipart/form-data; boundary=nope',
        '--other\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{}\r\n--other--\r\n',
      ],
      [
        'multipart/form-data; boundary=x',
        '--x\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{"facilityId":"FAC-HI"',
      ],
    ];
    for (const [contentType, payload] of bodies) {
      const response = await context.app.inject({
        method: 'POST',
        url: '/v2/worklist',
        headers: { ...admin(), 'content-type': contentType },
        payload,
      });
      expect(response.statusCode, `${contentType}: ${response.body}`).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
  });

  it('answers 413 for a worklist file over the limit, and for a JSON body over the limit', async () => {
    const oversize = await receive(
      context,
      {
        metadata: { facilityId: FACILITY, source: 'lab', title: 'Big', extracted: { extractor: 'cda' } },
        files: [{ name: 'big.pdf', type: 'application/pdf', content: Buffer.alloc(10_000, 7) }],
      },
      admin(),
    );
    expectProblem(oversize, 413);
    const json = await context.app.inject({
      method: 'POST',
      url: '/v1/documents/batch-get',
      headers: { ...admin(), 'content-type': 'application/json' },
      payload: `{"logicalIds":["${'a'.repeat(2 * 1024 * 1024)}"]}`,
    });
    expectProblem(json, 413);
  });

  it('answers a validly signed URL for a key no object can have with 404', async () => {
    const expires = Math.floor(Date.now() / 1000) + 300;
    for (const key of ['documents/', `documents/${'k'.repeat(480)}`, 'documents\\x', 'a//b', 'a/../b']) {
      const signature = context.runtime.urlSigner.sign(key, expires);
      const response = await context.app.inject({
        method: 'GET',
        url: `/v1/objects/${key.split('/').map(encodeURIComponent).join('/')}?expires=${expires}&signature=${signature}`,
      });
      // `a/../b` reaches the router as `b`, whose signature differs: a 403.
      expect([400, 403, 404], `${key}: ${response.body}`).toContain(response.statusCode);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
  });
});

describe('the token before the body', () => {
  it('answers an unauthenticated malformed POST with 401, not with 400 naming fields', async () => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/v1/merchants/hostile-shop/orders',
      headers: { 'content-type': 'application/json' },
      payload: { customerId: 'not a number' },
    });
    expectProblem(response, 401);
  });

  it('answers 401 before reading a large unauthenticated body, and closes the connection', async () => {
    const size = 64 * 1024 * 1024;
    const answer = await new Promise<{ head: string; sentBytes: number }>((resolve, reject) => {
      const socket = connect(Number(new URL(context.baseUrl).port), '127.0.0.1');
      let head = '';
      let sent = 0;
      const chunk = Buffer.alloc(64 * 1024, 120);
      socket.on('data', (data) => {
        head += data;
        if (head.includes('\r\n\r\n')) {
          socket.destroy();
          resolve({ head, sentBytes: sent });
        }
      });
      socket.on('error', (error) => (head ? resolve({ head, sentBytes: sent }) : reject(error)));
      socket.write(
        `POST /v1/documents/batch-get HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
      );
      const pump = () => {
        while (sent < size && !socket.destroyed) {
          sent += chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
      };
      pump();
    });
    expect(answer.head).toMatch(/^HTTP\/1\.1 401/);
    expect(answer.head.toLowerCase()).toContain('connection: close');
    // The answer came while most of the body was still unsent: the server did not wait to read it.
    expect(answer.sentBytes).toBeLessThan(size);
  });
});

describe('a multipart body built by the fetch API still works', () => {
  it('receives a well-formed document', async () => {
    const { payload, contentType } = await multipartBody({
      metadata: {
        facilityId: FACILITY,
        source: 'lab',
        title: 'Fine',
        procedureDate: '2024-02-29',
        extracted: { extractor: 'cda' },
      },
    });
    const response = await context.app.inject({
      method: 'POST',
      url: '/v2/worklist',
      headers: { ...admin(), 'content-type': contentType },
      payload,
    });
    expect(response.statusCode, response.body).toBe(201);
  });
});
