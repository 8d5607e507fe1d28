import { connect } from 'node:net';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShop } from '../support/dashboard.ts';
import { putDocument, transition, uploadVersion } from '../support/documents.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';
import { createFacility, receive } from '../support/worklist.ts';
import { asText, type JsonSchema, malformedValue, maulValue, validValue } from './arbitraries.ts';

/**
 * Every operation in /openapi.json, fed malformed input generated from its own schemas (seeded, so a
 * failure replays): every answer must be a 2xx, or a 4xx as problem+json. A 5xx is a defect.
 */
const SEED = 20261201;
const RUNS_PER_OPERATION = 250;

interface Operation {
  method: string;
  path: string;
  parameters: Array<{ in: 'path' | 'query'; name: string; required?: boolean; schema: JsonSchema }>;
  body?: { contentType: string; schema: JsonSchema };
  secured: boolean;
}

interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
}

let context: TestContext;
let operations: Operation[];
const tally = { requests: 0, byStatus: new Map<number, number>() };
/** Ids that exist, so that some generated requests reach the handlers' deeper paths. */
const known = {
  logicalId: 'fuzz-doc',
  merchantId: 'fuzz-shop',
  facilityId: 'FAC-FZ',
  id: 1,
  productId: 1,
  version: 1,
};

beforeAll(async () => {
  context = await createTestContext({ listen: true });
  await putDocument(context, known.logicalId);
  const { version } = await uploadVersion(context, known.logicalId, 'a version');
  await transition(context, known.logicalId, version, 'approve');
  await uploadVersion(context, known.logicalId, 'a draft');
  const shop = await createShop(context, known.merchantId);
  known.productId = shop.productIds[0] as number;
  await createFacility(context, known.facilityId, {
    patients: [
      { ipp: 'F-1', birthLastName: 'Martin', birthFirstNames: 'Léa', birthDate: '1990-01-02', sex: 'F' },
    ],
  });
  const received = await receive(context, {
    metadata: {
      facilityId: known.facilityId,
      source: 'lab',
      title: 'Report',
      extracted: { extractor: 'cda' },
    },
  });
  known.id = received.json().id;
  const spec = (await context.app.inject({ method: 'GET', url: '/openapi.json' })).json();
  operations = operationsOf(spec);
});

afterAll(async () => {
  const statuses = [...tally.byStatus.entries()].sort(([a], [b]) => a - b);
  process.stdout.write(
    `fuzz: ${tally.requests} requests over ${operations?.length ?? 0} operations; statuses ${statuses
      .map(([status, count]) => `${status}×${count}`)
      .join(
        ', ',
      )}; 5xx: ${statuses.filter(([status]) => status >= 500).reduce((sum, [, count]) => sum + count, 0)}\n`,
  );
  await context?.close();
});

function operationsOf(spec: { paths: Record<string, Record<string, Record<string, unknown>>> }): Operation[] {
  const found: Operation[] = [];
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const content = (
        operation.requestBody as { content?: Record<string, { schema: JsonSchema }> } | undefined
      )?.content;
      const [contentType, media] = Object.entries(content ?? {})[0] ?? [];
      found.push({
        method: method.toUpperCase(),
        path,
        parameters: (operation.parameters ?? []) as Operation['parameters'],
        ...(contentType && media ? { body: { contentType, schema: media.schema } } : {}),
        secured: !(Array.isArray(operation.security) && operation.security.length === 0),
      });
    }
  }
  return found;
}

/** Percent-encoding that also carries what encodeURIComponent refuses (lone surrogates), as UTF-8 would. */
function encode(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return [...Buffer.from(text)].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
  }
}

