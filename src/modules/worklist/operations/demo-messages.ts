import { type Kysely, sql } from 'kysely';
import { onePagePdf } from '../../../platform/pdf.ts';
import type { DB } from '../../../tables.ts';
import { acknowledgmentOf, MllpClient } from '../ingestion/mllp-client.ts';
import {
  type Charset,
  cdaDocument,
  documentId,
  fhirDocumentBundle,
  mdmMessage,
  oruMessage,
  type SampleDocument,
  type SamplePatient,
} from './sample-messages.ts';

export interface DemoInboxTarget {
  host: string;
  mllpPort: number;
  /** The API's base URL and an author's token, for the CDA and the FHIR Bundle sent over HTTP. */
  httpBase: string;
  token: string;
}

export interface DemoInboxResult {
  hl7Messages: number;
  acks: Record<string, number>;
  httpDocuments: number;
}

const LAB_TYPE = { code: '11502-2', title: "CR d'examens biologiques" };
const IMAGING_TYPE = { code: '18748-4', title: "CR d'imagerie médicale" };

/**
 * The demo's inbox, once: results and imaging reports for the demo hospitals' patients, sent as their
 * senders would (ORU^R01 with a PDF, MDM^T02 with a CDA wrapping a PDF, in UTF-8 and Latin-1, with
 * the PDF in either OBX-5 placement) through the real MLLP listener, waiting for each ACK; among them
 * a report whose CDA names another birth date than its HL7 envelope (a mismatch), a corrected report
 * (a replacement) and a patient the hospital does not know; then a CDA and a FHIR Bundle over HTTP.
 * Returns undefined when an earlier run already sent them.
 */
