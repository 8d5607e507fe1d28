import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/harness.ts';

/** Slow and stalled clients are cut, so they cannot hold the server's connections. */
let context: TestContext;

beforeAll(async () => {
  context = await createTestContext({
    listen: true,
    env: {
      HOTPATH_HEADERS_TIMEOUT_MS: '500',
      HOTPATH_IDLE_TIMEOUT_MS: '2500',
      HOTPATH_KEEP_ALIVE_TIMEOUT_MS: '500',
    },
  });
});
afterAll(async () => {
  await context.close();
});

/** Sends `bytes`, then waits (however long it takes) for the server to close the connection; what it said. */
function sendThenWaitForClose(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(context.baseUrl).port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk;
    });
    socket.on('error', (error) =>
      (error as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve(received) : reject(error),
    );
    socket.on('close', () => resolve(received));
    socket.write(bytes);
  });
}

describe('timeouts', () => {
  it('cuts a client whose headers never end, with a 408 problem', async () => {
    const answer = await sendThenWaitForClose('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toMatch(/content-type: application\/problem\+json/i);
  });

  it('cuts a client whose body stops arriving', async () => {
    const answer = await sendThenWaitForClose(
      `POST /v1/documents/batch-get HTTP/1.1\r\nHost: x\r\nAuthorization: ${context.auth('reader').authorization}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"logicalIds":`,
    );
    // Cut without an answer, or with a problem: never a 2xx for half a body.
    expect(answer).not.toMatch(/^HTTP\/1\.1 2/);
  });

  it('closes a keep-alive connection left idle after its answer', async () => {
    const answer = await sendThenWaitForClose('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
  });
});
