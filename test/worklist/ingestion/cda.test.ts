import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCda } from '../../../src/modules/worklist/ingestion/cda.ts';
import { isLoincCode, JDV_J07_CODES, loincLabel } from '../../../src/modules/worklist/ingestion/loinc.ts';
import { MessageRejection } from '../../../src/modules/worklist/ingestion/reading.ts';
import { onePagePdf } from '../../../src/platform/pdf.ts';

const report = onePagePdf('Scanner thoracique', 'Patiente DUPONT Marie, 12/05/1980');
/** Base64 the way CDA producers write it: 76 characters a line. */
const wrapped = (content: Buffer) => content.toString('base64').replace(/.{76}/g, '$&\n        ');

const NIR = '280057505612389';
const PATIENT_ROLE = 'ClinicalDocument/recordTarget/patientRole';

interface Parts {
  code: string;
  ids: string;
  name: string;
  birthTime: string;
  related: string;
  documentationOf: string;
  body: string;
}

const defaults: Parts = {
  code: `<code code="18748-4" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC" displayName="CR d'imagerie médicale"/>`,
  ids: `<id root="1.2.250.1.213.1.4.8" extension="${NIR}"/>
      <id root="1.2.250.1.999.1.1" extension="0012345"/>`,
  name: `<name>
          <given qualifier="BR">Marie</given>
          <given>Marie Anne Louise</given>
          <given qualifier="CL">Manon</given>
          <family qualifier="BR">DUPONT</family>
          <family qualifier="SP">MARTIN</family>
        </name>`,
  birthTime: '<birthTime value="19800512"/>',
  related: '',
  documentationOf: `<documentationOf>
    <serviceEvent classCode="ACT">
      <code code="ZBQK002" codeSystem="1.2.250.1.213.2.5" displayName="Scanographie du thorax"/>
      <effectiveTime><low value="20240313091500+0100"/><high value="20240313094500+0100"/></effectiveTime>
    </serviceEvent>
  </documentationOf>`,
  body: `<component>
    <nonXMLBody>
      <text mediaType="application/pdf" representation="B64">
        ${wrapped(report)}
      </text>
    </nonXMLBody>
  </component>`,
};

/** A CI-SIS style CDA R2 document (structuration minimale), with the parts a test changes. */
function clinicalDocument(overrides: Partial<Parts> = {}): string {
  const parts = { ...defaults, ...overrides };
  return `<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="CDA-FR.xsl"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <id root="1.2.250.1.999.1.2.3" extension="CR-2024-000123"/>
  ${parts.code}
  <title>Scanner thoracique</title>
  <effectiveTime value="20240314103000+0100"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  <setId root="1.2.250.1.999.1.2.4" extension="0000123"/>
  <versionNumber value="1"/>
  <recordTarget>
    <patientRole>
      ${parts.ids}
      <addr><streetAddressLine>3 rue des Lilas</streetAddressLine><postalCode>75011</postalCode><city>Paris</city></addr>
      <patient classCode="PSN">
        ${parts.name}
        <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1" displayName="Féminin"/>
        ${parts.birthTime}
        <birthplace><place><addr><county>75056</county><city>Paris</city></addr></place></birthplace>
      </patient>
    </patientRole>
  </recordTarget>
  <author>
    <time value="20240314103000+0100"/>
    <assignedAuthor>
      <id root="1.2.250.1.71.4.2.1" extension="810001234567"/>
      <code code="G15_10/SM44" codeSystem="1.2.250.1.213.1.1.4.5" displayName="Médecin - Radiodiagnostic et imagerie médicale (SM)"/>
      <assignedPerson><name><given>Paul</given><family>LEROY</family></name></assignedPerson>
    </assignedAuthor>
  </author>
  <custodian>
    <assignedCustodian><representedCustodianOrganization>
      <id root="1.2.250.1.71.4.2.2" extension="1750000000"/><name>Centre d'imagerie</name>
    </representedCustodianOrganization></assignedCustodian>
  </custodian>
  ${parts.related}
  ${parts.documentationOf}
  ${parts.body}
</ClinicalDocument>`;
}

