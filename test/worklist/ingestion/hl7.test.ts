import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildAck,
  escapeHl7,
  type Hl7Envelope,
  readHeaderLeniently,
  readHl7,
  splitHl7,
  unescapeHl7,
} from '../../../src/modules/worklist/ingestion/hl7.ts';
import { MessageRejection } from '../../../src/modules/worklist/ingestion/reading.ts';

// 2 79 03 75 056 123: a woman born in March 1979 in Paris; key = 97 − (2790375056123 mod 97) = 09.
const INS = '279037505612309';
const INS_WRONG_KEY = '279037505612310';
const NIR_OID = '1.2.250.1.213.1.4.8';

const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n',
);
const PDF_BASE64 = PDF.toString('base64');

/** A segment from its fields by number; the ones not given are empty. */
function segment(name: string, fields: Record<number, string>): string {
  const last = Math.max(...Object.keys(fields).map(Number));
  return [name, ...Array.from({ length: last }, (_, index) => fields[index + 1] ?? '')].join('|');
}

function msh(type: string, controlId: string, charset: string, version = '2.5'): string {
  return `MSH|^~\\&|LABO|LABO_X|HOTPATH|FAC-0001|20250611103000||${type}|${controlId}|P|${version}|||||FRA|${charset}`;
}

interface Patient {
  ids?: string;
  names?: string;
  birthDate?: string;
  sex?: string;
  addresses?: string;
  reliability?: string;
}

function pid(patient: Patient = {}): string {
  return segment('PID', {
    1: '1',
    3:
      patient.ids ??
      `${INS}^^^ASIP-SANTE-INS-NIR&${NIR_OID}&ISO^INS~00123456^^^HOPITAL&1.2.250.1.71.4.2.1.1234&ISO^PI`,
    5: patient.names ?? 'DUPONT^Hélène^Hélène Marie Louise^^^^L~MARTIN^Lena^^^^^D',
    7: patient.birthDate ?? '19790312',
    8: patient.sex ?? 'F',
    11: patient.addresses ?? '12 rue des Lilas^^Lyon^^69003^FRA^H~^^^^^^BDL^^75056',
    32: patient.reliability ?? 'VALI',
  });
}

function obxEd(value: string, setId = '1', status = 'F', code = 'PDF^Compte rendu PDF^L'): string {
  return segment('OBX', { 1: setId, 2: 'ED', 3: code, 5: value, 11: status });
}

function oru(
  options: {
    controlId?: string;
    charset?: string;
    version?: string;
    type?: string;
    patient?: string;
    obr?: string;
    observations?: string[];
  } = {},
): string {
  return [
    msh(
      options.type ?? 'ORU^R01^ORU_R01',
      options.controlId ?? 'MSG00001',
      options.charset ?? '8859/1',
      options.version,
    ),
    options.patient ?? pid(),
    segment('PV1', { 1: '1', 2: 'O' }),
    options.obr ??
      segment('OBR', {
        1: '1',
        2: 'CMD123',
        3: 'CR-2025-0042^LABO_X',
        4: "11502-2^CR d'examens biologiques^LN",
        7: '20250610083000',
        16: '10003456789^MEDECIN^Paul',
        25: 'F',
        27: '^^^^^S',
        32: '10001234567&DURAND&Anne',
      }),
    ...(options.observations ?? [obxEd(`^application^pdf^Base64^${PDF_BASE64}`)]),
  ].join('\r');
}

function txa(fields: Record<number, string> = {}): string {
  return segment('TXA', {
    1: '1',
    2: '11488-4^CR de consultation^LN',
    3: 'TX',
    4: '20250609143000',
    9: '10007654321^ORIGINE^Marc',
    12: 'DOC-2025-1^^1.2.250.1.999.1^ISO',
    17: 'AU',
    22: '10009876543^SIGNATAIRE^Julie^^^^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^^^^RPPS',
    ...fields,
  });
}

function mdm(
  options: {
    event?: string;
    txa?: string;
    observations?: string[];
    charset?: string;
    controlId?: string;
  } = {},
): string {
  const event = options.event ?? 'T02';
  return [
    msh(`MDM^${event}^MDM_${event}`, options.controlId ?? 'MSG00002', options.charset ?? 'UNICODE UTF-8'),
    segment('EVN', { 2: '20250611103000' }),
    pid(),
    segment('PV1', { 1: '1', 2: 'O' }),
    options.txa ?? txa(),
    ...(options.observations ?? [obxEd(`^application^pdf^Base64^${PDF_BASE64}`)]),
  ].join('\r');
}

const LATIN9: Record<string, number> = {
  '€': 0xa4,
  Š: 0xa6,
  š: 0xa8,
  Ž: 0xb4,
  ž: 0xb8,
  Œ: 0xbc,
  œ: 0xbd,
  Ÿ: 0xbe,
};
function latin9Bytes(text: string): Buffer {
  return Buffer.from(Array.from(text, (character) => LATIN9[character] ?? character.charCodeAt(0)));
}

function onlyEnvelope(bytes: Buffer): Hl7Envelope {
  const envelopes = splitHl7(bytes);
  expect(envelopes).toHaveLength(1);
  return envelopes[0]!;
}

function read(message: string, encode: (text: string) => Buffer = (text) => Buffer.from(text, 'latin1')) {
  return readHl7(onlyEnvelope(encode(message)));
}

function rejection(action: () => unknown): MessageRejection {
  try {
    action();
  } catch (error) {
    if (error instanceof MessageRejection) return error;
    throw error;
  }
  throw new Error('expected a MessageRejection');
}

/** An ACK's segments, each split into its fields. */
function ackSegments(ack: Buffer, encoding: BufferEncoding = 'latin1'): string[][] {
  return ack
    .toString(encoding)
    .split('\r')
    .filter(Boolean)
    .map((line) => line.split('|'));
}

