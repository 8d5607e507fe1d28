/**
 * HL7 v2 messages, CDA R2 documents and FHIR DocumentReferences as French senders build them (CI-SIS
 * "transmission de documents CDA en HL7 v2"): what the demo sends through the MLLP listener and the
 * benchmark sends at it. Built from the standards, not from hotpath's readers.
 */

const INS_NIR_OID = '1.2.250.1.213.1.4.8';
const RPPS_OID = '1.2.250.1.71.4.2.1';
const DOCUMENT_ID_OID = '1.2.250.1.213.1.1.9';
const LOINC_OID = '2.16.840.1.113883.6.1';

/** The patient a document names. */
export interface SamplePatient {
  ins?: string | undefined;
  insOid?: string | undefined;
  ipp: string;
  birthLastName: string;
  usedLastName?: string | undefined;
  /** Birth given names, the first first. */
  givenNames: string[];
  /** YYYY-MM-DD. */
  birthDate: string;
  sex: 'F' | 'M' | 'U';
  birthplaceCode?: string | undefined;
  reliability?: 'PROV' | 'RECUP' | 'VALI' | 'QUAL' | undefined;
}

export interface SampleDocument {
  /** The document's id as CDA writes it: root and extension. */
  id: { root: string; extension: string };
  replaces?: { root: string; extension: string } | undefined;
  typeCode: string;
  title: string;
  /** YYYY-MM-DD. */
  procedureDate: string;
  authorRpps?: string | undefined;
  pdf: Buffer;
}

/** A 13-character NIR completed with its key (97 − number mod 97), as an INS is written. */
export function insWithKey(nir13: string): string {
  const numeric = nir13.replace('2A', '19').replace('2B', '18');
  const key = 97n - (BigInt(numeric) % 97n);
  return `${nir13}${String(key).padStart(2, '0')}`;
}

export function documentId(extension: string): { root: string; extension: string } {
  return { root: DOCUMENT_ID_OID, extension };
}

const compact = (date: string) => date.replaceAll('-', '');

/** HL7 v2 escapes for a value set inside a field. */
function hl7Text(value: string): string {
  return value.replace(/[\\|^&~]/g, (character) =>
    character === '\\'
      ? '\\E\\'
      : character === '|'
        ? '\\F\\'
        : character === '^'
          ? '\\S\\'
          : character === '&'
            ? '\\T\\'
            : '\\R\\',
  );
}

function pidSegment(patient: SamplePatient, facilityId: string): string {
  const identifiers = [
    ...(patient.ins ? [`${patient.ins}^^^ASIP-SANTE-INS-NIR&${patient.insOid ?? INS_NIR_OID}&ISO^INS`] : []),
    `${patient.ipp}^^^${facilityId}&1.2.250.1.71.4.2.7.${facilityId}&ISO^PI`,
  ].join('~');
  const [first = '', ...others] = patient.givenNames;
  const names = [
    `${hl7Text(patient.birthLastName)}^${hl7Text(first)}^${hl7Text([first, ...others].join(' '))}^^^^L`,
    ...(patient.usedLastName ? [`${hl7Text(patient.usedLastName)}^${hl7Text(first)}^^^^^D`] : []),
  ].join('~');
  const birthplace = patient.birthplaceCode ? `^^^^^^BDL^^${patient.birthplaceCode}` : '';
  const fields = [
    'PID',
    '1',
    '',
    identifiers,
    '',
    names,
    '',
    compact(patient.birthDate),
    patient.sex,
    '',
    '',
    birthplace,
    ...Array.from({ length: 20 }, () => ''),
    patient.reliability ?? (patient.ins ? 'VALI' : 'PROV'),
  ];
  return fields.join('|');
}

