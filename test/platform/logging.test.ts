import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { loggerOptions, withoutSignatures } from '../../src/platform/http/logging.ts';
import { putDocument, transition, uploadVersion } from '../support/documents.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

let context: TestContext;
beforeAll(async () => {
  context = await createTestContext();
});
afterAll(() => context.close());

/** An app on the test's runtime whose log lines are kept, as `hotpath serve` would write them (JSON). */
async function loggingApp(
  level: string,
): Promise<{ app: FastifyInstance; lines: () => Array<Record<string, unknown>> }> {
  const written: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      written.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const runtime = { ...context.runtime, config: { ...context.runtime.config, logLevel: level } };
  const app = await buildApp(runtime, { ...loggerOptions(level, 'json'), stream });
  await app.ready();
  return { app, lines: () => written.map((line) => JSON.parse(line)) };
}

describe('logs', () => {
  it('writes no line per request at the default level', async () => {
    const { app, lines } = await loggingApp('info');
    for (let request = 0; request < 50; request += 1) {
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    }
    expect((await app.inject({ method: 'GET', url: '/v1/documents/x', headers: {} })).statusCode).toBe(401);
    expect(lines()).toEqual([]);
    await app.close();
  });

  it('writes one line per answer at debug, never with a download signature', async () => {
    await putDocument(context, 'doc-logged');
    await uploadVersion(context, 'doc-logged', 'logged bytes');
    await transition(context, 'doc-logged', 1, 'approve');
    const { app, lines } = await loggingApp('debug');
    const latest = await app.inject({
      method: 'GET',
      url: '/v1/documents/doc-logged',
      headers: context.auth('reader'),
    });
    const url = new URL(latest.json().downloadUrl);
    const signature = String(url.searchParams.get('signature'));
    expect(signature.length).toBeGreaterThan(10);
    const download = await app.inject({ method: 'GET', url: `${url.pathname}${url.search}` });
    expect(download.body).toBe('logged bytes');
    const answered = lines().filter((line) => line.msg === 'answered');
    expect(answered).toHaveLength(2);
    expect(answered[1]).toMatchObject({ method: 'GET', status: 200, level: 20 });
    expect(String(answered[1]?.url)).toContain('signature=[redacted]');
    expect(JSON.stringify(lines())).not.toContain(signature);
    await app.close();
  });

  it('redacts S3 presigned parameters and leaves other URLs alone', () => {
    expect(
      withoutSignatures(
        '/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261202&X-Amz-Signature=abc123&x-id=GetObject',
      ),
    ).toBe(
      '/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]&x-id=GetObject',
    );
    expect(withoutSignatures('/v1/documents/a?limit=5')).toBe('/v1/documents/a?limit=5');
  });

  it('is readable lines on a terminal and JSON otherwise, unless HOTPATH_LOG_FORMAT says', () => {
    const base = { HOTPATH_DATA_DIR: context.config.dataDir };
    expect(loadConfig({ ...base, HOTPATH_LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(loadConfig({ ...base, HOTPATH_LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(loadConfig(base).logFormat).toBe(process.stdout.isTTY ? 'pretty' : 'json');
    expect(() => loadConfig({ ...base, HOTPATH_LOG_FORMAT: 'xml' })).toThrow(/HOTPATH_LOG_FORMAT/);
  });
});
