/**
 * French paper documents as hospitals receive them, for the demo and the benchmark: a report with its
 * patient's identity block (birth name, used name, given names, birth date, sex, INS with its key,
 * IPP), its title, the date of the examination, its author and a body, laid out as a header block, a
 * table or a letter in free text. The same page comes as a PDF with a text layer (what a laboratory's
 * software prints), as a scan (a PNG drawn at 300 dpi in DejaVu Sans, on off-white paper with a
 * scanner's specks) and as an image-only PDF (that scan as a JPEG, as scanners write them).
 *
 * Everything is deterministic: the same report gives the same bytes, so the demo's files are
 * duplicates of themselves when sent again and the benchmark reads the same pages every run.
 */
import { createRequire } from 'node:module';
import { type Canvas, createCanvas, GlobalFonts } from '@napi-rs/canvas';
import { type PdfLine, type PdfText, pdfOfObjects, textPdf } from '../../../platform/pdf.ts';
import { seededRandom } from '../../../platform/seeded-random.ts';

export interface PaperPatient {
  birthLastName: string;
  usedLastName?: string;
  /** The birth given names, in order. */
  givenNames: string[];
  /** YYYY-MM-DD. */
  birthDate: string;
  sex: 'F' | 'M';
  /** 15 characters, the key included; printed spaced as on a card. */
  ins?: string;
  ipp?: string;
}

/** What the document is: each with its LOINC code (JDV_J07) and the title it is printed under. */
export const PAPER_KINDS = {
  lab: { code: '11502-2', title: "Compte rendu d'examens biologiques" },
  imaging: { code: '18748-4', title: "Compte rendu d'imagerie médicale" },
  consultation: { code: '11488-4', title: 'Compte rendu de consultation' },
} as const;
export type PaperKind = keyof typeof PAPER_KINDS;

/**
 * `header`: one labelled field a line under a letterhead in two columns; `table`: the identity as a
 * table's header row and values, results in columns; `letter`: a letter to the GP, the patient named
 * in its sentences.
 */
export type PaperLayout = 'header' | 'table' | 'letter';
export const PAPER_LAYOUTS: readonly PaperLayout[] = ['header', 'table', 'letter'];

export interface PaperReport {
  patient: PaperPatient;
  kind: PaperKind;
  layout: PaperLayout;
  /** The examination's (the sample's, the visit's) date, YYYY-MM-DD. */
  procedureDate: string;
  /** The signing doctor, as printed after "Dr": `Sophie LEROY`. */
  author: { name: string; rpps?: string };
  /** Varies the letterhead, the prescriber and the body's values; 1 unless told. */
  seed?: number;
}

/** A4 in PDF points, and the textPdf defaults the scan draws with too. */
const PAGE = { width: 595, height: 842, margin: 56, fontSize: 10, leading: 1.4 };

const SENDERS: Record<PaperKind, Array<{ name: string; address: string; city: string; phone: string }>> = {
  lab: [
    {
      name: 'LABORATOIRE BIOLAB RHÔNE',
      address: '3 rue Francis de Pressensé – 69100 Villeurbanne',
      city: 'Villeurbanne',
      phone: '04 72 00 11 22',
    },
    {
      name: 'LABORATOIRE DES ALPES',
      address: '14 rue Lesdiguières – 38000 Grenoble',
      city: 'Grenoble',
      phone: '04 76 00 00 00',
    },
  ],
  imaging: [
    {
      name: "CENTRE D'IMAGERIE DU PARC",
      address: '12 avenue Jean Jaurès – 69007 Lyon',
      city: 'Lyon',
      phone: '04 78 12 34 56',
    },
    {
      name: 'CABINET DE RADIOLOGIE DU LAC',
      address: '5 quai des Bergues – 74000 Annecy',
      city: 'Annecy',
      phone: '04 50 00 12 34',
    },
  ],
  consultation: [
    {
      name: 'Cabinet médical des Tilleuls',
      address: '8 place de la République – 35000 Rennes',
      city: 'Rennes',
      phone: '02 99 00 11 22',
    },
    {
      name: 'Maison de santé du Vieux Port',
      address: '21 rue de la Loge – 13002 Marseille',
      city: 'Marseille',
      phone: '04 91 00 22 33',
    },
  ],
};
const PRESCRIBERS = ['Paul GARNIER', 'Yves PERRIN', 'Anne VIDAL', 'Olivier BLANC'];
const SPECIALTIES: Record<PaperKind, string> = {
  lab: 'Biologiste responsable',
  imaging: 'radiologue',
  consultation: 'Médecine interne',
};
/** How the table layout's last line names its signer. */
const TABLE_SIGNERS: Record<PaperKind, string> = {
  lab: 'Biologiste responsable',
  imaging: 'Radiologue',
  consultation: 'Rédigé par',
};
const MONTHS = [
  'janvier',
  'février',
  'mars',
  'avril',
  'mai',
  'juin',
  'juillet',
  'août',
  'septembre',
  'octobre',
  'novembre',
  'décembre',
];