function rejection(read: () => unknown): MessageRejection {
  try {
    read();
  } catch (error) {
    if (error instanceof MessageRejection) return error;
    throw error;
  }
  throw new Error('the document was accepted');
}

describe('isLoincCode and loincLabel', () => {
  it('checks the LOINC mod-10 check digit on known codes', () => {
    for (const code of [
      '11502-2',
      '18748-4',
      '11490-0',
      '34874-8',
      '11488-4',
      '60568-3',
      '15507-7',
      '34112-3',
      '34133-9',
    ]) {
      expect(isLoincCode(code), code).toBe(true);
    }
    for (const code of ['11502-3', '18748-5', '1150-22', '11502', 'ABCDE-1', '12345678-0', ' 11502-2']) {
      expect(isLoincCode(code), code).toBe(false);
    }
  });

  it('labels every JDV_J07 code in French, and each code passes its check digit', () => {
    expect(JDV_J07_CODES.length).toBeGreaterThan(80);
    for (const code of JDV_J07_CODES) expect(isLoincCode(code), code).toBe(true);
    expect(loincLabel('18748-4')).toBe("CR d'imagerie médicale");
    expect(loincLabel('11502-2')).toBe("CR d'examens biologiques");
    expect(loincLabel('34133-9')).toBe("Synthèse d'épisode de soins");
    expect(loincLabel('11490-0')).toBe("Lettre de liaison à la sortie d'un établissement de soins");
    expect(loincLabel('34794-8')).toBe('CR de réunion de concertation pluridisciplinaire');
    expect(loincLabel('99999-9')).toBeUndefined();
    expect(loincLabel('toString')).toBeUndefined();
  });
});