describe('splitHl7', () => {
  it('reads the header of one message', () => {
    const bytes = Buffer.from(oru(), 'latin1');
    const envelope = onlyEnvelope(bytes);
    expect(envelope.header).toEqual({
      fieldSeparator: '|',
      encodingCharacters: '^~\\&',
      sendingApplication: 'LABO',
      sendingFacility: 'LABO_X',
      receivingApplication: 'HOTPATH',
      receivingFacility: 'FAC-0001',
      controlId: 'MSG00001',
      messageType: 'ORU^R01',
      processingId: 'P',
      version: '2.5',
      countryCode: 'FRA',
      charset: '8859/1',
    });
    expect(envelope.bytes.equals(bytes)).toBe(true);
    const terminated = Buffer.from(`${oru()}\r`, 'latin1');
    expect(onlyEnvelope(terminated).bytes.equals(terminated)).toBe(true);
    expect(envelope.text.split('\r').map((line) => line.slice(0, 3))).toEqual([
      'MSH',
      'PID',
      'PV1',
      'OBR',
      'OBX',
    ]);
  });

  it('takes the namespace of an HD, or its universal id when that is all it gives', () => {
    const message = oru().replace(
      '|HOTPATH|FAC-0001|',
      '|HOTPATH^1.2.250.1.999.9^ISO|^1.2.250.1.999.10^ISO|',
    );
    const { header } = onlyEnvelope(Buffer.from(message, 'latin1'));
    expect(header.receivingApplication).toBe('HOTPATH');
    expect(header.receivingFacility).toBe('1.2.250.1.999.10');
  });

  it('tolerates LF and CRLF between segments, whitespace before the first and after the last', () => {
    const message = oru();
    for (const separator of ['\n', '\r\n', '\r\r']) {
      const bytes = Buffer.from(`  \r\n${message.replaceAll('\r', separator)}${separator}\r\n `, 'latin1');
      const envelope = onlyEnvelope(bytes);
      expect(envelope.text).toBe(message);
      expect(envelope.bytes.subarray(0, 3).toString()).toBe('MSH');
      expect(envelope.bytes.toString('latin1').endsWith(separator === '\r\r' ? 'F\r' : `F${separator}`)).toBe(
        true,
      );
      expect(readHl7(envelope).files).toHaveLength(1);
    }
  });

  it('takes indented segments for segments', () => {
    const envelope = onlyEnvelope(Buffer.from(oru().replaceAll('\rPID|', '\r  PID|'), 'latin1'));
    expect(readHl7(envelope).identity.birthLastName?.value).toBe('DUPONT');
  });

  it('refuses bytes that are not HL7 with AR 100 at MSH', () => {
    for (const text of ['', 'hello', '<ClinicalDocument/>', 'PID|1||123', 'MSHX|', 'MSH']) {
      const error = rejection(() => splitHl7(Buffer.from(text)));
      expect(error.acknowledgment).toBe('AR');
      expect(error.problems).toEqual([
        {
          location: 'MSH',
          code: 100,
          text: 'not an HL7 v2 message: it does not start with an MSH, FHS or BHS segment',
        },
      ]);
    }
  });

  it('refuses encoding characters it cannot split by', () => {
    const error = rejection(() => splitHl7(Buffer.from('MSH|^^\\&|A|B|C|D|20250101||ORU^R01|1|P|2.5')));
    expect(error.problems[0]).toMatchObject({ location: 'MSH^1^2', code: 102 });
  });

  it('splits a batch into its messages, each decoded in its own character set', () => {
    const first = oru({ controlId: 'B1', charset: '8859/1' });
    const second = mdm({ controlId: 'B2', charset: 'UNICODE UTF-8' });
    const bytes = Buffer.concat([
      Buffer.from('FHS|^~\\&|LABO|LABO_X|HOTPATH|FAC-0001|20250611103000\rBHS|^~\\&|LABO|LABO_X\r'),
      Buffer.from(`${first}\r`, 'latin1'),
      Buffer.from(`${second}\r`, 'utf8'),
      Buffer.from('BTS|2\rFTS|1\r'),
    ]);
    const envelopes = splitHl7(bytes);
    expect(envelopes.map((envelope) => envelope.header.controlId)).toEqual(['B1', 'B2']);
    expect(envelopes.map((envelope) => readHl7(envelope).identity.birthLastName?.value)).toEqual([
      'DUPONT',
      'DUPONT',
    ]);
    expect(envelopes.map((envelope) => readHl7(envelope).identity.firstBirthGivenName?.value)).toEqual([
      'Hélène',
      'Hélène',
    ]);
    expect(envelopes[0]!.bytes.equals(Buffer.from(`${first}\r`, 'latin1'))).toBe(true);
    expect(envelopes[1]!.bytes.equals(Buffer.from(`${second}\r`, 'utf8'))).toBe(true);
  });

  it('refuses a batch without messages, and a segment outside any message', () => {
    const empty = rejection(() => splitHl7(Buffer.from('BHS|^~\\&|LABO\rBTS|0\r')));
    expect(empty.problems[0]).toMatchObject({ location: 'MSH', code: 100 });
    const orphan = rejection(() =>
      splitHl7(Buffer.from(`BHS|^~\\&|LABO\r${pid()}\r${oru()}\rBTS|1`, 'latin1')),
    );
    expect(orphan.problems[0]?.text).toMatch(/PID stands outside any message/);
  });

  it('keeps a line break inside a segment (wrapped base64) in that segment', () => {
    const wrapped = PDF_BASE64.replace(/(.{20})/g, '$1\r\n');
    const envelope = onlyEnvelope(
      Buffer.from(oru({ observations: [obxEd(`^application^pdf^Base64^${wrapped}`)] })),
    );
    expect(envelope.text.split('\r')).toHaveLength(5);
    expect(readHl7(envelope).files[0]?.content.equals(PDF)).toBe(true);
  });
});

