import { describe, expect, it } from 'vitest';
import { loincLabel } from '../../../src/modules/worklist/ingestion/loinc.ts';
import {
  pdfTextPages,
  type TextPage,
  textPagesOf,
} from '../../../src/modules/worklist/ingestion/pdf-text.ts';
import type { DocumentReading, IdentityReading } from '../../../src/modules/worklist/ingestion/reading.ts';
import {
  CONFIDENT,
  confidentIdentity,
  parseDateAt,
  readReportText,
} from '../../../src/modules/worklist/ingestion/report-text.ts';
import { textPdf } from '../../../src/platform/pdf.ts';
import {
  type ExtractedFields,
  type ExtractionScore,
  fixturePdf,
  HELD_OUT_REPORT_FIXTURES,
  REPORT_FIXTURES,
  type ReportFixture,
  scoreExtraction,
  spacedIns,
  TRUTH_FIELDS,
  withInsKey,
} from '../../support/report-fixtures.ts';

const read = (lines: string[][], format: 'pdf' | 'scan' = 'pdf', confidence = 1): DocumentReading =>
  readReportText(textPagesOf(lines, confidence), { format, fileName: 'report.pdf' });

async function readFixture(fixture: ReportFixture): Promise<DocumentReading> {
  const pdf = fixturePdf(fixture);
  return readReportText(await pdfTextPages(pdf), { format: 'pdf', fileName: 'report.pdf', pdf });
}

function extractedFields(reading: DocumentReading): ExtractedFields {
  const fields: ExtractedFields = {};
  const all: Record<string, { value: string; confidence: number } | undefined> = {
    ...reading.identity,
    documentTypeCode: reading.documentTypeCode,
    procedureDate: reading.procedureDate,
    authorRpps: reading.authorRpps,
    authorName: reading.authorName,
  };
  for (const field of TRUTH_FIELDS) {
    const found = all[field];
    if (found) fields[field] = { value: found.value, confidence: found.confidence };
  }
  return fields;
}

const NIR = withInsKey('2790375056123');