/** `2026-11-27` → `27/11/2026`. */
export function frenchDate(iso: string): string {
  const [year, month, day] = iso.split('-');
  return `${day}/${month}/${year}`;
}

/** `2026-03-01` → `1er mars 2026`. */
function dateInWords(iso: string): string {
  const [year, month, day] = iso.split('-').map(Number) as [number, number, number];
  return `${day === 1 ? '1er' : day} ${MONTHS[month - 1]} ${year}`;
}

function addDays(iso: string, days: number): string {
  const date = new Date(`${iso}T12:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

/** The INS as printed on a card or a label: `2 79 03 75 056 123 45`. */
export function spacedIns(ins: string): string {
  const cuts = [0, 1, 3, 5, 7, 10, 13, 15];
  return cuts
    .slice(1)
    .map((end, index) => ins.slice(cuts[index], end))
    .join(' ');
}

/** A NIR's 13 characters with the key that makes it an INS (97 − number mod 97; Corsica's 2A/2B). */
export function withInsKey(nir13: string): string {
  const key = 97n - (BigInt(nir13.replace('2A', '19').replace('2B', '18')) % 97n);
  return `${nir13}${String(key).padStart(2, '0')}`;
}

const run = (text: string, x?: number, extra: Omit<PdfText, 'text' | 'x'> = {}): PdfText => ({
  text,
  ...(x === undefined ? {} : { x }),
  ...extra,
});
const columns = (left: string, right: string, rightX = 340): PdfText[] => [
  run(left, PAGE.margin),
  run(right, rightX),
];
const cells = (...texts: Array<[string, number]>): PdfText[] => texts.map(([text, x]) => run(text, x));
const heading = (text: string, size = 13): PdfText => run(text, undefined, { bold: true, size });

/** The report's one page, as lines for textPdf (and for the scan, which draws the same lines). */
export function reportLines(report: PaperReport): PdfLine[] {
  const random = seededRandom(report.seed ?? 1);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const sender = pick(SENDERS[report.kind]);
  const prescriber = pick(PRESCRIBERS);
  const { patient } = report;
  const kind = PAPER_KINDS[report.kind];
  const givenNames = patient.givenNames.join(' ');
  const first = patient.givenNames[0] ?? '';
  const sex = patient.sex === 'F' ? 'Féminin' : 'Masculin';
  const written = addDays(report.procedureDate, report.kind === 'lab' ? 1 : 0);
  const signature = `Dr ${report.author.name}`;
  const body = bodyOf(report, random);

  if (report.layout === 'header') {
    return [
      columns(sender.name, signature),
      columns(sender.address, report.author.rpps ? `RPPS : ${report.author.rpps}` : SPECIALTIES[report.kind]),
      `Tél. : ${sender.phone}`,
      '',
      run(`${sender.city}, le ${dateInWords(written)}`, 340),
      '',
      `Nom de naissance : ${patient.birthLastName}`,
      ...(patient.usedLastName ? [`Nom d'usage : ${patient.usedLastName}`] : []),
      `Prénom(s) : ${givenNames}`,
      columns(`Né(e) le : ${frenchDate(patient.birthDate)}`, `Sexe : ${sex}`),
      ...(patient.ins ? [`INS : ${spacedIns(patient.ins)} (INS-NIR)`] : []),
      ...(patient.ipp ? [`IPP : ${patient.ipp}`] : []),
      `Médecin prescripteur : Dr ${prescriber}`,
      `Date de l'examen : ${frenchDate(report.procedureDate)}`,
      '',
      heading(kind.title.toUpperCase()),
      '',
      ...body,
      '',
      report.kind === 'imaging' ? `${signature}, radiologue` : signature,
      `Compte rendu validé le ${frenchDate(written)}`,
    ];
  }
  if (report.layout === 'table') {
    return [
      heading(sender.name, 12),
      `${sender.address} – Tél. : ${sender.phone}`,
      '',
      heading(kind.title, 13),
      '',
      cells(['Nom de naissance', 56], ['Prénom(s)', 200], ['Date de naissance', 340], ['Sexe', 470]),
      cells(
        [patient.birthLastName, 56],
        [givenNames, 200],
        [frenchDate(patient.birthDate), 340],
        [patient.sex, 470],
      ),
      ...(patient.usedLastName || patient.ipp
        ? [
            columns(
              patient.usedLastName ? `Nom d'usage : ${patient.usedLastName}` : '',
              patient.ipp ? `IPP : ${patient.ipp}` : '',
            ),
          ]
        : []),
      ...(patient.ins ? [`INS : ${spacedIns(patient.ins)}`] : []),
      '',
      columns(
        `${report.kind === 'lab' ? 'Prélevé le' : 'Examen du'} : ${frenchDate(report.procedureDate)}`,
        `Prescripteur : Dr ${prescriber}`,
      ),
      '',
      ...body,
      '',
      `${TABLE_SIGNERS[report.kind]} : ${signature}`,
      ...(report.author.rpps ? [`RPPS : ${report.author.rpps}`] : []),
    ];
  }
  const civility = patient.sex === 'F' ? 'Madame' : 'Monsieur';
  const born = patient.sex === 'F' ? 'née' : 'né';
  const named =
    patient.usedLastName && patient.usedLastName !== patient.birthLastName
      ? `${civility} ${first} ${patient.usedLastName} ${born} ${patient.birthLastName}`
      : `${civility} ${first} ${patient.birthLastName}`;
  return [
    heading(signature, 12),
    SPECIALTIES[report.kind] === 'radiologue' ? 'Radiologie et imagerie médicale' : SPECIALTIES[report.kind],
    `${sender.name} – ${sender.address}`,
    `Tél. ${sender.phone}${report.author.rpps ? ` – N° RPPS ${report.author.rpps}` : ''}`,
    '',
    run(`${sender.city}, le ${dateInWords(written)}`, 340),
    run(`Docteur ${prescriber}`, 340),
    '',
    heading(`${kind.title} du ${frenchDate(report.procedureDate)}`, 11),
    `Objet : ${named}, ${born} le ${dateInWords(patient.birthDate)}`,
    ...(patient.ins ? [`INS : ${spacedIns(patient.ins)}`] : []),
    ...(report.kind === 'consultation' ? [] : [`Date de l'examen : ${frenchDate(report.procedureDate)}`]),
    '',
    'Cher Confrère,',
    report.kind === 'consultation'
      ? `J'ai vu en consultation le ${frenchDate(report.procedureDate)} ${civility.toLowerCase()} ${patient.usedLastName ?? patient.birthLastName}, que vous m'avez adressé${patient.sex === 'F' ? 'e' : ''}.`
      : `Voici les résultats de l'examen réalisé le ${frenchDate(report.procedureDate)} pour ${civility.toLowerCase()} ${patient.usedLastName ?? patient.birthLastName}.`,
    ...body,
    '',
    'Bien confraternellement,',
    signature,
  ];
}

