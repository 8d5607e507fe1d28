import { describe, expect, it } from 'vitest';
import {
  MIN_TEXT_LAYER_CHARACTERS,
  pagesWithoutText,
  pdfTextPages,
  textPageOf,
  textPagesOf,
} from '../../../src/modules/worklist/ingestion/pdf-text.ts';
import { MessageRejection } from '../../../src/modules/worklist/ingestion/reading.ts';
import { onePagePdf, textPdf, winAnsiPdfString } from '../../../src/platform/pdf.ts';

/** What pdfTextPages rejects a file with. */
async function rejection(pdf: Buffer): Promise<MessageRejection> {
  try {
    await pdfTextPages(pdf);
  } catch (error) {
    if (error instanceof MessageRejection) return error;
    throw error;
  }
  throw new Error('the PDF was read');
}

/**
 * The standard security handler's dictionary with a user password: pdf.js tries the empty password,
 * fails, and asks for one, as it does for any PDF encrypted with a password.
 */
function encrypted(pdf: Buffer): Buffer {
  const id = '<0123456789abcdef0123456789abcdef>';
  const encrypt = `/Encrypt << /Filter /Standard /V 1 /R 2 /O <${'ab'.repeat(32)}> /U <${'cd'.repeat(32)}> /P -4 >> /ID [${id} ${id}]`;
  return Buffer.from(pdf.toString('latin1').replace('/Info 5 0 R >>', `/Info 5 0 R ${encrypt} >>`), 'latin1');
}

describe('textPdf', () => {
  it('writes French text in WinAnsi that reads back as written', async () => {
    const lines = [
      'Né(e) le 12/03/1979 – « Hélène » a reçu l’œdème à 5 € (sic) \\ fin',
      'ÀÂÇÉÈÊËÎÏÔÙÛÜŸ àâçéèêëîïôùûüÿ Œ œ … — ‘’ “” °µ²',
    ];
    const [page] = await pdfTextPages(textPdf([lines]));
    // pdf.js reads the micro sign (U+00B5) as the Greek letter mu (U+03BC), its compatibility form.
    expect(page?.lines.map((line) => line.text)).toEqual(lines.map((line) => line.replace('µ', 'μ')));
  });

  it('escapes parentheses and backslashes, and writes what WinAnsi has no code for as ?', () => {
    expect(winAnsiPdfString('a(b)c\\d')).toBe('(a\\(b\\)c\\\\d)');
    expect(winAnsiPdfString('été')).toBe(`(${Buffer.from('été', 'latin1').toString('latin1')})`);
    expect(winAnsiPdfString('€’')).toBe(`(${String.fromCharCode(0x80, 0x92)})`);
    expect(winAnsiPdfString('Ω😀')).toBe('(??)');
  });

  it('refuses lines that fall off the page', () => {
    expect(() => textPdf([Array.from({ length: 80 }, (_, index) => `ligne ${index}`)])).toThrow(RangeError);
  });
});