describe('readReportText: header blocks', () => {
  const reading = read([
    [
      'CENTRE HOSPITALIER DE TEST – 1 rue de la Paix – 75002 Paris',
      'Nom de naissance : DUPONT',
      "Nom d'usage : MARTIN",
      'Prénom(s) de naissance : Hélène Marie',
      'Prénom utilisé : Léna',
      'Né(e) le 12 mars 1979\tSexe : Féminin',
      `INS : ${spacedIns(NIR)} (INS-NIR)`,
      'IPP : 0012345',
      'Lieu de naissance : Paris 14e (75114)',
      "Date de l'examen : 03.12.2026",
      'RADIOGRAPHIE DU THORAX',
      'Dr Jean MARTIN',
      'RPPS : 10001234567',
    ],
  ]);

  it('reads every labelled field with its page, line and a confidence at or above CONFIDENT', () => {
    expect(reading.identity).toEqual({
      birthLastName: { value: 'DUPONT', source: 'page 1, line 2', confidence: 0.95 },
      usedLastName: { value: 'MARTIN', source: 'page 1, line 3', confidence: 0.95 },
      birthGivenNames: { value: 'Hélène Marie', source: 'page 1, line 4', confidence: 0.95 },
      firstBirthGivenName: { value: 'Hélène', source: 'page 1, line 4', confidence: expect.any(Number) },
      usedGivenName: { value: 'Léna', source: 'page 1, line 5', confidence: 0.95 },
      birthDate: { value: '1979-03-12', source: 'page 1, line 6', confidence: expect.any(Number) },
      sex: { value: 'F', source: 'page 1, line 6', confidence: expect.any(Number) },
      ins: { value: NIR, source: 'page 1, line 7', confidence: 0.95 },
      insOid: { value: '1.2.250.1.213.1.4.8', source: 'page 1, line 7', confidence: 0.95 },
      ipp: { value: '0012345', source: 'page 1, line 8', confidence: 0.95 },
      birthplaceCode: { value: '75114', source: 'page 1, line 9', confidence: expect.any(Number) },
    });
    for (const field of Object.values(reading.identity))
      expect(field.confidence).toBeGreaterThanOrEqual(CONFIDENT);
    expect(reading.procedureDate).toEqual({
      value: '2026-12-03',
      source: 'page 1, line 10',
      confidence: 0.95,
    });
  });

  it('maps the title to its JDV_J07 code and label, and reads the author and the RPPS', () => {
    expect(reading.documentTypeCode).toMatchObject({ value: '18748-4', source: 'page 1, line 11' });
    expect(reading.documentTypeLabel?.value).toBe(loincLabel('18748-4'));
    expect(reading.title?.value).toBe('RADIOGRAPHIE DU THORAX');
    expect(reading.authorName).toMatchObject({ value: 'Jean MARTIN', source: 'page 1, line 12' });
    expect(reading.authorRpps).toMatchObject({ value: '10001234567', source: 'page 1, line 12' });
    expect(reading.authorRpps!.confidence).toBeGreaterThanOrEqual(CONFIDENT);
  });

  it('is a new document with no document id, no files without the PDF, and nothing to report', () => {
    expect(reading).toMatchObject({ format: 'pdf', action: 'new', files: [], mismatchReasons: [] });
    expect(reading.documentId).toBeUndefined();
  });

  it('carries the PDF when given', () => {
    const pdf = textPdf([['Compte rendu de consultation du 03/12/2026']]);
    const withFile = readReportText(textPagesOf([['Compte rendu de consultation du 03/12/2026']]), {
      format: 'pdf',
      fileName: 'CR-consultation.pdf',
      pdf,
    });
    expect(withFile.files).toEqual([
      {
        fileName: 'CR-consultation.pdf',
        contentType: 'application/pdf',
        content: pdf,
        source: 'CR-consultation.pdf',
      },
    ]);
  });

  it('keeps leading zeros, and reads labels written in capitals without accents', () => {
    const capitals = read([
      ['NOM : GARCIA   PRENOM : LUCIA   NEE LE : 21/09/1994   SEXE : F', 'IPP : 000456123'],
    ]);
    expect(capitals.identity).toMatchObject({
      birthLastName: { value: 'GARCIA' },
      birthGivenNames: { value: 'LUCIA' },
      birthDate: { value: '1994-09-21' },
      sex: { value: 'F' },
      ipp: { value: '000456123' },
    });
  });
});

