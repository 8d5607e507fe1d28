import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cdaDocument,
  documentId,
  fhirDocumentBundle,
  insWithKey,
  mdmMessage,
  oruMessage,
  type SampleDocument,
  type SamplePatient,
} from '../../../src/modules/worklist/operations/sample-messages.ts';
import { onePagePdf, textPdf } from '../../../src/platform/pdf.ts';
import { costOf, createTestContext, type TestContext } from '../../support/harness.ts';
import {
  CAMILLE_DUPONT,
  CAMILLE_IN_MESSAGES,
  camilleLabReportPdf,
  createFacility,
} from '../../support/worklist.ts';
import { buildZip } from '../../support/zip-writer.ts';

const FACILITY = 'FAC-INBOX';
const camille: SamplePatient = { ...CAMILLE_IN_MESSAGES, reliability: 'QUAL' };
let counter = 0;
const nextId = (prefix: string) => `${prefix}${++counter}`;
const labReport = (extension = nextId('LAB-')): SampleDocument => ({
  id: documentId(extension),
  typeCode: '11502-2',
  title: "CR d'examens biologiques",
  procedureDate: '2026-11-19',
  authorRpps: '10001234567',
  pdf: onePagePdf('Hemogramme', 'Camille DUPONT'),
});

describe('POST /v2/inbox', () => {
  let context: TestContext;
  let author: { authorization: string };
  let patientId: number;

  beforeAll(async () => {
    context = await createTestContext();
    [patientId] = (await createFacility(context, FACILITY, {
      patients: [{ ipp: 'IPP-1', ...CAMILLE_DUPONT }],
    })) as [number];
    await createFacility(context, 'FAC-OTHER');
    author = context.auth('author', 'lab-interface', { facilities: [FACILITY] });
  });
  afterAll(async () => {
    await context.close();
  });

  const post = (body: Buffer | string, contentType: string, facilityId = FACILITY, headers = author) =>
    context.app.inject({
      method: 'POST',
      url: `/v2/inbox?facilityId=${facilityId}&source=lab`,
      headers: { ...headers, 'content-type': contentType },
      payload: body,
    });
  const detail = async (id: number) => {
    const response = await context.app.inject({
      method: 'GET',
      url: `/v2/worklist/${id}`,
      headers: context.auth('reader', 'clinician', { facilities: [FACILITY] }),
    });
    expect(response.statusCode).toBe(200);
    return response.json();
  };
  const requestCount = async () => {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM integration_requests`.execute(
      context.runtime.database.db,
    );
    return rows[0]?.n;
  };

  it('reads an ORU^R01 carrying a PDF, matches the patient by INS and keeps the raw message, within 4 statements', async () => {
    const message = oruMessage({
      controlId: nextId('CTRL'),
      sendingFacility: 'LABO',
      receivingFacility: FACILITY,
      patient: camille,
      document: labReport(),
    });
    const response = await post(message, 'application/hl7-v2');
    expect(response.statusCode, response.body).toBe(202);
    expect(costOf(response.headers).queries).toBeLessThanOrEqual(4);
    const body = response.json();
    expect(body.messages).toHaveLength(1);
    expect(body.messages[0]).toMatchObject({
      outcome: 'accepted',
      acknowledgment: 'AA',
      messageType: 'ORU^R01',
    });
    const request = await detail(body.requestIds[0]);
    expect(request).toMatchObject({
      status: 'verified',
      identityCheck: 'ok',
      format: 'hl7v2',
      documentType: { code: '11502-2' },
      procedureDate: '2026-11-19',
      mismatchReasons: [],
      patient: { id: patientId },
    });
    expect(request.attachments).toHaveLength(1);
    expect(request.attachments[0]).toMatchObject({ contentType: 'application/pdf', pages: 1 });
    expect(request.extracted.fields.ins).toMatchObject({ value: CAMILLE_DUPONT.ins, confidence: 1 });
    expect(request.extracted.fields.ins.source).toMatch(/^PID-3/);
    expect(request.extracted.fields.birthLastName.source).toMatch(/^PID-5/);
    // The message as received, byte for byte.
    const raw = await fetchObject(context, request.message.downloadUrl);
    expect(Buffer.compare(raw, message)).toBe(0);
    expect(request.message).toMatchObject({ format: 'hl7v2', sender: 'LAB_APP^LABO', listener: 'http' });
  });

  it('answers a resend with the same request and stores nothing new', async () => {
    const message = oruMessage({
      controlId: nextId('CTRL'),
      sendingFacility: 'LABO',
      receivingFacility: FACILITY,
      patient: camille,
      document: labReport(),
    });
    const first = await post(message, 'application/hl7-v2');
    expect(first.statusCode).toBe(202);
    const before = await requestCount();
    const again = await post(message, 'application/hl7-v2');
    expect(again.statusCode).toBe(200);
    expect(again.json().requestIds).toEqual(first.json().requestIds);
    expect(again.json().messages[0]).toMatchObject({ outcome: 'duplicate', acknowledgment: 'AA' });
    expect(await requestCount()).toBe(before);
  });

  it('makes a CDA whose PDF names another patient a mismatch, naming both and where each was read', async () => {
    const document = {
      ...labReport(),
      pdf: textPdf([
        [
          'LABORATOIRE DE BIOLOGIE MÉDICALE',
          'Nom de naissance : DURAND',
          'Prénom : Camille',
          'Date de naissance : 12/03/1979',
          '',
          'Hémogramme : sans anomalie',
        ],
      ]),
    };
    const response = await post(
      cdaDocument({ patient: camille, document, facilityId: FACILITY }),
      'application/xml',
    );
    expect(response.statusCode, response.body).toBe(202);
    const request = await detail(response.json().requestIds[0]);
    expect(request).toMatchObject({
      status: 'pending_verification',
      identityCheck: 'mismatch',
      patient: null,
    });
    expect(request.mismatchReasons).toContainEqual(
      expect.stringMatching(
        /^the PDF \(document\.pdf, page 1, line 2\) names DURAND, the CDA header DUPONT \(ClinicalDocument\/recordTarget\/.*family\)$/,
      ),
    );
  });

  it('takes an IHE XDM zip: each document in it a request of its own; a zip that is not one is a 422', async () => {
    const document = labReport();
    const zip = buildZip([
      { name: 'README.TXT', content: 'test sender' },
      {
        name: 'IHE_XDM/SUBSET01/DOC0001.XML',
        content: cdaDocument({ patient: camille, document, facilityId: FACILITY }),
        method: 'deflate',
      },
      { name: 'IHE_XDM/SUBSET01/DOC0002.PDF', content: textPdf([['Compte rendu', 'Hémogramme normal']]) },
    ]);
    const response = await post(zip, 'application/zip');
    expect(response.statusCode, response.body).toBe(202);
    const { messages, requestIds } = response.json();
    expect(messages.map((message: { format: string }) => message.format)).toEqual(['cda', 'pdf']);
    expect(requestIds).toHaveLength(2);
    expect(await detail(requestIds[0])).toMatchObject({ status: 'verified', patient: { id: patientId } });
    const again = await post(zip, 'application/zip');
    expect(again.statusCode).toBe(200);
    expect(again.json().requestIds).toEqual(requestIds);

    const broken = await post(Buffer.from('PK\x03\x04 not really a zip', 'latin1'), 'application/zip');
    expect(broken.statusCode).toBe(422);
    expect(broken.json().detail).toMatch(/IHE XDM package/);
  });

  it('takes the same document under another control id as a duplicate too (TXA-12)', async () => {
    const document = labReport();
    const cda = cdaDocument({ patient: camille, document, facilityId: FACILITY });
    const build = (controlId: string) =>
      mdmMessage({
        controlId,
        sendingFacility: 'RIS',
        receivingFacility: FACILITY,
        patient: camille,
        document,
        cda,
      });
    const first = await post(build(nextId('MDM')), 'application/hl7-v2');
    expect(first.statusCode).toBe(202);
    const again = await post(build(nextId('MDM')), 'application/hl7-v2');
    expect(again.statusCode).toBe(200);
    expect(again.json().requestIds).toEqual(first.json().requestIds);
  });

  it('reads the CDA an MDM^T02 carries and the PDF inside it; a CDA naming another birth date is a mismatch', async () => {
    const document = labReport();
    const agreeing = await post(
      mdmMessage({
        controlId: nextId('MDM'),
        sendingFacility: 'RIS',
        receivingFacility: FACILITY,
        patient: camille,
        document,
        cda: cdaDocument({ patient: camille, document, facilityId: FACILITY }),
      }),
      'application/hl7-v2',
    );
    expect(agreeing.statusCode).toBe(202);
    const matched = await detail(agreeing.json().requestIds[0]);
    expect(matched).toMatchObject({ status: 'verified', identityCheck: 'ok' });
    expect(matched.attachments.map((a: { contentType: string }) => a.contentType).sort()).toEqual([
      'application/pdf',
      'application/xml',
    ]);

    const other = labReport();
    const disagreeing = await post(
      mdmMessage({
        controlId: nextId('MDM'),
        sendingFacility: 'RIS',
        receivingFacility: FACILITY,
        patient: camille,
        document: other,
        cda: cdaDocument({
          patient: { ...camille, birthDate: '1980-03-12' },
          document: other,
          facilityId: FACILITY,
        }),
      }),
      'application/hl7-v2',
    );
    expect(disagreeing.statusCode).toBe(202);
    const mismatch = await detail(disagreeing.json().requestIds[0]);
    expect(mismatch).toMatchObject({
      status: 'pending_verification',
      identityCheck: 'mismatch',
      patient: null,
    });
    expect(mismatch.mismatchReasons.join(' ')).toMatch(/birth date 1979-03-12 .* 1980-03-12/);
  });

  it('links a replacement to what it replaces and takes the replaced one out of the worklist', async () => {
    const original = labReport();
    const cdaOf = (document: SampleDocument) =>
      cdaDocument({ patient: camille, document, facilityId: FACILITY });
    const first = await post(
      mdmMessage({
        controlId: nextId('MDM'),
        sendingFacility: 'RIS',
        receivingFacility: FACILITY,
        patient: camille,
        document: original,
        cda: cdaOf(original),
      }),
      'application/hl7-v2',
    );
    const originalId = first.json().requestIds[0];
    const corrected = { ...labReport(), replaces: original.id };
    const second = await post(
      mdmMessage({
        controlId: nextId('MDM'),
        sendingFacility: 'RIS',
        receivingFacility: FACILITY,
        patient: camille,
        document: corrected,
        cda: cdaOf(corrected),
        action: 'replace',
      }),
      'application/hl7-v2',
    );
    expect(second.statusCode).toBe(202);
    const replacement = await detail(second.json().requestIds[0]);
    expect(replacement.replaces).toMatchObject({ id: originalId });
    const replaced = await detail(originalId);
    expect(replaced).toMatchObject({ status: 'cancelled', replacedBy: replacement.id });
    expect(replaced.cancellation.reason).toMatch(/replaced by request/);
  });

  it('cancels a deleted document, and refuses a replacement or deletion of one never received (AE, TXA-13)', async () => {
    const document = labReport();
    const cda = cdaDocument({ patient: camille, document, facilityId: FACILITY });
    const mdm = (action: 'new' | 'delete') =>
      mdmMessage({
        controlId: nextId('MDM'),
        sendingFacility: 'RIS',
        receivingFacility: FACILITY,
        patient: camille,
        document,
        cda,
        action,
      });
    const created = await post(mdm('new'), 'application/hl7-v2');
    const deleted = await post(mdm('delete'), 'application/hl7-v2');
    expect(deleted.statusCode).toBe(202);
    expect(deleted.json().requestIds).toEqual(created.json().requestIds);
    expect(await detail(created.json().requestIds[0])).toMatchObject({ status: 'cancelled' });

    const orphan = { ...labReport(), replaces: documentId('NEVER-SEEN') };
    const refused = await post(
      mdmMessage({
        controlId: nextId('MDM'),
        sendingFacility: 'RIS',
        receivingFacility: FACILITY,
        patient: camille,
        document: orphan,
        cda: cdaDocument({ patient: camille, document: orphan, facilityId: FACILITY }),
        action: 'replace',
      }),
      'application/hl7-v2',
    );
    expect(refused.statusCode).toBe(422);
    expect(refused.headers['content-type']).toMatch(/problem\+json/);
    expect(refused.json().errors[0].field).toMatch(/^TXA\^1\^13|relatedDocument/);
  });

  it('records an INS whose key is wrong as a reason a person must see', async () => {
    const wrongKey = `${CAMILLE_DUPONT.ins.slice(0, 13)}${CAMILLE_DUPONT.ins.endsWith('00') ? '01' : '00'}`;
    const response = await post(
      oruMessage({
        controlId: nextId('CTRL'),
        sendingFacility: 'LABO',
        receivingFacility: FACILITY,
        patient: { ...camille, ins: wrongKey },
        document: labReport(),
      }),
      'application/hl7-v2',
    );
    expect(response.statusCode).toBe(202);
    const request = await detail(response.json().requestIds[0]);
    expect(request.identityCheck).toBe('mismatch');
    expect(request.mismatchReasons.join(' ')).toMatch(/key/);
  });

  it('decodes Latin-1 names (MSH-18 8859/1) and finds the PDF in OBX-5 component 1', async () => {
    const helene: SamplePatient = {
      ins: insWithKey('2850375056123'),
      ipp: 'IPP-H',
      birthLastName: 'LEFÈVRE',
      givenNames: ['Hélène', 'Françoise'],
      birthDate: '1985-03-02',
      sex: 'F',
    };
    const response = await post(
      oruMessage({
        controlId: nextId('CTRL'),
        sendingFacility: 'LABO',
        receivingFacility: FACILITY,
        patient: helene,
        document: labReport(),
        charset: '8859/1',
        placement: 'component1',
      }),
      'application/hl7-v2',
    );
    expect(response.statusCode).toBe(202);
    const request = await detail(response.json().requestIds[0]);
    expect(request.extracted).toMatchObject({ birthLastName: 'LEFÈVRE', firstBirthGivenName: 'Hélène' });
    expect(request.attachments[0]).toMatchObject({ contentType: 'application/pdf' });
    // Nobody of the facility has this identity: it waits for a person.
    expect(request).toMatchObject({ status: 'pending_verification', identityCheck: 'pending' });
  });

  it('takes a batch (FHS/BHS), each message on its own: one accepted, one refused', async () => {
    const good = oruMessage({
      controlId: nextId('BATCH'),
      sendingFacility: 'LABO',
      receivingFacility: FACILITY,
      patient: camille,
      document: labReport(),
    });
    const unsupported = Buffer.from(
      `MSH|^~\\&|ADT|LABO|HOTPATH|${FACILITY}|20261119||ADT^A01|${nextId('BATCH')}|P|2.5\rPID|1||1^^^H^PI||DOE^JOHN\r`,
    );
    const batch = Buffer.concat([
      Buffer.from('FHS|^~\\&|LABO|L|HOTPATH|H|20261119\rBHS|^~\\&|LABO|L|HOTPATH|H|20261119\r'),
      good,
      unsupported,
      Buffer.from('BTS|2\rFTS|1\r'),
    ]);
    const response = await post(batch, 'application/hl7-v2');
    expect(response.statusCode).toBe(202);
    const { messages, requestIds } = response.json();
    expect(messages.map((m: { acknowledgment: string }) => m.acknowledgment)).toEqual(['AA', 'AR']);
    expect(requestIds).toHaveLength(1);
  });

  it('takes a CDA R2 document and a FHIR Bundle, each once', async () => {
    const cdaReport = labReport();
    const cda = await post(
      cdaDocument({ patient: camille, document: cdaReport, facilityId: FACILITY }),
      'application/xml',
    );
    expect(cda.statusCode).toBe(202);
    const fromCda = await detail(cda.json().requestIds[0]);
    expect(fromCda).toMatchObject({
      format: 'cda',
      status: 'verified',
      documentId: `${cdaReport.id.root}^${cdaReport.id.extension}`,
    });
    expect(fromCda.extracted.fields.ins.source).toMatch(/^ClinicalDocument\/recordTarget/);

    const bundle = JSON.stringify(
      fhirDocumentBundle({ patient: camille, document: labReport(), facilityId: FACILITY }),
    );
    const fhir = await post(bundle, 'application/fhir+json');
    expect(fhir.statusCode).toBe(202);
    expect(await detail(fhir.json().requestIds[0])).toMatchObject({ format: 'fhir', status: 'verified' });
    const again = await post(bundle, 'application/fhir+json');
    expect(again.statusCode).toBe(200);
    expect(again.json().requestIds).toEqual(fhir.json().requestIds);
  });

  it('answers what it cannot read with problem+json naming the place', async () => {
    const garbage = await post('this is not HL7', 'application/hl7-v2');
    expect(garbage.statusCode).toBe(400);
    expect(garbage.headers['content-type']).toMatch(/problem\+json/);

    const adt = await post(
      'MSH|^~\\&|ADT|HOSP|HOTPATH|FAC-INBOX|20261119||ADT^A01|A1|P|2.5\rPID|1||123^^^H^PI||DOE^JOHN\r',
      'application/hl7-v2',
    );
    expect(adt.statusCode).toBe(422);
    expect(adt.json().errors[0].field).toBe('MSH^1^9');

    const truncated = oruMessage({
      controlId: nextId('CTRL'),
      sendingFacility: 'LABO',
      receivingFacility: FACILITY,
      patient: camille,
      document: { ...labReport(), pdf: onePagePdf('x').subarray(0, 200) },
    });
    const cut = await post(truncated, 'application/hl7-v2');
    expect(cut.statusCode).toBe(422);
    expect(cut.json().errors[0].field).toMatch(/^OBX\^1\^5/);

    const notXml = await post('<ClinicalDocument><unclosed>', 'application/xml');
    expect(notXml.statusCode).toBe(400);
    const notJson = await post('{"resourceType":', 'application/fhir+json');
    expect(notJson.statusCode).toBe(400);

    const pdf = await post(onePagePdf('x'), 'application/octet-stream');
    expect(pdf.statusCode).toBe(415);
  });

  it('keeps facilities apart: another facility is not found, and so is one the token may not see', async () => {
    const message = oruMessage({
      controlId: nextId('CTRL'),
      sendingFacility: 'LABO',
      receivingFacility: FACILITY,
      patient: camille,
      document: labReport(),
    });
    expect((await post(message, 'application/hl7-v2', 'FAC-OTHER')).statusCode).toBe(404);
    expect((await post(message, 'application/hl7-v2', 'FAC-NOWHERE', context.auth('admin'))).statusCode).toBe(
      404,
    );
    expect(
      (
        await post(
          message,
          'application/hl7-v2',
          FACILITY,
          context.auth('reader', 'r', { facilities: [FACILITY] }),
        )
      ).statusCode,
    ).toBe(403);
  });
});

/** Downloads an object through the URL the detail gave (the file-system store's signed route). */
async function fetchObject(context: TestContext, url: string): Promise<Buffer> {
  const { pathname, search } = new URL(url);
  const response = await context.app.inject({ method: 'GET', url: `${pathname}${search}` });
  expect(response.statusCode).toBe(200);
  return response.rawPayload;
}

describe('POST /v2/inbox: what the database could not keep, and keys that must not collide', () => {
  let context: TestContext;
  let author: { authorization: string };

  beforeAll(async () => {
    context = await createTestContext();
    await createFacility(context, FACILITY, { patients: [{ ipp: 'IPP-1', ...CAMILLE_DUPONT }] });
    author = context.auth('author', 'lab-interface', { facilities: [FACILITY] });
  });
  afterAll(async () => {
    await context.close();
  });

  const post = (body: Buffer | string, contentType = 'application/hl7-v2') =>
    context.app.inject({
      method: 'POST',
      url: `/v2/inbox?facilityId=${FACILITY}`,
      headers: { ...author, 'content-type': contentType },
      payload: body,
    });
  const oru = (controlId: string, patient: SamplePatient = camille, sendingApplication?: string) => {
    const message = oruMessage({
      controlId,
      sendingFacility: 'CHU',
      receivingFacility: FACILITY,
      patient,
      document: labReport(),
    });
    return sendingApplication
      ? Buffer.from(message.toString('latin1').replace('LAB_APP', sendingApplication), 'latin1')
      : message;
  };

  it('refuses (422, never 500) a NUL in a name, a year 0000 and a control id too long to key on', async () => {
    const withNul = Buffer.from(
      oru(nextId('NUL')).toString('latin1').replace('DUPONT^', 'DU\\X00\\PONT^'),
      'latin1',
    );
    const nul = await post(withNul);
    expect(nul.statusCode).toBe(422);
    expect(nul.json().errors[0].field).toMatch(/^PID\^1\^5/);
    const yearZero = await post(oru(nextId('Y0'), { ...camille, birthDate: '0000-01-01' }));
    expect(yearZero.statusCode).toBe(422);
    const longId = await post(oru('X'.repeat(5_000)));
    expect(longId.statusCode).toBe(422);
    expect(longId.json().errors[0].field).toBe('MSH^1^10');
  });

  it('keys resends on the sending application too, and on MSH-10 as sent', async () => {
    const lab = await post(oru('1', camille, 'LAB_APP'));
    const ris = await post(oru('1', camille, 'RIS_APP'));
    expect([lab.statusCode, ris.statusCode]).toEqual([202, 202]);
    expect(ris.json().requestIds).not.toEqual(lab.json().requestIds);
    const first = await post(oru('123^A'));
    const second = await post(oru('123^B'));
    expect([first.statusCode, second.statusCode]).toEqual([202, 202]);
    expect(second.json().messages[0].controlId).toBe('123^B');
  });

  it('refuses a Bundle naming one document twice, and stores nothing of it', async () => {
    const bundle = fhirDocumentBundle({ patient: camille, document: labReport(), facilityId: FACILITY });
    const twice = {
      ...bundle,
      entry: [
        ...bundle.entry,
        { ...bundle.entry[2], fullUrl: 'urn:uuid:0b6c1d1e-6a4e-4d4c-9a55-0d5f3c0c0009' },
      ],
    };
    const response = await post(JSON.stringify(twice), 'application/fhir+json');
    expect(response.statusCode).toBe(422);
    const { rows } = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM inbound_messages WHERE format = 'fhir'`.execute(
      context.runtime.database.db,
    );
    expect(rows[0]?.n).toBe(0);
  });

  it('takes a CDA sent again byte for byte as the same message, by its content', async () => {
    const cda = cdaDocument({ patient: camille, document: labReport(), facilityId: FACILITY });
    const first = await post(cda, 'application/xml');
    const again = await post(cda, 'application/xml');
    expect([first.statusCode, again.statusCode]).toEqual([202, 200]);
    expect(again.json().requestIds).toEqual(first.json().requestIds);
  });
});