describe('character sets', () => {
  const names = 'DUPONT^Hélène^Hélène Œuvre^^^^L~MARTIN^Zoë^^^^^D';

  it('decodes 8859/1', () => {
    const reading = read(oru({ charset: '8859/1', patient: pid({ names }) }).replace('Œuvre', 'Ève'));
    expect(reading.identity.birthGivenNames?.value).toBe('Hélène Ève');
    expect(reading.identity.usedGivenName?.value).toBe('Zoë');
  });

  it('reads what Windows-1252 senders declare 8859/1 (œ at 0x9C)', () => {
    const bytes = Buffer.from(
      oru({ charset: '8859/1', patient: pid({ names: 'C_UR^Cécile^^^^^L' }) }),
      'latin1',
    );
    bytes[bytes.indexOf('C_UR') + 1] = 0x8c;
    expect(readHl7(onlyEnvelope(bytes)).identity.birthLastName?.value).toBe('CŒUR');
  });

  it('decodes 8859/15: € Œ œ', () => {
    const message = oru({
      charset: '8859/15',
      patient: pid({ names: 'DUPONT^Hélène^Hélène Œuvre^^^^L~SŒUR^Chœur^^^^^D' }),
      observations: [
        segment('OBX', { 1: '1', 2: 'TX', 3: 'NOTE^Note^L', 5: 'Reste à payer : 12 €', 11: 'F' }),
      ],
    });
    const bytes = latin9Bytes(message);
    expect(bytes.includes(0xbc)).toBe(true);
    const reading = readHl7(onlyEnvelope(bytes));
    expect(reading.identity.birthGivenNames?.value).toBe('Hélène Œuvre');
    expect(reading.identity.usedLastName?.value).toBe('SŒUR');
    expect(reading.identity.usedGivenName?.value).toBe('Chœur');
    expect(reading.files[0]?.content.toString('utf8')).toBe('Reste à payer : 12 €');
  });

  it('decodes UNICODE UTF-8', () => {
    const reading = read(oru({ charset: 'UNICODE UTF-8', patient: pid({ names }) }), (text) =>
      Buffer.from(text, 'utf8'),
    );
    expect(reading.identity.birthGivenNames?.value).toBe('Hélène Œuvre');
  });

  it('without MSH-18, reads UTF-8 when the bytes are UTF-8, 8859/1 otherwise', () => {
    const message = oru({ charset: '', patient: pid({ names: 'DUPONT^Hélène^^^^^L' }) });
    expect(read(message, (text) => Buffer.from(text, 'utf8')).identity.firstBirthGivenName?.value).toBe(
      'Hélène',
    );
    expect(read(message, (text) => Buffer.from(text, 'latin1')).identity.firstBirthGivenName?.value).toBe(
      'Hélène',
    );
    expect(onlyEnvelope(Buffer.from(message)).header.charset).toBe('');
  });

  it('refuses another character set with AR 203 at MSH-18', () => {
    const error = rejection(() => splitHl7(Buffer.from(oru({ charset: 'ISO IR87' }))));
    expect(error.acknowledgment).toBe('AR');
    expect(error.problems[0]).toMatchObject({ location: 'MSH^1^18', code: 203 });
  });

  it('answers in the message character set, MSH-18 copied', () => {
    const problem = { location: 'PID^1^5', code: 101, text: 'nom Œuvre, prénom Hélène' };
    const cases: Array<{ charset: string; encode: (text: string) => Buffer; expected: Buffer }> = [
      {
        charset: '8859/1',
        encode: (text) => Buffer.from(text, 'latin1'),
        expected: Buffer.from('Hélène', 'latin1'),
      },
      { charset: '8859/15', encode: latin9Bytes, expected: latin9Bytes('Œuvre, prénom Hélène') },
      {
        charset: 'UNICODE UTF-8',
        encode: (text) => Buffer.from(text, 'utf8'),
        expected: Buffer.from('Œuvre', 'utf8'),
      },
    ];
    for (const { charset, encode, expected } of cases) {
      const { header } = onlyEnvelope(encode(oru({ charset })));
      const ack = buildAck(header, { code: 'AE', problems: [problem] }, { controlId: 'ACK1' });
      expect(ack.includes(expected)).toBe(true);
      expect(ackSegments(ack)[0]![17]).toBe(charset);
    }
    // 8859/1 has no Œ.
    const { header } = onlyEnvelope(Buffer.from(oru({ charset: '8859/1' })));
    expect(
      buildAck(header, { code: 'AE', problems: [problem] }, { controlId: 'A' }).toString('latin1'),
    ).toContain('nom ?uvre, prénom Hélène');
    // Without MSH-18, plain ASCII.
    const { header: undeclared } = onlyEnvelope(Buffer.from(oru({ charset: '' })));
    const ascii = buildAck(undeclared, { code: 'AE', problems: [problem] }, { controlId: 'A' });
    expect(ascii.every((byte) => byte < 0x80)).toBe(true);
    expect(ascii.toString('latin1')).toContain('nom ?uvre, prenom Helene');
  });
});

describe('escapes', () => {
  const context = { fieldSeparator: '|', encodingCharacters: '^~\\&', charset: '8859/1' };

  it('undoes each escape', () => {
    expect(unescapeHl7('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f', context)).toBe('a|b^c&d~e\\f');
    expect(unescapeHl7('ligne 1\\.br\\ligne 2', context)).toBe('ligne 1\nligne 2');
    expect(unescapeHl7('\\H\\important\\N\\ normal', context)).toBe('important normal');
    expect(unescapeHl7('H\\XE9\\l\\XE8\\ne', context)).toBe('Hélène');
    expect(unescapeHl7('H\\XC3A9\\l\\XC3A8\\ne', { ...context, charset: 'UNICODE UTF-8' })).toBe('Hélène');
    expect(unescapeHl7('\\XBC\\uvre', { ...context, charset: '8859/15' })).toBe('Œuvre');
    expect(unescapeHl7('a\\.sp2\\b\\.in+4\\c', context)).toBe('a\n\nbc');
  });

  it('keeps what is not an escape', () => {
    expect(unescapeHl7('C:\\dossier', context)).toBe('C:\\dossier');
    expect(unescapeHl7('\\Q\\', context)).toBe('\\Q\\');
    expect(unescapeHl7('\\X1\\', context)).toBe('\\X1\\');
    expect(unescapeHl7('sans échappement', context)).toBe('sans échappement');
  });

  it("uses the message's own encoding characters", () => {
    const own = { fieldSeparator: '#', encodingCharacters: '$%@!', charset: '' };
    expect(unescapeHl7('a@F@b@S@c@E@d', own)).toBe('a#b$c@d');
    expect(escapeHl7('a#b$c@d!e%f', own)).toBe('a@F@b@S@c@E@d@T@e@R@f');
    const message = oru()
      .replaceAll('|', '#')
      .replaceAll('^', '$')
      .replaceAll('~', '%')
      .replaceAll('&', '!')
      .replace('MSH#$%\\!', 'MSH#$%@!')
      .replace('DUPONT', 'DU@S@PONT');
    const reading = read(message);
    expect(reading.identity.birthLastName?.value).toBe('DU$PONT');
    expect(reading.identity.ins?.value).toBe(INS);
  });

  it('unescapes names, ids and titles as it reads them', () => {
    const reading = read(
      oru({
        patient: pid({
          names: "D'ARC\\T\\FILS^Jeanne^^^^^L",
          ids: `${INS}^^^ASIP-SANTE-INS-NIR&${NIR_OID}&ISO^INS~00\\F\\12^^^HOPITAL^PI`,
        }),
        obr: segment('OBR', { 1: '1', 4: '11502-2^CR d\\E\\examens \\S\\bio\\S\\^LN' }),
      }),
    );
    expect(reading.identity.birthLastName?.value).toBe("D'ARC&FILS");
    expect(reading.identity.ipp?.value).toBe('00|12');
    expect(reading.title?.value).toBe('CR d\\examens ^bio^');
  });

  it('escapes what it writes, and unescaping gives it back', () => {
    expect(escapeHl7('a|b^c~d\\e&f\r\ng\nh\u0001', context)).toBe(
      'a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f\\.br\\g\\.br\\h\\X01\\',
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const withoutCr = text.replaceAll('\r', '');
        expect(unescapeHl7(escapeHl7(withoutCr, context), { ...context, charset: 'UNICODE UTF-8' })).toBe(
          withoutCr,
        );
      }),
    );
  });
});