describe('readReportText: names', () => {
  it('reads "Mme MARTIN née DUPONT Marie": used name, birth name, given name, sex', () => {
    const { identity } = read([['Patient : Mme MARTIN née DUPONT Marie', 'Date de naissance : 05/07/1958']]);
    expect(identity).toMatchObject({
      birthLastName: { value: 'DUPONT' },
      usedLastName: { value: 'MARTIN' },
      birthGivenNames: { value: 'Marie' },
      sex: { value: 'F' },
    });
  });

  it('reads "DUPONT épouse MARTIN" the other way round', () => {
    const { identity } = read([['Patiente : DUPONT épouse MARTIN Claire']]);
    expect(identity).toMatchObject({ birthLastName: { value: 'DUPONT' }, usedLastName: { value: 'MARTIN' } });
  });

  it('reads a patient in free text, with lower confidence: "Madame Marie DUPONT, née MARTIN le 12 mars 1979"', () => {
    const { identity } = read([
      [
        'Cher Confrère,',
        "J'ai vu en consultation Madame Marie DUPONT, née MARTIN le 12 mars 1979, pour des lombalgies",
        'évoluant depuis trois mois.',
      ],
    ]);
    expect(identity).toMatchObject({
      birthLastName: { value: 'MARTIN', source: 'page 1, line 2' },
      usedLastName: { value: 'DUPONT' },
      birthGivenNames: { value: 'Marie' },
      birthDate: { value: '1979-03-12' },
      sex: { value: 'F' },
    });
    for (const field of Object.values(identity)) expect(field.confidence).toBeLessThan(CONFIDENT);
    expect(identity.birthLastName!.confidence).toBeGreaterThan(0.5);
  });

  it('reads "M. Jean PETIT (né le 05/07/1958)" and a birth date wrapped onto the next line', () => {
    const { identity } = read([
      ['Nous avons opéré votre patient M. Jean PETIT (né le 05/07/1958) le 2 novembre.'],
    ]);
    expect(identity).toMatchObject({
      birthLastName: { value: 'PETIT' },
      birthGivenNames: { value: 'Jean' },
      birthDate: { value: '1958-07-05' },
      sex: { value: 'M' },
    });
    const wrapped = read([
      ['Je revois ce jour votre patiente Mme Chloé BERNARD, née le 14', 'juin 1985, pour le suivi.'],
    ]);
    expect(wrapped.identity.birthDate).toMatchObject({ value: '1985-06-14', source: 'page 1, line 1' });
  });

  it('never takes a doctor, the GP, the prescriber or a relative for the patient', () => {
    const reading = read([
      [
        'Médecin traitant : Dr Paul GARNIER',
        'Prescripteur : Dr Anne ROUX, née le 01/01/1960',
        'Personne à prévenir : Mme LEFEBVRE Sandrine (mère)',
        'Docteur Jean-Michel ROY',
        'Elle était accompagnée de son fils, M. Pierre MARTIN, joignable au 06 12 34 56 78.',
        'Sa sœur, Mme Claire MARTIN, est suivie pour une polyarthrite.',
      ],
    ]);
    expect(reading.identity).toEqual({});
    expect(reading.authorName?.value).not.toMatch(/GARNIER|ROUX/);
  });

  it('leaves the people of a trusted-person block out of the patient', () => {
    const { identity } = read([
      [
        'Nom de naissance : FERREIRA',
        'Prénom(s) de naissance : Ana Maria',
        'PERSONNE DE CONFIANCE',
        'Nom : COSTA',
        'Prénom : Miguel',
        'Date de naissance : 03/02/1975',
        'Séjour du 16/11/2026 au 26/11/2026',
      ],
    ]);
    expect(identity).toEqual({
      birthLastName: expect.objectContaining({ value: 'FERREIRA', confidence: 0.95 }),
      birthGivenNames: expect.objectContaining({ value: 'Ana Maria' }),
      firstBirthGivenName: expect.objectContaining({ value: 'Ana' }),
    });
  });

  it('lowers the name when the letter names another patient than its header, and says so', () => {
    const reading = read([
      [
        'Patient : DUPONT Marie',
        'Née le : 12/03/1979',
        'Je vous adresse votre patiente Mme DURAND Claire, née le 01/01/1950, pour avis.',
      ],
    ]);
    expect(reading.identity.birthLastName).toMatchObject({ value: 'DUPONT' });
    expect(reading.identity.birthLastName!.confidence).toBeLessThan(CONFIDENT);
    expect(reading.identity.birthDate!.confidence).toBeLessThan(CONFIDENT);
    expect(reading.mismatchReasons).toEqual([
      'two birth names for the patient: DUPONT in page 1, line 1 and DURAND in page 1, line 3',
      'two lists of given names for the patient: Marie in page 1, line 1 and Claire in page 1, line 3',
      'two birth dates for the patient: 1979-03-12 in page 1, line 2 and 1950-01-01 in page 1, line 3',
    ]);
  });

  it('takes a plain "Nom" beside a "Nom de naissance" for the used name, not a rival birth name', () => {
    const reading = read([['Nom : MARTIN', 'Nom de naissance : DUPONT', 'Prénom : Marie']]);
    expect(reading.identity.birthLastName).toMatchObject({ value: 'DUPONT', confidence: 0.95 });
    expect(reading.mismatchReasons).toEqual([]);
  });

  it('does not take the person who typed the report, or anyone "par" whom something was done, for the patient', () => {
    const reading = read([
      ['Patient : DUPONT Marie', 'Dicté par Dr Hervé KLEIN, frappé par Mme Sylvie ROUX, secrétaire'],
    ]);
    expect(reading.identity.birthLastName).toMatchObject({ value: 'DUPONT', confidence: 0.8 });
    expect(reading.authorName).toMatchObject({ value: 'Hervé KLEIN', confidence: 0.9 });
    expect(reading.mismatchReasons).toEqual([]);
  });

  it('keeps names as written, accents and particles included', () => {
    const { identity } = read([['Patient : M. LE GOFF Gaël-Noël', 'Né le : 01/02/1990']]);
    expect(identity).toMatchObject({
      birthLastName: { value: 'LE GOFF' },
      birthGivenNames: { value: 'Gaël-Noël' },
    });
  });
});