describe('pdfTextPages', () => {
  it('reads pages and lines in order, 1-based, with confidence 1', async () => {
    const pdf = textPdf([
      ['COMPTE RENDU', 'Première ligne', '', 'Après une ligne vide'],
      ['Deuxième page, seule ligne de texte ici'],
    ]);
    const pages = await pdfTextPages(pdf);
    expect(pages).toEqual([
      {
        page: 1,
        lines: [
          { text: 'COMPTE RENDU', confidence: 1 },
          { text: 'Première ligne', confidence: 1 },
          { text: 'Après une ligne vide', confidence: 1 },
        ],
        hasTextLayer: true,
      },
      {
        page: 2,
        lines: [{ text: 'Deuxième page, seule ligne de texte ici', confidence: 1 }],
        hasTextLayer: true,
      },
    ]);
  });

  it('keeps columns and table cells apart with a tab, ordered by x whatever the drawing order', async () => {
    const pdf = textPdf([
      [
        [
          { text: 'née le 12/03/1979', x: 330 },
          { text: 'Patient', x: 56 },
          { text: 'DUPONT Marie', x: 150 },
        ],
        [
          { text: 'Hémoglobine', x: 56, bold: true },
          { text: '13,4 g/dL', x: 260 },
        ],
      ],
    ]);
    const [page] = await pdfTextPages(pdf);
    expect(page?.lines.map((line) => line.text)).toEqual([
      'Patient\tDUPONT Marie\tnée le 12/03/1979',
      'Hémoglobine\t13,4 g/dL',
    ]);
  });

  it('marks a page with no text, or hardly any, as one for OCR', async () => {
    const pdf = textPdf([['Une page avec assez de texte pour une couche texte.'], [], ['Page 3/3']]);
    const pages = await pdfTextPages(pdf);
    expect(pages.map((page) => page.hasTextLayer)).toEqual([true, false, false]);
    expect(pages[2]?.lines).toEqual([{ text: 'Page 3/3', confidence: 1 }]);
    expect(pagesWithoutText(pages)).toEqual([2, 3]);
    expect(MIN_TEXT_LAYER_CHARACTERS).toBeGreaterThan('Page 3/3'.length);
  });

  it('reads the demo PDFs onePagePdf makes', async () => {
    const [page] = await pdfTextPages(onePagePdf('Scanner thoracique', 'Patiente DUPONT Marie, 12/05/1980'));
    expect(page?.lines.map((line) => line.text)).toEqual([
      'Scanner thoracique',
      'Patiente DUPONT Marie, 12/05/1980',
    ]);
  });

  it('rejects what is not a PDF, with AE, location PDF and code 102', async () => {
    const problem = await rejection(Buffer.from('%PDF-1.4\nnot really a PDF'));
    expect(problem.acknowledgment).toBe('AE');
    expect(problem.problems).toEqual([
      { location: 'PDF', code: 102, text: expect.stringContaining('not a readable PDF') },
    ]);
    expect((await rejection(Buffer.from('plain text, no PDF header'))).problems[0]?.code).toBe(102);
  });

  it('rejects a PDF encrypted with a password, saying so', async () => {
    const problem = await rejection(encrypted(textPdf([['Compte rendu confidentiel']])));
    expect(problem.acknowledgment).toBe('AE');
    expect(problem.problems).toEqual([
      { location: 'PDF', code: 102, text: 'the PDF is encrypted: it cannot be read without its password' },
    ]);
  });
});

describe('textPageOf', () => {
  it('groups runs by baseline within a third of the font size and joins pieces of one word', () => {
    const page = textPageOf(4, [
      { text: 'Sexe : F', x: 330, y: 700.5, width: 40, size: 10 },
      { text: 'Nom : DUP', x: 56, y: 700, width: 50, size: 10 },
      { text: 'ONT', x: 106.2, y: 700, width: 20, size: 10 },
      { text: 'Prénom :', x: 56, y: 686, width: 40, size: 10 },
      { text: 'Marie', x: 99, y: 686, width: 25, size: 10 },
    ]);
    expect(page).toEqual({
      page: 4,
      lines: [
        { text: 'Nom : DUPONT\tSexe : F', confidence: 1 },
        { text: 'Prénom : Marie', confidence: 1 },
      ],
      hasTextLayer: true,
    });
  });

  it('takes lines already read (OCR) with their confidence, blank ones left out', () => {
    expect(textPagesOf([['Compte rendu opératoire du 02/11/2026', '  ', 'Dr Luc FABRE']], 0.7)).toEqual([
      {
        page: 1,
        lines: [
          { text: 'Compte rendu opératoire du 02/11/2026', confidence: 0.7 },
          { text: 'Dr Luc FABRE', confidence: 0.7 },
        ],
        hasTextLayer: true,
      },
    ]);
  });
});
