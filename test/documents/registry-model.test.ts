import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileRegistry } from '../../src/modules/documents/operations/reconcile.ts';
import type { VersionState } from '../../src/modules/documents/schemas.ts';
import { transitionVersion, uploadVersion, upsertDocument } from '../../src/modules/documents/service.ts';
import { HttpProblem } from '../../src/platform/http/problems.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

/**
 * Model-based check of the registry: random sequences of uploads, transitions (legal or not, on
 * versions that may not exist) and retitles over a few documents, run through the service functions
 * or the HTTP API, against a model that knows only the domain rules. After every command the outcome
 * and each document's registry row must be what the model computes from the versions; after every
 * sequence reconcile must find nothing.
 */

let context: TestContext;

beforeAll(async () => {
  context = await createTestContext();
});
afterAll(async () => {
  await context.close();
});

type Outcome = 'ok' | 400 | 404 | 409;
type Action = 'approve' | 'reject' | 'withdraw';

type Command =
  | { kind: 'upload'; doc: number; contentType: string; body: Uint8Array }
  | { kind: Action; doc: number; target: Target; actor: string }
  | { kind: 'retitle'; doc: number; title: string };

interface ModelVersion {
  state: VersionState;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  approvedBy: string | null;
}

interface ModelDocument {
  title: string;
  versions: ModelVersion[];
}

/** Documents 0..2 are created before each sequence; 3 never is, so every command on it is a 404. */
const CREATED_DOCUMENTS = 3;
const FROM_STATE: Record<Action, VersionState> = { approve: 'draft', reject: 'draft', withdraw: 'approved' };
const TO_STATE: Record<Action, VersionState> = {
  approve: 'approved',
  reject: 'rejected',
  withdraw: 'withdrawn',
};

const docIndex = fc.oneof(
  { weight: 9, arbitrary: fc.integer({ min: 0, max: CREATED_DOCUMENTS - 1 }) },
  { weight: 1, arbitrary: fc.constant(CREATED_DOCUMENTS) },
);
/**
 * Which version a transition names, resolved against the model when the command runs: one in the
 * state the action needs (a legal move, when there is one), any existing one (often illegal), or a
 * plain number (sometimes one that does not exist).
 */
type Target = { legal: number } | { existing: number } | { absolute: number };
const targetArbitrary: fc.Arbitrary<Target> = fc.oneof(
  { weight: 6, arbitrary: fc.nat().map((legal) => ({ legal })) },
  { weight: 2, arbitrary: fc.nat().map((existing) => ({ existing })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 9 }).map((absolute) => ({ absolute })) },
);

const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('upload' as const),
      doc: docIndex,
      contentType: fc.constantFrom('application/pdf', 'text/plain', 'application/octet-stream'),
      body: fc.uint8Array({ minLength: 0, maxLength: 64 }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constantFrom('approve' as const, 'reject' as const, 'withdraw' as const),
      doc: docIndex,
      target: targetArbitrary,
      actor: fc.constantFrom('approver-a', 'approver-b'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('retitle' as const),
      doc: fc.integer({ min: 0, max: CREATED_DOCUMENTS - 1 }),
      title: fc.constantFrom('Title A', 'Title B'),
    }),
  },
);

const commandsArbitrary = fc.array(commandArbitrary, { minLength: 1, maxLength: 30, size: 'max' });

function resolveVersion(document: ModelDocument | undefined, target: Target): number {
  const versions = document?.versions ?? [];
  if ('absolute' in target) return target.absolute;
  if ('existing' in target) return versions.length === 0 ? 1 : (target.existing % versions.length) + 1;
  return resolveVersion(document, { existing: target.legal });
}

function legalVersion(document: ModelDocument | undefined, action: Action, pick: number): number | undefined {
  const candidates = (document?.versions ?? []).flatMap((version, index) =>
    version.state === FROM_STATE[action] ? [index + 1] : [],
  );
  return candidates.length === 0 ? undefined : candidates[pick % candidates.length];
}