/** The report's content, by kind: results, findings, a visit. */
function bodyOf(report: PaperReport, random: () => number): PdfLine[] {
  const value = (low: number, high: number, digits = 1) =>
    (low + random() * (high - low)).toFixed(digits).replace('.', ',');
  if (report.kind === 'lab') {
    const rows: Array<[string, string, string]> = [
      ['Hémoglobine', `${value(11.5, 16.5)} g/dL`, '(12,0-16,0)'],
      ['Leucocytes', `${value(4, 11)} G/L`, '(4,0-10,0)'],
      ['Plaquettes', `${value(150, 420, 0)} G/L`, '(150-400)'],
      ['Glycémie à jeun', `${value(4.2, 6.8)} mmol/L`, '(4,1-5,9)'],
      ['Créatinine', `${value(50, 110, 0)} µmol/L`, '(45-90)'],
      ['Protéine C réactive', `${value(1, 30, 0)} mg/L`, '(< 5)'],
    ];
    return [
      heading('HÉMATOLOGIE ET BIOCHIMIE', 11),
      ...rows.map(([name, result, range]) => cells([name, 56], [result, 260], [range, 400])),
      '',
      `Antériorité du ${frenchDate(addDays(report.procedureDate, -180))} : hémoglobine ${value(11.5, 16)} g/dL.`,
    ];
  }
  if (report.kind === 'imaging') {
    const exam = [
      'Radiographie du thorax de face et de profil',
      'Échographie abdominale',
      'IRM du genou droit',
    ][Math.floor(random() * 3)]!;
    return [
      `Examen : ${exam}.`,
      'Indication : douleur persistante depuis trois semaines, pas de fièvre.',
      'Technique : acquisition standard, sans injection de produit de contraste.',
      'Résultats : pas d’anomalie de densité ni de signal, structures en place et régulières.',
      'Pas d’épanchement. Pas de lésion focale décelable.',
      'Conclusion : examen sans anomalie significative.',
    ];
  }
  return [
    `Motif : asthénie et perte de poids de ${value(2, 6, 0)} kg depuis deux mois.`,
    `Examen clinique : tension artérielle ${value(11, 14, 0)}/${value(7, 9, 0)}, abdomen souple, pas d’adénopathie.`,
    'Je propose un bilan biologique complet et une échographie abdominale,',
    `et je ${report.patient.sex === 'F' ? 'la' : 'le'} reverrai dans un mois avec les résultats.`,
  ];
}

