import fc from 'fast-check';
import type { Binary, Bundle, DocumentReference, Patient, Practitioner } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { readFhirDocuments } from '../../../src/modules/worklist/ingestion/fhir-document.ts';
import { MessageRejection } from '../../../src/modules/worklist/ingestion/reading.ts';
import { onePagePdf } from '../../../src/platform/pdf.ts';

const report = onePagePdf('Bilan biologique', 'Patiente DUPONT Marie, 12/05/1980');
const NIR = '280057505612389';

function patient(id: string): Patient {
  return {
    resourceType: 'Patient',
    id,
    extension: [
      {
        url: 'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability',
        extension: [{ url: 'identityStatus', valueCoding: { code: 'VALI' } }],
      },
      {
        url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace',
        valueAddress: {
          extension: [
            {
              url: 'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code',
              valueCoding: {
                system: 'https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM',
                code: '75056',
              },
            },
          ],
          city: 'Paris',
        },
      },
    ],
    identifier: [
      {
        use: 'official',
        type: {
          coding: [{ system: 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203', code: 'INS-NIR' }],
        },
        system: 'urn:oid:1.2.250.1.213.1.4.8',
        value: NIR,
      },
      { use: 'usual', system: 'urn:oid:1.2.250.1.999.1.2', value: 'EXT-77' },
      {
        use: 'usual',
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PI' }] },
        system: 'urn:oid:1.2.250.1.999.1.1',
        value: '0012345',
      },
    ],
    name: [
      { use: 'official', family: 'DUPONT', given: ['Marie', 'Anne', 'Louise'] },
      { use: 'usual', family: 'MARTIN', given: ['Manon'] },
      { use: 'usual', family: 'DURAND', period: { end: '2010-06-30' } },
    ],
    gender: 'female',
    birthDate: '1980-05-12',
  };
}

const practitioner: Practitioner = {
  resourceType: 'Practitioner',
  id: 'pr1',
  identifier: [{ system: 'urn:oid:1.2.250.1.71.4.2.1', value: '810001234567' }],
  name: [{ family: 'LEROY', given: ['Paul'] }],
};

/** A DocumentReference pushed alone: its Patient and author contained, the PDF inline. */
function standalone(): DocumentReference {
  return {
    resourceType: 'DocumentReference',
    contained: [patient('p1'), practitioner],
    masterIdentifier: { system: 'urn:oid:1.2.250.1.999.1.2.3', value: 'CR-2024-000123' },
    status: 'current',
    docStatus: 'final',
    type: { coding: [{ system: 'http://loinc.org', code: '11502-2', display: "CR d'examens biologiques" }] },
    subject: { reference: '#p1' },
    date: '2024-03-14T10:30:00+01:00',
    author: [{ reference: '#pr1' }],
    description: 'Bilan biologique du 13 mars',
    content: [
      {
        attachment: { contentType: 'application/pdf', data: report.toString('base64'), title: 'CR biologie' },
      },
    ],
    context: { period: { start: '2024-03-13T09:15:00+01:00' } },
  };
}

/** A transaction as an MHD document source sends it: DocumentReference, Binary and Patient by urn:uuid. */
function transaction(): Bundle {
  const binary: Binary = {
    resourceType: 'Binary',
    contentType: 'application/pdf',
    data: report.toString('base64'),
  };
  const document: DocumentReference = {
    resourceType: 'DocumentReference',
    masterIdentifier: { system: 'urn:ietf:rfc:3986', value: 'urn:oid:1.2.250.1.999.1.2.3.456' },
    status: 'current',
    type: { coding: [{ system: 'http://loinc.org', code: '18748-4' }] },
    subject: { reference: 'urn:uuid:8d5f2c1e-0000-4000-8000-000000000002' },
    date: '2024-03-14T10:30:00+01:00',
    content: [
      {
        attachment: { contentType: 'application/pdf', url: 'urn:uuid:8d5f2c1e-0000-4000-8000-000000000003' },
      },
    ],
  };
  const { id: _id, ...anonymousPatient } = patient('unused');
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: 'urn:uuid:8d5f2c1e-0000-4000-8000-000000000001',
        resource: document,
        request: { method: 'POST', url: 'DocumentReference' },
      },
      {
        fullUrl: 'urn:uuid:8d5f2c1e-0000-4000-8000-000000000002',
        resource: anonymousPatient,
        request: { method: 'POST', url: 'Patient' },
      },
      {
        fullUrl: 'urn:uuid:8d5f2c1e-0000-4000-8000-000000000003',
        resource: binary,
        request: { method: 'POST', url: 'Binary' },
      },
    ],
  };
}