describe('readHl7: the patient', () => {
  it('reads every identity trait of a CI-SIS PID', () => {
    const reading = read(oru());
    expect(reading.format).toBe('hl7v2');
    expect(reading.identity).toEqual({
      ins: { value: INS, source: 'PID-3[1]', confidence: 1 },
      insOid: { value: NIR_OID, source: 'PID-3[1].4.2', confidence: 1 },
      ipp: { value: '00123456', source: 'PID-3[2]', confidence: 1 },
      birthLastName: { value: 'DUPONT', source: 'PID-5[1].1', confidence: 1 },
      firstBirthGivenName: { value: 'Hélène', source: 'PID-5[1].2', confidence: 1 },
      birthGivenNames: { value: 'Hélène Marie Louise', source: 'PID-5[1].2-3', confidence: 1 },
      usedLastName: { value: 'MARTIN', source: 'PID-5[2].1', confidence: 1 },
      usedGivenName: { value: 'Lena', source: 'PID-5[2].2', confidence: 1 },
      birthDate: { value: '1979-03-12', source: 'PID-7', confidence: 1 },
      sex: { value: 'F', source: 'PID-8', confidence: 1 },
      birthplaceCode: { value: '75056', source: 'PID-11[2].9', confidence: 1 },
      reliability: { value: 'VALI', source: 'PID-32[1]', confidence: 1 },
    });
    expect(reading.mismatchReasons).toEqual([]);
  });

  it('finds the INS by its OID alone, or by its type alone; takes spaces out of it', () => {
    const byOid = read(oru({ patient: pid({ ids: `123^^^H^PI~${INS}^^^&${NIR_OID}&ISO` }) }));
    expect(byOid.identity.ins).toEqual({ value: INS, source: 'PID-3[2]', confidence: 1 });
    const byType = read(oru({ patient: pid({ ids: `${INS}^^^ASIP-SANTE-INS-NIR^INS` }) }));
    expect(byType.identity.ins?.value).toBe(INS);
    expect(byType.identity.insOid).toEqual({ value: NIR_OID, source: 'PID-3[1].4.1', confidence: 0.8 });
    const spaced = read(oru({ patient: pid({ ids: `2 79 03 75 056 123 09^^^&${NIR_OID}&ISO^INS` }) }));
    expect(spaced.identity.ins).toEqual({ value: INS, source: 'PID-3[1]', confidence: 0.9 });
  });

  it('keeps the leading zeros of the IPP; takes an untyped id for it with less confidence', () => {
    const reading = read(oru({ patient: pid({ ids: '000042^^^HOPITAL' }) }));
    expect(reading.identity.ipp).toEqual({ value: '000042', source: 'PID-3[1]', confidence: 0.7 });
    expect(reading.identity.ins).toBeUndefined();
  });

  it('tells a person about an INS with a wrong key, or of a test or demo identity', () => {
    const wrong = read(oru({ patient: pid({ ids: `${INS_WRONG_KEY}^^^&${NIR_OID}&ISO^INS` }) }));
    expect(wrong.mismatchReasons).toEqual([`INS ${INS_WRONG_KEY} in PID-3[1]: its key is wrong`]);
    const test = read(
      oru({ patient: pid({ ids: `${INS}^^^ASIP-SANTE-INS-NIR-TEST&1.2.250.1.213.1.4.10&ISO^INS` }) }),
    );
    expect(test.mismatchReasons).toEqual([
      `INS ${INS} in PID-3[1] is an INS-NIR-TEST identity (1.2.250.1.213.1.4.10), not a real patient's`,
    ]);
    const demo = read(oru({ patient: pid({ ids: `${INS}^^^&1.2.250.1.213.1.4.11&ISO^INS` }) }));
    expect(demo.mismatchReasons[0]).toMatch(/INS-NIR-DEMO/);
    const foreign = read(oru({ patient: pid({ ids: `${INS}^^^X&1.2.3.4&ISO^INS` }) }));
    expect(foreign.mismatchReasons).toEqual([
      `INS ${INS} in PID-3[1]: its assigning authority 1.2.3.4 is not an INS OID`,
    ]);
    expect(foreign.identity.insOid).toBeUndefined();
  });

  it('takes a name without type for the birth name, with less confidence; given names once each', () => {
    const reading = read(oru({ patient: pid({ names: 'DUPONT^Marie^Jeanne Marie Louise' }) }));
    expect(reading.identity.birthLastName).toEqual({
      value: 'DUPONT',
      source: 'PID-5[1].1',
      confidence: 0.8,
    });
    expect(reading.identity.birthGivenNames?.value).toBe('Marie Jeanne Louise');
    expect(reading.identity.firstBirthGivenName?.value).toBe('Marie');
    expect(reading.identity.usedLastName).toBeUndefined();
    const typedElsewhere = read(oru({ patient: pid({ names: 'MARTIN^Lena^^^^^D~DUPONT^Marie^^^^^L' }) }));
    expect(typedElsewhere.identity.birthLastName).toEqual({
      value: 'DUPONT',
      source: 'PID-5[2].1',
      confidence: 1,
    });
    const listOnly = read(oru({ patient: pid({ names: 'DUPONT^^Marie Jeanne^^^^L' }) }));
    expect(listOnly.identity.firstBirthGivenName).toEqual({
      value: 'Marie',
      source: 'PID-5[1].3',
      confidence: 0.6,
    });
    expect(listOnly.identity.birthGivenNames?.source).toBe('PID-5[1].3');
  });

  it('reads a birth date with time; refuses one that is no date (AE 102), flags a partial one', () => {
    expect(read(oru({ patient: pid({ birthDate: '197903121030+0100' }) })).identity.birthDate?.value).toBe(
      '1979-03-12',
    );
    for (const birthDate of ['19790231', '1979-03-12', 'hier', '19791312']) {
      const error = rejection(() => read(oru({ patient: pid({ birthDate }) })));
      expect(error.acknowledgment).toBe('AE');
      expect(error.problems).toEqual([
        { location: 'PID^1^7', code: 102, text: expect.stringContaining(birthDate) },
      ]);
    }
    const partial = read(oru({ patient: pid({ birthDate: '197903' }) }));
    expect(partial.identity.birthDate).toBeUndefined();
    expect(partial.mismatchReasons).toEqual(['birth date 197903 in PID-7 is not a full date']);
  });

  it('reads sex F/M/U, other codes as U', () => {
    expect(read(oru({ patient: pid({ sex: 'm' }) })).identity.sex).toEqual({
      value: 'M',
      source: 'PID-8',
      confidence: 1,
    });
    for (const sex of ['O', 'A', 'N']) {
      expect(read(oru({ patient: pid({ sex }) })).identity.sex).toEqual({
        value: 'U',
        source: 'PID-8',
        confidence: 0.9,
      });
    }
  });

  it('reads the birthplace from the BDL address only, Corsica included', () => {
    expect(
      read(oru({ patient: pid({ addresses: '^^^^^^BDL^^2A004' }) })).identity.birthplaceCode?.value,
    ).toBe('2A004');
    expect(
      read(oru({ patient: pid({ addresses: '^^Lyon^^^^H^^69123' }) })).identity.birthplaceCode,
    ).toBeUndefined();
    const odd = read(oru({ patient: pid({ addresses: '^^^^^^BDL^^Paris' }) }));
    expect(odd.identity.birthplaceCode).toBeUndefined();
    expect(odd.mismatchReasons).toEqual(['birthplace Paris in PID-11[1].9 is not an INSEE commune code']);
  });

  it('reads the identity status, skipping attributes before it', () => {
    expect(read(oru({ patient: pid({ reliability: 'QUAL' }) })).identity.reliability?.value).toBe('QUAL');
    expect(read(oru({ patient: pid({ reliability: 'DOUTE~PROV' }) })).identity.reliability).toEqual({
      value: 'PROV',
      source: 'PID-32[2]',
      confidence: 1,
    });
  });

  it('requires a PID (AE 100), one only, and an identity in it (AE 101)', () => {
    const noPid = rejection(() => read(oru({ patient: segment('NTE', { 1: '1' }) })));
    expect(noPid.acknowledgment).toBe('AE');
    expect(noPid.problems).toEqual([{ location: 'PID^1', code: 100, text: expect.any(String) }]);
    const two = rejection(() => read(oru({ patient: `${pid()}\r${pid()}` })));
    expect(two.problems).toEqual([
      { location: 'PID^2', code: 100, text: expect.stringMatching(/more than one/) },
    ]);
    const empty = rejection(() => read(oru({ patient: pid({ ids: '^^^', names: '' }) })));
    expect(empty.problems).toEqual([{ location: 'PID^1^3', code: 101, text: expect.any(String) }]);
  });

  it('requires MSH-10 (AE 101), and says every problem at once', () => {
    const error = rejection(() => read(oru({ controlId: '', patient: pid({ birthDate: 'x' }) })));
    expect(error.acknowledgment).toBe('AE');
    expect(error.problems.map((problem) => `${problem.location} ${problem.code}`)).toEqual([
      'MSH^1^10 101',
      'PID^1^7 102',
    ]);
  });
});