/** The version number a transition names, given the model as it stands. */
function versionFor(
  document: ModelDocument | undefined,
  command: Extract<Command, { kind: Action }>,
): number {
  const { target } = command;
  if ('legal' in target)
    return legalVersion(document, command.kind, target.legal) ?? resolveVersion(document, target);
  return resolveVersion(document, target);
}

/** What the model says a command does; mutates the model when the command succeeds. */
function applyToModel(documents: (ModelDocument | undefined)[], command: Command, version: number): Outcome {
  // An empty body is no file: refused before anything is looked up.
  if (command.kind === 'upload' && command.body.length === 0) return 400;
  const document = documents[command.doc];
  if (!document) return 404;
  switch (command.kind) {
    case 'upload':
      document.versions.push({
        state: 'draft',
        contentType: command.contentType,
        sizeBytes: command.body.length,
        sha256: createHash('sha256').update(command.body).digest('hex'),
        approvedBy: null,
      });
      return 'ok';
    case 'retitle':
      document.title = command.title;
      return 'ok';
    default: {
      const named = document.versions[version - 1];
      if (!named) return 404;
      if (named.state !== FROM_STATE[command.kind]) return 409;
      named.state = TO_STATE[command.kind];
      if (command.kind === 'approve') named.approvedBy = command.actor;
      return 'ok';
    }
  }
}

/** Whether a successful command changes what the registry row says (so its revision must move). */
function changesRegistry(command: Command, titleBefore: string): boolean {
  if (command.kind === 'upload' || command.kind === 'approve' || command.kind === 'withdraw') return true;
  if (command.kind === 'retitle') return command.title !== titleBefore;
  return false; // a rejection leaves the registry's fields as they were
}

interface Transport {
  name: string;
  upsert(logicalId: string, sectionId: string, title: string): Promise<Outcome>;
  upload(logicalId: string, command: Extract<Command, { kind: 'upload' }>): Promise<Outcome>;
  transition(
    logicalId: string,
    command: Extract<Command, { kind: Action }>,
    version: number,
  ): Promise<Outcome>;
}

async function outcomeOf(work: () => Promise<unknown>): Promise<Outcome> {
  try {
    await work();
    return 'ok';
  } catch (error) {
    if (error instanceof HttpProblem && [400, 404, 409].includes(error.status))
      return error.status as Outcome;
    throw error;
  }
}

function httpOutcome(response: { statusCode: number; body: string }): Outcome {
  if (response.statusCode === 200 || response.statusCode === 201) return 'ok';
  if ([400, 404, 409].includes(response.statusCode)) return response.statusCode as Outcome;
  throw new Error(`unexpected ${response.statusCode}: ${response.body}`);
}

const serviceTransport = (): Transport => ({
  name: 'service',
  upsert: (logicalId, sectionId, title) =>
    outcomeOf(() =>
      upsertDocument(context.runtime.database.db, logicalId, {
        studyId: 'PBT',
        sectionId,
        documentType: 'CSR',
        title,
      }),
    ),
  upload: (logicalId, command) =>
    outcomeOf(() =>
      uploadVersion(context.runtime.database.db, context.runtime.store, {
        logicalId,
        body: Readable.from([Buffer.from(command.body)]),
        contentType: command.contentType,
        contentLength: command.body.length,
        limitBytes: context.config.uploadLimitBytes,
        uploadedBy: 'model-author',
      }),
    ),
  transition: (logicalId, command, version) =>
    outcomeOf(() =>
      transitionVersion(context.runtime.database.db, {
        logicalId,
        version,
        action: command.kind,
        actor: command.actor,
        reason: command.kind === 'approve' ? undefined : `${command.kind} in the model`,
      }),
    ),
});