function rejection(read: () => unknown): MessageRejection {
  try {
    read();
  } catch (error) {
    if (error instanceof MessageRejection) return error;
    throw error;
  }
  throw new Error('the resource was accepted');
}

describe('readFhirDocuments', () => {
  it('reads a DocumentReference with its Patient contained and the PDF inline', () => {
    const subject = 'DocumentReference.subject→Patient';
    expect(readFhirDocuments(standalone())).toEqual([
      {
        format: 'fhir',
        documentId: {
          value: '1.2.250.1.999.1.2.3^CR-2024-000123',
          source: 'DocumentReference.masterIdentifier',
          confidence: 1,
        },
        action: 'new',
        identity: {
          ins: { value: NIR, source: `${subject}.identifier[0]`, confidence: 1 },
          insOid: { value: '1.2.250.1.213.1.4.8', source: `${subject}.identifier[0].system`, confidence: 1 },
          ipp: { value: '0012345', source: `${subject}.identifier[2]`, confidence: 1 },
          birthLastName: { value: 'DUPONT', source: `${subject}.name[0].family`, confidence: 1 },
          birthGivenNames: { value: 'Marie Anne Louise', source: `${subject}.name[0].given`, confidence: 1 },
          firstBirthGivenName: { value: 'Marie', source: `${subject}.name[0].given[0]`, confidence: 1 },
          usedLastName: { value: 'MARTIN', source: `${subject}.name[1].family`, confidence: 1 },
          usedGivenName: { value: 'Manon', source: `${subject}.name[1].given[0]`, confidence: 1 },
          birthDate: { value: '1980-05-12', source: `${subject}.birthDate`, confidence: 1 },
          sex: { value: 'F', source: `${subject}.gender`, confidence: 1 },
          birthplaceCode: {
            value: '75056',
            source: `${subject}.extension[1].valueAddress.extension[0].valueCoding.code`,
            confidence: 1,
          },
          reliability: {
            value: 'VALI',
            source: `${subject}.extension[0].extension[0].valueCoding.code`,
            confidence: 1,
          },
        },
        documentTypeCode: {
          value: '11502-2',
          source: 'DocumentReference.type.coding[0].code',
          confidence: 1,
        },
        documentTypeLabel: {
          value: "CR d'examens biologiques",
          source: 'DocumentReference.type.coding[0].display',
          confidence: 1,
        },
        title: {
          value: 'Bilan biologique du 13 mars',
          source: 'DocumentReference.description',
          confidence: 1,
        },
        procedureDate: {
          value: '2024-03-13',
          source: 'DocumentReference.context.period.start',
          confidence: 1,
        },
        authorRpps: {
          value: '10001234567',
          source: 'DocumentReference.author[0]→Practitioner.identifier[0]',
          confidence: 1,
        },
        files: [
          {
            fileName: 'CR_biologie.pdf',
            contentType: 'application/pdf',
            content: report,
            source: 'DocumentReference.content[0].attachment.data',
          },
        ],
        mismatchReasons: [],
      },
    ]);
  });

  it('reads a transaction bundle: the Patient and the Binary by urn:uuid', () => {
    const [reading] = readFhirDocuments(transaction());
    expect(reading?.documentId).toEqual({
      value: '1.2.250.1.999.1.2.3.456',
      source: 'Bundle.entry[0].resource.masterIdentifier',
      confidence: 1,
    });
    expect(reading?.identity.ins).toEqual({
      value: NIR,
      source: 'Bundle.entry[0].resource.subject→Patient.identifier[0]',
      confidence: 1,
    });
    expect(reading?.documentTypeLabel).toEqual({
      value: "CR d'imagerie médicale",
      source: 'Bundle.entry[0].resource.type.coding[0].code',
      confidence: 1,
    });
    expect(reading?.procedureDate).toEqual({
      value: '2024-03-14',
      source: 'Bundle.entry[0].resource.date',
      confidence: 0.6,
    });
    expect(reading?.files).toEqual([
      {
        fileName: 'document.pdf',
        contentType: 'application/pdf',
        content: report,
        source: 'Bundle.entry[0].resource.content[0].attachment.url→Binary.data',
      },
    ]);
  });

  it('resolves Patient/<id> and Binary/<id> in a collection, and reads every DocumentReference', () => {
    const second: DocumentReference = {
      ...standalone(),
      contained: undefined,
      masterIdentifier: { system: 'urn:oid:1.2.250.1.999.1.2.3', value: 'CR-2024-000124' },
      subject: { reference: 'https://ehr.example/fhir/Patient/p9/_history/2' },
      content: [{ attachment: { contentType: 'application/pdf', url: 'Binary/b1' } }],
    };
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'https://ehr.example/fhir/DocumentReference/d1', resource: standalone() },
        { fullUrl: 'https://ehr.example/fhir/DocumentReference/d2', resource: second },
        { fullUrl: 'https://ehr.example/fhir/Patient/p9', resource: patient('p9') },
        {
          resource: {
            resourceType: 'Binary',
            id: 'b1',
            contentType: 'application/pdf',
            data: report.toString('base64'),
          },
        },
      ],
    };
    const readings = readFhirDocuments(bundle);
    expect(readings.map((reading) => reading.documentId?.value)).toEqual([
      '1.2.250.1.999.1.2.3^CR-2024-000123',
      '1.2.250.1.999.1.2.3^CR-2024-000124',
    ]);
    expect(readings[1]?.identity.ipp?.source).toBe('Bundle.entry[1].resource.subject→Patient.identifier[2]');
    expect(readings[1]?.files[0]?.source).toBe(
      'Bundle.entry[1].resource.content[0].attachment.url→Binary.data',
    );
  });

  it('reads a replacement by the masterIdentifier of the DocumentReference it replaces (not filed itself), or by identifier', () => {
    const replaced: DocumentReference = { ...standalone(), status: 'superseded' };
    const replacing: DocumentReference = {
      ...standalone(),
      masterIdentifier: { system: 'urn:oid:1.2.250.1.999.1.2.3', value: 'CR-2024-000123-V2' },
      relatesTo: [
        { code: 'replaces', target: { reference: 'urn:uuid:8d5f2c1e-0000-4000-8000-0000000000aa' } },
      ],
    };
    const readings = readFhirDocuments({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:8d5f2c1e-0000-4000-8000-0000000000bb', resource: replacing },
        { fullUrl: 'urn:uuid:8d5f2c1e-0000-4000-8000-0000000000aa', resource: replaced },
      ],
    } satisfies Bundle);
    expect(readings).toHaveLength(1);
    const [reading] = readings;
    expect(reading?.action).toBe('replace');
    expect(reading?.replacesDocumentId).toEqual({
      value: '1.2.250.1.999.1.2.3^CR-2024-000123',
      source: 'Bundle.entry[0].resource.relatesTo[0].target→DocumentReference.masterIdentifier',
      confidence: 1,
    });
    const byIdentifier: DocumentReference = {
      ...standalone(),
      relatesTo: [
        { code: 'appends', target: { reference: 'DocumentReference/x' } },
        {
          code: 'replaces',
          target: { identifier: { system: 'urn:oid:1.2.250.1.999.1.2.3', value: '0000099' } },
        },
      ],
    };
    expect(readFhirDocuments(byIdentifier)[0]?.replacesDocumentId).toEqual({
      value: '1.2.250.1.999.1.2.3^0000099',
      source: 'DocumentReference.relatesTo[1].target.identifier',
      confidence: 1,
    });
    const unknown: DocumentReference = {
      ...standalone(),
      relatesTo: [{ code: 'replaces', target: { reference: 'DocumentReference/elsewhere' } }],
    };
    expect(rejection(() => readFhirDocuments(unknown)).problems).toEqual([
      {
        location: 'DocumentReference.relatesTo[0].target',
        code: 101,
        text: 'the replaced document DocumentReference/elsewhere is neither in the message nor named by an identifier',
      },
    ]);
  });

  it('reads an entered-in-error DocumentReference as the deletion of its document', () => {
    const withdrawn: DocumentReference = {
      ...standalone(),
      status: 'entered-in-error',
      content: [{ attachment: { contentType: 'application/pdf' } }],
    };
    const [reading] = readFhirDocuments(withdrawn);
    expect(reading?.action).toBe('delete');
    expect(reading?.documentId?.value).toBe('1.2.250.1.999.1.2.3^CR-2024-000123');
    expect(reading?.files).toEqual([]);
    expect(readFhirDocuments({ ...standalone(), docStatus: 'entered-in-error' })[0]?.action).toBe('delete');
  });

  it('takes the identity from subject.identifier when the Patient is not in the message', () => {
    const byIdentifier: DocumentReference = {
      ...standalone(),
      subject: {
        reference: 'Patient/123',
        identifier: { system: 'urn:oid:1.2.250.1.213.1.4.8', value: NIR },
      },
    };
    const [reading] = readFhirDocuments(byIdentifier);
    expect(reading?.identity).toEqual({
      ins: { value: NIR, source: 'DocumentReference.subject.identifier', confidence: 1 },
      insOid: {
        value: '1.2.250.1.213.1.4.8',
        source: 'DocumentReference.subject.identifier.system',
        confidence: 1,
      },
    });
    const [unknown] = readFhirDocuments({ ...standalone(), subject: { reference: 'Patient/123' } });
    expect(unknown?.identity).toEqual({});
    expect(unknown?.mismatchReasons).toEqual([
      'the patient Patient/123 (DocumentReference.subject) is not in the message and has no identifier',
    ]);
  });

  it('tells a person about a wrong INS key, a test identity and a type that is not LOINC', () => {
    const subject = patient('p1');
    subject.identifier = [{ system: 'urn:oid:1.2.250.1.213.1.4.10', value: '280057505612388' }];
    const [reading] = readFhirDocuments({
      ...standalone(),
      contained: [subject],
      type: {
        coding: [{ system: 'urn:oid:1.2.250.1.999.9', code: 'CR-LABO', display: 'Compte rendu labo' }],
      },
    });
    const source = 'DocumentReference.subject→Patient.identifier[0]';
    expect(reading?.mismatchReasons).toEqual([
      `INS 280057505612388 in ${source}: its key is wrong`,
      `INS 280057505612388 in ${source} is an INS-NIR-TEST identity (1.2.250.1.213.1.4.10), not a real patient's`,
      'document type CR-LABO in DocumentReference.type.coding[0] is from code system urn:oid:1.2.250.1.999.9, not LOINC (http://loinc.org)',
    ]);
    expect(reading?.documentTypeCode).toBeUndefined();
    expect(reading?.documentTypeLabel?.value).toBe('Compte rendu labo');
  });

  it('rejects an attachment without content, bad base64 and a Binary that is not there', () => {
    const inline = (data: string): DocumentReference => ({
      ...standalone(),
      content: [{ attachment: { contentType: 'application/pdf', data } }],
    });
    const bundled = (document: DocumentReference): Bundle => ({
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { resource: { resourceType: 'Patient', id: 'other' } },
        {
          resource: {
            resourceType: 'Binary',
            id: 'cut',
            contentType: 'application/pdf',
            data: 'JVBERi0xLjQK',
          },
        },
        { resource: document },
      ],
    });
    expect(
      rejection(() => readFhirDocuments(bundled(inline(report.toString('base64').slice(0, 99))))).problems,
    ).toEqual([
      {
        location: 'Bundle.entry[2].resource.content[0].attachment.data',
        code: 102,
        text: expect.stringMatching(/^the content is not valid base64: .*truncated/),
      },
    ]);
    const nothing: DocumentReference = {
      ...standalone(),
      content: [{ attachment: { contentType: 'application/pdf' } }],
    };
    expect(rejection(() => readFhirDocuments(nothing)).problems).toEqual([
      {
        location: 'DocumentReference.content[0].attachment',
        code: 101,
        text: 'the attachment carries neither data nor a Binary',
      },
    ]);
    const elsewhere: DocumentReference = {
      ...standalone(),
      content: [{ attachment: { url: 'Binary/missing' } }],
    };
    expect(rejection(() => readFhirDocuments(bundled(elsewhere))).problems).toEqual([
      {
        location: 'Bundle.entry[2].resource.content[0].attachment',
        code: 101,
        text: 'the attachment points at Binary/missing, which is not in the message',
      },
    ]);
    const cut: DocumentReference = { ...standalone(), content: [{ attachment: { url: 'Binary/cut' } }] };
    expect(rejection(() => readFhirDocuments(bundled(cut))).problems).toEqual([
      { location: 'Bundle.entry[1].resource.data', code: 102, text: 'the PDF has no %%EOF: it is truncated' },
    ]);
  });

  it('rejects a birth date and a gender FHIR does not define', () => {
    const subject: Patient = { ...patient('p1'), birthDate: '1980-02-30', gender: 'f' as Patient['gender'] };
    expect(rejection(() => readFhirDocuments({ ...standalone(), contained: [subject] })).problems).toEqual([
      {
        location: 'DocumentReference.contained[0].birthDate',
        code: 102,
        text: 'birth date 1980-02-30 is not a FHIR date',
      },
      {
        location: 'DocumentReference.contained[0].gender',
        code: 103,
        text: 'gender "f" is not one of female, male, other, unknown',
      },
    ]);
  });

  it('rejects what is not a DocumentReference or a Bundle of them', () => {
    expect(rejection(() => readFhirDocuments({ resourceType: 'Patient', id: 'p1' }))).toMatchObject({
      acknowledgment: 'AR',
      problems: [{ location: 'resourceType', code: 200 }],
    });
    for (const notAResource of [42, null, 'DocumentReference', [standalone()], {}]) {
      expect(rejection(() => readFhirDocuments(notAResource))).toMatchObject({
        acknowledgment: 'AR',
        problems: [{ location: 'resourceType', code: 100 }],
      });
    }
    const onlyPatients: Bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ resource: patient('p1') }],
    };
    expect(rejection(() => readFhirDocuments(onlyPatients))).toMatchObject({
      acknowledgment: 'AE',
      problems: [{ location: 'Bundle.entry', code: 101, text: 'the bundle holds no DocumentReference' }],
    });
  });

  it('throws nothing but a MessageRejection, whatever the JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (json) => {
        expectOnlyRejections(() => readFhirDocuments(json));
        expectOnlyRejections(() => readFhirDocuments({ resourceType: 'DocumentReference', content: json }));
      }),
      { numRuns: 300 },
    );
  });

  it('throws nothing but a MessageRejection when any element of a valid message is replaced', () => {
    const messages = [standalone(), transaction()];
    fc.assert(
      fc.property(fc.constantFrom(0, 1), fc.nat(), fc.jsonValue(), (which, position, replacement) => {
        const message = messages[which]!;
        const count = countNodes(message);
        expectOnlyRejections(() => readFhirDocuments(replaced(message, position % count, replacement)));
      }),
      { numRuns: 500 },
    );
  });
});

function expectOnlyRejections(read: () => unknown): void {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(MessageRejection);
  }
}

function countNodes(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 1;
  return 1 + Object.values(value).reduce<number>((sum, item) => sum + countNodes(item), 0);
}

/** The value with its `target`-th node (depth first, itself being 0) replaced. */
function replaced(value: unknown, target: number, replacement: unknown): unknown {
  let seen = -1;
  const walk = (node: unknown): unknown => {
    seen += 1;
    if (seen === target) return replacement;
    if (typeof node !== 'object' || node === null) return node;
    if (Array.isArray(node)) return node.map(walk);
    return Object.fromEntries(Object.entries(node).map(([key, item]) => [key, walk(item)]));
  };
  return walk(value);
}