describe('readHl7: the document', () => {
  it('reads an ORU^R01: type, title, date, author, priority, its PDF', () => {
    const reading = read(oru());
    expect(reading).toMatchObject({
      action: 'new',
      documentTypeCode: { value: '11502-2', source: 'OBR-4.1', confidence: 1 },
      documentTypeLabel: { value: "CR d'examens biologiques", source: 'OBR-4.2', confidence: 1 },
      title: { value: "CR d'examens biologiques", source: 'OBR-4.2' },
      procedureDate: { value: '2025-06-10', source: 'OBR-7', confidence: 1 },
      authorRpps: { value: '10001234567', source: 'OBR-32[1].1.1', confidence: 1 },
      priority: { value: 'urgent', source: 'OBR-27.6', confidence: 1 },
    });
    expect(reading.documentId).toBeUndefined();
    expect(reading.replacesDocumentId).toBeUndefined();
    expect(reading.files).toEqual([
      { fileName: 'MSG00001.pdf', contentType: 'application/pdf', content: PDF, source: 'OBX(1)-5.5' },
    ]);
  });

  it('takes the ordering provider for the author when no interpreter is named, with less confidence', () => {
    const obr = segment('OBR', { 1: '1', 4: '11502-2^CR^LN', 16: '10003456789^MEDECIN^Paul', 27: '^^^^^R' });
    const reading = read(oru({ obr }));
    expect(reading.authorRpps).toEqual({ value: '10003456789', source: 'OBR-16[1].1', confidence: 0.7 });
    expect(reading.priority).toEqual({ value: 'routine', source: 'OBR-27.6', confidence: 1 });
    const notRpps = read(oru({ obr: segment('OBR', { 1: '1', 4: '11502-2^CR^LN', 32: '0123456789' }) }));
    expect(notRpps.authorRpps).toEqual({ value: '0123456789', source: 'OBR-32[1].1.1', confidence: 0.5 });
    expect(notRpps.priority).toBeUndefined();
  });

  it('reads the priority from TQ1-9 first', () => {
    const reading = read(
      oru({
        obr: `${segment('OBR', { 1: '1', 4: '11502-2^CR^LN', 27: '^^^^^R' })}\r${segment('TQ1', { 1: '1', 9: 'S^Stat^HL70485' })}`,
      }),
    );
    expect(reading.priority).toEqual({ value: 'urgent', source: 'TQ1-9', confidence: 1 });
  });

  it('reads an MDM^T02: TXA type, activity date, document id, authenticator', () => {
    const reading = read(mdm(), (text) => Buffer.from(text, 'utf8'));
    expect(reading).toMatchObject({
      action: 'new',
      documentId: { value: '1.2.250.1.999.1^DOC-2025-1', source: 'TXA-12', confidence: 1 },
      documentTypeCode: { value: '11488-4', source: 'TXA-2.1', confidence: 1 },
      title: { value: 'CR de consultation', source: 'TXA-2.2' },
      procedureDate: { value: '2025-06-09', source: 'TXA-4', confidence: 1 },
      authorRpps: { value: '10009876543', source: 'TXA-22[1].1', confidence: 1 },
    });
    expect(reading.replacesDocumentId).toBeUndefined();
    expect(reading.files[0]).toMatchObject({ fileName: 'DOC-2025-1.pdf', contentType: 'application/pdf' });
  });

  it('writes a document id without universal id as sent, without trailing empties', () => {
    expect(read(mdm({ txa: txa({ 12: 'DOC-7^HOPITAL' }) })).documentId?.value).toBe('DOC-7^HOPITAL');
    expect(read(mdm({ txa: txa({ 12: 'DOC-7^^^' }) })).documentId?.value).toBe('DOC-7');
    expect(read(mdm({ txa: txa({ 12: '' }) })).documentId).toBeUndefined();
  });

  it('takes the originator for the author when no authenticator is named', () => {
    expect(read(mdm({ txa: txa({ 22: '' }) })).authorRpps).toEqual({
      value: '10007654321',
      source: 'TXA-9[1].1',
      confidence: 0.9,
    });
  });

  it('reads replacements and deletions: T10, T11, OBX-11 C and D', () => {
    const replaced = txa({ 12: 'DOC-2^^1.2.250.1.999.1^ISO', 13: 'DOC-1^^1.2.250.1.999.1^ISO' });
    const t10 = read(mdm({ event: 'T10', txa: replaced }));
    expect(t10.action).toBe('replace');
    expect(t10.documentId?.value).toBe('1.2.250.1.999.1^DOC-2');
    expect(t10.replacesDocumentId).toEqual({
      value: '1.2.250.1.999.1^DOC-1',
      source: 'TXA-13',
      confidence: 1,
    });
    const corrected = read(
      mdm({ txa: replaced, observations: [obxEd(`^application^pdf^Base64^${PDF_BASE64}`, '1', 'C')] }),
    );
    expect(corrected.action).toBe('replace');
    expect(corrected.replacesDocumentId?.value).toBe('1.2.250.1.999.1^DOC-1');
    const t11 = read(mdm({ event: 'T11', observations: [] }));
    expect(t11.action).toBe('delete');
    expect(t11.documentId?.value).toBe('1.2.250.1.999.1^DOC-2025-1');
    expect(t11.replacesDocumentId).toBeUndefined();
    expect(t11.files).toEqual([]);
    const deleted = read(oru({ observations: [obxEd(`^application^pdf^Base64^${PDF_BASE64}`, '1', 'D')] }));
    expect(deleted.action).toBe('delete');
    const preliminary = read(
      oru({ observations: [obxEd(`^application^pdf^Base64^${PDF_BASE64}`, '1', 'P')] }),
    );
    expect(preliminary.action).toBe('new');
  });

  it('requires a TXA in an MDM', () => {
    const error = rejection(() => read(mdm({ txa: segment('NTE', { 1: '1' }) })));
    expect(error.problems).toEqual([{ location: 'TXA^1', code: 100, text: expect.any(String) }]);
  });

  it('flags a document type that is not LOINC, or whose check digit is wrong; takes an alternate LOINC', () => {
    const local = read(oru({ obr: segment('OBR', { 1: '1', 4: 'CRBIO^Compte rendu de biologie^L' }) }));
    expect(local.documentTypeCode).toBeUndefined();
    expect(local.documentTypeLabel?.value).toBe('Compte rendu de biologie');
    expect(local.mismatchReasons).toEqual([
      'document type CRBIO in OBR-4.1 is from code system L, not LOINC',
    ]);
    const checkDigit = read(oru({ obr: segment('OBR', { 1: '1', 4: '11502-3^CR^LN' }) }));
    expect(checkDigit.documentTypeCode).toBeUndefined();
    expect(checkDigit.mismatchReasons).toEqual([
      'document type 11502-3 in OBR-4.1 is not a valid LOINC code',
    ]);
    const alternate = read(
      oru({ obr: segment('OBR', { 1: '1', 4: 'CRBIO^CR bio^L^11502-2^CR biologie^LN' }) }),
    );
    expect(alternate.documentTypeCode).toEqual({ value: '11502-2', source: 'OBR-4.4', confidence: 1 });
    expect(alternate.mismatchReasons).toEqual([]);
    const undeclared = read(oru({ obr: segment('OBR', { 1: '1', 4: '18748-4' }) }));
    expect(undeclared.documentTypeCode).toEqual({ value: '18748-4', source: 'OBR-4.1', confidence: 0.9 });
    expect(undeclared.documentTypeLabel?.value).toBe("CR d'imagerie médicale");
    expect(undeclared.title).toBeUndefined();
    const fromObx = read(
      oru({
        obr: segment('OBR', { 1: '1' }),
        observations: [obxEd(PDF_BASE64, '1', 'F', '60568-3^CR ACP^LN')],
      }),
    );
    expect(fromObx.documentTypeCode).toEqual({ value: '60568-3', source: 'OBX(1)-3.1', confidence: 1 });
    const none = read(
      oru({ obr: segment('OBR', { 1: '1' }), observations: [obxEd(PDF_BASE64, '1', 'F', '')] }),
    );
    expect(none.mismatchReasons).toEqual(['the message gives no document type code (TXA-2, OBR-4 or OBX-3)']);
  });

  it('refuses a procedure date that is no date (AE 102)', () => {
    const error = rejection(() => read(mdm({ txa: txa({ 4: '2025-06-09' }) })));
    expect(error.problems).toEqual([{ location: 'TXA^1^4', code: 102, text: expect.any(String) }]);
  });
});