const httpTransport = (): Transport => ({
  name: 'http',
  upsert: async (logicalId, sectionId, title) =>
    httpOutcome(
      await context.app.inject({
        method: 'PUT',
        url: `/v1/documents/${logicalId}`,
        headers: context.auth('author', 'model-author'),
        payload: { studyId: 'PBT', sectionId, documentType: 'CSR', title },
      }),
    ),
  upload: async (logicalId, command) =>
    httpOutcome(
      await context.app.inject({
        method: 'POST',
        url: `/v1/documents/${logicalId}/versions`,
        headers: { ...context.auth('author', 'model-author'), 'content-type': command.contentType },
        payload: Buffer.from(command.body),
      }),
    ),
  transition: async (logicalId, command, version) =>
    httpOutcome(
      await context.app.inject({
        method: 'POST',
        url: `/v1/documents/${logicalId}/versions/${version}/${command.kind}`,
        headers: context.auth('approver', command.actor),
        ...(command.kind === 'approve' ? {} : { payload: { reason: `${command.kind} over HTTP` } }),
      }),
    ),
});

interface RegistryRow {
  title: string;
  latest_version: number | null;
  latest_version_key: string | null;
  approved_version: number | null;
  approved_key: string | null;
  approved_content_type: string | null;
  approved_size_bytes: number | null;
  approved_sha256: string | null;
  approved_at: Date | null;
  approved_by: string | null;
  revision: number;
}

interface StoredVersionRow {
  version: number;
  state: VersionState;
  storage_key: string;
  content_type: string;
  size_bytes: number;
  sha256: string;
  approved_at: Date | null;
  approved_by: string | null;
}

async function registryRow(logicalId: string): Promise<RegistryRow | undefined> {
  const { rows } = await sql<RegistryRow>`
    SELECT title, latest_version, latest_version_key, approved_version, approved_key, approved_content_type,
           approved_size_bytes, approved_sha256, approved_at, approved_by, revision
    FROM document_registry WHERE logical_id = ${logicalId}`.execute(context.runtime.database.db);
  return rows[0];
}

async function versionRows(logicalId: string): Promise<StoredVersionRow[]> {
  const { rows } = await sql<StoredVersionRow>`
    SELECT version, state, storage_key, content_type, size_bytes, sha256, approved_at, approved_by
    FROM document_versions WHERE logical_id = ${logicalId} ORDER BY version`.execute(
    context.runtime.database.db,
  );
  return rows;
}

/** The versions table and the registry row both say exactly what the model computes. */
async function expectMatchesModel(logicalId: string, model: ModelDocument): Promise<RegistryRow> {
  const versions = await versionRows(logicalId);
  expect(
    versions.map((row) => ({
      version: row.version,
      state: row.state,
      contentType: row.content_type,
      sizeBytes: row.size_bytes,
      sha256: row.sha256,
      approvedBy: row.approved_by,
    })),
  ).toEqual(
    model.versions.map((version, index) => ({
      version: index + 1,
      state: version.state,
      contentType: version.contentType,
      sizeBytes: version.sizeBytes,
      sha256: version.sha256,
      approvedBy: version.approvedBy,
    })),
  );

  const latest = versions.at(-1);
  const approvedNumber = model.versions.findLastIndex((version) => version.state === 'approved') + 1;
  const approved = approvedNumber > 0 ? versions[approvedNumber - 1] : undefined;
  const row = await registryRow(logicalId);
  expect(row).toBeDefined();
  const { revision: _revision, ...fields } = row as RegistryRow;
  expect(fields).toEqual({
    title: model.title,
    latest_version: latest ? latest.version : null,
    latest_version_key: latest ? latest.storage_key : null,
    approved_version: approved ? approved.version : null,
    approved_key: approved ? approved.storage_key : null,
    approved_content_type: approved ? approved.content_type : null,
    approved_size_bytes: approved ? approved.size_bytes : null,
    approved_sha256: approved ? approved.sha256 : null,
    approved_at: approved ? approved.approved_at : null,
    approved_by: approved ? approved.approved_by : null,
  });
  if (latest) expect(latest.storage_key.startsWith(`documents/${logicalId}/`)).toBe(true);
  return row as RegistryRow;
}

let sequence = 0;
/** Id prefixes of runs that failed: their drift is already reported, and must not fail later runs. */
const failedRuns: string[] = [];

async function runSequence(transport: Transport, commands: Command[]): Promise<void> {
  // Every run (shrinking included) gets logical ids and a section of its own.
  sequence += 1;
  const prefix = `m${sequence}-`;
  try {
    await runCommands(transport, commands, sequence);
  } catch (error) {
    failedRuns.push(prefix);
    throw error;
  }
}

