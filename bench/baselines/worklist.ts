import { sql } from 'kysely';
import { Type } from 'typebox';
import type { AnyKysely } from '../../src/platform/db/database.ts';
import type { RoutesPlugin } from '../../src/platform/http/app.ts';

/**
 * The worklist as the write-up's V1 served it, kept only for the benchmark: an OFFSET page of whole
 * request rows, then per row one query each for attachments, verifications, extracted metadata, the
 * full 30-column patient, the author and the facility's connector settings, and a synchronous read of
 * the FHIR Patient while serialising. Everything is returned, needed or not.
 */
export function baselineWorklistRoutes(db: AnyKysely): RoutesPlugin {
  return async (app) => {
    app.get(
      '/bench/v1/worklist',
      {
        schema: {
          hide: true,
          querystring: Type.Object({
            facilityId: Type.String(),
            page: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 }),
            perPage: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
          }),
        },
        // Declared honestly: the N+1 is what this route is for.
        config: { access: 'reader', queryBudget: 10_000 },
      },
      async (request) => {
        const { facilityId, page, perPage } = request.query;
        const { rows: requests } = await sql<Record<string, unknown>>`
          SELECT * FROM integration_requests WHERE facility_id = ${facilityId}
          ORDER BY received_at DESC OFFSET ${(page - 1) * perPage} LIMIT ${perPage}`.execute(db);
        const items = [];
        for (const row of requests) {
          const id = row.request_id as number;
          const attachments = (await sql`SELECT * FROM attachments WHERE request_id = ${id}`.execute(db))
            .rows;
          const verifications = (await sql`SELECT * FROM verifications WHERE request_id = ${id}`.execute(db))
            .rows;
          const metadata = (await sql`SELECT * FROM extracted_metadata WHERE request_id = ${id}`.execute(db))
            .rows[0];
          const patient = row.patient_id
            ? (
                await sql<
                  Record<string, unknown>
                >`SELECT * FROM patients WHERE patient_id = ${row.patient_id}`.execute(db)
              ).rows[0]
            : null;
          const author = row.author_provider_id
            ? (await sql`SELECT * FROM providers WHERE provider_id = ${row.author_provider_id}`.execute(db))
                .rows[0]
            : null;
          const facility = (
            await sql<{
              fhir_base_url: string | null;
            }>`SELECT * FROM facilities WHERE facility_id = ${facilityId}`.execute(db)
          ).rows[0];
          let fhirPatient: unknown = null;
          if (patient?.fhir_id && facility?.fhir_base_url) {
            const answer = await fetch(`${facility.fhir_base_url}/Patient/${patient.fhir_id}`);
            fhirPatient = answer.ok ? await answer.json() : null;
          }
          items.push({
            ...row,
            attachments,
            verifications,
            metadata,
            patient,
            author,
            facility,
            fhirPatient,
          });
        }
        return { page, perPage, items };
      },
    );
  };
}