export async function sendDemoMessages(
  db: Kysely<DB>,
  facilities: string[],
  target: DemoInboxTarget,
): Promise<DemoInboxResult | undefined> {
  const { rows: already } =
    await sql`SELECT 1 FROM inbound_messages WHERE facility_id = ANY(${facilities}::text[]) LIMIT 1`.execute(
      db,
    );
  if (already.length > 0) return undefined;
  const { rows } = await sql<{
    facility_id: string;
    ins: string | null;
    ins_oid: string | null;
    ipp: string;
    birth_last_name: string;
    used_last_name: string | null;
    birth_first_names: string;
    birth_date: string;
    sex: 'F' | 'M' | 'U';
    birthplace_code: string | null;
  }>`SELECT facility_id, ins, ins_oid, ipp, birth_last_name, used_last_name, birth_first_names,
            birth_date::text AS birth_date, sex, birthplace_code
     FROM (SELECT p.*, row_number() OVER (PARTITION BY facility_id ORDER BY patient_id) AS n
           FROM patients p WHERE facility_id = ANY(${facilities}::text[]) AND ins IS NOT NULL) ranked
     WHERE n <= 8 ORDER BY facility_id, patient_id`.execute(db);
  const patients = rows.map((row) => ({
    facilityId: row.facility_id,
    patient: {
      ins: row.ins ?? undefined,
      insOid: row.ins_oid ?? undefined,
      ipp: row.ipp,
      birthLastName: row.birth_last_name,
      usedLastName: row.used_last_name ?? undefined,
      givenNames: row.birth_first_names.split(' '),
      birthDate: row.birth_date,
      sex: row.sex,
      birthplaceCode: row.birthplace_code ?? undefined,
      reliability: 'QUAL',
    } satisfies SamplePatient,
  }));
  const stamp = Date.now().toString(36).toUpperCase();
  const messages: Buffer[] = [];
  const today = new Date().toISOString().slice(0, 10);
  const documentFor = (kind: typeof LAB_TYPE, patient: SamplePatient, n: number): SampleDocument => ({
    id: documentId(`DEMO-${stamp}-${n}`),
    typeCode: kind.code,
    title: kind.title,
    procedureDate: today,
    pdf: onePagePdf(
      kind.title,
      `${patient.givenNames[0]} ${patient.birthLastName}, born ${patient.birthDate}`,
    ),
  });
  for (const [n, { facilityId, patient }] of patients.entries()) {
    const charset: Charset = n % 3 === 1 ? '8859/1' : 'UNICODE UTF-8';
    const lab = documentFor(LAB_TYPE, patient, n * 2);
    messages.push(
      oruMessage({
        controlId: `DEMO${stamp}${n * 2}`,
        sendingFacility: 'LABO-BIO-DEMO',
        receivingFacility: facilityId,
        patient,
        document: lab,
        placement: n % 2 === 0 ? 'component5' : 'component1',
        charset,
      }),
    );
    const imaging = documentFor(IMAGING_TYPE, patient, n * 2 + 1);
    // One report whose CDA gives another birth date than the HL7 envelope: a person must look.
    const inside = n === 3 ? { ...patient, birthDate: shiftYear(patient.birthDate) } : patient;
    messages.push(
      mdmMessage({
        controlId: `DEMO${stamp}${n * 2 + 1}`,
        sendingFacility: 'RADIOLOGIE-DEMO',
        receivingFacility: facilityId,
        patient,
        document: imaging,
        cda: cdaDocument({ patient: inside, document: imaging, facilityId }),
        charset,
      }),
    );
  }
  const first = patients[0];
  if (first) {
    const original = documentFor(IMAGING_TYPE, first.patient, 1);
    const corrected: SampleDocument = {
      ...original,
      id: documentId(`DEMO-${stamp}-1-v2`),
      replaces: original.id,
      title: `${IMAGING_TYPE.title} (corrigé)`,
    };
    messages.push(
      mdmMessage({
        controlId: `DEMO${stamp}R1`,
        sendingFacility: 'RADIOLOGIE-DEMO',
        receivingFacility: first.facilityId,
        patient: first.patient,
        document: corrected,
        cda: cdaDocument({
          patient: first.patient,
          document: corrected,
          facilityId: first.facilityId,
          version: 2,
        }),
        action: 'replace',
      }),
    );
    const stranger: SamplePatient = {
      ipp: `X${stamp}`,
      birthLastName: 'INCONNU',
      givenNames: ['Camille'],
      birthDate: '1961-07-14',
      sex: 'F',
    };
    messages.push(
      oruMessage({
        controlId: `DEMO${stamp}U1`,
        sendingFacility: 'LABO-BIO-DEMO',
        receivingFacility: first.facilityId,
        patient: stranger,
        document: documentFor(LAB_TYPE, stranger, 9_001),
      }),
    );
  }
  const acks: Record<string, number> = {};
  const client = await MllpClient.connect(target.host, target.mllpPort);
  try {
    for (const message of messages) {
      const { code } = acknowledgmentOf(await client.send(message));
      acks[code] = (acks[code] ?? 0) + 1;
    }
  } finally {
    await client.close();
  }
  let httpDocuments = 0;
  const second = patients[1];
  if (second) {
    const cdaReport = documentFor(
      { code: '11490-0', title: 'Lettre de liaison à la sortie' },
      second.patient,
      9_002,
    );
    const fhirReport = documentFor({ code: '11488-4', title: 'CR de consultation' }, second.patient, 9_003);
    const bodies = [
      {
        type: 'application/xml',
        body: cdaDocument({ patient: second.patient, document: cdaReport, facilityId: second.facilityId }),
      },
      {
        type: 'application/fhir+json',
        body: Buffer.from(
          JSON.stringify(
            fhirDocumentBundle({
              patient: second.patient,
              document: fhirReport,
              facilityId: second.facilityId,
            }),
          ),
        ),
      },
    ];
    for (const { type, body } of bodies) {
      const response = await fetch(
        `${target.httpBase}/v2/inbox?facilityId=${encodeURIComponent(second.facilityId)}&source=mssante`,
        { method: 'POST', headers: { authorization: `Bearer ${target.token}`, 'content-type': type }, body },
      );
      if (response.status !== 202)
        throw new Error(`the demo's ${type} was answered ${response.status}: ${await response.text()}`);
      httpDocuments += 1;
    }
  }
  return { hl7Messages: messages.length, acks, httpDocuments };
}

function shiftYear(date: string): string {
  const dayOfYear = date.slice(4) === '-02-29' ? '-02-28' : date.slice(4);
  return `${Number(date.slice(0, 4)) + 1}${dayOfYear}`;
}
