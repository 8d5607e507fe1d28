import { type RawBuilder, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillRegistry } from '../../src/modules/documents/operations/backfill.ts';
import { seededRandom } from '../../src/platform/seeded-random.ts';
import { putDocument, transition, uploadVersion } from '../support/documents.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

let context: TestContext;
/** The registry as the API left it, without revision and updated_at. */
let expected: Record<string, unknown>[];
let documents: number;
let versions: number;

const BATCH_SIZE = 7;

const backfill = () =>
  backfillRegistry(context.runtime.database.db, { batchSize: BATCH_SIZE, showProgress: false });

async function registryRows(): Promise<Record<string, unknown>[]> {
  const { rows } = await sql<Record<string, unknown>>`
    SELECT * FROM document_registry ORDER BY logical_id`.execute(context.runtime.database.db);
  return rows.map(({ revision: _revision, updated_at: _updatedAt, ...row }) => row);
}

async function execute(statement: RawBuilder<unknown>): Promise<number> {
  const result = await statement.execute(context.runtime.database.db);
  return Number(result.numAffectedRows ?? 0);
}

beforeAll(async () => {
  context = await createTestContext();
  const random = seededRandom(7);
  // Ids in several sections and studies, with capitals, dots and underscores, so the batches' keyset
  // order is the database's collation, not JavaScript's.
  const ids = Array.from({ length: 40 }, (_, n) =>
    n % 5 === 0 ? `Doc_${n}` : n % 5 === 1 ? `doc.${n}` : n % 5 === 2 ? `doc-${n}` : `d${n}-x`,
  );
  for (const [n, logicalId] of ids.entries()) {
    await putDocument(context, logicalId, {
      studyId: n % 3 === 0 ? 'S1' : 'S2',
      sectionId: `sec-${n % 4}`,
      documentType: n % 3 === 0 ? 'CSR' : 'DSUR',
      title: `Document ${logicalId}`,
    });
    if (n % 11 === 0)
      await putDocument(context, logicalId, {
        studyId: n % 3 === 0 ? 'S1' : 'S2',
        sectionId: `sec-${n % 4}`,
        documentType: n % 3 === 0 ? 'CSR' : 'DSUR',
        title: `Retitled ${logicalId}`,
      });
    // Some documents have no versions at all.
    const count = n % 8 === 7 ? 0 : 1 + Math.floor(random() * 5);
    for (let version = 1; version <= count; version++) {
      await uploadVersion(
        context,
        logicalId,
        `${logicalId} v${version}`,
        version % 2 ? 'application/pdf' : 'text/plain',
      );
      const roll = random();
      if (roll < 0.5) await transition(context, logicalId, version, 'approve');
      else if (roll < 0.7) await transition(context, logicalId, version, 'reject');
    }
    // Withdraw the newest approval now and then, so "latest approved" is an older version.
    const { rows } = await sql<{ version: number }>`
      SELECT max(version) AS version FROM document_versions
      WHERE logical_id = ${logicalId} AND state = 'approved'`.execute(context.runtime.database.db);
    if (rows[0]?.version && random() < 0.3) await transition(context, logicalId, rows[0].version, 'withdraw');
  }
  expected = await registryRows();
  documents = ids.length;
  const { rows } = await sql<{ count: number }>`
    SELECT count(*)::int AS count FROM document_versions`.execute(context.runtime.database.db);
  versions = rows[0]!.count;
});
afterAll(async () => {
  await context?.close();
});

