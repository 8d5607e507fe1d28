import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDocumentsDataset } from '../../src/modules/documents/operations/dataset.ts';
import {
  latestApproved,
  latestApprovedMany,
  versionHistory,
  versionOf,
} from '../../src/modules/documents/queries.ts';
import { refreshRegistry } from '../../src/modules/documents/registry-refresh.ts';
import { transitionVersion } from '../../src/modules/documents/service.ts';
import { plansOf } from '../../testkit/plans.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';

/**
 * The hot queries' plans at the scale the write-up describes (several hundred thousand versions):
 * each must probe an index, never scan a table.
 */
let context: TestContext;
/** Tables that grow with the data; a sequential scan of sections or studies (tens of rows) is right. */
const LARGE_TABLES = ['documents', 'document_versions', 'document_registry'];
const largeScans = (plan: { seqScans: string[] } | undefined) =>
  (plan?.seqScans ?? []).filter((table) => LARGE_TABLES.includes(table));
const documentId = (n: number) => `bench-${String(n).padStart(8, '0')}`;

beforeAll(async () => {
  context = await createTestContext();
  await generateDocumentsDataset(context.runtime.database.db, {
    documents: 100_000,
    versionsPerDocument: 3,
    sectionSize: 2_000,
  });
});
afterAll(async () => {
  await context.close();
});

describe('query plans at 100,000 documents and 300,000 versions', () => {
  it('answers latest approved with one primary-key probe of the registry', async () => {
    const db = context.runtime.database.db;
    const [plan] = await plansOf(db, () => latestApproved(db, documentId(51_234)));
    expect(plan?.indexes).toEqual(['document_registry_pkey']);
    expect(largeScans(plan)).toEqual([]);
  });

  it('answers a batch of 100 from the same index', async () => {
    const db = context.runtime.database.db;
    const ids = Array.from({ length: 100 }, (_, n) => documentId(1 + n * 997));
    const [plan] = await plansOf(db, () => latestApprovedMany(db, ids));
    expect(plan?.indexes).toContain('document_registry_pkey');
    expect(largeScans(plan)).toEqual([]);
  });

  it('reads a version and pages history by primary key', async () => {
    const db = context.runtime.database.db;
    const plans = await plansOf(db, async () => {
      await versionOf(db, documentId(77), 2);
      await versionHistory(db, {
        logicalId: documentId(77),
        beforeVersion: 3,
        limit: 21,
        includeDrafts: false,
      });
    });
    expect(plans).toHaveLength(2);
    for (const plan of plans) {
      expect(largeScans(plan)).toEqual([]);
      expect(plan.indexes).toContain('document_versions_pkey');
    }
  });

  it('recomputes latest approved after a transition from the approved-versions index', async () => {
    const db = context.runtime.database.db;
    // Version 3 of every fourth document is a draft.
    const plans = await plansOf(db, () =>
      transitionVersion(db, {
        logicalId: documentId(4_000),
        version: 3,
        action: 'approve',
        actor: 'dr.plan',
        reason: undefined,
      }),
    );
    const sync = plans.find((plan) => plan.text.includes('documents.syncApproved'));
    expect(largeScans(sync)).toEqual([]);
    expect(sync?.indexes).toEqual(
      expect.arrayContaining(['document_registry_pkey', 'document_versions_approved_idx']),
    );
    for (const plan of plans) expect(largeScans(plan)).toEqual([]);
  });

  it('refreshes a batch of registry rows without scanning the versions table', async () => {
    const db = context.runtime.database.db;
    const ids = Array.from({ length: 500 }, (_, n) => documentId(10_001 + n));
    const plans = await plansOf(db, () => db.transaction().execute((trx) => refreshRegistry(trx, ids)));
    for (const plan of plans) expect(largeScans(plan)).toEqual([]);
  });
});
