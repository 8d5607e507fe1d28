import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { latestApprovedByListing } from '../../src/modules/documents/legacy-layout.ts';
import { importBucket } from '../../src/modules/documents/operations/import-bucket.ts';
import { reconcileRegistry } from '../../src/modules/documents/operations/reconcile.ts';
import { latestApproved } from '../../src/modules/documents/queries.ts';
import { metricsRegistry } from '../../src/platform/metrics/registry.ts';
import { putDocument, transition, uploadVersion } from '../support/documents.ts';
import { costOf, createTestContext, type TestContext } from '../support/harness.ts';
import {
  type LegacyBucketModel,
  type ModelDocument,
  type ModelSection,
  writeLegacyBucket,
} from '../support/legacy-bucket.ts';

const SEED = 20_240_611;

const importAll = (context: TestContext) =>
  importBucket(context.runtime.database.db, context.runtime.store, {
    prefix: 'studies/',
    showProgress: false,
  });

const reconcile = (context: TestContext, fix = false) =>
  reconcileRegistry(context.runtime.database.db, context.runtime.store, { fix, showProgress: false });

const getDocument = (context: TestContext, logicalId: string) =>
  context.app.inject({ method: 'GET', url: `/v1/documents/${logicalId}`, headers: context.auth('reader') });

const sectionOf = (model: LegacyBucketModel, document: ModelDocument): ModelSection =>
  model.sections.find((section) => section.prefix === document.prefix)!;

const biggestSection = (model: LegacyBucketModel): ModelSection =>
  model.sections.reduce((biggest, section) => (section.keys > biggest.keys ? section : biggest));

/** What a legacy name's extension says the content is; this bucket only uses these. */
const contentTypeOf = (extension: string | undefined) =>
  ({
    pdf: 'application/pdf',
    docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    xml: 'application/xml',
  })[extension?.toLowerCase() ?? ''] ?? 'application/octet-stream';

