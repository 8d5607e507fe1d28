import { describe, expect, it } from 'vitest';
import { readCda } from '../../../src/modules/worklist/ingestion/cda.ts';
import { withEmbeddedDocuments } from '../../../src/modules/worklist/ingestion/embedded.ts';
import { readFhirDocuments } from '../../../src/modules/worklist/ingestion/fhir-document.ts';
import { readHl7, splitHl7 } from '../../../src/modules/worklist/ingestion/hl7.ts';
import { pdfTextPages } from '../../../src/modules/worklist/ingestion/pdf-text.ts';
import type { DocumentReading } from '../../../src/modules/worklist/ingestion/reading.ts';
import { nameKey, withReportContent } from '../../../src/modules/worklist/ingestion/report-content.ts';
import { CONFIDENT, readReportText } from '../../../src/modules/worklist/ingestion/report-text.ts';
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
import { onePagePdf, type PdfLine, textPdf } from '../../../src/platform/pdf.ts';
import { fixturePdf, REPORT_FIXTURES } from '../../support/report-fixtures.ts';
import { CAMILLE_IN_MESSAGES } from '../../support/worklist.ts';

const camille: SamplePatient = { ...CAMILLE_IN_MESSAGES, givenNames: ['Camille', 'Marie'] };
const FACILITY = 'FAC-CONTENT';
const letterhead: PdfLine[] = [
  'LABORATOIRE DE BIOLOGIE MÉDICALE DU CENTRE',
  '4 rue des Lilas – 75011 Paris',
  '',
];
/** A laboratory report naming its patient in a labelled block: the lines after the letterhead. */
const report = (...patientBlock: PdfLine[]): Buffer =>
  textPdf([[...letterhead, ...patientBlock, '', 'Hémogramme : sans anomalie', 'Conclusion : bilan normal']]);
const camilleBlock: PdfLine[] = [
  'Nom de naissance : DUPONT',
  'Prénom : Camille',
  'Date de naissance : 12/03/1979',
  `INS : ${camille.ins}`,
];

const labDocument = (pdf: Buffer): SampleDocument => ({
  id: documentId('LAB-CONTENT-1'),
  typeCode: '11502-2',
  title: 'CR de biologie',
  procedureDate: '2026-11-19',
  pdf,
});
const cdaReading = (pdf: Buffer, patient: SamplePatient = camille): DocumentReading =>
  readCda(cdaDocument({ patient, document: labDocument(pdf), facilityId: FACILITY }));
const oruReading = (pdf: Buffer, patient: SamplePatient = camille): DocumentReading =>
  readHl7(
    splitHl7(
      oruMessage({
        controlId: 'CTRL-1',
        sendingFacility: 'LABO',
        receivingFacility: FACILITY,
        patient,
        document: labDocument(pdf),
      }),
    )[0]!,
  );

/** Where the CDA reader reads a birth name when the document gives no used name beside it. */
const CDA_FAMILY = 'ClinicalDocument/recordTarget/patientRole/patient/name/family';

/** The standard security handler's dictionary with a user password: pdf.js asks for the password. */
function encrypted(pdf: Buffer): Buffer {
  const id = '<0123456789abcdef0123456789abcdef>';
  const encrypt = `/Encrypt << /Filter /Standard /V 1 /R 2 /O <${'ab'.repeat(32)}> /U <${'cd'.repeat(32)}> /P -4 >> /ID [${id} ${id}]`;
  return Buffer.from(pdf.toString('latin1').replace('/Info 5 0 R >>', `/Info 5 0 R ${encrypt} >>`), 'latin1');
}