/** The report as a one-page A4 PDF with a text layer. */
export function reportPdf(report: PaperReport): Buffer {
  return textPdf([reportLines(report)], { title: PAPER_KINDS[report.kind].title });
}

// ---------------------------------------------------------------------------------------------------
// Scans: the same lines drawn on a canvas, in DejaVu Sans from the npm package (a machine may have no
// fonts of its own), at the positions textPdf gives them.

/** The families the scans are drawn in, registered from the `dejavu-fonts-ttf` package. */
export const SCAN_FONTS = { regular: 'hotpath DejaVu Sans', bold: 'hotpath DejaVu Sans Bold' } as const;
let fontsRegistered = false;

/**
 * Registers DejaVu Sans and DejaVu Sans Bold under names of their own (SCAN_FONTS), once: one family
 * for both would draw every run in whichever face came last.
 */
export function registerScanFonts(): void {
  if (fontsRegistered) return;
  const require = createRequire(import.meta.url);
  for (const [file, family] of [
    ['DejaVuSans.ttf', SCAN_FONTS.regular],
    ['DejaVuSans-Bold.ttf', SCAN_FONTS.bold],
  ] as const) {
    const registered = GlobalFonts.registerFromPath(require.resolve(`dejavu-fonts-ttf/ttf/${file}`), family);
    if (!registered) throw new Error(`could not register the font dejavu-fonts-ttf/ttf/${file}`);
  }
  fontsRegistered = true;
}

export interface ScanOptions {
  /** 300 unless told: what a scanner set for OCR gives (A4 is then 2480 × 3508 pixels). */
  dpi?: number;
  /** Off-white paper, specks and a shadow along the edge, as a flatbed scanner leaves them; true. */
  noise?: boolean;
}