/** A path parameter: the id that exists, a valid-looking one, or something malformed, percent-encoded or raw. */
function pathValue(name: string, schema: JsonSchema): fc.Arbitrary<string> {
  const existing = (known as Record<string, unknown>)[name];
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(String(existing ?? 'x')) },
    { weight: 2, arbitrary: validValue(schema).map((value) => encode(asText(value))) },
    { weight: 3, arbitrary: malformedValue.map((value) => encode(asText(value))) },
    { weight: 1, arbitrary: fc.constantFrom('%zz', '%', '%00', '..', '%2e%2e', 'a%2Fb', 'x'.repeat(1_200)) },
  );
}

function requestFor(operation: Operation): fc.Arbitrary<Sent> {
  const pathParameters = operation.parameters.filter((parameter) => parameter.in === 'path');
  const queryParameters = operation.parameters.filter((parameter) => parameter.in === 'query');
  const path = fc
    .tuple(...pathParameters.map((parameter) => pathValue(parameter.name, parameter.schema)))
    .map((values) =>
      pathParameters.reduce(
        (url, parameter, index) => url.replace(`{${parameter.name}}`, values[index] as string),
        operation.path,
      ),
    );
  const query = fc
    .tuple(
      ...queryParameters.map((parameter) =>
        fc.option(
          fc
            .oneof(validValue(parameter.schema), malformedValue)
            .map((value) => `${parameter.name}=${encode(asText(value))}`),
          { nil: undefined },
        ),
      ),
      fc.option(fc.constantFrom('unknown=1', 'limit=1&limit=2', '%zz=1', 'cursor=%00'), { nil: undefined }),
    )
    .map((parts) => parts.filter(Boolean).join('&'));
  const auth = operation.secured
    ? fc.oneof(
        {
          weight: 8,
          arbitrary: fc.constant(
            context.auth('admin', 'fuzz-admin', {
              facilities: [known.facilityId],
              merchants: [known.merchantId],
            }),
          ),
        },
        {
          weight: 3,
          arbitrary: fc.constantFrom<Record<string, string>>(
            context.auth('reader', 'fuzz-reader'),
            {},
            { authorization: 'Bearer hp1.forged.token' },
            { authorization: 'Basic Zm9vOmJhcg==' },
          ),
        },
      )
    : fc.constant<Record<string, string>>({});
  return fc.tuple(path, query, auth, bodyFor(operation)).map(([url, search, headers, body]) => ({
    method: operation.method,
    url: search ? `${url}?${search}` : url,
    headers: { ...headers, ...body.headers },
    ...(body.payload === undefined ? {} : { payload: body.payload }),
  }));
}

type Body = { headers: Record<string, string>; payload?: string | Buffer };

function bodyFor(operation: Operation): fc.Arbitrary<Body> {
  const json = (value: unknown): Body => ({
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify(value) ?? 'null',
  });
  const broken = fc.constantFrom<Body>(
    { headers: { 'content-type': 'application/json' }, payload: '{"unterminated": ' },
    { headers: { 'content-type': 'application/json' }, payload: '' },
    { headers: { 'content-type': 'application/json' }, payload: '{"a":"\\u0000"}' },
    { headers: { 'content-type': 'application/json' }, payload: '{"__proto__": {"role": "admin"}}' },
    { headers: { 'content-type': 'text/plain' }, payload: 'hello' },
    { headers: { 'content-type': 'application/xml' }, payload: '<a/>' },
    { headers: {} },
  );
  if (operation.path === '/v2/worklist' && operation.method === 'POST') return multipartBodies();
  if (operation.path.endsWith('/versions') && operation.method === 'POST') {
    return fc.oneof(
      fc.constantFrom<Body>(
        { headers: { 'content-type': 'application/pdf' }, payload: '' },
        { headers: {} },
        { headers: { 'content-type': 'application/pdf' }, payload: '%PDF-1.4 a small file' },
        { headers: { 'content-type': 'application/pdf\u0000' }, payload: 'x' },
      ),
      fc.uint8Array({ maxLength: 64 }).map((bytes) => ({
        headers: { 'content-type': 'application/octet-stream' },
        payload: Buffer.from(bytes),
      })),
    );
  }
  if (!operation.body) return fc.oneof({ weight: 3, arbitrary: fc.constant<Body>({ headers: {} }) }, broken);
  return fc.oneof(
    { weight: 6, arbitrary: maulValue(operation.body.schema).map(json) },
    { weight: 2, arbitrary: validValue(operation.body.schema).map(json) },
    { weight: 2, arbitrary: broken },
  );
}