describe('readReportText: INS and disagreements', () => {
  it('lowers an INS with a wrong key under CONFIDENT and says why', () => {
    const wrong = `${NIR.slice(0, 13)}${String((Number(NIR.slice(13)) % 96) + 1).padStart(2, '0')}`;
    const reading = read([[`INS : ${spacedIns(wrong)}`, 'Nom de naissance : BERTRAND']]);
    expect(reading.identity.ins?.value).toBe(wrong);
    expect(reading.identity.ins!.confidence).toBeLessThan(CONFIDENT);
    expect(reading.mismatchReasons).toEqual([`INS ${wrong} in page 1, line 1: its key is wrong`]);
    expect(confidentIdentity(reading.identity).ins).toBeUndefined();
  });

  it('says when an INS has no key', () => {
    const reading = read([[`Matricule INS : ${spacedIns(NIR).slice(0, -3)}`]]);
    expect(reading.identity.ins!.confidence).toBeLessThan(CONFIDENT);
    expect(reading.mismatchReasons).toEqual([`INS ${NIR.slice(0, 13)} in page 1, line 1: it has no key`]);
  });

  it('takes the most confident of two birth dates, lowers it and says so', () => {
    const reading = read([
      ['Nom de naissance : DUPONT', 'Date de naissance : 12/03/1979'],
      ['DUPONT Marie – née le 12/03/1980 – page 2/2'],
    ]);
    expect(reading.identity.birthDate?.value).toBe('1979-03-12');
    expect(reading.identity.birthDate!.confidence).toBeLessThan(CONFIDENT);
    expect(reading.mismatchReasons).toEqual([
      'two birth dates for the patient: 1979-03-12 in page 1, line 2 and 1980-03-12 in page 2, line 1',
    ]);
  });

  it('raises agreement a little: the same birth date in the header and the running header', () => {
    const reading = read([
      ['Date de naissance : 12/03/1979'],
      ['DUPONT Marie – née le 12/03/1979 – page 2/2'],
    ]);
    expect(reading.identity.birthDate!.confidence).toBeGreaterThan(0.95);
    expect(reading.mismatchReasons).toEqual([]);
  });

  it('says when the INS and the birth date or sex disagree', () => {
    const reading = read([[`INS : ${spacedIns(NIR)}`, 'Date de naissance : 12/05/1981', 'Sexe : M']]);
    expect(reading.mismatchReasons).toEqual([
      `INS ${NIR} in page 1, line 1 is a woman's, the sex read is M`,
      `INS ${NIR} in page 1, line 1 gives another year or month of birth than 1981-05-12`,
    ]);
    expect(reading.identity.ins!.confidence).toBeLessThan(0.95);
  });
});