/** Any page's lines drawn as a scanner at `dpi` would see them, laid out as textPdf lays them out. */
export function drawPage(lines: PdfLine[], options: ScanOptions & { seed?: number } = {}): Canvas {
  registerScanFonts();
  const dpi = options.dpi ?? 300;
  const scale = dpi / 72;
  // A4 is 210 × 297 mm: 2480 × 3508 pixels at 300 dpi.
  const canvas = createCanvas(Math.round((210 / 25.4) * dpi), Math.round((297 / 25.4) * dpi));
  const context = canvas.getContext('2d');
  const noise = options.noise ?? true;
  context.fillStyle = noise ? '#f6f5f1' : '#ffffff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  if (noise) {
    // The lid's shadow along the left edge.
    const shadow = context.createLinearGradient(0, 0, 18 * scale, 0);
    shadow.addColorStop(0, 'rgba(90, 90, 90, 0.35)');
    shadow.addColorStop(1, 'rgba(90, 90, 90, 0)');
    context.fillStyle = shadow;
    context.fillRect(0, 0, 18 * scale, canvas.height);
  }
  context.fillStyle = '#1c1c1c';
  context.textBaseline = 'alphabetic';
  let y = PAGE.margin;
  for (const line of lines) {
    const runs: PdfText[] = typeof line === 'string' ? [{ text: line }] : Array.isArray(line) ? line : [line];
    const size = Math.max(PAGE.fontSize, ...runs.map((item) => item.size ?? PAGE.fontSize));
    y += size * PAGE.leading;
    const placed = runs
      .filter((item) => item.text !== '')
      .map((item) => ({ ...item, x: item.x ?? PAGE.margin }))
      .sort((left, right) => left.x - right.x);
    for (const [index, item] of placed.entries()) {
      context.font = `${(item.size ?? PAGE.fontSize) * scale}px "${item.bold ? SCAN_FONTS.bold : SCAN_FONTS.regular}"`;
      // DejaVu Sans is wider than Helvetica: a run is narrowed rather than written over the next.
      const room = (placed[index + 1]?.x ?? PAGE.width - PAGE.margin / 2) - item.x - 6;
      context.fillText(item.text, item.x * scale, y * scale, room * scale);
    }
  }
  if (noise) speckle(canvas, options.seed ?? 1);
  return canvas;
}

/** A few thousand grey specks, dust on the glass: deterministic, and sparse enough to keep PNGs small. */
function speckle(canvas: Canvas, seed: number): void {
  const random = seededRandom(seed * 7919 + 17);
  const context = canvas.getContext('2d');
  const specks = Math.round((canvas.width * canvas.height) / 2_500);
  for (let n = 0; n < specks; n++) {
    const gray = 80 + Math.floor(random() * 120);
    context.fillStyle = `rgb(${gray}, ${gray}, ${gray})`;
    const side = random() < 0.9 ? 1 : 2;
    context.fillRect(Math.floor(random() * canvas.width), Math.floor(random() * canvas.height), side, side);
  }
}

/** The report scanned: its page drawn at `dpi` (300 unless told). */
export function scanCanvas(report: PaperReport, options: ScanOptions = {}): Canvas {
  return drawPage(reportLines(report), { ...options, seed: report.seed ?? 1 });
}

/** The report scanned, as a PNG (RGBA, 2480 × 3508 at 300 dpi). */
export function scanPng(report: PaperReport, options: ScanOptions = {}): Promise<Buffer> {
  return scanCanvas(report, options).encode('png');
}

/**
 * The report scanned into an image-only PDF: one A4 page that is nothing but the scan as a JPEG
 * (quality 85), as a scanner writes it, at 300 dpi unless told.
 */
export async function scanPdf(report: PaperReport, options: ScanOptions = {}): Promise<Buffer> {
  const canvas = scanCanvas(report, options);
  return imageOnlyPdf([
    {
      jpeg: await canvas.encode('jpeg', 85),
      width: canvas.width,
      height: canvas.height,
      points: [PAGE.width, PAGE.height],
    },
  ]);
}

/** A page of an image-only PDF: a JPEG of `width` × `height` pixels shown on a page of `points`. */
export interface ImagePdfPage {
  jpeg: Buffer;
  width: number;
  height: number;
  /** The page's size in PDF points (1/72 inch). */
  points: [number, number];
}