describe('POST /v2/inbox: a PDF with a text layer', () => {
  let context: TestContext;
  let author: { authorization: string };

  beforeAll(async () => {
    context = await createTestContext();
    await createFacility(context, FACILITY, { patients: [{ ipp: 'IPP-1', ...CAMILLE_DUPONT }] });
    author = context.auth('author', 'scanner', { facilities: [FACILITY] });
  });
  afterAll(async () => {
    await context.close();
  });

  const post = (body: Buffer) =>
    context.app.inject({
      method: 'POST',
      url: `/v2/inbox?facilityId=${FACILITY}&source=paper`,
      headers: { ...author, 'content-type': 'application/pdf' },
      payload: body,
    });

  it('reads the identity, date and type from its text, matches on confident fields, and takes it once', async () => {
    const pdf = camilleLabReportPdf('inbox-1');
    const response = await post(pdf);
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json().messages[0]).toMatchObject({ format: 'pdf', outcome: 'accepted' });
    const detail = await context.app.inject({
      method: 'GET',
      url: `/v2/worklist/${response.json().requestIds[0]}`,
      headers: context.auth('reader', 'clinician', { facilities: [FACILITY] }),
    });
    const request = detail.json();
    expect(request).toMatchObject({
      format: 'pdf',
      status: 'verified',
      identityCheck: 'ok',
      documentType: { code: '11502-2' },
      procedureDate: '2026-11-19',
    });
    expect(request.extracted.fields.ins).toMatchObject({
      value: CAMILLE_DUPONT.ins,
      source: 'page 1, line 7',
    });
    expect(request.extracted.fields.birthDate.confidence).toBeGreaterThanOrEqual(0.8);
    expect(request.attachments[0]).toMatchObject({ contentType: 'application/pdf', pages: 1 });
    const again = await post(pdf);
    expect(again.statusCode).toBe(200);
    expect(again.json().requestIds).toEqual(response.json().requestIds);
  });
});
