import type { TestContext } from './harness.ts';

/** Creates a document through the API, as an author would. */
export async function putDocument(
  context: TestContext,
  logicalId: string,
  fields: Partial<{ studyId: string; sectionId: string; documentType: string; title: string }> = {},
) {
  const response = await context.app.inject({
    method: 'PUT',
    url: `/v1/documents/${logicalId}`,
    headers: context.auth('author'),
    payload: {
      studyId: 'S1',
      sectionId: 'sec-1',
      documentType: 'CSR',
      title: `Title of ${logicalId}`,
      ...fields,
    },
  });
  if (response.statusCode >= 300)
    throw new Error(`PUT ${logicalId}: ${response.statusCode} ${response.body}`);
  return response.json();
}

/** Uploads a version through the API; returns the parsed 201 body. */
export async function uploadVersion(
  context: TestContext,
  logicalId: string,
  body: string | Buffer = `content of ${logicalId} at ${Date.now()}-${Math.random()}`,
  contentType = 'application/pdf',
): Promise<{ version: number; sha256: string; sizeBytes: number }> {
  const response = await context.app.inject({
    method: 'POST',
    url: `/v1/documents/${logicalId}/versions`,
    headers: { ...context.auth('author', 'uploader-1'), 'content-type': contentType },
    payload: body,
  });
  if (response.statusCode !== 201)
    throw new Error(`upload ${logicalId}: ${response.statusCode} ${response.body}`);
  return response.json();
}

export async function transition(
  context: TestContext,
  logicalId: string,
  version: number,
  action: 'approve' | 'reject' | 'withdraw',
  reason = 'because',
) {
  return context.app.inject({
    method: 'POST',
    url: `/v1/documents/${logicalId}/versions/${version}/${action}`,
    headers: context.auth('approver', 'approver-1'),
    ...(action === 'approve' ? {} : { payload: { reason } }),
  });
}