function multipartBodies(): fc.Arbitrary<Body> {
  const metadata = fc.oneof(
    fc.constant({
      facilityId: known.facilityId,
      source: 'lab',
      title: 'A report',
      extracted: { extractor: 'cda' },
    }),
    fc.record({
      facilityId: fc.oneof(fc.constant(known.facilityId), malformedValue),
      source: fc.oneof(fc.constant('lab'), malformedValue),
      title: fc.oneof(fc.constant('A report'), malformedValue),
      procedureDate: fc.oneof(fc.constant('2026-11-19'), malformedValue),
      extracted: fc.oneof(
        fc.record({
          extractor: fc.oneof(fc.constant('cda'), malformedValue),
          ins: fc.oneof(fc.constant('279035121518989'), malformedValue),
          birthDate: fc.oneof(fc.constant('1979-03-12'), malformedValue),
          sex: fc.oneof(fc.constant('F'), malformedValue),
        }),
        malformedValue,
      ),
    }),
  );
  const wellFormed = fc
    .tuple(
      metadata,
      fc.constantFrom('application/pdf', 'application/octet-stream', ''),
      fc.uint8Array({ maxLength: 32 }),
    )
    .map(([fields, type, bytes]) =>
      multipart([
        { name: 'metadata', content: JSON.stringify(fields) ?? 'null' },
        { name: 'file', filename: 'report.pdf', type, content: Buffer.from(bytes) },
      ]),
    );
  const raw = fc.constantFrom<Body>(
    { headers: { 'content-type': 'multipart/form-data' }, payload: '--x\r\n\r\n' },
    {
      headers: { 'content-type': 'multipart/form-data; boundary=nope' },
      payload: '--other\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{}\r\n--other--\r\n',
    },
    {
      headers: { 'content-type': 'multipart/form-data; boundary=x' },
      payload: '--x\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{"facilityId":"FAC-FZ"',
    },
    {
      headers: { 'content-type': 'multipart/form-data; boundary=x' },
      payload:
        '--x\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{"title":"a\u0000b"}\r\n--x--\r\n',
    },
    { headers: { 'content-type': 'multipart/form-data; boundary=x' }, payload: '' },
    { headers: { 'content-type': 'application/json' }, payload: '{}' },
  );
  return fc.oneof(raw, wellFormed);
}

/** A multipart/form-data body, written out by hand so that it can also be written wrong. */
function multipart(
  parts: Array<{ name: string; filename?: string; type?: string; content: string | Buffer }>,
): Body {
  const boundary = 'fuzz-boundary-7d1f';
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename ? `; filename="${part.filename}"` : ''}`;
    const type = part.type ? `\r\nContent-Type: ${part.type}` : '';
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}${type}\r\n\r\n`));
    chunks.push(Buffer.isBuffer(part.content) ? part.content : Buffer.from(part.content));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: Buffer.concat(chunks),
  };
}

/** What is wrong with an answer, or undefined: a 2xx, or a 4xx that is a problem+json naming its status. */
function judge(response: LightMyRequestResponse): string | undefined {
  tally.requests += 1;
  tally.byStatus.set(response.statusCode, (tally.byStatus.get(response.statusCode) ?? 0) + 1);
  if (response.statusCode >= 500) return `${response.statusCode}`;
  if (response.statusCode < 400) return undefined;
  if (!/^application\/problem\+json/.test(String(response.headers['content-type']))) {
    return `${response.statusCode} as ${response.headers['content-type']}`;
  }
  const body = response.json() as { status?: unknown; title?: unknown };
  if (body.status !== response.statusCode || typeof body.title !== 'string')
    return `${response.statusCode} malformed problem`;
  return undefined;
}

