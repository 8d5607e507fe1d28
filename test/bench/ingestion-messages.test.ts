import { describe, expect, it } from 'vitest';
import { fill, messageTemplate, paddedPdf } from '../../bench/ingestion/messages.ts';
import { withEmbeddedDocuments } from '../../src/modules/worklist/ingestion/embedded.ts';
import { readHl7, splitHl7 } from '../../src/modules/worklist/ingestion/hl7.ts';
import {
  cdaDocument,
  documentId,
  insWithKey,
  mdmMessage,
  oruMessage,
  type SamplePatient,
} from '../../src/modules/worklist/operations/sample-messages.ts';
import { pdfPageCount } from '../../src/platform/pdf.ts';

const patient: SamplePatient = {
  ins: insWithKey('2850375123456'),
  ipp: 'IPP123',
  birthLastName: 'Lefèvre',
  givenNames: ['Hélène', 'Marie'],
  birthDate: '1985-03-12',
  sex: 'F',
  reliability: 'QUAL',
};
const options = { facilityId: 'FAC-0001', patient, procedureDate: '2026-11-20' };
const ID = 'ABC123000000000Z';

describe('ingestion benchmark messages', () => {
  it('pads a one-page PDF to the byte, still opening with %PDF and ending with %%EOF', () => {
    for (const size of [40 * 1024, 300 * 1024]) {
      const pdf = paddedPdf(size, 'Compte rendu');
      expect(pdf.length).toBe(size);
      expect(pdf.subarray(0, 8).toString('latin1')).toBe('%PDF-1.4');
      expect(pdf.subarray(-6).toString('latin1')).toBe('%%EOF\n');
      expect(pdfPageCount(pdf)).toBe(1);
      const startxref = Number(/startxref\n(\d+)\n%%EOF\n$/.exec(pdf.subarray(-64).toString('latin1'))?.[1]);
      expect(pdf.subarray(startxref, startxref + 4).toString('latin1')).toBe('xref');
    }
  });

  it('fills a template into exactly the message the sample builders make with that id', () => {
    const pdf = paddedPdf(40 * 1024, 'Compte rendu');
    const document = {
      id: documentId(`BENCH-${ID}`),
      typeCode: '11502-2',
      title: "CR d'examens biologiques",
      procedureDate: options.procedureDate,
      pdf,
    };
    const common = { controlId: ID, receivingFacility: 'FAC-0001', patient, document };
    const oru = fill(messageTemplate('oru', { ...options, pdf }), ID);
    const at = new Date();
    const stamp = (message: Buffer) => message.toString('latin1').replace(/\|\d{14}\|\|/, '|STAMP||');
    expect(stamp(oru)).toBe(stamp(oruMessage({ ...common, sendingFacility: 'LABO-BENCH', at })));

    const imaging = { ...document, typeCode: '18748-4', title: "CR d'imagerie médicale" };
    const mdm = fill(messageTemplate('mdm', { ...options, pdf }), ID);
    const cda = cdaDocument({ patient, document: imaging, facilityId: 'FAC-0001' });
    const expected = mdmMessage({
      ...common,
      document: imaging,
      sendingFacility: 'RADIOLOGIE-BENCH',
      cda,
      at,
    });
    expect(stamp(mdm)).toBe(stamp(expected));
  });

  it('makes MDM messages hotpath reads as new documents with the id inside the CDA too', () => {
    const pdf = paddedPdf(300 * 1024, 'Imagerie');
    const template = messageTemplate('mdm', { ...options, pdf });
    const [envelope] = splitHl7(fill(template, ID));
    const reading = withEmbeddedDocuments(readHl7(envelope!));
    expect(reading.documentId?.value).toContain(`BENCH-${ID}`);
    expect(reading.mismatchReasons).toEqual([]);
    expect(reading.files.map((file) => file.contentType)).toEqual(['application/xml', 'application/pdf']);
    const carried = reading.files.find((file) => file.contentType === 'application/xml')!;
    expect(carried.content.toString('utf8')).toContain(`extension="BENCH-${ID}"`);
    expect(carried.content.toString('utf8')).not.toContain('ZQXJ');
    expect(reading.files.find((file) => file.contentType === 'application/pdf')?.content.equals(pdf)).toBe(
      true,
    );
  });
});