async function runCommands(transport: Transport, commands: Command[], run: number): Promise<void> {
  const sectionId = `model-${run}`;
  const ids = Array.from({ length: CREATED_DOCUMENTS + 1 }, (_, n) => `m${run}-doc-${n}`);
  const model: (ModelDocument | undefined)[] = [];
  for (let n = 0; n < CREATED_DOCUMENTS; n++) {
    expect(await transport.upsert(ids[n] as string, sectionId, 'Title A')).toBe('ok');
    model.push({ title: 'Title A', versions: [] });
  }
  model.push(undefined);

  for (const command of commands) {
    const logicalId = ids[command.doc] as string;
    const modelDocument = model[command.doc];
    const before = modelDocument ? await registryRow(logicalId) : undefined;
    const titleBefore = modelDocument?.title ?? '';
    const version =
      command.kind === 'upload' || command.kind === 'retitle' ? 0 : versionFor(modelDocument, command);
    const expected = applyToModel(model, command, version);
    let actual: Outcome;
    if (command.kind === 'upload') actual = await transport.upload(logicalId, command);
    else if (command.kind === 'retitle') actual = await transport.upsert(logicalId, sectionId, command.title);
    else actual = await transport.transition(logicalId, command, version);
    expect(actual, `${transport.name} ${JSON.stringify({ ...command, body: undefined, version })}`).toBe(
      expected,
    );

    if (!modelDocument) {
      expect(await registryRow(logicalId)).toBeUndefined();
      continue;
    }
    const after = await expectMatchesModel(logicalId, modelDocument);
    // The revision feeds the ETag: it moves whenever the row's answer changes, and a refused command
    // leaves the row exactly as it was.
    if (expected !== 'ok') expect(after.revision).toBe(before?.revision);
    else if (changesRegistry(command, titleBefore))
      expect(after.revision).toBeGreaterThan(before?.revision ?? 0);
    else expect(after.revision).toBeGreaterThanOrEqual(before?.revision ?? 0);
  }

  // Every document, read the way clients read it, and the objects the registry points at.
  for (let n = 0; n <= CREATED_DOCUMENTS; n++) {
    const logicalId = ids[n] as string;
    const modelDocument = model[n];
    const response = await context.app.inject({
      method: 'GET',
      url: `/v1/documents/${logicalId}`,
      headers: context.auth('reader'),
    });
    const approvedNumber =
      (modelDocument?.versions.findLastIndex((version) => version.state === 'approved') ?? -1) + 1;
    if (approvedNumber === 0) {
      expect(response.statusCode).toBe(404);
      continue;
    }
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      logicalId,
      version: approvedNumber,
      title: modelDocument?.title,
    });
    const row = await registryRow(logicalId);
    const head = await context.runtime.store.head(row?.approved_key as string);
    expect(head?.sizeBytes).toBe(modelDocument?.versions[approvedNumber - 1]?.sizeBytes);
  }

  const reconciled = await reconcileRegistry(context.runtime.database.db, context.runtime.store, {
    fix: false,
    showProgress: false,
  });
  // Reconcile looks at every document in the database; while every run so far passed, that means
  // none may differ. After a failure, shrinking goes on judging only the documents of passing runs.
  expect(reconciled.findings.filter((line) => !failedRuns.some((failed) => line.startsWith(failed)))).toEqual(
    [],
  );
  if (failedRuns.length === 0) expect(reconciled.mismatches).toBe(0);
}

describe('registry model', () => {
  it('keeps the registry equal to what the versions say, through the service functions', async () => {
    await fc.assert(
      fc.asyncProperty(commandsArbitrary, (commands) => runSequence(serviceTransport(), commands)),
      { numRuns: 40 },
    );
  });

  it('keeps the registry equal to what the versions say, through the HTTP API', async () => {
    await fc.assert(
      fc.asyncProperty(commandsArbitrary, (commands) => runSequence(httpTransport(), commands)),
      { numRuns: 30 },
    );
  });
});
