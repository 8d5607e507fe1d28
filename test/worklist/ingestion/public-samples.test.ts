/**
 * Public samples (test/fixtures/public/, each folder's README says where every file came from) through
 * the inbox's door, `receive`, against a real PostgreSQL: what a hospital would be answered and what it
 * would find on its worklist. HL7 v2 is routed on MSH-6 where the sample's receiving facility is its
 * own, else named as the HTTP inbox names it; CDA and FHIR are named.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestionDepsOf } from '../../../src/app.ts';
import {
  type InboxKind,
  type MessageOutcome,
  receive,
} from '../../../src/modules/worklist/ingestion/inbox.ts';
import type { IngestionDeps } from '../../../src/modules/worklist/ingestion/service.ts';
import { addReceivingIdentifiers } from '../../../src/modules/worklist/operations/ingest-files.ts';
import { createTestContext, type TestContext } from '../../support/harness.ts';
import { createFacility } from '../../support/worklist.ts';

const FIXTURES = path.join(import.meta.dirname, '../../fixtures/public');
const sample = (name: string) => readFileSync(path.join(FIXTURES, name));

/** An ACK's segments and fields (segments end with CR). */
function ackOf(outcome: MessageOutcome): { msa: string[]; errors: string[][] } {
  expect(outcome.ack, 'an HL7 message is answered').toBeDefined();
  const segments = outcome
    .ack!.toString('latin1')
    .split('\r')
    .filter(Boolean)
    .map((line) => line.split('|'));
  return {
    msa: segments.find((fields) => fields[0] === 'MSA') ?? [],
    errors: segments.filter((fields) => fields[0] === 'ERR'),
  };
}