describe('readHl7: the files', () => {
  it('finds the data in component 1 when senders put it there', () => {
    const reading = read(oru({ observations: [obxEd(PDF_BASE64)] }));
    expect(reading.files).toEqual([
      { fileName: 'MSG00001.pdf', contentType: 'application/pdf', content: PDF, source: 'OBX(1)-5.1' },
    ]);
  });

  it('finds long base64 in component 4 when 5 is empty', () => {
    const long = Buffer.concat([PDF.subarray(0, 9), Buffer.alloc(200, 0x20), PDF.subarray(9)]);
    const reading = read(oru({ observations: [obxEd(`^application^pdf^${long.toString('base64')}`)] }));
    expect(reading.files[0]).toMatchObject({ contentType: 'application/pdf', source: 'OBX(1)-5.4' });
    expect(reading.files[0]?.content.equals(long)).toBe(true);
  });

  it('tolerates escaped and raw line breaks in the base64', () => {
    const escaped = PDF_BASE64.replace(/(.{16})/g, '$1\\.br\\').replace('\\.br\\', '\\X0D\\\\X0A\\');
    expect(
      read(oru({ observations: [obxEd(`^application^pdf^Base64^${escaped}`)] })).files[0]?.content,
    ).toEqual(PDF);
    const spaced = PDF_BASE64.replace(/(.{16})/g, '$1 \n');
    expect(
      read(oru({ observations: [obxEd(`^application^pdf^Base64^${spaced}`)] })).files[0]?.content,
    ).toEqual(PDF);
  });

  it('refuses a payload that does not decode with AE 102 at its OBX', () => {
    const cases = [
      PDF_BASE64.slice(0, -3),
      `${PDF_BASE64.slice(0, 20)}*${PDF_BASE64.slice(21)}`,
      `${PDF_BASE64.slice(0, 20)}==${PDF_BASE64.slice(22)}`,
      PDF.subarray(0, -8).toString('base64'),
      Buffer.from('not a pdf at all').toString('base64'),
    ];
    for (const data of cases) {
      const error = rejection(() =>
        read(
          oru({ observations: [segment('NTE', { 1: '1' }), obxEd(`^application^pdf^Base64^${data}`, '3')] }),
        ),
      );
      expect(error.acknowledgment).toBe('AE');
      expect(error.problems).toEqual([
        {
          location: 'OBX^3^5',
          code: 102,
          text: expect.stringMatching(/^the payload in OBX-5 does not decode: /),
        },
      ]);
    }
    const noSetId = rejection(() =>
      read(oru({ observations: [obxEd(PDF_BASE64), obxEd(PDF_BASE64.slice(0, -2), '')] })),
    );
    expect(noSetId.problems[0]?.location).toBe('OBX^2^5');
  });

  it('reads an embedded CDA as XML, images by their bytes, and names several files apart', () => {
    const cda = Buffer.from('<?xml version="1.0"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"/>');
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    const reading = read(
      mdm({
        observations: [
          obxEd(`^text^XML^Base64^${cda.toString('base64')}`, '1'),
          obxEd(`^application^pdf^Base64^${PDF_BASE64}`, '2'),
          obxEd(`^image^octet-stream^Base64^${jpeg.toString('base64')}`, '3'),
          obxEd(`^text^plain^A^Bonjour\\.br\\Madame`, '4'),
        ],
      }),
    );
    expect(
      reading.files.map(({ fileName, contentType, source }) => ({ fileName, contentType, source })),
    ).toEqual([
      { fileName: 'DOC-2025-1.xml', contentType: 'application/xml', source: 'OBX(1)-5.5' },
      { fileName: 'DOC-2025-1-2.pdf', contentType: 'application/pdf', source: 'OBX(2)-5.5' },
      { fileName: 'DOC-2025-1-3.jpg', contentType: 'image/jpeg', source: 'OBX(3)-5.5' },
      { fileName: 'DOC-2025-1-4.txt', contentType: 'text/plain', source: 'OBX(4)-5.5' },
    ]);
    expect(reading.files[3]?.content.toString()).toBe('Bonjour\nMadame');
  });

  it('sanitizes file names', () => {
    const reading = read(mdm({ txa: txa({ 12: 'CR 2025/06 été^^1.2.3^ISO' }) }));
    expect(reading.files[0]?.fileName).toBe('CR_2025_06_t_.pdf');
  });

  it('makes a text file of the text results when nothing is embedded', () => {
    const reading = read(
      oru({
        observations: [
          segment('OBX', {
            1: '1',
            2: 'TX',
            3: 'CR^Compte rendu^L',
            5: 'Examen normal.~Pas de lésion.',
            11: 'F',
          }),
          segment('OBX', {
            1: '2',
            2: 'FT',
            3: 'CONC^Conclusion^L',
            5: 'Conclusion :\\.br\\\\H\\rassurante\\N\\',
            11: 'F',
          }),
          segment('OBX', { 1: '3', 2: 'NM', 3: '2345-7^Glucose^LN', 5: '5.2', 6: 'mmol/L', 11: 'F' }),
          segment('OBX', { 1: '4', 2: 'CE', 3: 'ABO^Groupe^L', 5: 'A^Groupe A^L', 11: 'F' }),
        ],
      }),
    );
    expect(reading.files).toHaveLength(1);
    expect(reading.files[0]).toMatchObject({
      fileName: 'MSG00001.txt',
      contentType: 'text/plain',
      source: 'OBX-5',
    });
    expect(reading.files[0]?.content.toString('utf8')).toBe(
      'Examen normal.\nPas de lésion.\nConclusion :\nrassurante\nGlucose: 5.2 mmol/L\nGroupe: Groupe A',
    );
  });

  it('refuses a message with no OBX (AE 101), or OBX without any value', () => {
    const none = rejection(() => read(oru({ observations: [] })));
    expect(none.problems).toEqual([{ location: 'OBX^1^5', code: 101, text: expect.any(String) }]);
    const empty = rejection(() =>
      read(oru({ observations: [segment('OBX', { 1: '1', 2: 'TX', 3: 'X', 11: 'F' })] })),
    );
    expect(empty.problems).toEqual([{ location: 'OBX^1^5', code: 101, text: expect.any(String) }]);
    const noData = rejection(() => read(oru({ observations: [obxEd('^application^pdf^Base64^')] })));
    expect(noData.problems).toEqual([{ location: 'OBX^1^5', code: 101, text: 'OBX-5 (ED) carries no data' }]);
  });

  it('reads a 30 MB PDF', () => {
    const big = Buffer.concat([PDF.subarray(0, 9), Buffer.alloc(30 * 1024 * 1024, 0x41), PDF.subarray(9)]);
    const base64 = big.toString('base64').replace(/(.{76})/g, '$1\\.br\\');
    const bytes = Buffer.from(oru({ observations: [obxEd(`^application^pdf^Base64^${base64}`)] }), 'latin1');
    const reading = readHl7(onlyEnvelope(bytes));
    expect(reading.files[0]?.content.length).toBe(big.length);
    expect(reading.files[0]?.content.equals(big)).toBe(true);
  });
});

