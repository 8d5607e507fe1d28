import { sql } from 'kysely';
import type { SamplePatient } from '../../src/modules/worklist/operations/sample-messages.ts';
import { textPdf } from '../../src/platform/pdf.ts';
import type { TestContext } from './harness.ts';

export interface PatientFixture {
  ipp: string;
  ins?: string | null;
  birthLastName: string;
  usedLastName?: string | null;
  birthFirstNames: string;
  firstName?: string;
  birthDate: string;
  sex: 'F' | 'M' | 'U';
  fhirId?: string | null;
}

/** A facility and its patients, inserted directly: the worklist has no API to create them. */
export async function createFacility(
  context: TestContext,
  facilityId: string,
  options: { fhirBaseUrl?: string | null; ehrEnabled?: boolean; patients?: PatientFixture[] } = {},
): Promise<number[]> {
  const db = context.runtime.database.db;
  await sql`INSERT INTO facilities (facility_id, name, fhir_base_url, ehr_enabled)
    VALUES (${facilityId}, ${`Hospital ${facilityId}`}, ${options.fhirBaseUrl ?? null}, ${options.ehrEnabled ?? false})`.execute(
    db,
  );
  const ids: number[] = [];
  for (const patient of options.patients ?? []) {
    const { rows } = await sql<{ patient_id: number }>`
      INSERT INTO patients (facility_id, ipp, ins, ins_oid, identity_status, birth_last_name, used_last_name,
                            birth_first_names, first_name, birth_date, sex, fhir_id)
      VALUES (${facilityId}, ${patient.ipp}, ${patient.ins ?? null}, ${patient.ins ? '1.2.250.1.213.1.4.8' : null},
              ${patient.ins ? 'qualified' : 'provisional'}, ${patient.birthLastName}, ${patient.usedLastName ?? null},
              ${patient.birthFirstNames}, ${patient.firstName ?? patient.birthFirstNames.split(' ')[0]},
              ${patient.birthDate}, ${patient.sex}, ${patient.fhirId ?? null})
      RETURNING patient_id`.execute(db);
    ids.push(rows[0]!.patient_id);
  }
  return ids;
}

/** A qualified identity the worklist tests match documents against (a valid INS, key included). */
export const CAMILLE_DUPONT = {
  ins: '279035121518989',
  birthLastName: 'Dupont',
  birthFirstNames: 'Camille',
  birthDate: '1979-03-12',
  sex: 'F' as const,
};

/**
 * A laboratory report with a text layer naming Camille Dupont by INS and traits; `sample` (a sample
 * number) makes each one's bytes different, so none is a resend of another.
 */
export function camilleLabReportPdf(sample: string): Buffer {
  return textPdf([
    [
      'Laboratoire de biologie médicale des Tilleuls',
      "COMPTE RENDU D'EXAMENS BIOLOGIQUES",
      'Nom de naissance : DUPONT',
      'Prénom(s) : Camille',
      'Née le : 12/03/1979',
      'Sexe : F',
      `INS : ${CAMILLE_DUPONT.ins}`,
      'Prélevé le 19/11/2026',
      `Dossier n° ${sample}`,
      'Hémoglobine 13,2 g/dL',
    ],
  ]);
}

/** The metadata of a laboratory report naming Camille Dupont by INS: it matches her exactly. */
export function labReportFor(facilityId: string): Record<string, unknown> {
  return {
    facilityId,
    source: 'lab',
    title: 'Laboratory report',
    documentType: { code: '11502-2', label: 'Laboratory report' },
    procedureDate: '2026-11-19',
    extracted: {
      extractor: 'cda',
      ins: CAMILLE_DUPONT.ins,
      birthLastName: CAMILLE_DUPONT.birthLastName,
      birthDate: CAMILLE_DUPONT.birthDate,
      sex: CAMILLE_DUPONT.sex,
    },
  };
}

export interface ReceiveInput {
  metadata: Record<string, unknown>;
  files?: Array<{ name: string; type: string; content: string | Buffer }>;
}

/** A multipart body as an integration system sends it: the metadata field first, then the files. */
export async function multipartBody(input: ReceiveInput): Promise<{ payload: Buffer; contentType: string }> {
  const form = new FormData();
  form.append('metadata', JSON.stringify(input.metadata));
  for (const file of input.files ?? [
    { name: 'report.pdf', type: 'application/pdf', content: '%PDF-1.4 /Type /Page' },
  ]) {
    form.append('file', new Blob([file.content], { type: file.type }), file.name);
  }
  const encoded = new Response(form);
  return {
    payload: Buffer.from(await encoded.arrayBuffer()),
    contentType: encoded.headers.get('content-type') ?? 'multipart/form-data',
  };
}

export async function receive(
  context: TestContext,
  input: ReceiveInput,
  auth = context.auth('admin', 'integration-bus'),
) {
  const { payload, contentType } = await multipartBody(input);
  return context.app.inject({
    method: 'POST',
    url: '/v2/worklist',
    headers: { ...auth, 'content-type': contentType },
    payload,
  });
}

/** Camille Dupont as laboratories' messages name her (INS and IPP), for the ingestion tests. */
export const CAMILLE_IN_MESSAGES: SamplePatient = {
  ins: CAMILLE_DUPONT.ins,
  ipp: 'IPP-1',
  birthLastName: 'DUPONT',
  givenNames: ['Camille'],
  birthDate: CAMILLE_DUPONT.birthDate,
  sex: 'F',
};