function mshSegment(options: {
  sendingApplication: string;
  sendingFacility: string;
  receivingFacility: string;
  at: Date;
  type: string;
  controlId: string;
  charset: string;
}): string {
  const stamp = options.at.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `MSH|^~\\&|${options.sendingApplication}|${options.sendingFacility}|HOTPATH|${options.receivingFacility}|${stamp}||${options.type}|${options.controlId}|P|2.5|||||FRA|${options.charset}`;
}

export type Charset = 'UNICODE UTF-8' | '8859/1' | '8859/15';

function encode(segments: string[], charset: Charset): Buffer {
  const text = `${segments.join('\r')}\r`;
  if (charset === 'UNICODE UTF-8') return Buffer.from(text, 'utf8');
  if (charset === '8859/1') return Buffer.from(text, 'latin1');
  // ISO-8859-15 differs from Latin-1 in eight places (€, Œ, œ, Š, š, Ž, ž, Ÿ).
  const latin9: Record<string, number> = {
    '€': 0xa4,
    Š: 0xa6,
    š: 0xa8,
    Ž: 0xb4,
    ž: 0xb8,
    Œ: 0xbc,
    œ: 0xbd,
    Ÿ: 0xbe,
  };
  return Buffer.from([...text].map((character) => latin9[character] ?? character.charCodeAt(0) & 0xff));
}

/** ORU^R01: a laboratory result whose report rides as a base64 PDF in an OBX of type ED. */
export function oruMessage(options: {
  controlId: string;
  sendingFacility: string;
  receivingFacility: string;
  patient: SamplePatient;
  document: SampleDocument;
  /** Where OBX-5 carries the data: component 5 (the standard) or 1 (as many senders do). */
  placement?: 'component5' | 'component1';
  charset?: Charset;
  at?: Date;
}): Buffer {
  const { document, patient } = options;
  const charset = options.charset ?? 'UNICODE UTF-8';
  const data = document.pdf.toString('base64');
  const value = options.placement === 'component1' ? data : `^application^pdf^Base64^${data}`;
  const code = `${document.typeCode}^${hl7Text(document.title)}^LN`;
  const author = document.authorRpps ? `${document.authorRpps}^^^^^^^^&${RPPS_OID}&ISO` : '';
  return encode(
    [
      mshSegment({
        sendingApplication: 'LAB_APP',
        sendingFacility: options.sendingFacility,
        receivingFacility: options.receivingFacility,
        at: options.at ?? new Date(),
        type: 'ORU^R01^ORU_R01',
        controlId: options.controlId,
        charset,
      }),
      pidSegment(patient, options.receivingFacility),
      `OBR|1||${hl7Text(document.id.extension)}|${code}|||${compact(document.procedureDate)}0800|||||||||${author}`,
      `OBX|1|ED|${code}||${value}||||||F`,
    ],
    charset,
  );
}

/** MDM^T02 (T10 to replace, or OBX-11 D to delete): a CDA R2 document in OBX-5, announced by TXA. */
export function mdmMessage(options: {
  controlId: string;
  sendingFacility: string;
  receivingFacility: string;
  patient: SamplePatient;
  document: SampleDocument;
  cda: Buffer;
  action?: 'new' | 'replace' | 'delete';
  charset?: Charset;
  at?: Date;
}): Buffer {
  const { document, patient } = options;
  const action = options.action ?? 'new';
  const charset = options.charset ?? 'UNICODE UTF-8';
  const ei = (id: { root: string; extension: string }) => `${hl7Text(id.extension)}^^${id.root}^ISO`;
  const author = document.authorRpps ? `${document.authorRpps}^^^^^^^^&${RPPS_OID}&ISO` : '';
  const status = action === 'replace' ? 'C' : action === 'delete' ? 'D' : 'F';
  return encode(
    [
      mshSegment({
        sendingApplication: 'RIS_APP',
        sendingFacility: options.sendingFacility,
        receivingFacility: options.receivingFacility,
        at: options.at ?? new Date(),
        type: action === 'replace' ? 'MDM^T10^MDM_T02' : 'MDM^T02^MDM_T02',
        controlId: options.controlId,
        charset,
      }),
      `EVN|${action === 'replace' ? 'T10' : 'T02'}|${compact(document.procedureDate)}0900`,
      pidSegment(patient, options.receivingFacility),
      'PV1|1|O',
      [
        'TXA',
        '1',
        `${document.typeCode}^${hl7Text(document.title)}^LN`,
        'TEXT',
        `${compact(document.procedureDate)}0800`,
        '',
        '',
        '',
        '',
        '',
        '',
        '',
        ei(document.id),
        document.replaces ? ei(document.replaces) : '',
        '',
        '',
        '',
        'AU',
        '',
        '',
        '',
        '',
        author,
      ].join('|'),
      `OBX|1|ED|${document.typeCode}^${hl7Text(document.title)}^LN||^text^XML^Base64^${options.cda.toString('base64')}||||||${status}`,
    ],
    charset,
  );
}