describe('readReportText: dates, types, OCR', () => {
  it('parses French dates', () => {
    const cases: Array<[string, 'birth' | 'procedure', string | undefined]> = [
      ['12/03/1979', 'birth', '1979-03-12'],
      ['12.03.1979', 'birth', '1979-03-12'],
      ['12-03-79', 'birth', '1979-03-12'],
      ['03/12/26', 'procedure', '2026-12-03'],
      ['12 mars 1979', 'birth', '1979-03-12'],
      ['1er fevrier 1990', 'birth', '1990-02-01'],
      ['le 3 dec. 2026', 'procedure', '2026-12-03'],
      ['lundi 30 novembre 2026', 'procedure', '2026-11-30'],
      ['1979-03-12', 'birth', '1979-03-12'],
      ['du 14 au 20 novembre 2026', 'procedure', '2026-11-14'],
      ['28/12 au 03/01/2027', 'procedure', '2026-12-28'],
      ['31/02/2026', 'procedure', undefined],
      ['06 12 34 56 78', 'procedure', undefined],
    ];
    for (const [text, kind, iso] of cases) expect(parseDateAt(text, kind)?.iso, text).toBe(iso);
  });

  it.each([
    ['COMPTE RENDU OPÉRATOIRE', '34874-8'],
    ['Compte rendu de consultation du 03/12/2026', '11488-4'],
    ["LETTRE DE LIAISON À LA SORTIE D'HOSPITALISATION", '11490-0'],
    ["COMPTE RENDU D'HOSPITALISATION", '34112-3'],
    ['ÉCHOGRAPHIE PELVIENNE', '18748-4'],
    ['IRM LOMBAIRE', '18748-4'],
    ['Mammographie bilatérale', '18748-4'],
    ['HÉMOGRAMME', '11502-2'],
    ['Bilan sanguin', '11502-2'],
    ['EXAMEN HISTOLOGIQUE', '60568-3'],
    ['Compte rendu de passage aux urgences', '15507-7'],
  ])('maps the title "%s" to %s', (title, code) => {
    const reading = read([[title, 'Patient : DUPONT Marie']]);
    expect(reading.documentTypeCode?.value).toBe(code);
    expect(reading.documentTypeLabel?.value).toBe(loincLabel(code));
    expect(reading.documentTypeCode!.confidence).toBeGreaterThanOrEqual(CONFIDENT);
  });

  it('guesses a type from body keywords alone with a confidence under CONFIDENT', () => {
    const reading = read([
      [
        'Cher Confrère,',
        'Les leucocytes et les plaquettes sont normaux, la créatinine aussi. Hémoglobine à 12.',
      ],
    ]);
    expect(reading.documentTypeCode?.value).toBe('11502-2');
    expect(reading.documentTypeCode!.confidence).toBeGreaterThanOrEqual(0.6);
    expect(reading.documentTypeCode!.confidence).toBeLessThan(CONFIDENT);
  });

  it("multiplies by the OCR line's confidence: a labelled field read at 0.7 is left for a person", () => {
    const lines = [['Nom de naissance : DUPONT', 'Date de naissance : 12/03/1979', 'HÉMOGRAMME']];
    const scan = read(lines, 'scan', 0.7);
    expect(scan.format).toBe('scan');
    expect(scan.identity.birthLastName).toMatchObject({ value: 'DUPONT', confidence: 0.665 });
    expect(confidentIdentity(scan.identity)).toEqual({});
    expect(read(lines, 'scan', 0.95).identity.birthLastName!.confidence).toBeGreaterThanOrEqual(CONFIDENT);
  });

  it('reads nothing from an empty document', () => {
    const empty: TextPage[] = [{ page: 1, lines: [], hasTextLayer: false }];
    expect(readReportText(empty, { format: 'scan', fileName: 'scan.pdf' })).toEqual({
      format: 'scan',
      action: 'new',
      identity: {},
      files: [],
      mismatchReasons: [],
    });
  });
});