describe('public samples through receive', () => {
  let context: TestContext;
  let deps: IngestionDeps;
  let facilities = 0;

  beforeAll(async () => {
    context = await createTestContext();
    deps = ingestionDepsOf(context.runtime);
  });
  afterAll(async () => {
    await context.close();
  });

  /** A facility of its own for each sample: the ANS examples all number their messages 015. */
  async function newFacility(receivingIdentifier?: string): Promise<string> {
    const facilityId = `PUB-${++facilities}`;
    await createFacility(context, facilityId);
    if (receivingIdentifier !== undefined) {
      await addReceivingIdentifiers(context.runtime.database.db, facilityId, [receivingIdentifier]);
    }
    return facilityId;
  }

  /** HL7 routed on MSH-6 (an MLLP listener), or named (the HTTP inbox); CDA and FHIR named. */
  async function send(
    name: string,
    kind: InboxKind,
    route: { msh6: string } | 'named' = 'named',
  ): Promise<{ facilityId: string; outcomes: MessageOutcome[] }> {
    const facilityId = await newFacility(route === 'named' ? undefined : route.msh6);
    const outcomes = await receive(
      deps,
      {
        listener: route === 'named' ? 'http' : 'mllp',
        facilityId: route === 'named' ? facilityId : undefined,
        sender: 'public-samples',
        source: undefined,
      },
      kind,
      sample(name),
    );
    return { facilityId, outcomes };
  }

  async function detail(facilityId: string, requestId: number) {
    const response = await context.app.inject({
      method: 'GET',
      url: `/v2/worklist/${requestId}`,
      headers: context.auth('reader', 'clinician', { facilities: [facilityId] }),
    });
    expect(response.statusCode, response.body).toBe(200);
    return response.json();
  }

  async function accepted(name: string, kind: InboxKind, route: { msh6: string } | 'named' = 'named') {
    const { facilityId, outcomes } = await send(name, kind, route);
    expect(outcomes, JSON.stringify(outcomes.map((outcome) => outcome.problems))).toHaveLength(1);
    const [outcome] = outcomes as [MessageOutcome];
    expect(outcome, JSON.stringify(outcome.problems)).toMatchObject({
      outcome: 'accepted',
      acknowledgment: 'AA',
    });
    if (kind === 'hl7v2') expect(ackOf(outcome).msa[1]).toBe('AA');
    expect(outcome.requestIds).toHaveLength(1);
    return detail(facilityId, outcome.requestIds[0]!);
  }

  async function rejected(name: string, kind: InboxKind, route: { msh6: string } | 'named' = 'named') {
    const { outcomes } = await send(name, kind, route);
    expect(outcomes).toHaveLength(1);
    const [outcome] = outcomes as [MessageOutcome];
    expect(outcome.outcome).toBe('rejected');
    expect(outcome.requestIds).toEqual([]);
    return outcome;
  }

  describe('HL7 v2, ANS CI-SIS examples (France)', () => {
    it('MDM^T02 v2.6: INS, birth name, date, type, the RPPS in TXA-22 without its type 8; the mail body is no document', async () => {
      const request = await accepted('ansforge-hl7v2-exemples/MDM_T02_CR_Radio_INIT_N1_v2.0.er7', 'hl7v2', {
        msh6: 'Organisation-X',
      });
      expect(request.extracted).toMatchObject({
        ins: '274075176079430',
        insOid: '1.2.250.1.213.1.4.8',
        birthLastName: 'PatA',
        birthDate: '2005-01-01',
        sex: 'M',
        birthplaceCode: '63220',
        documentTypeCode: '18748-4',
        procedureDate: '2022-12-16',
        authorRpps: '01234564895',
      });
      expect(request.documentType).toMatchObject({ code: '18748-4' });
      // OBX 10 (CORPSMAIL_PS, MetaDMPMSS) is the body of the MSSanté mail, not a second document.
      expect(
        request.attachments.map((attachment: { contentType: string }) => attachment.contentType),
      ).toEqual(['application/xml']);
    });

    it('ORU^R01 v2.5 in 8859/15 with UTF-8 bytes and a cut mail body: accepted, the author from PRT, a test INS flagged', async () => {
      const request = await accepted('ansforge-hl7v2-exemples/ORU_R01_CR_Bio_INIT_N1_N3_v2.1.hl7', 'hl7v2');
      expect(request.extracted).toMatchObject({
        ins: '279035121518989',
        insOid: '1.2.250.1.213.1.4.10',
        birthLastName: 'PAT-TROIS',
        birthDate: '1979-03-28',
        sex: 'F',
        documentTypeCode: '11502-2',
        authorRpps: '01234567866',
      });
      expect(request.extracted.fields.authorRpps.source).toBe('PRT-5[1].1');
      expect(request.mismatchReasons).toContainEqual(expect.stringMatching(/INS-NIR-TEST identity/));
      // OBX 1 and 2 carry the CDA level 1 and level 3 of the report; OBX 13, the mail body, is left out.
      expect(request.attachments).toHaveLength(2);
    });

    it('ORU^R01 of the first version: unpadded base64, the document type in OBX-3 over the panel ordered in OBR-4', async () => {
      const request = await accepted('ansforge-hl7v2-exemples/ORU_R01_v1.2.hl7', 'hl7v2');
      expect(request.extracted).toMatchObject({
        ins: '276037510669380',
        birthLastName: 'DE VINCI',
        documentTypeCode: '11502-2',
      });
      expect(request.attachments).toHaveLength(1);
      // The sample's INS fails its key: a person must see it.
      expect(request.mismatchReasons).toContainEqual(expect.stringMatching(/its key is wrong/));
    });

    it('MDM^T10 and MDM^T04 (OBX-11 C and D) of a document never received: AE 204 naming it', async () => {
      const replacement = await rejected(
        'ansforge-hl7v2-exemples/MDM_T10_CR_Radio_RPLC_N1_v2.1.er7',
        'hl7v2',
      );
      expect(replacement.acknowledgment).toBe('AE');
      expect(replacement.problems).toEqual([
        {
          location: 'TXA^1^13',
          code: 204,
          text: 'a replacement of document 1.2.250.1.71.4.2.2.120456789A71024000081^Organisation-Y, which was never received',
        },
      ]);
      const deletion = await rejected('ansforge-hl7v2-exemples/MDM_T04_CR_Radio_DEL_N1_v2.1.er7', 'hl7v2');
      expect(deletion.acknowledgment).toBe('AE');
      expect(deletion.problems).toEqual([
        {
          location: 'TXA^1^12',
          code: 204,
          text: 'a deletion of document 1.2.250.1.71.4.2.2.120456789.A71024000082^Organisation-Y, which was never received',
        },
      ]);
      expect(ackOf(deletion).msa.slice(0, 3)).toEqual(['MSA', 'AE', '015']);
    });

    it('ADT^A01 (IHE PAM France, Z segments, MSH-12 with components, CRLF): AR 200 naming MSH-9', async () => {
      const samples = [
        { name: 'ansforge-hl7v2-exemples/ADT_A01_SGL_admission.er7', route: { msh6: 'CHU-X' } },
        {
          name: 'ansforge-hl7v2-exemples/ADT_A01_PAMFR_Consentement_Positif_DMP.er7',
          route: 'named' as const,
        },
      ];
      for (const { name, route } of samples) {
        const outcome = await rejected(name, 'hl7v2', route);
        expect(outcome.acknowledgment).toBe('AR');
        expect(outcome.problems).toEqual([
          {
            location: 'MSH^1^9',
            code: 200,
            text: 'message type ADT is not supported: ORU^R01 and MDM^T02, T04, T10, T11 are',
          },
        ]);
        const ack = ackOf(outcome);
        expect(ack.msa[1]).toBe('AR');
        expect(ack.errors[0]?.[2]).toBe('MSH^1^9');
      }
    });
  });

  describe('HL7 v2, US laboratory results (NIST, ELR, Cerner, athenahealth via node-hl7-complete)', () => {
    it('NIST ORU^R01 2.5.1, NM result, no PDF: routed on MSH-6, the result as text with its range and flag, the MR id as IPP', async () => {
      const request = await accepted('node-hl7-complete/NIST_ORU_R01_2.5.1_SampleTestCase1.hl7', 'hl7v2', {
        msh6: 'PH Facility',
      });
      expect(request.extracted).toMatchObject({
        ipp: '9817566735',
        birthLastName: 'Johnson',
        birthDate: '2007-05-26',
        sex: 'M',
        procedureDate: '2008-08-15',
        documentTypeCode: '10368-9',
      });
      expect(request.attachments).toHaveLength(1);
      expect(request.attachments[0]).toMatchObject({ contentType: 'text/plain' });
      const text = await fetchText(request.attachments[0].downloadUrl);
      expect(text).toBe(
        'Lead BldC-mCnc: 50 ug/dL (reference <9 mcg/dL:  Acceptable background lead exposure) [H]',
      );
    });

    it('ELR ORU^R01 2.5.1 with SN, NM and TX results, MR and SS in PID-3: the MR is the IPP, never the SSN', async () => {
      const request = await accepted('node-hl7-complete/ELR_ORU_R01_2.5.1_hepatitis-c-virus.hl7', 'hl7v2', {
        msh6: 'SPH',
      });
      expect(request.extracted).toMatchObject({ ipp: '36363636', birthDate: '1980-06-02', sex: 'M' });
      const text = await fetchText(request.attachments[0].downloadUrl);
      // The sample's OBX 1 puts its value (>^11.0) in OBX-7, two fields late: OBX-5 is empty, so the
      // rendering has no line for it (see the README: not guessed).
      expect(text.split('\n')).toEqual(['Age at specimen collection: 29 a', 'food handler']);
    });

    it('Cerner ORU^R01 with a coded result: the name in XCN-1 is not taken for an author id', async () => {
      const request = await accepted('node-hl7-complete/Cerner_ORU_R01_2.5.1_culture.hl7', 'hl7v2', {
        msh6: 'VISN_OUT',
      });
      expect(request.extracted).toMatchObject({ ipp: '9339683996', authorRpps: null });
      expect(await fetchText(request.attachments[0].downloadUrl)).toBe(
        'Culture Sputum: Bordetella pertussis [A]',
      );
    });

    it('an ORU^R01 with an OBR and no OBX: AE 101', async () => {
      const outcome = await rejected('node-hl7-complete/athena_ORU_R01_2.5.1_no_OBX.hl7', 'hl7v2', {
        msh6: '2964',
      });
      expect(outcome.acknowledgment).toBe('AE');
      expect(outcome.problems).toEqual([
        { location: 'OBX^1^5', code: 101, text: 'the message carries no OBX: no document' },
      ]);
    });

    it('an MDM^T04 copied out of a PDF, segments run together and MSH-10 cut: AE 102 at MSH-10', async () => {
      const outcome = await rejected('node-hl7-complete/RemoteOperations_MDM_T04_2.3.hl7', 'hl7v2');
      expect(outcome.acknowledgment).toBe('AE');
      expect(outcome.problems).toEqual([
        {
          location: 'MSH^1^10',
          code: 102,
          text: 'MSH-10 (message control id) is cut by a line break: the message was wrapped in transit',
        },
      ]);
      // Version 2.3: the ACK fills ERR-1 too.
      expect(ackOf(outcome).errors[0]?.[1]).toMatch(/^MSH\^1\^10\^102/);
    });
  });

  describe('HL7 v2, python-hl7 test samples', () => {
    it('ORU^R01 2.4 from the HL7 normative edition, its birth date 196203520: AE 102 at PID-7', async () => {
      const outcome = await rejected('python-hl7/sample_hl7_ORU_R01_2.4.hl7', 'hl7v2', { msh6: 'BLDG4' });
      expect(outcome.problems).toEqual([
        { location: 'PID^1^7', code: 102, text: 'birth date 196203520 (PID-7) is not a date' },
      ]);
    });

    it('a FHS/BHS batch of one ADT^A04: AR 200 for its message', async () => {
      const outcome = await rejected('python-hl7/sample_file_batch_ADT_A04_2.5.hl7', 'hl7v2', {
        msh6: 'AUSDHSV',
      });
      expect(outcome).toMatchObject({
        acknowledgment: 'AR',
        controlId: '12334456778890',
        messageType: 'ADT^A04',
      });
      expect(outcome.problems[0]).toMatchObject({ location: 'MSH^1^9', code: 200 });
    });
  });

  describe('CDA R2', () => {
    it('a C-CDA Diagnostic Imaging Report (US, structured body, no PDF): the CDA itself is the file', async () => {
      const request = await accepted('c-cda-examples/Diagnostic_Imaging_Report.xml', 'cda');
      expect(request.extracted).toMatchObject({
        ipp: '12345',
        birthLastName: 'Everyman',
        birthDate: '1954-11-25',
        sex: 'M',
        documentTypeCode: '18748-4',
        procedureDate: '2006-08-23',
        authorRpps: null,
      });
      expect(request.documentType).toMatchObject({ code: '18748-4' });
      expect(
        request.attachments.map((attachment: { contentType: string }) => attachment.contentType),
      ).toEqual(['application/xml']);
    });

    it('an ANS BIO-TROD (structured body): birth given names, the RPPS without its type 8, a test INS flagged', async () => {
      const request = await accepted('ansforge-testcontenucda/BIO-TROD_2024.01_COVID-19.xml', 'cda');
      expect(request.extracted).toMatchObject({
        ins: '279035121518989',
        birthLastName: 'PAT-TROIS',
        usedLastName: 'PAT-TROIS',
        firstNames: 'DOMINIQUE MARIE-LOUISE',
        birthDate: '1979-03-28',
        sex: 'F',
        birthplaceCode: '63220',
        documentTypeCode: '96173-0',
        procedureDate: '2024-01-06',
        authorRpps: '07655473259',
      });
      expect(request.mismatchReasons).toContainEqual(expect.stringMatching(/INS-NIR-TEST/));
    });

    it('an ANS level 1 header with a PDF body: the CDA and its PDF, the IPP beside the INS', async () => {
      const request = await accepted(
        'ansforge-testcontenucda/DOC_NON_STRUCTURE_CDA-R2-N1.header-with-our-pdf.xml',
        'cda',
      );
      expect(request.extracted).toMatchObject({
        ins: '279035121518989',
        ipp: '1234567890121',
        documentTypeCode: '11502-2',
        procedureDate: '2021-01-04',
        authorRpps: '01234534765',
      });
      expect(
        request.attachments.map((attachment: { contentType: string }) => attachment.contentType),
      ).toEqual(['application/xml', 'application/pdf']);
    });

    it('a C-CDA Unstructured Document whose PDF is referenced, not carried: AE naming the reference', async () => {
      const outcome = await rejected('c-cda-examples/Unstructured_Document_reference.xml', 'cda');
      expect(outcome.problems).toEqual([
        {
          location: 'ClinicalDocument/component/nonXMLBody/text',
          code: 101,
          text: 'the content is referenced (UD_sample.pdf), not carried in the document',
        },
      ]);
    });
  });

  describe('FHIR (ANS PDSm examples)', () => {
    it('a DocumentReference whose "PDF" is the text Hello World: AE 102 at its data', async () => {
      const outcome = await rejected(
        'fhir/ansforge-pdsm-DocumentReference-PDSmSimplifiedExample.json.txt',
        'fhir',
      );
      expect(outcome.problems).toEqual([
        {
          location: 'DocumentReference.content[0].attachment.data',
          code: 102,
          text: 'the content is not a PDF',
        },
      ]);
    });

    it('a replacing transaction Bundle: the replaced document has no identifier, its Binary is no PDF', async () => {
      const outcome = await rejected('fhir/ansforge-pdsm-Bundle-CRBio-Replace-ANS.json.txt', 'fhir');
      expect(outcome.problems).toEqual([
        {
          location: 'Bundle.entry[4].resource.relatesTo[0].target',
          code: 101,
          text: 'the replaced document urn:uuid:44444444-4444-4444-8444-444444444444 is neither in the message nor named by an identifier',
        },
        { location: 'Bundle.entry[2].resource.data', code: 102, text: 'the content is not a PDF' },
      ]);
    });
  });

  async function fetchText(downloadUrl: string): Promise<string> {
    const url = new URL(downloadUrl, 'http://localhost');
    const response = await context.app.inject({ method: 'GET', url: `${url.pathname}${url.search}` });
    expect(response.statusCode).toBe(200);
    return response.rawPayload.toString('utf8');
  }
});