describe('backfillRegistry', () => {
  it('starts from a registry with the cases worth rebuilding', () => {
    expect(documents).toBeGreaterThan(4 * BATCH_SIZE);
    expect(expected).toHaveLength(documents);
    expect(expected.filter((row) => row.approved_version === null).length).toBeGreaterThan(2);
    expect(expected.filter((row) => row.latest_version === null).length).toBeGreaterThan(2);
    expect(
      expected.filter((row) => row.approved_version !== null && row.approved_version !== row.latest_version)
        .length,
    ).toBeGreaterThan(2);
    expect(new Set(expected.map((row) => row.study_id)).size).toBe(2);
  });

  it('rebuilds a wiped registry as the API left it, in batches, and a rerun changes nothing', async () => {
    expect(await execute(sql`DELETE FROM document_registry`)).toBe(documents);

    const result = await backfill();
    expect(result).toMatchObject({ documents, versions, changed: documents });
    expect(await registryRows()).toEqual(expected);

    const again = await backfill();
    expect(again).toMatchObject({ documents, versions, changed: 0 });
    expect(await registryRows()).toEqual(expected);
  });

  it('repairs corrupted and missing rows, and only those', async () => {
    const corrupted =
      (await execute(sql`UPDATE document_registry SET title = 'wrong' WHERE logical_id LIKE 'Doc\\_%'`)) +
      (await execute(sql`
        UPDATE document_registry SET approved_version = NULL, approved_key = NULL, approved_content_type = NULL,
          approved_size_bytes = NULL, approved_sha256 = NULL, approved_at = NULL, approved_by = NULL
        WHERE logical_id LIKE 'doc.%' AND approved_version IS NOT NULL`)) +
      (await execute(sql`
        UPDATE document_registry SET latest_version = latest_version + 10, approved_size_bytes = 1
        WHERE logical_id LIKE 'doc-%' AND latest_version IS NOT NULL`)) +
      (await execute(sql`
        UPDATE document_registry SET layout = 'legacy', document_type = 'XX', section_id = 'elsewhere'
        WHERE logical_id LIKE 'd%-x' AND logical_id < 'd2'`)) +
      (await execute(sql`DELETE FROM document_registry WHERE logical_id LIKE 'd%-x' AND logical_id >= 'd3'`));
    expect(corrupted).toBeGreaterThan(10);
    const { rows: revisions } = await sql<{ logical_id: string; revision: number }>`
      SELECT logical_id, revision FROM document_registry ORDER BY logical_id`.execute(
      context.runtime.database.db,
    );
    expect(await registryRows()).not.toEqual(expected);

    const result = await backfill();
    expect(result).toMatchObject({ documents, versions, changed: corrupted });
    expect(await registryRows()).toEqual(expected);
    // Rows rewritten move to a new revision (a new ETag); rows already right keep theirs.
    const { rows: after } = await sql<{ logical_id: string; revision: number }>`
      SELECT logical_id, revision FROM document_registry ORDER BY logical_id`.execute(
      context.runtime.database.db,
    );
    const before = new Map(revisions.map((row) => [row.logical_id, row.revision]));
    const bumped = after.filter(
      (row) => before.has(row.logical_id) && row.revision !== before.get(row.logical_id),
    );
    const kept = after.filter((row) => before.get(row.logical_id) === row.revision);
    expect(bumped.length + kept.length + (after.length - before.size)).toBe(documents);
    for (const row of bumped) expect(row.revision).toBe(before.get(row.logical_id)! + 1);
    expect(bumped.length + (after.length - before.size)).toBe(corrupted);

    expect(await backfill()).toMatchObject({ documents, versions, changed: 0 });
  });

  it('answers the API from the rebuilt registry', async () => {
    await execute(sql`DELETE FROM document_registry`);
    await backfill();
    for (const row of expected) {
      const response = await context.app.inject({
        method: 'GET',
        url: `/v1/documents/${String(row.logical_id)}`,
        headers: context.auth('reader'),
      });
      if (row.approved_version === null) expect(response.statusCode).toBe(404);
      else expect(response.json()).toMatchObject({ version: row.approved_version, title: row.title });
    }
    // A new version after the rebuild is numbered after the newest, as before the wipe.
    const withVersions = expected.find((row) => row.latest_version !== null)!;
    const next = await uploadVersion(context, String(withVersions.logical_id), 'after the rebuild');
    expect(next.version).toBe(Number(withVersions.latest_version) + 1);
  });
});