function xml(value: string): string {
  return value.replace(
    /[<>&"']/g,
    (character) =>
      ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[character] as string,
  );
}

/** A CDA R2 document (French CI-SIS header) wrapping a PDF in its nonXMLBody. */
export function cdaDocument(options: {
  patient: SamplePatient;
  document: SampleDocument;
  facilityId: string;
  version?: number;
}): Buffer {
  const { patient, document } = options;
  const [first = '', ...others] = patient.givenNames;
  const ids = [
    ...(patient.ins ? [`<id root="${patient.insOid ?? INS_NIR_OID}" extension="${patient.ins}"/>`] : []),
    `<id root="1.2.250.1.71.4.2.7.${xml(options.facilityId)}" extension="${xml(patient.ipp)}"/>`,
  ];
  const text = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
    '  <realmCode code="FR"/>',
    '  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>',
    `  <id root="${document.id.root}" extension="${xml(document.id.extension)}"/>`,
    `  <code code="${document.typeCode}" codeSystem="${LOINC_OID}" displayName="${xml(document.title)}"/>`,
    `  <title>${xml(document.title)}</title>`,
    `  <effectiveTime value="${compact(document.procedureDate)}120000+0100"/>`,
    '  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>',
    '  <languageCode code="fr-FR"/>',
    `  <setId root="${document.id.root}" extension="${xml(document.id.extension.replace(/-v\d+$/, ''))}"/>`,
    `  <versionNumber value="${options.version ?? 1}"/>`,
    '  <recordTarget>',
    '    <patientRole>',
    ...ids.map((id) => `      ${id}`),
    '      <patient>',
    '        <name>',
    // CI-SIS: the first birth given name qualified BR, then the whole list of birth given names.
    `          <given qualifier="BR">${xml(first)}</given>`,
    `          <given>${xml([first, ...others].join(' '))}</given>`,
    `          <family qualifier="BR">${xml(patient.birthLastName)}</family>`,
    ...(patient.usedLastName
      ? [`          <family qualifier="SP">${xml(patient.usedLastName)}</family>`]
      : []),
    `          <given qualifier="CL">${xml(first)}</given>`,
    '        </name>',
    `        <administrativeGenderCode code="${patient.sex}" codeSystem="2.16.840.1.113883.5.1"/>`,
    `        <birthTime value="${compact(patient.birthDate)}"/>`,
    ...(patient.birthplaceCode
      ? [
          `        <birthplace><place><addr><county>${patient.birthplaceCode}</county></addr></place></birthplace>`,
        ]
      : []),
    '      </patient>',
    '    </patientRole>',
    '  </recordTarget>',
    '  <author>',
    `    <time value="${compact(document.procedureDate)}"/>`,
    '    <assignedAuthor>',
    document.authorRpps
      ? `      <id root="${RPPS_OID}" extension="8${document.authorRpps}"/>`
      : '      <id nullFlavor="UNK"/>',
    '    </assignedAuthor>',
    '  </author>',
    '  <custodian><assignedCustodian><representedCustodianOrganization>',
    `    <id root="1.2.250.1.71.4.2.2" extension="${xml(options.facilityId)}"/>`,
    '  </representedCustodianOrganization></assignedCustodian></custodian>',
    '  <documentationOf><serviceEvent>',
    `    <effectiveTime><low value="${compact(document.procedureDate)}"/></effectiveTime>`,
    '  </serviceEvent></documentationOf>',
    ...(document.replaces
      ? [
          '  <relatedDocument typeCode="RPLC"><parentDocument>',
          `    <id root="${document.replaces.root}" extension="${xml(document.replaces.extension)}"/>`,
          '  </parentDocument></relatedDocument>',
        ]
      : []),
    '  <component>',
    `    <nonXMLBody><text mediaType="application/pdf" representation="B64">${document.pdf.toString('base64')}</text></nonXMLBody>`,
    '  </component>',
    '</ClinicalDocument>',
    '',
  ];
  return Buffer.from(text.join('\n'), 'utf8');
}

