import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cdaDocument,
  documentId,
  mdmMessage,
  type SampleDocument,
} from '../../../src/modules/worklist/operations/sample-messages.ts';
import { onePagePdf } from '../../../src/platform/pdf.ts';
import { createTestContext, type TestContext } from '../../support/harness.ts';
import { CAMILLE_DUPONT, CAMILLE_IN_MESSAGES, createFacility } from '../../support/worklist.ts';

const camille = CAMILLE_IN_MESSAGES;

type Operation =
  | { kind: 'new'; document: number }
  | { kind: 'replace'; document: number }
  | { kind: 'delete'; document: number }
  | { kind: 'resend'; message: number };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ kind: fc.constant('new' as const), document: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant('replace' as const), document: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant('delete' as const), document: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant('resend' as const), message: fc.nat() }),
);

/** What the inbox must hold: each document's request and whether it is still in the worklist. */
interface ModelDocument {
  requestId: number;
  cancelled: boolean;
}

describe('duplicates, replacements and deletions, against a model', () => {
  let context: TestContext;
  let run = 0;

  beforeAll(async () => {
    context = await createTestContext();
  });
  afterAll(async () => {
    await context.close();
  });

  it('store each document once and cancel exactly what was replaced before integration or deleted', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 12 }), async (operations) => {
        const facilityId = `FAC-M${++run}`;
        await createFacility(context, facilityId, { patients: [{ ipp: 'IPP-1', ...CAMILLE_DUPONT }] });
        const headers = context.auth('author', 'model', { facilities: [facilityId] });
        const documents = new Map<string, ModelDocument>();
        const sent: Array<{ bytes: Buffer; status: number; requestIds: number[] }> = [];
        let controlIds = 0;
        let replacements = 0;
        const send = async (bytes: Buffer) => {
          const response = await context.app.inject({
            method: 'POST',
            url: `/v2/inbox?facilityId=${facilityId}`,
            headers: { ...headers, 'content-type': 'application/hl7-v2' },
            payload: bytes,
          });
          const requestIds: number[] = response.statusCode < 300 ? response.json().requestIds : [];
          sent.push({ bytes, status: response.statusCode, requestIds });
          return { status: response.statusCode, requestIds };
        };
        const mdm = (document: SampleDocument, action: 'new' | 'replace' | 'delete') =>
          mdmMessage({
            controlId: `M${run}-${++controlIds}`,
            sendingFacility: 'RIS',
            receivingFacility: facilityId,
            patient: camille,
            document,
            cda: cdaDocument({ patient: camille, document, facilityId }),
            action,
          });
        const sample = (extension: string, replaces?: string): SampleDocument => ({
          id: documentId(extension),
          replaces: replaces === undefined ? undefined : documentId(replaces),
          typeCode: '18748-4',
          title: "CR d'imagerie médicale",
          procedureDate: '2026-11-19',
          pdf: onePagePdf(extension),
        });

        for (const step of operations) {
          if (step.kind === 'resend') {
            // A refused message was stored nowhere: sent again, it is read afresh. An accepted one is
            // answered as the first time, and stores nothing.
            const accepted = sent.filter((message) => message.status < 300);
            const earlier = accepted[step.message % Math.max(accepted.length, 1)];
            if (!earlier) continue;
            const again = await send(earlier.bytes);
            expect(again.status).toBe(200);
            expect(again.requestIds).toEqual(earlier.requestIds);
            continue;
          }
          const key = `D${step.document}`;
          const known = documents.get(key);
          if (step.kind === 'new') {
            const answer = await send(mdm(sample(key), 'new'));
            if (known) {
              expect(answer).toEqual({ status: 200, requestIds: [known.requestId] });
            } else {
              expect(answer.status).toBe(202);
              documents.set(key, { requestId: answer.requestIds[0] as number, cancelled: false });
            }
          } else if (step.kind === 'replace') {
            const replacement = `R${++replacements}`;
            const answer = await send(mdm(sample(replacement, key), 'replace'));
            if (!known) {
              expect(answer.status).toBe(422);
              continue;
            }
            expect(answer.status).toBe(202);
            known.cancelled = true;
            documents.set(replacement, { requestId: answer.requestIds[0] as number, cancelled: false });
          } else {
            const answer = await send(mdm(sample(key), 'delete'));
            if (!known) {
              expect(answer.status).toBe(422);
              continue;
            }
            expect(answer).toEqual({ status: known.cancelled ? 200 : 202, requestIds: [known.requestId] });
            known.cancelled = true;
          }
        }

        const { rows } = await sql<{ document_id: string; request_id: number; status: string }>`
          SELECT document_id, request_id, status FROM integration_requests WHERE facility_id = ${facilityId}`.execute(
          context.runtime.database.db,
        );
        expect(rows).toHaveLength(documents.size);
        for (const row of rows) {
          const extension = row.document_id.split('^')[1] as string;
          const expected = documents.get(extension);
          expect(expected, row.document_id).toBeDefined();
          expect(row.request_id).toBe(expected?.requestId);
          expect(row.status === 'cancelled', row.document_id).toBe(expected?.cancelled);
        }
      }),
      { numRuns: 25 },
    );
  });
});