/** A PDF whose pages are nothing but a JPEG each (DCTDecode image XObjects), as a scanner writes. */
export function imageOnlyPdf(pages: ImagePdfPage[]): Buffer {
  const objects: Buffer[] = [];
  const kids = pages.map((_, index) => `${3 + index * 3} 0 R`).join(' ');
  objects.push(Buffer.from('<< /Type /Catalog /Pages 2 0 R >>', 'latin1'));
  objects.push(Buffer.from(`<< /Type /Pages /Kids [${kids}] /Count ${pages.length} >>`, 'latin1'));
  for (const [index, page] of pages.entries()) {
    const pageObject = 3 + index * 3;
    const [width, height] = page.points;
    const content = `q ${width} 0 0 ${height} 0 0 cm /Im0 Do Q`;
    objects.push(
      Buffer.from(
        `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${width} ${height}] /Contents ${pageObject + 1} 0 R ` +
          `/Resources << /XObject << /Im0 ${pageObject + 2} 0 R >> >> >>`,
        'latin1',
      ),
    );
    objects.push(Buffer.from(`<< /Length ${content.length} >>\nstream\n${content}\nendstream`, 'latin1'));
    objects.push(
      Buffer.concat([
        Buffer.from(
          `<< /Type /XObject /Subtype /Image /Width ${page.width} /Height ${page.height} /ColorSpace /DeviceRGB ` +
            `/BitsPerComponent 8 /Filter /DCTDecode /Length ${page.jpeg.length} >>\nstream\n`,
          'latin1',
        ),
        page.jpeg,
        Buffer.from('\nendstream', 'latin1'),
      ]),
    );
  }
  return pdfOfObjects(objects);
}

// ---------------------------------------------------------------------------------------------------
// Made-up patients and reports, for the benchmark: many pages, every layout and kind.

const BIRTH_NAMES = ['BERTRAND', 'DUPONT', 'LEFEBVRE', 'MOREAU', 'GARCIA', 'FAURE', 'ROUSSEAU', 'GIRARD'];
const USED_NAMES = ['MARTIN', 'LEMAIRE', 'PETIT', 'ROBIN'];
const FEMALE_NAMES = ['Hélène', 'Marie', 'Chloé', 'Élise', 'Camille', 'Lucie'];
const MALE_NAMES = ['Jean', 'Lucas', 'Gaël', 'Pierre', 'Thomas', 'Karim'];
const AUTHORS = ['Sophie LEROY', 'Marc BENOIT', 'Anne ROUX', 'Claire MOREAU', 'Luc FABRE'];

/** The n-th of a deterministic series of reports: a patient of its own, each layout and kind in turn. */
export function sampleReport(n: number): PaperReport {
  const random = seededRandom(20261203 + n * 101);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const sex = random() < 0.5 ? 'F' : 'M';
  const year = 1940 + Math.floor(random() * 65);
  const month = 1 + Math.floor(random() * 12);
  const day = 1 + Math.floor(random() * 28);
  const birthDate = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
  const nir = `${sex === 'F' ? 2 : 1}${String(year).slice(2)}${String(month).padStart(2, '0')}75${String(100 + Math.floor(random() * 899))}${String(100 + Math.floor(random() * 899))}`;
  const givens = sex === 'F' ? FEMALE_NAMES : MALE_NAMES;
  const patient: PaperPatient = {
    birthLastName: pick(BIRTH_NAMES),
    ...(sex === 'F' && random() < 0.4 ? { usedLastName: pick(USED_NAMES) } : {}),
    givenNames: random() < 0.3 ? [pick(givens), pick(givens)] : [pick(givens)],
    birthDate,
    sex,
    ...(random() < 0.8 ? { ins: withInsKey(nir) } : {}),
    ipp: String(Math.floor(random() * 10_000_000)).padStart(7, '0'),
  };
  const kinds = Object.keys(PAPER_KINDS) as PaperKind[];
  return {
    patient,
    kind: kinds[n % kinds.length]!,
    layout: PAPER_LAYOUTS[Math.floor(n / kinds.length) % PAPER_LAYOUTS.length]!,
    procedureDate: addDays('2026-11-30', -Math.floor(random() * 60)),
    author: { name: pick(AUTHORS), ...(random() < 0.5 ? { rpps: `1000${1_000_000 + n}` } : {}) },
    seed: n + 1,
  };
}