describe('readCda', () => {
  it('reads a CI-SIS level 1 document: identity, document, author and the PDF it wraps', () => {
    const reading = readCda(clinicalDocument());
    expect(reading).toEqual({
      format: 'cda',
      documentId: {
        value: '1.2.250.1.999.1.2.3^CR-2024-000123',
        source: 'ClinicalDocument/id',
        confidence: 1,
      },
      setId: { value: '1.2.250.1.999.1.2.4^0000123', source: 'ClinicalDocument/setId', confidence: 1 },
      versionNumber: { value: '1', source: 'ClinicalDocument/versionNumber/@value', confidence: 1 },
      action: 'new',
      identity: {
        ins: { value: NIR, source: `${PATIENT_ROLE}/id[1]/@extension`, confidence: 1 },
        insOid: { value: '1.2.250.1.213.1.4.8', source: `${PATIENT_ROLE}/id[1]/@root`, confidence: 1 },
        ipp: { value: '0012345', source: `${PATIENT_ROLE}/id[2]/@extension`, confidence: 0.9 },
        birthLastName: { value: 'DUPONT', source: `${PATIENT_ROLE}/patient/name/family[1]`, confidence: 1 },
        usedLastName: { value: 'MARTIN', source: `${PATIENT_ROLE}/patient/name/family[2]`, confidence: 1 },
        firstBirthGivenName: {
          value: 'Marie',
          source: `${PATIENT_ROLE}/patient/name/given[1]`,
          confidence: 1,
        },
        birthGivenNames: {
          value: 'Marie Anne Louise',
          source: `${PATIENT_ROLE}/patient/name/given[2]`,
          confidence: 1,
        },
        usedGivenName: { value: 'Manon', source: `${PATIENT_ROLE}/patient/name/given[3]`, confidence: 1 },
        birthDate: { value: '1980-05-12', source: `${PATIENT_ROLE}/patient/birthTime/@value`, confidence: 1 },
        sex: { value: 'F', source: `${PATIENT_ROLE}/patient/administrativeGenderCode/@code`, confidence: 1 },
        birthplaceCode: {
          value: '75056',
          source: `${PATIENT_ROLE}/patient/birthplace/place/addr/county`,
          confidence: 1,
        },
      },
      documentTypeCode: { value: '18748-4', source: 'ClinicalDocument/code/@code', confidence: 1 },
      documentTypeLabel: {
        value: "CR d'imagerie médicale",
        source: 'ClinicalDocument/code/@displayName',
        confidence: 1,
      },
      title: { value: 'Scanner thoracique', source: 'ClinicalDocument/title', confidence: 1 },
      procedureDate: {
        value: '2024-03-13',
        source: 'ClinicalDocument/documentationOf/serviceEvent/effectiveTime/low/@value',
        confidence: 1,
      },
      authorRpps: {
        value: '10001234567',
        source: 'ClinicalDocument/author/assignedAuthor/id/@extension',
        confidence: 1,
      },
      files: [
        {
          fileName: 'document.pdf',
          contentType: 'application/pdf',
          content: report,
          source: 'ClinicalDocument/component/nonXMLBody/text',
        },
      ],
      mismatchReasons: [],
    });
  });

  it('decodes bytes by the encoding the XML declaration names', () => {
    const xml = clinicalDocument({
      name: '<name><given qualifier="BR">Hélène</given><given>Hélène Françoise</given><family qualifier="BR">LEFÈVRE</family></name>',
    }).replace('encoding="UTF-8"', 'encoding="ISO-8859-1"');
    const reading = readCda(Buffer.from(xml, 'latin1'));
    expect(reading.identity.birthLastName?.value).toBe('LEFÈVRE');
    expect(reading.identity.birthGivenNames?.value).toBe('Hélène Françoise');
    expect(readCda(Buffer.from(`\uFEFF${clinicalDocument()}`, 'utf8')).identity.ipp?.value).toBe('0012345');
  });

  it('reads the observationMedia of a level 3 body, in nested sections', () => {
    const photo = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);
    const body = `<component><structuredBody>
      <component><section>
        <code code="30954-2" codeSystem="2.16.840.1.113883.6.1"/>
        <title>Résultats</title>
        <text><renderMultiMedia referencedObject="MM1"/></text>
        <entry><observationMedia classCode="OBS" moodCode="EVN" ID="MM1">
          <value xsi:type="ED" mediaType="application/pdf" representation="B64">${wrapped(report)}</value>
        </observationMedia></entry>
        <component><section>
          <title>Iconographie</title>
          <entry><observation classCode="OBS" moodCode="EVN"><code code="24627-2" codeSystem="2.16.840.1.113883.6.1"/></observation></entry>
          <entry><observationMedia classCode="OBS" moodCode="EVN" ID="MM2">
            <value xsi:type="ED" mediaType="image/png" representation="B64">${photo.toString('base64')}</value>
          </observationMedia></entry>
          <entry><observationMedia classCode="OBS" moodCode="EVN" ID="MM3">
            <value xsi:type="ED" mediaType="image/jpeg"><reference value="https://pacs.example/wado?id=1"/></value>
          </observationMedia></entry>
        </section></component>
      </section></component>
      <component><section><title>Conclusion</title><text>RAS</text></section></component>
    </structuredBody></component>`;
    const reading = readCda(clinicalDocument({ body }));
    const sections = 'ClinicalDocument/component/structuredBody/component[1]/section';
    expect(reading.files).toEqual([
      {
        fileName: 'MM1.pdf',
        contentType: 'application/pdf',
        content: report,
        source: `${sections}/entry/observationMedia/value`,
      },
      {
        fileName: 'MM2.png',
        contentType: 'image/png',
        content: photo,
        source: `${sections}/component/section/entry[2]/observationMedia/value`,
      },
    ]);
    expect(reading.mismatchReasons).toEqual([]);
  });

  it('carries no file for a structured body without media', () => {
    const body =
      '<component><structuredBody><component><section><title>Conclusion</title><text>RAS</text></section></component></structuredBody></component>';
    expect(readCda(clinicalDocument({ body })).files).toEqual([]);
  });

  it('reads a replacement (RPLC) and the document it replaces', () => {
    const related = `<relatedDocument typeCode="RPLC"><parentDocument>
      <id root="1.2.250.1.999.1.2.3" extension="CR-2024-000099"/>
      <setId root="1.2.250.1.999.1.2.4" extension="0000123"/><versionNumber value="1"/>
    </parentDocument></relatedDocument>`;
    const reading = readCda(clinicalDocument({ related }));
    expect(reading.action).toBe('replace');
    expect(reading.replacesDocumentId).toEqual({
      value: '1.2.250.1.999.1.2.3^CR-2024-000099',
      source: 'ClinicalDocument/relatedDocument/parentDocument/id',
      confidence: 1,
    });
    const appendix =
      '<relatedDocument typeCode="APND"><parentDocument><id root="1.2.3"/></parentDocument></relatedDocument>';
    expect(readCda(clinicalDocument({ related: appendix })).action).toBe('new');
    const unnamed =
      '<relatedDocument typeCode="RPLC"><parentDocument><id nullFlavor="UNK"/></parentDocument></relatedDocument>';
    expect(rejection(() => readCda(clinicalDocument({ related: unnamed }))).problems).toEqual([
      {
        location: 'ClinicalDocument/relatedDocument/parentDocument/id',
        code: 101,
        text: 'a replacement (RPLC) must name the document it replaces',
      },
    ]);
  });

  it('keeps leading zeros and reads a lone id as the IPP', () => {
    const reading = readCda(clinicalDocument({ ids: '<id root="1.2.250.1.999.1.1" extension="000123"/>' }));
    expect(reading.identity.ins).toBeUndefined();
    expect(reading.identity.ipp).toEqual({
      value: '000123',
      source: `${PATIENT_ROLE}/id/@extension`,
      confidence: 0.9,
    });
  });

  it('tells a person about an INS whose key is wrong, and about a test identity', () => {
    const wrongKey = readCda(
      clinicalDocument({ ids: '<id root="1.2.250.1.213.1.4.8" extension="280057505612388"/>' }),
    );
    expect(wrongKey.identity.ins?.value).toBe('280057505612388');
    expect(wrongKey.mismatchReasons).toEqual([`INS 280057505612388 in ${PATIENT_ROLE}/id: its key is wrong`]);
    const test = readCda(clinicalDocument({ ids: `<id root="1.2.250.1.213.1.4.10" extension="${NIR}"/>` }));
    expect(test.identity.insOid?.value).toBe('1.2.250.1.213.1.4.10');
    expect(test.mismatchReasons).toEqual([
      `INS ${NIR} in ${PATIENT_ROLE}/id is an INS-NIR-TEST identity (1.2.250.1.213.1.4.10), not a real patient's`,
    ]);
  });

  it('tells a person about a document type that is not LOINC', () => {
    const local = readCda(
      clinicalDocument({
        code: '<code code="CR-RADIO" codeSystem="1.2.250.1.999.9" displayName="Compte rendu radio"/>',
      }),
    );
    expect(local.documentTypeCode).toBeUndefined();
    expect(local.documentTypeLabel?.value).toBe('Compte rendu radio');
    expect(local.mismatchReasons).toEqual([
      'document type CR-RADIO in ClinicalDocument/code/@code is from code system 1.2.250.1.999.9, not LOINC (2.16.840.1.113883.6.1)',
    ]);
    const wrongDigit = readCda(
      clinicalDocument({ code: '<code code="18748-5" codeSystem="2.16.840.1.113883.6.1"/>' }),
    );
    expect(wrongDigit.mismatchReasons).toEqual([
      'document type 18748-5 in ClinicalDocument/code/@code is not a valid LOINC code',
    ]);
    const unlabelled = readCda(
      clinicalDocument({ code: '<code code="11502-2" codeSystem="2.16.840.1.113883.6.1"/>' }),
    );
    expect(unlabelled.documentTypeLabel).toEqual({
      value: "CR d'examens biologiques",
      source: 'ClinicalDocument/code/@code',
      confidence: 1,
    });
  });

  it('falls back, less sure, where the header does not say', () => {
    const reading = readCda(
      clinicalDocument({
        name: '<name><given>Jean Pierre</given><family>DURAND</family></name>',
        documentationOf: '',
      }),
    );
    const name = `${PATIENT_ROLE}/patient/name`;
    expect(reading.identity.birthLastName).toEqual({
      value: 'DURAND',
      source: `${name}/family`,
      confidence: 0.8,
    });
    expect(reading.identity.birthGivenNames).toEqual({
      value: 'Jean Pierre',
      source: `${name}/given`,
      confidence: 0.8,
    });
    expect(reading.identity.firstBirthGivenName).toEqual({
      value: 'Jean',
      source: `${name}/given`,
      confidence: 0.6,
    });
    expect(reading.procedureDate).toEqual({
      value: '2024-03-14',
      source: 'ClinicalDocument/effectiveTime/@value',
      confidence: 0.6,
    });
  });

  it('puts the first birth given name back in front when the list leaves it out', () => {
    const reading = readCda(
      clinicalDocument({
        name: '<name><given qualifier="BR">Marie</given><given>Anne</given><given>Louise</given><family qualifier="BR">DUPONT</family></name>',
      }),
    );
    expect(reading.identity.birthGivenNames).toEqual({
      value: 'Marie Anne Louise',
      source: `${PATIENT_ROLE}/patient/name/given`,
      confidence: 0.8,
    });
  });

  it('rejects what is not well-formed XML, naming the line and column', () => {
    const broken = clinicalDocument().replace(
      '<title>Scanner thoracique</title>',
      '<title>Scanner thoracique</titre>',
    );
    const line = broken.split('\n').findIndex((text) => text.includes('</titre>')) + 1;
    const [problem] = rejection(() => readCda(broken)).problems;
    expect(problem?.code).toBe(100);
    expect(problem?.location).toMatch(new RegExp(`^XML line ${line}, column \\d+$`));
    expect(problem?.text).toContain('title');
    expect(rejection(() => readCda('')).acknowledgment).toBe('AE');
    expect(rejection(() => readCda('{"resourceType":"Bundle"}')).problems[0]?.code).toBe(100);
  });

  it('rejects a document that is not a ClinicalDocument or names no patient', () => {
    expect(rejection(() => readCda('<levelone xmlns="urn:hl7-org:v3"/>')).problems).toEqual([
      { location: 'levelone', code: 100, text: 'the root element is levelone, not ClinicalDocument' },
    ]);
    expect(rejection(() => readCda('<ClinicalDocument/><ClinicalDocument/>')).problems[0]?.code).toBe(100);
    const anonymous = clinicalDocument().replace(/<recordTarget>[\s\S]*<\/recordTarget>/, '');
    expect(rejection(() => readCda(anonymous)).problems).toEqual([
      {
        location: 'ClinicalDocument/recordTarget/patientRole',
        code: 101,
        text: 'the document names no patient (recordTarget/patientRole is missing)',
      },
    ]);
  });

  it('rejects truncated base64 and a PDF cut before its end', () => {
    const base64 = report.toString('base64');
    const location = 'ClinicalDocument/component/nonXMLBody/text';
    const body = (content: string) =>
      `<component><nonXMLBody><text mediaType="application/pdf" representation="B64">${content}</text></nonXMLBody></component>`;
    expect(rejection(() => readCda(clinicalDocument({ body: body(base64.slice(0, 101)) }))).problems).toEqual(
      [{ location, code: 102, text: expect.stringMatching(/^the content is not valid base64: .*truncated/) }],
    );
    expect(rejection(() => readCda(clinicalDocument({ body: body(base64.slice(0, 200)) }))).problems).toEqual(
      [{ location, code: 102, text: 'the PDF has no %%EOF: it is truncated' }],
    );
    expect(rejection(() => readCda(clinicalDocument({ body: body('') }))).problems).toEqual([
      { location, code: 101, text: 'the content is empty' },
    ]);
  });

  it('rejects a birth time that is no date, and notes one that stops before the day', () => {
    expect(
      rejection(() => readCda(clinicalDocument({ birthTime: '<birthTime value="19801345"/>' }))).problems,
    ).toEqual([
      {
        location: `${PATIENT_ROLE}/patient/birthTime/@value`,
        code: 102,
        text: 'birth time 19801345 is not an HL7 date',
      },
    ]);
    const partial = readCda(clinicalDocument({ birthTime: '<birthTime value="1980"/>' }));
    expect(partial.identity.birthDate).toBeUndefined();
    expect(partial.mismatchReasons).toEqual([
      `birth date 1980 in ${PATIENT_ROLE}/patient/birthTime/@value is not a full date`,
    ]);
  });

  it('prefixes every source with where the document was carried', () => {
    const reading = readCda(clinicalDocument(), { sourcePrefix: 'OBX-5[1]' });
    expect(reading.identity.ins?.source).toBe(`OBX-5[1]→${PATIENT_ROLE}/id[1]/@extension`);
    expect(reading.files[0]?.source).toBe('OBX-5[1]→ClinicalDocument/component/nonXMLBody/text');
    const [problem] = rejection(() => readCda('<ClinicalDocument>', { sourcePrefix: 'OBX-5[1]' })).problems;
    expect(problem?.location).toMatch(/^OBX-5\[1\]→XML line 1/);
  });

  it('throws nothing but a MessageRejection, whatever the text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), truncatedDocument), (text) => {
        expectOnlyRejections(() => readCda(text));
      }),
      { numRuns: 300 },
    );
  });

  it('throws nothing but a MessageRejection, whatever a well-formed ClinicalDocument holds', () => {
    fc.assert(
      fc.property(fc.array(cdaElement, { maxLength: 6 }), fc.constantFrom(...anchors), (elements, anchor) => {
        const alone = `<ClinicalDocument xmlns="urn:hl7-org:v3">${elements.join('')}</ClinicalDocument>`;
        expectOnlyRejections(() => readCda(alone));
        const inserted = clinicalDocument({ body: levelThreeSkeleton }).replace(
          anchor,
          `${anchor}${elements.join('')}`,
        );
        expectOnlyRejections(() => readCda(Buffer.from(inserted)));
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

/** Places in a valid document where random elements go, so that they are read. */
const anchors = [
  '<recordTarget>',
  '<patientRole>',
  '<patient classCode="PSN">',
  '<name>',
  '<assignedAuthor>',
  '<serviceEvent classCode="ACT">',
  '<structuredBody>',
  '<section>',
  '<languageCode code="fr-FR"/>',
];
const levelThreeSkeleton =
  '<component><structuredBody><component><section><entry/></section></component></structuredBody></component>';

const truncatedDocument = fc
  .nat({ max: clinicalDocument().length })
  .map((end) => clinicalDocument().slice(0, end));

const escaped = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

/** Elements and attributes this reader looks at, nested at random, with values both plausible and not. */
function cdaElementUpTo(depth: number): fc.Arbitrary<string> {
  return fc
    .record({
      name: fc.constantFrom(
        'recordTarget',
        'patientRole',
        'patient',
        'id',
        'name',
        'given',
        'family',
        'birthTime',
        'administrativeGenderCode',
        'birthplace',
        'place',
        'addr',
        'county',
        'code',
        'title',
        'effectiveTime',
        'documentationOf',
        'serviceEvent',
        'low',
        'relatedDocument',
        'parentDocument',
        'author',
        'assignedAuthor',
        'component',
        'nonXMLBody',
        'structuredBody',
        'section',
        'entry',
        'observationMedia',
        'value',
        'text',
        'setId',
        'versionNumber',
        'reference',
      ),
      attributes: fc.dictionary(
        fc.constantFrom(
          'root',
          'extension',
          'value',
          'code',
          'codeSystem',
          'qualifier',
          'typeCode',
          'mediaType',
          'representation',
          'ID',
          'displayName',
        ),
        fc.oneof(
          fc.string(),
          fc.constantFrom(
            'B64',
            'RPLC',
            'BR',
            'CL',
            'SP',
            '1.2.250.1.213.1.4.8',
            '1.2.250.1.71.4.2.1',
            '2.16.840.1.113883.6.1',
            'application/pdf',
            '19800512',
            '18748-4',
            'JVBERi0=',
            '810001234567',
          ),
        ),
        { maxKeys: 4 },
      ),
      text: fc.option(fc.oneof(fc.string(), fc.constantFrom(NIR, 'JVBERi0xLjQK', '75056', '%%EOF'))),
      children: depth === 0 ? fc.constant([]) : fc.array(cdaElementUpTo(depth - 1), { maxLength: 3 }),
    })
    .map(({ name, attributes, text, children }) => {
      const attributeText = Object.entries(attributes)
        .map(([key, value]) => ` ${key}="${escaped(value)}"`)
        .join('');
      return `<${name}${attributeText}>${text === null ? '' : escaped(text)}${children.join('')}</${name}>`;
    });
}

const cdaElement = cdaElementUpTo(5);
