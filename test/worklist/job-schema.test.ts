import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type FhirDevServer, startFhirDevServer } from '../../src/modules/worklist/fhir/dev-server.ts';
import { LazyIntegrationQueue } from '../../src/modules/worklist/integration/queue.ts';
import { startIntegrationWorker } from '../../src/modules/worklist/integration/worker.ts';
import { createTestContext, type TestContext } from '../support/harness.ts';
import { CAMILLE_DUPONT, createFacility, labReportFor, receive } from '../support/worklist.ts';

let context: TestContext;
let fhir: FhirDevServer;
let queue: LazyIntegrationQueue;
const logged: string[] = [];

beforeAll(async () => {
  fhir = await startFhirDevServer({ synthesizePatients: true });
  context = await createTestContext();
  await createFacility(context, 'FAC-J', {
    fhirBaseUrl: fhir.baseUrl,
    ehrEnabled: true,
    patients: [{ ...CAMILLE_DUPONT, ipp: 'J-1', fhirId: 'pat-j' }],
  });
});
afterAll(async () => {
  await queue?.close();
  await context.close();
  await fhir.close();
});

describe('the job schema of pg-boss 10, which pg-boss 12 cannot migrate', () => {
  it('is kept under another name, and the integrations it held are queued again and run', async () => {
    const { db } = context.runtime.database;
    const received = await receive(context, {
      metadata: labReportFor('FAC-J'),
      files: [{ name: 'report.pdf', type: 'application/pdf', content: 'the report' }],
    });
    const id = received.json().id as number;
    // As pg-boss 10 left things: its schema at version 24 holding this request's job, the request queued.
    await sql`CREATE SCHEMA pgboss`.execute(db);
    await sql`CREATE TABLE pgboss.version (version int PRIMARY KEY)`.execute(db);
    await sql`INSERT INTO pgboss.version VALUES (24)`.execute(db);
    await sql`CREATE TABLE pgboss.job (name text, data jsonb)`.execute(db);
    await sql`INSERT INTO pgboss.job VALUES ('worklist-integration', ${JSON.stringify({ requestId: id })})`.execute(
      db,
    );
    await sql`UPDATE integration_requests SET integration_state = 'queued' WHERE request_id = ${id}`.execute(
      db,
    );

    queue = new LazyIntegrationQueue(context.runtime.database.url, {
      retryLimit: 1,
      retryDelaySeconds: 1,
      log: (line) => logged.push(line),
    });
    await startIntegrationWorker({
      db,
      store: context.runtime.store,
      queue,
      fhir: context.runtime.fhir,
      pollingIntervalSeconds: 0.5,
    });

    expect(logged).toContain(
      'job queue: kept the schema of an older pg-boss as pgboss_v24_retired; queued 1 unfinished integrations again',
    );
    const { rows: kept } = await sql<{
      jobs: number;
    }>`SELECT count(*)::int AS jobs FROM pgboss_v24_retired.job`.execute(db);
    expect(kept[0]?.jobs).toBe(1);
    await vi.waitFor(
      async () => {
        const { rows } = await sql<{
          status: string;
        }>`SELECT status FROM integration_requests WHERE request_id = ${id}`.execute(db);
        expect(rows[0]?.status).toBe('integrated');
      },
      { timeout: 180_000, interval: 200 },
    );
  });
});