const keyOfDownload = (url: string) =>
  decodeURIComponent(new URL(url).pathname).replace(/^\/v1\/objects\//, '');

async function shadowReads(outcome: 'agree' | 'disagree' | 'skipped' | 'error'): Promise<number> {
  const metric = metricsRegistry.getSingleMetric('hotpath_documents_shadow_reads_total');
  const { values } = await metric!.get();
  return values.find((value) => value.labels.outcome === outcome)?.value ?? 0;
}

/** Waits (briefly, polling) for the shadow comparison a response started after it was sent. */
async function expectShadowReads(outcome: 'agree' | 'disagree', count: number): Promise<void> {
  await vi.waitFor(async () => expect(await shadowReads(outcome)).toBe(count), {
    timeout: 120_000,
    interval: 5,
  });
}

async function registrySnapshot(context: TestContext): Promise<Record<string, unknown>[]> {
  const { rows } = await sql<Record<string, unknown>>`
    SELECT * FROM document_registry ORDER BY logical_id`.execute(context.runtime.database.db);
  return rows;
}

describe('import-bucket then reconcile, over a generated legacy bucket', () => {
  let context: TestContext;
  let model: LegacyBucketModel;

  beforeAll(async () => {
    context = await createTestContext();
    model = await writeLegacyBucket(context.runtime.store, { seed: SEED });
  });
  afterAll(async () => {
    await context?.close();
  });

  it('generates the awkward cases it promises', () => {
    const documents = [...model.documents.values()];
    expect(model.keys).toBeGreaterThan(2_000);
    expect(model.siblingKeys).toBeGreaterThan(1.5 * model.versionKeys);
    expect(model.siblingKeys).toBeLessThan(2.5 * model.versionKeys);
    expect(biggestSection(model).keys).toBeGreaterThan(1_000);
    expect(model.doubleNamed).toBeGreaterThan(5);
    expect(documents.filter((document) => !document.approved).length).toBeGreaterThan(5);
    // Gaps in the numbering.
    expect(
      documents.filter((document) => document.versions.some((version, i) => version !== i + 1)).length,
    ).toBeGreaterThan(5);
    // Approved at 10 or later and below 10 too: by name, "@1x" sorts before "@2".."@9".
    expect(
      documents.filter(
        (document) =>
          document.approvedVersions.some((version) => version >= 10) &&
          document.approvedVersions.some((version) => version < 10),
      ).length,
    ).toBeGreaterThan(2);
  });

  it('imports every version once, skips what is not a version, and reconcile finds nothing', async () => {
    const result = await importAll(context);
    expect(result).toEqual({
      pages: Math.ceil(model.keys / 1_000),
      listed: model.keys,
      imported: model.distinctVersions,
      skipped: model.siblingKeys,
      conflicts: 0,
      documents: model.documents.size,
    });
    const { rows } = await sql<{ documents: number; versions: number }>`
      SELECT (SELECT count(*) FROM documents WHERE layout = 'legacy')::int AS documents,
             (SELECT count(*) FROM document_versions)::int AS versions`.execute(context.runtime.database.db);
    expect(rows[0]).toEqual({ documents: model.documents.size, versions: model.distinctVersions });

    const reconciled = await reconcile(context);
    expect(reconciled.findings).toEqual([]);
    expect(reconciled).toMatchObject({ checked: model.documents.size, mismatches: 0, fixed: 0 });
  });

  it('answers every document as the model does, and as the listing resolver does', async () => {
    const expected: Record<string, number | null> = {};
    const byListing: Record<string, number | null> = {};
    const byRegistry: Record<string, number | null> = {};
    const byApi: Record<string, number | null> = {};
    const listingPages: Record<string, number> = {};
    for (const section of model.sections) {
      const { answers, pages } = await latestApprovedByListing(context.runtime.store, section.prefix);
      listingPages[section.prefix] = pages;
      for (const [logicalId, answer] of answers) {
        byListing[logicalId] = answer.version;
        // The listing sees the approved name, with the size written.
        const approved = model.documents.get(logicalId)?.approved;
        expect(answer).toEqual({
          key: approved?.key,
          version: approved?.version,
          sizeBytes: approved?.sizeBytes,
        });
      }
    }
    expect(listingPages).toEqual(
      Object.fromEntries(model.sections.map((section) => [section.prefix, section.pages])),
    );
    expect(Math.max(...Object.values(listingPages))).toBeGreaterThan(1);

    for (const document of model.documents.values()) {
      expected[document.logicalId] = document.approved?.version ?? null;
      byListing[document.logicalId] ??= null;
      const row = await latestApproved(context.runtime.database.db, document.logicalId);
      byRegistry[document.logicalId] = row?.approved_version ?? null;
      if (document.approved) {
        expect(row).toMatchObject({
          approved_key: document.approved.key,
          approved_size_bytes: document.approved.sizeBytes,
          layout: 'legacy',
          study_id: document.studyId,
          section_id: document.sectionId,
          document_type: document.documentType,
        });
      }

      const response = await getDocument(context, document.logicalId);
      expect(costOf(response.headers)).toEqual({ queries: 1, storage: 0, ext: 0 });
      if (response.statusCode === 200) {
        byApi[document.logicalId] = response.json().version;
        expect(response.json()).toMatchObject({
          sizeBytes: document.approved?.sizeBytes,
          contentType: contentTypeOf(document.extension),
          sha256: null,
          approvedBy: 'import-bucket',
        });
        // The download is of the approved name, even where the draft's name was left beside it.
        expect(keyOfDownload(response.json().downloadUrl)).toBe(document.approved?.key);
      } else {
        expect(response.statusCode).toBe(404);
        byApi[document.logicalId] = null;
      }
    }
    expect(byRegistry).toEqual(expected);
    expect(byApi).toEqual(expected);
    expect(byListing).toEqual(expected);
  });

  it('imports nothing the second time, leaves the registry alone, and reconcile still reports 0', async () => {
    const before = await registrySnapshot(context);
    const again = await importAll(context);
    expect(again).toEqual({
      pages: Math.ceil(model.keys / 1_000),
      listed: model.keys,
      imported: 0,
      skipped: model.siblingKeys,
      conflicts: 0,
      documents: model.documents.size,
    });
    expect(await registrySnapshot(context)).toEqual(before);
    const reconciled = await reconcile(context);
    expect(reconciled).toMatchObject({
      checked: model.documents.size,
      mismatches: 0,
      fixed: 0,
      findings: [],
    });
  });
});

describe('import-bucket against documents it already knows', () => {
  let context: TestContext;

  beforeAll(async () => {
    context = await createTestContext();
  });
  afterAll(async () => {
    await context?.close();
  });

  const write = (key: string, body = `bytes of ${key}`) =>
    context.runtime.store.put(key, Readable.from([Buffer.from(body)]), { contentType: 'application/pdf' });

  it('counts keys that disagree with an existing document or section as conflicts and imports none of them', async () => {
    await putDocument(context, 'api-doc', { studyId: 'S1', sectionId: 'sec-1', documentType: 'CSR' });
    await uploadVersion(context, 'api-doc', 'api bytes');
    expect((await transition(context, 'api-doc', 1, 'approve')).statusCode).toBe(200);

    // An existing document, under another section's prefix.
    await write('studies/S2/CSR/sec-9/api-doc@1.approved.pdf');
    // An existing document uploaded through hotpath, under its own section's prefix: hotpath owns it.
    await write('studies/S1/CSR/sec-1/api-doc@4.approved.pdf');
    // A new document, under a prefix naming another type than its section holds.
    await write('studies/S1/DSUR/sec-1/typed-wrong@1.approved.pdf');
    // One legacy id in two sections: the first in key order wins, the other is a conflict.
    await write('studies/S3/CSR/a/twice@1.approved.pdf');
    await write('studies/S3/CSR/b/twice@2.approved.pdf');
    await write('studies/S3/CSR/a/fine@1.approved.pdf');
    await write('studies/S3/CSR/a/notes.txt');
    // A new section named under two types in one listing: it takes one, the other key is a conflict.
    await write('studies/S4/CSR/x/mixed-1@1.approved.pdf');
    await write('studies/S4/DSUR/x/mixed-2@1.approved.pdf');

    const result = await importAll(context);
    expect(result).toEqual({ pages: 1, listed: 9, imported: 3, skipped: 1, conflicts: 5, documents: 3 });

    const db = context.runtime.database.db;
    const { rows: documents } = await sql<{ logical_id: string; section_id: string; layout: string }>`
      SELECT logical_id, section_id, layout FROM documents ORDER BY logical_id`.execute(db);
    expect(documents).toEqual([
      { logical_id: 'api-doc', section_id: 'sec-1', layout: 'registry' },
      { logical_id: 'fine', section_id: 'a', layout: 'legacy' },
      { logical_id: 'mixed-1', section_id: 'x', layout: 'legacy' },
      { logical_id: 'twice', section_id: 'a', layout: 'legacy' },
    ]);
    const { rows: versions } = await sql<{ logical_id: string; version: number }>`
      SELECT logical_id, version FROM document_versions ORDER BY logical_id, version`.execute(db);
    expect(versions).toEqual([
      { logical_id: 'api-doc', version: 1 },
      { logical_id: 'fine', version: 1 },
      { logical_id: 'mixed-1', version: 1 },
      { logical_id: 'twice', version: 1 },
    ]);

    const apiDoc = await getDocument(context, 'api-doc');
    expect(apiDoc.json()).toMatchObject({ version: 1, sectionId: 'sec-1', sizeBytes: 'api bytes'.length });
    expect((await getDocument(context, 'twice')).json()).toMatchObject({ version: 1, sectionId: 'a' });
    expect((await getDocument(context, 'typed-wrong')).statusCode).toBe(404);

    expect((await getDocument(context, 'mixed-2')).statusCode).toBe(404);

    expect(await reconcile(context)).toMatchObject({ checked: 4, mismatches: 0, findings: [] });
    const again = await importAll(context);
    expect(again).toEqual({ pages: 1, listed: 9, imported: 0, skipped: 1, conflicts: 5, documents: 3 });
  });

  it('never moves back a version that moved on through the API after it was imported', async () => {
    const importSection = () =>
      importBucket(context.runtime.database.db, context.runtime.store, {
        prefix: 'studies/S5/',
        showProgress: false,
      });
    await write('studies/S5/CSR/z/moved@1.draft.pdf');
    await write('studies/S5/CSR/z/moved@2.approved.pdf');
    await write('studies/S5/CSR/z/moved@3.draft.pdf');
    expect(await importSection()).toMatchObject({ imported: 3, conflicts: 0, documents: 1 });
    expect((await getDocument(context, 'moved')).json().version).toBe(2);

    expect((await transition(context, 'moved', 1, 'approve')).statusCode).toBe(200);
    expect((await transition(context, 'moved', 2, 'withdraw')).statusCode).toBe(200);
    expect((await transition(context, 'moved', 3, 'reject')).statusCode).toBe(200);
    // The old system approves 3 later; the bucket still holds 1's draft name. Changing through the API
    // adopted the document, so the keys import already knows are not conflicts and the new name is one.
    await write('studies/S5/CSR/z/moved@3.approved.pdf');

    expect(await importSection()).toMatchObject({ imported: 0, conflicts: 1, skipped: 0 });
    expect(await reconcile(context)).toMatchObject({ mismatches: 0 });
    const { rows } = await sql<{ version: number; state: string }>`
      SELECT version, state FROM document_versions WHERE logical_id = 'moved' ORDER BY version`.execute(
      context.runtime.database.db,
    );
    expect(rows).toEqual([
      { version: 1, state: 'approved' },
      { version: 2, state: 'withdrawn' },
      { version: 3, state: 'rejected' },
    ]);
    expect((await getDocument(context, 'moved')).json()).toMatchObject({
      version: 1,
      approvedBy: 'approver-1',
    });
  });
});

describe('DOCUMENTS_READ_PATH=listing', () => {
  let context: TestContext;
  let model: LegacyBucketModel;

  beforeAll(async () => {
    context = await createTestContext({ env: { DOCUMENTS_READ_PATH: 'listing' } });
    model = await writeLegacyBucket(context.runtime.store, { seed: SEED });
    expect((await importAll(context)).conflicts).toBe(0);
  });
  afterAll(async () => {
    await context?.close();
  });

  it('answers what registry mode answers, listing the section one request per page', async () => {
    const db = context.runtime.database.db;
    // Every document of the small sections; every third of the big one (each costs a full listing).
    const big = biggestSection(model);
    const sample = [...model.documents.values()].filter(
      (document, n) => document.prefix !== big.prefix || n % 3 === 0,
    );
    expect(sample.filter((document) => document.prefix === big.prefix).length).toBeGreaterThan(10);
    let multiPage = 0;
    for (const document of sample) {
      const pages = sectionOf(model, document).pages;
      const registry = await latestApproved(db, document.logicalId);
      const response = await getDocument(context, document.logicalId);
      if (!document.approved) {
        expect(registry).toBeUndefined();
        expect(response.statusCode).toBe(404);
        expect(costOf(response.headers)).toEqual({ queries: 1, storage: pages, ext: 0 });
        continue;
      }
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({
        logicalId: document.logicalId,
        version: document.approved.version,
        sizeBytes: document.approved.sizeBytes,
        sectionId: document.sectionId,
      });
      expect(response.json().version).toBe(registry?.approved_version);
      expect(keyOfDownload(response.json().downloadUrl)).toBe(document.approved.key);
      expect(costOf(response.headers)).toEqual({ queries: 2, storage: pages, ext: 0 });
      if (pages > 1) multiPage += 1;
    }
    expect(multiPage).toBeGreaterThan(0);
  });

  it('answers documents uploaded through hotpath from the registry, with no listing', async () => {
    await putDocument(context, 'api-listed', { studyId: 'S9', sectionId: 'api', documentType: 'CSR' });
    await uploadVersion(context, 'api-listed', 'one');
    await transition(context, 'api-listed', 1, 'approve');
    const response = await getDocument(context, 'api-listed');
    expect(response.json().version).toBe(1);
    expect(costOf(response.headers)).toEqual({ queries: 2, storage: 0, ext: 0 });
  });
});

describe('DOCUMENTS_READ_PATH=shadow', () => {
  let context: TestContext;
  let model: LegacyBucketModel;

  beforeAll(async () => {
    context = await createTestContext({ env: { DOCUMENTS_READ_PATH: 'shadow' } });
    model = await writeLegacyBucket(context.runtime.store, { seed: SEED });
    expect((await importAll(context)).conflicts).toBe(0);
  });
  afterAll(async () => {
    await context?.close();
  });

  it('answers from the registry in one query and no storage request, and the listing agrees afterwards', async () => {
    const big = biggestSection(model);
    const approved = [...model.documents.values()].filter((document) => document.approved);
    const picks = [
      approved.find((document) => document.prefix === big.prefix)!,
      approved.find((document) => document.prefix !== big.prefix)!,
      approved.findLast((document) => document.prefix === big.prefix)!,
    ];
    for (const document of picks) {
      const agreed = await shadowReads('agree');
      const response = await getDocument(context, document.logicalId);
      expect(response.statusCode).toBe(200);
      expect(response.json().version).toBe(document.approved!.version);
      expect(costOf(response.headers)).toEqual({ queries: 1, storage: 0, ext: 0 });
      await expectShadowReads('agree', agreed + 1);
    }
  });

  it('counts a drifted registry row as a disagreement; reconcile reports it and --fix repairs it', async () => {
    const db = context.runtime.database.db;
    const big = biggestSection(model);
    const document = [...model.documents.values()].find(
      (candidate) => candidate.prefix === big.prefix && candidate.approvedVersions.length >= 2,
    )!;
    expect(document).toBeDefined();
    const newest = document.approved!.version;
    const older = document.approvedVersions.at(-2)!;
    await sql`
      UPDATE document_registry r SET approved_version = v.version, approved_key = v.storage_key,
        approved_content_type = v.content_type, approved_size_bytes = v.size_bytes,
        approved_sha256 = v.sha256, approved_at = v.approved_at, approved_by = v.approved_by
      FROM document_versions v
      WHERE r.logical_id = ${document.logicalId} AND v.logical_id = r.logical_id AND v.version = ${older}`.execute(
      db,
    );

    const disagreed = await shadowReads('disagree');
    const drifted = await getDocument(context, document.logicalId);
    expect(drifted.json().version).toBe(older);
    expect(costOf(drifted.headers)).toEqual({ queries: 1, storage: 0, ext: 0 });
    await expectShadowReads('disagree', disagreed + 1);

    const found = await reconcile(context);
    expect(found).toMatchObject({ checked: model.documents.size, mismatches: 1, fixed: 0 });
    expect(found.findings.length).toBeGreaterThan(0);
    for (const finding of found.findings) expect(finding.startsWith(`${document.logicalId}: `)).toBe(true);
    expect(found.findings.join('\n')).toContain(`listing answers v${newest}, registry v${older}`);

    const fixed = await reconcile(context, true);
    expect(fixed).toMatchObject({ mismatches: 1, fixed: 1 });
    expect(await reconcile(context)).toMatchObject({ mismatches: 0, fixed: 0, findings: [] });
    const { rows: runs } = await sql<{ mismatches: number; fixed: number }>`
      SELECT mismatches, fixed FROM registry_reconcile_runs ORDER BY run_id`.execute(db);
    expect(runs.slice(-3)).toEqual([
      { mismatches: 1, fixed: 0 },
      { mismatches: 1, fixed: 1 },
      { mismatches: 0, fixed: 0 },
    ]);

    const agreed = await shadowReads('agree');
    const repaired = await getDocument(context, document.logicalId);
    expect(repaired.json().version).toBe(newest);
    await expectShadowReads('agree', agreed + 1);
  });

  it('counts a registry that lost an approval the listing still shows as a disagreement', async () => {
    const db = context.runtime.database.db;
    const document = [...model.documents.values()].findLast((candidate) => candidate.approved)!;
    await sql`
      UPDATE document_registry SET approved_version = NULL, approved_key = NULL, approved_content_type = NULL,
        approved_size_bytes = NULL, approved_sha256 = NULL, approved_at = NULL, approved_by = NULL
      WHERE logical_id = ${document.logicalId}`.execute(db);

    const disagreed = await shadowReads('disagree');
    const lost = await getDocument(context, document.logicalId);
    expect(lost.statusCode).toBe(404);
    expect(costOf(lost.headers)).toEqual({ queries: 1, storage: 0, ext: 0 });
    await expectShadowReads('disagree', disagreed + 1);

    // Nothing approved on either side is agreement.
    const unapproved = [...model.documents.values()].find((candidate) => !candidate.approved)!;
    const agreed = await shadowReads('agree');
    const none = await getDocument(context, unapproved.logicalId);
    expect(none.statusCode).toBe(404);
    expect(costOf(none.headers)).toEqual({ queries: 1, storage: 0, ext: 0 });
    await expectShadowReads('agree', agreed + 1);

    expect(await reconcile(context, true)).toMatchObject({ mismatches: 1, fixed: 1 });
    expect((await getDocument(context, document.logicalId)).json().version).toBe(document.approved!.version);
    await expectShadowReads('agree', agreed + 2);
  });
});

describe('reconcile against storage', () => {
  let context: TestContext;
  let model: LegacyBucketModel;

  beforeAll(async () => {
    context = await createTestContext();
    model = await writeLegacyBucket(context.runtime.store, {
      seed: SEED + 1,
      sections: [
        { studyId: 'ST-100', documentType: 'CSR', sectionId: 'sec-1', tag: 'p', documents: 25 },
        { studyId: 'ST-101', documentType: 'IB', sectionId: 'sec-1', tag: 'q', documents: 25 },
      ],
    });
    expect((await importAll(context)).conflicts).toBe(0);
  });
  afterAll(async () => {
    await context?.close();
  });

  it('reports a missing object, a wrong size and a newer approval in the bucket, and --fix fixes none of them', async () => {
    expect(await reconcile(context)).toMatchObject({ mismatches: 0, findings: [] });
    const approved = [...model.documents.values()].filter((document) => document.approved);
    expect(approved.length).toBeGreaterThanOrEqual(3);
    const [missing, resized, overtaken] = approved as [ModelDocument, ModelDocument, ModelDocument];
    const store = context.runtime.store;

    await store.delete(missing.approved!.key);
    const size = resized.approved!.sizeBytes + 13;
    await store.put(resized.approved!.key, Readable.from([Buffer.alloc(size, 7)]), {
      contentType: 'application/pdf',
    });
    // Approved in the old system after the import: the bucket is ahead of the registry.
    const newer = Math.max(...overtaken.versions) + 1;
    await store.put(
      `${overtaken.prefix}${overtaken.logicalId}@${newer}.approved.pdf`,
      Readable.from([Buffer.from('approved later')]),
      { contentType: 'application/pdf' },
    );

    const found = await reconcile(context);
    expect(found.mismatches).toBe(3);
    const text = found.findings.join('\n');
    expect(text).toContain(`${missing.logicalId}: approved object ${missing.approved!.key} is missing`);
    expect(text).toContain(
      `${resized.logicalId}: approved object ${resized.approved!.key} is ${size} bytes, registry says ${resized.approved!.sizeBytes}`,
    );
    expect(text).toContain(
      `${overtaken.logicalId}: listing answers v${newer}, registry v${overtaken.approved!.version}`,
    );

    // The database cannot bring back an object or change the bucket: nothing is claimed fixed.
    const fixing = await reconcile(context, true);
    expect(fixing).toMatchObject({ mismatches: 3, fixed: 0 });
    expect(fixing.mismatches).toBeGreaterThan(fixing.fixed);
    expect(await reconcile(context)).toMatchObject({ mismatches: 3 });

    // Importing again adopts the newer approval; the storage drift stays.
    expect(await importAll(context)).toMatchObject({ imported: 1, conflicts: 0 });
    expect((await getDocument(context, overtaken.logicalId)).json().version).toBe(newer);
    const after = await reconcile(context);
    expect(after.mismatches).toBe(2);
    expect(after.findings.some((finding) => finding.startsWith(`${overtaken.logicalId}:`))).toBe(false);
  });
});