describe('withReportContent: the PDF a structured message carries, against its header', () => {
  it('adds nothing when the PDF names the same patient (CDA, ORU, MDM with its CDA, FHIR)', async () => {
    const pdf = report(...camilleBlock);
    const document = labDocument(pdf);
    const readings = [
      cdaReading(pdf),
      oruReading(pdf),
      withEmbeddedDocuments(
        readHl7(
          splitHl7(
            mdmMessage({
              controlId: 'MDM-1',
              sendingFacility: 'RIS',
              receivingFacility: FACILITY,
              patient: camille,
              document,
              cda: cdaDocument({ patient: camille, document, facilityId: FACILITY }),
            }),
          )[0]!,
        ),
      ),
      ...readFhirDocuments(fhirDocumentBundle({ patient: camille, document, facilityId: FACILITY })),
    ];
    expect(readings.map((reading) => reading.format)).toEqual(['cda', 'hl7v2', 'hl7v2', 'fhir']);
    for (const reading of readings) {
      expect(reading.files.some((file) => file.contentType === 'application/pdf')).toBe(true);
      expect((await withReportContent(reading)).mismatchReasons).toEqual([]);
    }
  });

  it('names both birth names and where each was read when the PDF names another patient', async () => {
    const reading = cdaReading(report('Nom de naissance : DURAND', 'Prénom : Camille'));
    const checked = await withReportContent(reading);
    expect(checked.mismatchReasons).toEqual([
      `the PDF (document.pdf, page 1, line 3) names DURAND, the CDA header DUPONT (${CDA_FAMILY})`,
    ]);
    // A new reading: the one given is left as it was.
    expect(checked).not.toBe(reading);
    expect(reading.mismatchReasons).toEqual([]);
    expect({ ...checked, mismatchReasons: [] }).toEqual(reading);
  });

  it('says "HL7 header" and PID-5 for an ORU^R01, and the PDF by its file name', async () => {
    const checked = await withReportContent(oruReading(report('Patiente : DURAND Camille')));
    expect(checked.mismatchReasons).toEqual([
      'the PDF (CTRL-1.pdf, page 1, line 3) names DURAND, the HL7 header DUPONT (PID-5[1].1)',
    ]);
  });

  it('takes a PDF naming the patient by her used name, and the envelope naming both', async () => {
    const married: SamplePatient = { ...camille, usedLastName: 'MARTIN' };
    const used = await withReportContent(cdaReading(report('Nom : MARTIN', 'Prénom : Camille'), married));
    expect(used.mismatchReasons).toEqual([]);
    const other = await withReportContent(cdaReading(report('Nom : LEROY', 'Prénom : Camille'), married));
    expect(other.mismatchReasons).toEqual([
      `the PDF (document.pdf, page 1, line 3) names LEROY, the CDA header DUPONT (${CDA_FAMILY}[1]), used name MARTIN (${CDA_FAMILY}[2])`,
    ]);
  });

  it('compares names folded: case, accents, hyphens and spaces do not make a mismatch', async () => {
    const patient: SamplePatient = { ...camille, birthLastName: 'Le Fèvre-Saint Éloi' };
    const checked = await withReportContent(
      cdaReading(report('Nom de naissance : LEFEVRE SAINT-ELOI', 'Prénom : Camille'), patient),
    );
    expect(checked.mismatchReasons).toEqual([]);
    expect(nameKey('Le Fèvre-Saint Éloi')).toBe(nameKey('LEFEVRE SAINT-ELOI'));
    expect(nameKey("D'Œuvray")).toBe(nameKey('DOEUVRAY'));
    expect(nameKey('DUPONT')).not.toBe(nameKey('DUPOND'));
  });

  it('names both INS when the PDF gives another one', async () => {
    const otherIns = insWithKey('2790375056123');
    const checked = await withReportContent(
      cdaReading(report('Nom de naissance : DUPONT', `INS : ${otherIns}`)),
    );
    expect(checked.mismatchReasons).toEqual([
      `the PDF (document.pdf, page 1, line 4) gives INS ${otherIns}, the CDA header ${camille.ins} (ClinicalDocument/recordTarget/patientRole/id[1]/@extension)`,
    ]);
  });

  it('names both birth dates when the PDF gives another one', async () => {
    const checked = await withReportContent(
      oruReading(report('Nom de naissance : DUPONT', 'Date de naissance : 12/03/1980')),
    );
    expect(checked.mismatchReasons).toEqual([
      'the PDF (CTRL-1.pdf, page 1, line 4) gives birth date 1980-03-12, the HL7 header 1979-03-12 (PID-7)',
    ]);
  });

  it('gives a reason for every trait that differs, on a report laid out as a hospital lays it out', async () => {
    const [fixture] = REPORT_FIXTURES;
    const pdf = fixturePdf(fixture!);
    const { truth } = fixture!;
    const bertrand: SamplePatient = {
      ins: truth.ins,
      ipp: truth.ipp ?? '0012345',
      birthLastName: truth.birthLastName!,
      usedLastName: truth.usedLastName,
      givenNames: truth.birthGivenNames!.split(' '),
      birthDate: truth.birthDate!,
      sex: 'F',
    };
    expect((await withReportContent(cdaReading(pdf, bertrand))).mismatchReasons).toEqual([]);

    const reasons = (await withReportContent(cdaReading(pdf))).mismatchReasons;
    expect(reasons).toHaveLength(2);
    expect(reasons[0]).toMatch(
      new RegExp(
        `^the PDF \\(document\\.pdf, page 1, line \\d+\\) names ${truth.birthLastName}, the CDA header DUPONT`,
      ),
    );
    expect(reasons[1]).toContain(`gives INS ${truth.ins}, the CDA header ${camille.ins}`);
  });

  it('adds nothing for a PDF that names nobody, or names only what the header leaves out', async () => {
    const nobody = await withReportContent(cdaReading(report()));
    expect(nobody.mismatchReasons).toEqual([]);
    const withoutIns: SamplePatient = { ...camille, ins: undefined };
    const insOnlyInPdf = await withReportContent(
      cdaReading(report('Nom de naissance : DUPONT', `INS : ${insWithKey('2790375056123')}`), withoutIns),
    );
    expect(insOnlyInPdf.mismatchReasons).toEqual([]);
  });

  it('compares no field the PDF states below CONFIDENT: a patient named in free text only', async () => {
    const pdf = report("J'ai vu en consultation Madame Camille DURAND, née le 03/02/1950, pour un bilan.");
    // The rules do find her, but not surely enough to tell a person the document is someone else's.
    const { identity } = readReportText(await pdfTextPages(pdf), { format: 'pdf', fileName: 'report.pdf' });
    expect(identity.birthLastName).toMatchObject({ value: 'DURAND' });
    expect(identity.birthDate).toMatchObject({ value: '1950-02-03' });
    expect(identity.birthLastName!.confidence).toBeLessThan(CONFIDENT);
    expect(identity.birthDate!.confidence).toBeLessThan(CONFIDENT);
    expect((await withReportContent(cdaReading(pdf))).mismatchReasons).toEqual([]);
  });

  it('never throws for a PDF it cannot read: not a PDF, damaged, encrypted, without a text layer', async () => {
    const durand = report('Nom de naissance : DURAND');
    const locked = encrypted(textPdf([[...letterhead, 'Nom de naissance : DURAND']], { title: 'CR' }));
    expect(locked.toString('latin1')).toContain('/Encrypt');
    const unreadable = [
      Buffer.from('this is not a PDF at all'),
      Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\n%%EOF'),
      durand.subarray(0, Math.floor(durand.length / 3)),
      locked,
      textPdf([[]]),
    ];
    // The readers check the PDFs they carry; here each one is put in a reading as if it had passed.
    const reading = cdaReading(report(...camilleBlock));
    for (const content of unreadable) {
      const carrying = { ...reading, files: reading.files.map((file) => ({ ...file, content })) };
      await expect(withReportContent(carrying)).resolves.toMatchObject({ mismatchReasons: [] });
    }
  });

  it('reads only the first three pages: a name on page four is not compared', async () => {
    const filler = (page: number): PdfLine[] => [`Résultats, suite (page ${page}) : valeurs dans les normes`];
    const pdf = textPdf([filler(1), filler(2), filler(3), [...letterhead, 'Nom de naissance : DURAND']]);
    expect((await withReportContent(cdaReading(pdf))).mismatchReasons).toEqual([]);
    const early = textPdf([filler(1), [...letterhead, 'Nom de naissance : DURAND'], filler(3), filler(4)]);
    expect((await withReportContent(cdaReading(early))).mismatchReasons).toEqual([
      `the PDF (document.pdf, page 2, line 3) names DURAND, the CDA header DUPONT (${CDA_FAMILY})`,
    ]);
  });

  it('leaves PDF and scan readings, and headers naming no name, INS or birth date, as they are', async () => {
    const pdf = report('Nom de naissance : DURAND');
    const pdfReading = readReportText(await pdfTextPages(pdf), { format: 'pdf', fileName: 'r.pdf', pdf });
    expect(await withReportContent(pdfReading)).toBe(pdfReading);
    const cda = cdaReading(pdf);
    const anonymous: DocumentReading = { ...cda, identity: { ipp: cda.identity.ipp! } };
    expect(await withReportContent(anonymous)).toBe(anonymous);
  });

  it('keeps the reasons the reading had, once each', async () => {
    const reading = cdaReading(report('Nom de naissance : DURAND'));
    const before = { ...reading, mismatchReasons: ['the HL7 header gives sex F (PID-8) but …'] };
    const once = await withReportContent(before);
    const twice = await withReportContent(once);
    expect(twice.mismatchReasons).toEqual([
      before.mismatchReasons[0],
      expect.stringContaining('names DURAND'),
    ]);
  });

  it('reads a one-line PDF as the demo and the ingestion tests send it without a reason', async () => {
    const checked = await withReportContent(cdaReading(onePagePdf('Hemogramme', 'Camille DUPONT')));
    expect(checked.mismatchReasons).toEqual([]);
  });
});