describe('every operation of /openapi.json, fed malformed input', () => {
  it('answers 2xx, or 4xx as problem+json, never 5xx', { timeout: 600_000 }, async () => {
    expect(operations.length).toBeGreaterThanOrEqual(20);
    // Every case runs and every failure is kept, so one run shows them all (grouped by operation and answer).
    const failures = new Map<string, string>();
    for (const [index, operation] of operations.entries()) {
      for (const sent of fc.sample(requestFor(operation), {
        seed: SEED + index,
        numRuns: RUNS_PER_OPERATION,
      })) {
        const response = await context.app.inject({
          method: sent.method as 'GET',
          url: sent.url,
          headers: sent.headers,
          ...(sent.payload === undefined ? {} : { payload: sent.payload }),
        });
        const problem = judge(response);
        if (problem) {
          const key = `${operation.method} ${operation.path}: ${problem}`;
          if (!failures.has(key))
            failures.set(key, `${sent.method} ${sent.url.slice(0, 160)} → ${response.body.slice(0, 240)}`);
        }
      }
    }
    expect([...failures.entries()].map(([key, example]) => `${key}\n    e.g. ${example}`)).toEqual([]);
  });
});

/** What only a real socket can send: the framework's own errors must be problem+json too. */
describe('malformed HTTP on a real socket', () => {
  const raw = (request: string): Promise<{ status: number; contentType: string; body: string }> =>
    new Promise((resolve, reject) => {
      const socket = connect(Number(new URL(context.baseUrl).port), '127.0.0.1');
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk;
      });
      // The server may reset a connection it answered and closed with bytes still unread: the answer counts.
      socket.on('error', (error) => {
        if (!received) reject(error);
      });
      socket.on('close', () => {
        const [head = '', body = ''] = received.split('\r\n\r\n');
        resolve({
          status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
          contentType: /\r\ncontent-type: ([^\r]+)/i.exec(head)?.[1] ?? '',
          body,
        });
      });
      // Written, not ended: a client that half-closes has its request aborted by Node before any answer.
      socket.write(request);
    });
  const token = () => context.auth('admin', 'fuzz-admin').authorization;

  const cases: Array<[string, () => string, number]> = [
    [
      'headers over the limit',
      () => `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`,
      431,
    ],
    ['a malformed URL', () => 'GET /v1/documents/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400],
    [
      'a path parameter over the length limit',
      () =>
        `GET /v1/documents/${'a'.repeat(5_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: ${token()}\r\n\r\n`,
      414,
    ],
    [
      'broken chunked encoding',
      () =>
        `POST /v1/documents/batch-get HTTP/1.1\r\nHost: x\r\nAuthorization: ${token()}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
      400,
    ],
    [
      'a Content-Length that is not a number',
      () => 'POST /v1/documents/batch-get HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}',
      400,
    ],
    [
      'two Content-Lengths that disagree',
      () =>
        'POST /v1/documents/batch-get HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
      400,
    ],
    [
      'an upload with no body and no Content-Length',
      () =>
        `POST /v1/documents/${known.logicalId}/versions HTTP/1.1\r\nHost: x\r\nAuthorization: ${token()}\r\nContent-Type: application/pdf\r\nConnection: close\r\n\r\n`,
      400,
    ],
  ];
  for (const [name, request, status] of cases) {
    it(`answers ${name} with ${status} as problem+json`, async () => {
      const answer = await raw(request());
      tally.requests += 1;
      tally.byStatus.set(answer.status, (tally.byStatus.get(answer.status) ?? 0) + 1);
      expect(answer.status, answer.body).toBe(status);
      expect(answer.contentType).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(answer.body)).toMatchObject({
        status,
        title: expect.any(String),
        detail: expect.any(String),
      });
    });
  }
});