describe('readHl7: what it does not take', () => {
  it('refuses other message types (AR 200), events (AR 201) and versions (AR 203)', () => {
    const adt = rejection(() => read(oru({ type: 'ADT^A01^ADT_A01' })));
    expect(adt.acknowledgment).toBe('AR');
    expect(adt.problems).toEqual([{ location: 'MSH^1^9', code: 200, text: expect.stringContaining('ADT') }]);
    const event = rejection(() => read(oru({ type: 'MDM^T01' })));
    expect(event.problems).toEqual([
      { location: 'MSH^1^9', code: 201, text: expect.stringContaining('T01') },
    ]);
    for (const version of ['2.2', '3.0', '', '2.10']) {
      const error = rejection(() => read(oru({ version })));
      expect(error.problems).toEqual([{ location: 'MSH^1^12', code: 203, text: expect.any(String) }]);
    }
    for (const version of ['2.3', '2.3.1', '2.5.1', '2.9'])
      expect(read(oru({ version })).files).toHaveLength(1);
  });

  it('throws nothing but MessageRejection, whatever the bytes', () => {
    const message = oru({ charset: '' });
    const mutated = fc
      .tuple(
        fc.nat({ max: message.length }),
        fc.nat({ max: 40 }),
        fc.string({ unit: 'binary', maxLength: 40 }),
      )
      .map(([at, cut, inserted]) =>
        Buffer.from(message.slice(0, at) + inserted + message.slice(at + cut), 'utf8'),
      );
    const arbitrary = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.concat([Buffer.from('MSH|^~\\&|'), bytes])),
      mutated,
    );
    fc.assert(
      fc.property(arbitrary, (bytes) => {
        try {
          for (const envelope of splitHl7(bytes)) readHl7(envelope);
        } catch (error) {
          if (!(error instanceof MessageRejection)) throw error;
        }
        expect(readHeaderLeniently(bytes).controlId).toEqual(expect.any(String));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('readHeaderLeniently', () => {
  it('reads the MSH of bytes it would refuse', () => {
    const header = readHeaderLeniently(Buffer.from(`garbage\r\n${oru({ charset: 'ISO IR87' })}`));
    expect(header).toMatchObject({
      controlId: 'MSG00001',
      messageType: 'ORU^R01',
      sendingApplication: 'LABO',
    });
    expect(readHeaderLeniently(Buffer.from('no header here'))).toEqual({ controlId: '' });
    expect(readHeaderLeniently(Buffer.from('MSH|^^|A|B|C|D|x||ORU^R01|42')).controlId).toBe('42');
  });
});

describe('buildAck', () => {
  const now = new Date(2025, 5, 11, 10, 30, 5);

  it('answers AA addressed back to the sender, MSA-2 its control id', () => {
    const { header } = onlyEnvelope(Buffer.from(oru()));
    const ack = buildAck(header, { code: 'AA' }, { controlId: 'HP0001', now });
    expect(ack.toString('latin1').endsWith('\r')).toBe(true);
    const [mshFields, msa, ...rest] = ackSegments(ack);
    expect(mshFields).toEqual([
      'MSH',
      '^~\\&',
      'HOTPATH',
      'FAC-0001',
      'LABO',
      'LABO_X',
      '20250611103005',
      '',
      'ACK^R01^ACK',
      'HP0001',
      'P',
      '2.5',
      '',
      '',
      '',
      '',
      'FRA',
      '8859/1',
    ]);
    expect(msa).toEqual(['MSA', 'AA', 'MSG00001']);
    expect(rest).toEqual([]);
  });

  it('gives one ERR per problem: location, 0357 code, severity, escaped text', () => {
    const { header } = onlyEnvelope(Buffer.from(mdm({ controlId: 'A\\F\\B' }), 'utf8'));
    const ack = buildAck(
      header,
      {
        code: 'AE',
        problems: [
          { location: 'PID^1^7', code: 102, text: 'birth date 1979|02^31 is not a date' },
          { location: 'OBX^2^5', code: 102, text: 'the payload does not decode' },
          { location: 'OBX(1)-5.5/ClinicalDocument/recordTarget', code: 101, text: 'no patient' },
        ],
      },
      { controlId: 'HP0002', now },
    );
    const segments = ackSegments(ack, 'utf8');
    expect(segments[0]![8]).toBe('ACK^T02^ACK');
    expect(segments[1]).toEqual(['MSA', 'AE', 'A\\F\\B']);
    expect(segments.slice(2)).toEqual([
      [
        'ERR',
        '',
        'PID^1^7',
        '102^Data type error^HL70357',
        'E',
        '',
        '',
        '',
        'birth date 1979\\F\\02\\S\\31 is not a date',
      ],
      ['ERR', '', 'OBX^2^5', '102^Data type error^HL70357', 'E', '', '', '', 'the payload does not decode'],
      [
        'ERR',
        '',
        '',
        '101^Required field missing^HL70357',
        'E',
        '',
        '',
        '',
        'OBX(1)-5.5/ClinicalDocument/recordTarget: no patient',
      ],
    ]);
  });

  it('answers without a header: defaults, HOTPATH as the sender', () => {
    const ack = buildAck(
      {},
      { code: 'AR', problems: [{ location: 'MSH', code: 207, text: 'too large' }], text: 'refused' },
      { controlId: 'HP0003', now },
    );
    const segments = ackSegments(ack);
    expect(segments[0]).toEqual([
      'MSH',
      '^~\\&',
      'HOTPATH',
      '',
      '',
      '',
      '20250611103005',
      '',
      'ACK',
      'HP0003',
      'P',
      '2.5',
    ]);
    expect(segments[1]).toEqual(['MSA', 'AR', '', 'refused']);
    expect(segments[2]).toEqual([
      'ERR',
      '',
      'MSH',
      '207^Application internal error^HL70357',
      'E',
      '',
      '',
      '',
      'too large',
    ]);
  });

  it('answers in the message separators, and fills ERR-1 for versions before 2.5', () => {
    const own = oru({ version: '2.3.1' }).replaceAll('|', '#').replaceAll('^', '$');
    const { header } = onlyEnvelope(Buffer.from(own, 'latin1'));
    const ack = buildAck(
      header,
      { code: 'AE', problems: [{ location: 'PID^1^3', code: 101, text: 'a#b' }] },
      { controlId: 'HP0004', now },
    ).toString('latin1');
    const [mshLine, msa, err] = ack.split('\r');
    expect(mshLine?.startsWith('MSH#$~\\&#HOTPATH#FAC-0001#LABO#LABO_X#')).toBe(true);
    expect(mshLine).toContain('#ACK$R01$ACK#HP0004#P#2.3.1#');
    expect(msa).toBe('MSA#AE#MSG00001');
    expect(err).toBe(
      'ERR#PID$1$3$101&Required field missing&HL70357#PID$1$3#101$Required field missing$HL70357#E####a\\F\\b',
    );
  });
});
