import { afterAll, beforeAll, expect, it } from 'vitest';
import { putDocument } from '../support/documents.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

let context: TestContext;

beforeAll(async () => {
  context = await createTestContext({ listen: true });
});
afterAll(async () => {
  await context.runtime.close();
});

it('finishes an in-flight upload when the server is asked to stop, and takes no new requests', async () => {
  await putDocument(context, 'doc-shutdown');
  const chunks = ['first part ', 'second part ', 'last part'];
  let sent = 0;
  // The second chunk waits until the server is closing, so the upload is in flight across the close.
  let releaseRest: () => void = () => {};
  const restMayFollow = new Promise<void>((resolve) => {
    releaseRest = resolve;
  });
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === 1) await restMayFollow;
      const chunk = chunks[sent++];
      if (chunk === undefined) controller.close();
      else controller.enqueue(new TextEncoder().encode(chunk));
    },
  });
  const received = new Promise((resolve) => context.app.server.once('request', resolve));
  const upload = fetch(`${context.baseUrl}/v1/documents/doc-shutdown/versions`, {
    method: 'POST',
    headers: { ...context.auth('author'), 'content-type': 'text/plain' },
    body,
    duplex: 'half',
  } as RequestInit);

  await received;
  const closing = context.app.close();
  releaseRest();
  const response = await upload;
  expect(response.status).toBe(201);
  expect(await response.json()).toMatchObject({ version: 1, sizeBytes: chunks.join('').length });
  await closing;
  await expect(fetch(`${context.baseUrl}/healthz`)).rejects.toThrow();
});