describe('confidentIdentity', () => {
  it('keeps only fields at or above CONFIDENT', () => {
    const identity: IdentityReading = {
      birthLastName: { value: 'DUPONT', source: 'page 1, line 1', confidence: 0.8 },
      birthGivenNames: { value: 'Marie', source: 'page 1, line 1', confidence: 0.79 },
      birthDate: { value: '1979-03-12', source: 'page 1, line 2', confidence: 0.95 },
    };
    expect(CONFIDENT).toBe(0.8);
    expect(confidentIdentity(identity)).toEqual({
      birthLastName: identity.birthLastName,
      birthDate: identity.birthDate,
    });
  });
});

describe('field-level precision and recall on the fixtures', () => {
  const summary = (score: ExtractionScore) =>
    `precision ${score.precision.toFixed(3)} recall ${score.recall.toFixed(3)} ` +
    `(${score.total.confidentCorrect}/${score.total.confident} confident correct, ${score.total.truth} in the truth; ` +
    `every field filled: precision ${score.precisionAll.toFixed(3)} recall ${score.recallAll.toFixed(3)})`;

  async function scoreOf(fixtures: readonly ReportFixture[]) {
    const results = [];
    for (const fixture of fixtures)
      results.push({ fixture, extracted: extractedFields(await readFixture(fixture)) });
    return scoreExtraction(results, CONFIDENT);
  }

  it('reads the fixtures, development and held out, with high precision and recall', async () => {
    const development = await scoreOf(REPORT_FIXTURES);
    const heldOut = await scoreOf(HELD_OUT_REPORT_FIXTURES);
    const overall = await scoreOf([...REPORT_FIXTURES, ...HELD_OUT_REPORT_FIXTURES]);
    const perField = Object.entries(overall.fields)
      .filter(([, score]) => score.truth > 0)
      .map(
        ([field, score]) =>
          `${field} ${score.confidentCorrect}/${score.confident}p ${score.confidentCorrect}/${score.truth}r`,
      )
      .join(', ');
    console.log(
      `report text fields at confidence ≥ ${CONFIDENT}: development (${REPORT_FIXTURES.length} PDFs) ${summary(development)}; ` +
        `held out (${HELD_OUT_REPORT_FIXTURES.length} PDFs) ${summary(heldOut)}; overall ${summary(overall)}; per field ${perField}`,
    );
    console.log(`left for a person or wrong:\n  ${overall.errors.join('\n  ')}`);
    expect(REPORT_FIXTURES.length + HELD_OUT_REPORT_FIXTURES.length).toBeGreaterThanOrEqual(8);
    // Nothing wrong goes on unchecked: every confident field is right.
    expect(overall.precision).toBeGreaterThanOrEqual(0.97);
    expect(development.recall).toBeGreaterThanOrEqual(0.85);
    expect(heldOut.recall).toBeGreaterThanOrEqual(0.75);
    expect(overall.recall).toBeGreaterThanOrEqual(0.85);
    // What is left for a person is mostly filled in for them.
    expect(overall.recallAll).toBeGreaterThanOrEqual(0.95);
    expect(overall.precisionAll).toBeGreaterThanOrEqual(0.95);
  });

  it.each(
    [...REPORT_FIXTURES, ...HELD_OUT_REPORT_FIXTURES].map((fixture) => [fixture.name, fixture] as const),
  )('%s: no confident field is wrong, and the expected reasons are given', async (_name, fixture) => {
    const reading = await readFixture(fixture);
    const score = scoreExtraction([{ fixture, extracted: extractedFields(reading) }], CONFIDENT);
    expect(score.errors.filter((error) => !error.includes('left for a person'))).toEqual([]);
    for (const reason of fixture.expectedReasons ?? []) {
      expect(reading.mismatchReasons.join('\n')).toContain(reason);
    }
    if (!fixture.expectedReasons) expect(reading.mismatchReasons).toEqual([]);
  });
});