/** A FHIR R4 transaction Bundle: the DocumentReference, its Patient and its PDF as a Binary. */
export function fhirDocumentBundle(options: {
  patient: SamplePatient;
  document: SampleDocument;
  facilityId: string;
}) {
  const { patient, document } = options;
  const [first = '', ...others] = patient.givenNames;
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: 'urn:uuid:0b6c1d1e-6a4e-4d4c-9a55-0d5f3c0c0001',
        resource: {
          resourceType: 'Patient',
          identifier: [
            ...(patient.ins
              ? [{ system: `urn:oid:${patient.insOid ?? INS_NIR_OID}`, value: patient.ins }]
              : []),
            {
              system: `urn:oid:1.2.250.1.71.4.2.7.${options.facilityId}`,
              value: patient.ipp,
              type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PI' }] },
            },
          ],
          name: [
            { use: 'official', family: patient.birthLastName, given: [first, ...others] },
            ...(patient.usedLastName ? [{ use: 'usual', family: patient.usedLastName, given: [first] }] : []),
          ],
          gender: { F: 'female', M: 'male', U: 'unknown' }[patient.sex],
          birthDate: patient.birthDate,
        },
        request: { method: 'POST', url: 'Patient' },
      },
      {
        fullUrl: 'urn:uuid:0b6c1d1e-6a4e-4d4c-9a55-0d5f3c0c0002',
        resource: {
          resourceType: 'Binary',
          contentType: 'application/pdf',
          data: document.pdf.toString('base64'),
        },
        request: { method: 'POST', url: 'Binary' },
      },
      {
        fullUrl: 'urn:uuid:0b6c1d1e-6a4e-4d4c-9a55-0d5f3c0c0003',
        resource: {
          resourceType: 'DocumentReference',
          masterIdentifier: { system: `urn:oid:${document.id.root}`, value: document.id.extension },
          status: 'current',
          type: {
            coding: [{ system: 'http://loinc.org', code: document.typeCode, display: document.title }],
          },
          subject: { reference: 'urn:uuid:0b6c1d1e-6a4e-4d4c-9a55-0d5f3c0c0001' },
          date: `${document.procedureDate}T12:00:00+01:00`,
          description: document.title,
          ...(document.authorRpps
            ? { author: [{ identifier: { system: `urn:oid:${RPPS_OID}`, value: document.authorRpps } }] }
            : {}),
          content: [
            {
              attachment: {
                contentType: 'application/pdf',
                url: 'urn:uuid:0b6c1d1e-6a4e-4d4c-9a55-0d5f3c0c0002',
                title: `${document.title}.pdf`,
              },
            },
          ],
          context: { period: { start: document.procedureDate } },
        },
        request: { method: 'POST', url: 'DocumentReference' },
      },
    ],
  };
}
