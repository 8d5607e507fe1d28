/**
 * Rules that read a French medical report's text (a PDF's text layer, or OCR of a scan): who the
 * patient is, what the document is, when the procedure took place and who wrote it. Every value keeps
 * the page and line it came from and a confidence: how explicit the rule that found it is (a labelled
 * header field, a table cell, free text, a keyword) times how sure the text itself is (OCR). Values under
 * CONFIDENT are left for a person; identity matching takes only the confident ones.
 *
 * Matching ignores case and accents ("Né(e) le", "NEE LE"); values are kept as written ("Hélène").
 */
import { insReasons } from './cda.ts';
import { loincLabel } from './loinc.ts';
import type { TextPage } from './pdf-text.ts';
import type { CarriedFile, DocumentReading, Field, IdentityReading } from './reading.ts';

/** Fields under this are left for a person; identity matching uses only fields at or above it. */
export const CONFIDENT = 0.8;

/** The identity with only the fields a matcher may trust. */
export function confidentIdentity(identity: IdentityReading): IdentityReading {
  const kept: IdentityReading = {};
  for (const [name, field] of Object.entries(identity) as Array<[keyof IdentityReading, Field | undefined]>) {
    if (field && field.confidence >= CONFIDENT) (kept as Record<string, Field>)[name] = field;
  }
  return kept;
}

export function readReportText(
  pages: TextPage[],
  options: { format: 'pdf' | 'scan'; fileName: string; pdf?: Buffer },
): DocumentReading {
  const document = layOut(pages);
  const candidates: Candidate[] = [];
  const reasons: string[] = [];
  const structure = document.lines.map((line) => readLineStructure(line));
  markBlocks(document, structure);
  const people = freeTextPeople(document, structure);
  for (const [index, line] of document.lines.entries()) {
    candidates.push(...labelledCandidates(line, structure[index]!));
  }
  candidates.push(...columnTableCandidates(document, structure));
  candidates.push(...peopleCandidates(people));
  candidates.push(...documentDateCandidates(document, structure));
  const doctors = doctorMentions(document, structure);
  const type = readDocumentType(document);

  const identity: IdentityReading = {};
  const pick = (field: CandidateField, minCompetitor = 0.6, exclude?: (candidate: Candidate) => boolean) =>
    resolve(
      field,
      candidates.filter((candidate) => candidate.field === field && !exclude?.(candidate)),
      minCompetitor,
      reasons,
    );
  identity.usedLastName = pick('usedLastName');
  // Where the document says which is the birth name ("Nom de naissance", "née"), a plain "Nom" that
  // differs is the used name ("Nom : MARTIN" above "Nom de naissance : DUPONT"): it does not compete.
  const unqualifiedOther = (field: CandidateField) => {
    const qualified = new Set(candidates.filter((c) => c.field === field && c.qualified).map((c) => c.key));
    return (c: Candidate) => qualified.size > 0 && !c.qualified && !qualified.has(c.key);
  };
  identity.birthLastName = pick('birthLastName', 0.6, unqualifiedOther('birthLastName'));
  identity.birthGivenNames = pick('birthGivenNames', 0.6, unqualifiedOther('birthGivenNames'));
  identity.firstBirthGivenName = pick('firstBirthGivenName') ?? firstGivenNameOf(identity.birthGivenNames);
  identity.usedGivenName = pick('usedGivenName');
  identity.birthDate = pick('birthDate');
  identity.sex = pick('sex') as Field<'F' | 'M' | 'U'> | undefined;
  identity.ins = pick('ins');
  identity.insOid = identity.ins ? pick('insOid', 0.9) : undefined;
  identity.ipp = pick('ipp');
  identity.birthplaceCode = pick('birthplaceCode');
  checkInsAgainstTraits(identity, reasons);
  checkBirthDate(identity, reasons);

  const procedureDate = pick('procedureDate', 0.75);
  if (procedureDate && identity.birthDate && procedureDate.value < identity.birthDate.value) {
    procedureDate.confidence = round(procedureDate.confidence * 0.5);
    reasons.push(`procedure date ${procedureDate.value} in ${procedureDate.source} is before the birth date`);
  }
  const author = resolveAuthor(doctors);
  const reading: DocumentReading = {
    format: options.format,
    action: 'new',
    identity: withoutEmpty(identity),
    ...type,
    procedureDate,
    authorRpps: author.rpps,
    authorName: author.name,
    files: options.pdf ? [pdfFile(options.fileName, options.pdf)] : [],
    mismatchReasons: reasons,
  };
  for (const key of Object.keys(reading) as Array<keyof DocumentReading>) {
    if (reading[key] === undefined) delete reading[key];
  }
  return reading;
}

function pdfFile(fileName: string, content: Buffer): CarriedFile {
  return { fileName, contentType: 'application/pdf', content, source: fileName };
}

// ---------------------------------------------------------------------------------------------------
// Text: lines with a folded copy (no accents, lower case, same length) to match on.

interface Line {
  page: number;
  /** 1-based within its page. */
  number: number;
  /** Index among all the document's lines. */
  index: number;
  text: string;
  folded: string;
  confidence: number;
  cells: Cell[];
  /** Where the line starts in its page's text (lines joined by `\n`). */
  pageOffset: number;
}

/** A table cell or column: parts of a line split at tabs, ` | ` and spaced dashes. */
interface Cell {
  start: number;
  end: number;
}

interface PageText {
  page: number;
  text: string;
  folded: string;
  lines: Line[];
}

interface Laid {
  lines: Line[];
  pages: PageText[];
}

/** Folds one character at a time so that an offset in the folded text is the same in the original. */
export function fold(text: string): string {
  let folded = '';
  for (const character of text) {
    let base = character.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
    if (character === '’' || character === '‘' || character === 'ʼ') base = "'";
    else if (/[\u00a0\u202f\u2009]/.test(character)) base = ' ';
    else if (character === '–' || character === '—') base = '–';
    if (base.length !== character.length)
      base = base.length > character.length ? base.slice(0, character.length) : character;
    folded += base;
  }
  return folded;
}

const CELL_SEPARATOR = /\t| \| | [–—] /g;

function layOut(pages: TextPage[]): Laid {
  const lines: Line[] = [];
  const pageTexts: PageText[] = [];
  for (const page of pages) {
    const pageLines: Line[] = [];
    let offset = 0;
    for (const [index, raw] of page.lines.entries()) {
      const text = raw.text.normalize('NFC');
      const cells: Cell[] = [];
      let start = 0;
      for (const separator of text.matchAll(CELL_SEPARATOR)) {
        cells.push({ start, end: separator.index });
        start = separator.index + separator[0].length;
      }
      cells.push({ start, end: text.length });
      const line: Line = {
        page: page.page,
        number: index + 1,
        index: lines.length,
        text,
        folded: fold(text),
        confidence: clamp(raw.confidence),
        cells,
        pageOffset: offset,
      };
      offset += text.length + 1;
      lines.push(line);
      pageLines.push(line);
    }
    const text = pageLines.map((line) => line.text).join('\n');
    pageTexts.push({ page: page.page, text, folded: fold(text), lines: pageLines });
  }
  return { lines, pages: pageTexts };
}

function sourceOf(line: Line): string {
  return `page ${line.page}, line ${line.number}`;
}

// ---------------------------------------------------------------------------------------------------
// Labels: "Nom de naissance :", "Né(e) le", "IPP", a table's header cell.

type LabelKind =
  | 'patient'
  | 'birthName'
  | 'usedName'
  | 'name'
  | 'birthGiven'
  | 'firstGiven'
  | 'usedGiven'
  | 'given'
  | 'birthDate'
  | 'sex'
  | 'ins'
  | 'ipp'
  | 'birthplace'
  | 'procedure'
  | 'stayEnd'
  | 'documentDate'
  | 'other'
  | 'author'
  | 'rpps'
  | 'noise';

interface LabelDefinition {
  kind: LabelKind;
  /** A regular expression on folded text (lower case, no accents). */
  pattern: string;
  /** Written without a colon, before its value on the same line: `IPP 0012345`, `née le 12/03/1979`. */
  inline?: RegExp;
  /** How explicit the label is, for the kinds where labels differ (procedure dates). */
  strength?: number;
  /** For a label in running text rather than at the start of a cell or on a short line. */
  proseFactor?: number;
  /** A person-kind label in a heading with no value starts a block about that person. */
  heading?: boolean;
}

const DATE_START = /^(?:le\s+|du\s+|:\s*)?(?:\d{1,2}|1er)\b|^\d{4}-\d{2}-\d{2}/;
const DIGIT_START = /^(?:n°\s*)?[:]?\s*[0-9]/;
const ID_START = /^(?:n°\s*)?[:]?\s*[0-9a-z]*\d/;

const LABELS: readonly LabelDefinition[] = [
  // The patient as a whole: the value is a person's name, with civility, "née", "épouse".
  {
    kind: 'patient',
    pattern:
      'patient\\(e\\)|patiente?|nom (?:et|,) prenoms?|nom prenoms?|nom du patient|nom de la patiente|identite du patient|identite patient|identite',
    heading: true,
  },
  { kind: 'patient', pattern: 'objet', strength: 0.9 },
  { kind: 'patient', pattern: 'enfant|nourrisson|nouveau-ne|bebe' },
  { kind: 'birthName', pattern: 'nom de naissance|nom de jeune fille|nom patronymique|nom de famille' },
  { kind: 'usedName', pattern: "nom d'usage|nom usuel|nom utilise|nom marital|nom d'epouse" },
  { kind: 'name', pattern: 'nom' },
  { kind: 'firstGiven', pattern: '(?:premier|1er) prenom(?: de naissance)?' },
  { kind: 'birthGiven', pattern: 'prenoms? de naissance|prenom\\(s\\) de naissance|liste des prenoms' },
  { kind: 'usedGiven', pattern: "prenom utilise|prenom d'usage|prenom usuel" },
  { kind: 'given', pattern: 'prenom\\(s\\)|prenoms?' },
  {
    kind: 'birthDate',
    pattern: 'date de naissance|date de naiss\\.?|ne\\(e\\) le|nee? le|ne\\(e\\)|nee?|ddn|naissance',
    inline: DATE_START,
  },
  { kind: 'sex', pattern: 'sexe|genre' },
  {
    kind: 'ins',
    pattern:
      'matricule ins(?:[- ]ni[ra])?|n° ins|numero ins|ins[- ]ni[ra]|ins \\(ni[ra]\\)|ins|identifiant national de sante',
    inline: DIGIT_START,
  },
  {
    kind: 'ipp',
    pattern:
      'ipp|n° ipp|nip|n° patient|no patient|numero (?:de )?patient|identifiant patient|id patient|n° de dossier patient',
    inline: ID_START,
  },
  {
    kind: 'birthplace',
    pattern: 'lieu de naissance|commune de naissance|code insee(?: du lieu)?(?: de naissance)?',
  },
  // The procedure: the examination, the sample, the operation, the visit, the stay's first day.
  {
    kind: 'procedure',
    pattern: "date de l'examen|date d'examen|date de l'acte|date de realisation",
    strength: 0.95,
    proseFactor: 0.6,
  },
  {
    kind: 'procedure',
    pattern:
      'date (?:du|de) prelevement|prelevement (?:du|le|realise le|effectue le)|prelevee? le|prelevement',
    strength: 0.95,
    inline: DATE_START,
    proseFactor: 0.8,
  },
  {
    kind: 'procedure',
    pattern: "date (?:de l'|d')intervention|date operatoire|intervention du|operee? le",
    strength: 0.95,
    inline: DATE_START,
    proseFactor: 0.75,
  },
  {
    kind: 'procedure',
    pattern:
      'date de (?:la )?consultation|consultation du|(?:vue?|revue?) en consultation le|consultation le',
    strength: 0.9,
    inline: DATE_START,
    proseFactor: 0.8,
  },
  {
    kind: 'procedure',
    pattern: 'examen du|examen realise le|examen effectue le|realisee? le|effectuee? le',
    strength: 0.9,
    inline: DATE_START,
    proseFactor: 0.55,
  },
  {
    kind: 'procedure',
    pattern: "date (?:de passage|d'arrivee|d'admission|d'entree)|arrivee? le|admise? le|entree le",
    strength: 0.9,
    inline: DATE_START,
    proseFactor: 0.6,
  },
  {
    kind: 'procedure',
    pattern: "(?:hospitalisee?|sejour|hospitalisation)(?:\\s+[a-z']+){0,4}?\\s+du",
    strength: 0.9,
    inline: DATE_START,
    proseFactor: 0.8,
  },
  {
    kind: 'procedure',
    pattern: 'compte[- ]rendu du|cr du',
    strength: 0.85,
    inline: DATE_START,
    proseFactor: 0.6,
  },
  // "Date : 20/11/2026" at the head of a report: most often the examination's, sometimes the letter's.
  { kind: 'procedure', pattern: 'date', strength: 0.6 },
  {
    kind: 'stayEnd',
    pattern: 'date de sortie|sortie le|sortie prevue le',
    strength: 0.6,
    inline: DATE_START,
  },
  {
    kind: 'documentDate',
    pattern:
      "date du (?:compte[- ]rendu|document|courrier)|date d'edition|date de validation|(?:edite|imprime|valide|redige|dicte|frappe|recu|enregistre|signe)e?(?: electroniquement)? le|fait le|edition",
    inline: DATE_START,
  },
  // Other people: never the patient. Their dates and names are theirs.
  {
    kind: 'other',
    pattern:
      'medecin traitant|medecin prescripteur|medecin demandeur|service demandeur|medecin correspondant|medecin preleveur|medecin adresseur|prescripteur|demandeur|preleveur|correspondants?|destinataires?|copies? a|copies?|adressee? par|personne de confiance|personne a prevenir|a prevenir|representant legal|responsable legal|tuteur|tutrice|curateur|assuree?|ouvrant droit|aide operatoire|aides?|anesthesiste|interne|infirmiere?|medecin adressant',
    heading: true,
  },
  // The author's role: the report's signer.
  {
    kind: 'author',
    pattern:
      'operateur|chirurgien|biologiste(?: responsable)?|radiologue|pathologiste|medecin urgentiste|urgentiste|medecin senior|signataire|valide par|redige par|signe par|compte rendu redige par|auteur|medecin responsable',
  },
  { kind: 'rpps', pattern: 'n° rpps|numero rpps|rpps', inline: DIGIT_START },
  // Labels that end the value before them and mean nothing for the patient.
  {
    kind: 'noise',
    pattern:
      "n° de sejour|n° sejour|nda|iep|n° de venue|n° d'examen|n° de demande|demande n°|dossier n°|n° dossier|n° de dossier|n° ss|nss|n° de securite sociale|n° secu|adeli|finess|tel\\.?|telephone|portable|fax|adresse|domicile|age|lien|mode d'arrivee|poids|taille|service|unite|lit|chambre|uf|motif|indication|technique|resultats?|conclusion|page",
  },
];

const LABEL_EXPRESSIONS = LABELS.map((definition) => ({
  definition,
  expression: new RegExp(`(?<![\\p{L}\\p{N}°])(?:${definition.pattern})(?![\\p{L}\\p{N}])`, 'gu'),
}));

interface LabelMatch {
  definition: LabelDefinition;
  start: number;
  end: number;
  /** How the value follows: after a colon, in the next cell, or right after the label. */
  form: 'colon' | 'cell' | 'inline';
  /** The value's extent in the line (for `cell`, the next cell). */
  valueStart: number;
  valueEnd: number;
  cell: number;
  /** The label starts its cell, or its line is short: a header, not running text. */
  header: boolean;
  /** Who the value is about, from the labels before it and the block around. */
  subject: 'patient' | 'other' | 'author';
}

interface LineStructure {
  labels: LabelMatch[];
  /** The line is one heading about another person (`PERSONNE DE CONFIANCE`). */
  otherHeading: boolean;
  patientHeading: boolean;
  /** Lines below an other-person heading, until a line with no label. */
  block: 'patient' | 'other';
  /** Every cell is a label without a value: a table's header row. */
  headerRow: LabelDefinition[] | undefined;
}

function cellIndexAt(line: Line, offset: number): number {
  const index = line.cells.findIndex((cell) => offset >= cell.start && offset <= cell.end);
  return index === -1 ? line.cells.length - 1 : index;
}

/** Labels whose value is a name. */
const NAME_KINDS: ReadonlySet<LabelKind> = new Set([
  'patient',
  'name',
  'birthName',
  'usedName',
  'given',
  'birthGiven',
]);

/** Short lines are headers, titles, table rows; long ones are running text. */
function isShortLine(line: Line): boolean {
  const words = line.text.split(/\s+/).filter(Boolean).length;
  return words <= 10 && !/[.;]\s*$/.test(line.text);
}

function readLineStructure(line: Line): LineStructure {
  const found: Array<{ definition: LabelDefinition; start: number; end: number }> = [];
  for (const { definition, expression } of LABEL_EXPRESSIONS) {
    for (const match of line.folded.matchAll(expression)) {
      found.push({ definition, start: match.index, end: match.index + match[0].length });
    }
  }
  found.sort((left, right) => left.start - right.start || right.end - left.end);
  const accepted: LabelMatch[] = [];
  let reach = 0;
  for (const candidate of found) {
    if (candidate.start < reach) continue;
    const match = acceptLabel(line, candidate.definition, candidate.start, candidate.end);
    if (!match) continue;
    accepted.push(match);
    reach = match.form === 'cell' ? candidate.end : match.valueStart;
  }
  // A value ends where the next label of its cell starts.
  for (const [index, match] of accepted.entries()) {
    const next = accepted[index + 1];
    if (match.form !== 'cell' && next && next.start < match.valueEnd) match.valueEnd = next.start;
    // "Patient : M. PETIT Jean, né le 05/07/1958": the birth date follows a labelled name, a header.
    const personBefore = accepted
      .slice(0, index)
      .some(
        (before) =>
          before.cell === match.cell && before.form === 'colon' && NAME_KINDS.has(before.definition.kind),
      );
    if (match.form === 'inline' && personBefore) match.header = true;
  }
  const onlyLabel =
    accepted.length === 1 &&
    accepted[0]!.form === 'cell' &&
    line.cells.length === 1 &&
    line.text.slice(0, accepted[0]!.start).trim() === '';
  const headerCells = line.cells.map((cell) => {
    const inCell = accepted.filter((match) => match.start >= cell.start && match.end <= cell.end);
    const [only] = inCell;
    const text = line.text.slice(cell.start, cell.end).trim();
    if (inCell.length !== 1 || !only || text === '') return undefined;
    const covers =
      line.folded.slice(cell.start, cell.end).trim().replace(/\s*:$/, '') ===
      line.folded.slice(only.start, only.end);
    return covers ? only.definition : undefined;
  });
  const headerRow =
    line.cells.length >= 2 && headerCells.every((definition) => definition !== undefined)
      ? (headerCells as LabelDefinition[])
      : undefined;
  return {
    labels: accepted,
    otherHeading:
      onlyLabel && accepted[0]!.definition.kind === 'other' && accepted[0]!.definition.heading === true,
    patientHeading: onlyLabel && accepted[0]!.definition.kind === 'patient',
    block: 'patient',
    headerRow,
  };
}

function acceptLabel(
  line: Line,
  definition: LabelDefinition,
  start: number,
  end: number,
): LabelMatch | undefined {
  const cell = cellIndexAt(line, start);
  const { start: cellStart, end: cellEnd } = line.cells[cell]!;
  const atCellStart = line.folded.slice(cellStart, start).trim() === '';
  const header = atCellStart || isShortLine(line);
  let position = end;
  while (line.folded[position] === ' ') position++;
  const base = { definition, start, end, cell, header, subject: 'patient' as const };
  if (line.folded[position] === ':' || line.folded[position] === '：') {
    position++;
    while (line.folded[position] === ' ') position++;
    return { ...base, form: 'colon', valueStart: position, valueEnd: cellEnd };
  }
  if (position >= cellEnd) {
    if (!atCellStart) return undefined;
    const next = line.cells[cell + 1];
    // A label alone in its cell: its value is the next cell, or the cell below (a table's header row).
    return {
      ...base,
      form: 'cell',
      valueStart: next?.start ?? cellEnd,
      valueEnd: next?.end ?? cellEnd,
    };
  }
  if (definition.inline?.test(line.folded.slice(position, cellEnd))) {
    return { ...base, form: 'inline', valueStart: position, valueEnd: cellEnd };
  }
  return undefined;
}

/** The labels of a block about a person: its name, birth date, phone, address, relation. */
const PERSON_FIELD_KINDS: ReadonlySet<LabelKind> = new Set([
  'name',
  'birthName',
  'usedName',
  'given',
  'birthGiven',
  'firstGiven',
  'usedGiven',
  'birthDate',
  'sex',
  'noise',
  'other',
]);

/**
 * Lines under a heading about another person (`PERSONNE DE CONFIANCE`) belong to that person, until a
 * line with no label or with a label about something else.
 */
function markBlocks(document: Laid, structure: LineStructure[]): void {
  let other = false;
  let remaining = 0;
  for (const [index, line] of document.lines.entries()) {
    const lineStructure = structure[index]!;
    const previous = document.lines[index - 1];
    if (previous && previous.page !== line.page) other = false;
    if (lineStructure.otherHeading) {
      other = true;
      remaining = 6;
      continue;
    }
    const aboutAPerson = lineStructure.labels.every((label) => PERSON_FIELD_KINDS.has(label.definition.kind));
    if (
      lineStructure.patientHeading ||
      lineStructure.labels.length === 0 ||
      !aboutAPerson ||
      remaining <= 0
    ) {
      other = false;
    }
    if (other) {
      lineStructure.block = 'other';
      remaining--;
    }
  }
  for (const lineStructure of structure) {
    for (const cell of new Set(lineStructure.labels.map((label) => label.cell))) {
      let subject: LabelMatch['subject'] = lineStructure.block;
      for (const label of lineStructure.labels.filter((match) => match.cell === cell)) {
        if (label.definition.kind === 'other') subject = 'other';
        else if (label.definition.kind === 'author') subject = 'author';
        else if (label.definition.kind === 'patient' && lineStructure.block === 'patient')
          subject = 'patient';
        label.subject = subject;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Candidates: a value for a field, where it was read and how sure the rule is.

type CandidateField = Exclude<keyof IdentityReading, 'reliability'> | 'procedureDate';

interface Candidate {
  field: CandidateField;
  value: string;
  /** What makes two values the same (dates as ISO, names without case or accents). */
  key: string;
  confidence: number;
  line: Line;
  rule: string;
  /** For names: the document said birth or used name, rather than just "Nom". */
  qualified?: boolean;
  /** What a person must know if this value is kept (an INS with a wrong key). */
  problems?: string[];
}

/** A name the document does not qualify as birth name is taken for it, never above this. */
const UNQUALIFIED_NAME = 0.8;
/** Mme, Madame → F; M., Monsieur → M. */
const CIVILITY_SEX = 0.95;
/** A table cell: a label cell and its value cell, or a header row and the row under it. */
const TABLE_CELL = 0.85;
/** A labelled header field: `Nom de naissance : DUPONT`. */
const HEADER_FIELD = 0.95;

function candidate(
  field: CandidateField,
  value: string,
  confidence: number,
  line: Line,
  rule: string,
  extra: Partial<Candidate> = {},
): Candidate {
  return {
    field,
    value,
    key: keyOf(field, value),
    confidence: clamp(confidence * line.confidence),
    line,
    rule,
    ...extra,
  };
}

function keyOf(field: CandidateField, value: string): string {
  if (field === 'ins' || field === 'ipp' || field === 'birthplaceCode')
    return value.replace(/\s/g, '').toUpperCase();
  return fold(value)
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

function labelledCandidates(line: Line, structure: LineStructure): Candidate[] {
  const found: Candidate[] = [];
  // A table's header row: its values are in the row below (columnTableCandidates).
  if (structure.headerRow) return found;
  for (const label of structure.labels) {
    if (label.subject !== 'patient') continue;
    // A label cell beside another label cell has no value of its own.
    if (label.form === 'cell' && structure.labels.some((other) => other.start === label.valueStart)) continue;
    const value = line.text.slice(label.valueStart, label.valueEnd);
    const folded = line.folded.slice(label.valueStart, label.valueEnd);
    const explicit = label.form === 'cell' ? TABLE_CELL : HEADER_FIELD;
    found.push(...fieldCandidates(label.definition, value, folded, explicit, line, label));
  }
  return found;
}

/** Candidates for the value of one label, `explicit` the confidence the label's form gives. */
function fieldCandidates(
  definition: LabelDefinition,
  value: string,
  folded: string,
  explicit: number,
  line: Line,
  label: LabelMatch | undefined,
): Candidate[] {
  const rule = `label ${definition.kind}`;
  const found: Candidate[] = [];
  switch (definition.kind) {
    case 'patient': {
      const person = parsePerson(value, folded);
      if (!person) break;
      found.push(...personCandidates(person, explicit * (definition.strength ?? 1), line, rule));
      break;
    }
    case 'birthName':
    case 'usedName':
    case 'name': {
      const person =
        definition.kind === 'name'
          ? (parsePerson(value, folded) ?? parsePerson(value, folded, { familyOnly: true }))
          : parsePerson(value, folded, { familyOnly: true });
      if (!person) break;
      const family =
        definition.kind === 'name'
          ? (person.family ?? person.birthFamily ?? person.families[0]?.text)
          : person.families.map((group) => group.text).join(' ');
      if (!family) break;
      if (definition.kind === 'usedName') {
        found.push(candidate('usedLastName', family, explicit, line, rule, { qualified: true }));
      } else if (definition.kind === 'birthName') {
        found.push(candidate('birthLastName', family, explicit, line, rule, { qualified: true }));
      } else {
        found.push(candidate('birthLastName', family, Math.min(explicit, UNQUALIFIED_NAME), line, rule));
        // "Nom : DUPONT Marie" with no separate given name.
        if (person.givens.length > 0) {
          found.push(
            candidate(
              'birthGivenNames',
              person.givens.join(' '),
              Math.min(explicit, UNQUALIFIED_NAME) * 0.85 * person.shapeFactor,
              line,
              rule,
            ),
          );
        }
      }
      break;
    }
    case 'birthGiven':
    case 'given':
    case 'firstGiven':
    case 'usedGiven': {
      const names = givenNamesOf(value);
      if (!names) break;
      const field =
        definition.kind === 'firstGiven'
          ? 'firstBirthGivenName'
          : definition.kind === 'usedGiven'
            ? 'usedGivenName'
            : 'birthGivenNames';
      const confidence = definition.kind === 'given' ? Math.min(explicit, UNQUALIFIED_NAME) : explicit;
      const given = field === 'firstBirthGivenName' ? names.split(' ')[0]! : names;
      found.push(candidate(field, given, confidence, line, rule, { qualified: definition.kind !== 'given' }));
      break;
    }
    case 'birthDate': {
      if (label?.form === 'inline' && !label.header) break; // running text: read with the person it follows
      const date = parseDateAt(folded, 'birth');
      if (!date) break;
      const onLabelledPatient = label?.form === 'inline' && line.folded.slice(0, label.start).includes(':');
      const confidence = label?.form === 'inline' ? (onLabelledPatient ? 0.9 : TABLE_CELL) : explicit;
      found.push(candidate('birthDate', date.iso, confidence * date.certainty, line, rule));
      const written = line.text.slice(label?.start ?? 0, label?.end ?? 0);
      if (/^née\b/i.test(written)) found.push(candidate('sex', 'F', 0.6, line, 'née le'));
      break;
    }
    case 'sex': {
      const sex = sexOf(folded);
      if (sex) found.push(candidate('sex', sex, explicit, line, rule));
      break;
    }
    case 'ins': {
      found.push(
        ...insCandidates(
          value,
          folded,
          line.folded.slice(label?.start ?? 0, label?.end ?? 0),
          explicit,
          line,
        ),
      );
      break;
    }
    case 'ipp': {
      const id = /^[\s:]*(?:n°\s*)?:?\s*([0-9A-Za-z][0-9A-Za-z/-]*[0-9A-Za-z]|[0-9])(?![\p{L}\p{N}])/u.exec(
        value,
      )?.[1];
      if (id && /\d/.test(id) && id.length >= 3 && id.length <= 20) {
        const confidence = label?.form === 'inline' && !label.header ? 0.7 : explicit;
        found.push(candidate('ipp', id, confidence, line, rule));
      }
      break;
    }
    case 'birthplace': {
      const code = /(?<![\p{L}\p{N}])(\d{5}|2[AB]\d{3})(?![\p{L}\p{N}])/u.exec(value.toUpperCase());
      if (code?.[1]) found.push(candidate('birthplaceCode', code[1], explicit * 0.95, line, rule));
      break;
    }
    case 'procedure':
    case 'stayEnd': {
      const date = parseDateAt(folded, 'procedure');
      if (!date) break;
      const strength = definition.strength ?? 0.9;
      const prose = label && !label.header ? (definition.proseFactor ?? 0.6) : 1;
      const form = label?.form === 'cell' ? TABLE_CELL / HEADER_FIELD : 1;
      found.push(candidate('procedureDate', date.iso, strength * prose * form * date.certainty, line, rule));
      break;
    }
    default:
      break;
  }

  return found;
}

function personCandidates(person: PersonName, confidence: number, line: Line, rule: string): Candidate[] {
  const found: Candidate[] = [];
  const shape = person.shapeFactor;
  if (person.birthFamily) {
    found.push(
      candidate('birthLastName', person.birthFamily, confidence * shape, line, rule, { qualified: true }),
    );
  }
  if (person.usedFamily) {
    found.push(
      candidate('usedLastName', person.usedFamily, confidence * shape, line, rule, { qualified: true }),
    );
  }
  if (person.family) {
    found.push(
      candidate('birthLastName', person.family, Math.min(confidence, UNQUALIFIED_NAME) * shape, line, rule),
    );
  }
  if (person.givens.length > 0) {
    found.push(
      candidate(
        'birthGivenNames',
        person.givens.join(' '),
        Math.min(confidence, UNQUALIFIED_NAME) * shape,
        line,
        rule,
      ),
    );
  }
  if (person.sex)
    found.push(candidate('sex', person.sex, confidence * CIVILITY_SEX, line, `${rule} civility`));
  return found;
}

/** Given names as written: the words that look like names, up to the first that does not. */
function givenNamesOf(value: string): string | undefined {
  const words: string[] = [];
  for (const word of value
    .replace(/^\s*\(s\)\s*:?/, '')
    .trim()
    .split(/\s+/)) {
    if (!/^\p{Lu}[\p{L}'’-]*$/u.test(word)) break;
    words.push(word);
    if (words.length === 5) break;
  }
  return words.length > 0 ? words.join(' ') : undefined;
}

function sexOf(folded: string): 'F' | 'M' | 'U' | undefined {
  const word = /^\s*([a-z]+)/.exec(folded)?.[1];
  if (!word) return undefined;
  if (['f', 'feminin', 'femme', 'fem', 'femin'].includes(word)) return 'F';
  if (['m', 'masculin', 'homme', 'masc', 'h'].includes(word)) return 'M';
  if (['i', 'u', 'indetermine', 'inconnu', 'autre'].includes(word)) return 'U';
  return undefined;
}

function insCandidates(
  value: string,
  folded: string,
  labelText: string,
  explicit: number,
  line: Line,
): Candidate[] {
  const digits = /^[\s:]*(?:n°\s*)?([0-9][0-9AB .]{11,26}[0-9])/i.exec(value);
  if (!digits?.[1]) return [];
  const compact = digits[1].replace(/[\s.]/g, '').toUpperCase();
  const ins = compact.length >= 15 ? compact.slice(0, 15) : compact;
  if (ins.length !== 15 && ins.length !== 13) return [];
  const source = sourceOf(line);
  const oid = /\bnia\b/.test(`${labelText} ${folded}`)
    ? '1.2.250.1.213.1.4.9'
    : /\bnir\b/.test(`${labelText} ${folded}`)
      ? '1.2.250.1.213.1.4.8'
      : undefined;
  const inferredOid = oid ?? (/^[78]/.test(ins) ? '1.2.250.1.213.1.4.9' : '1.2.250.1.213.1.4.8');
  const problems =
    ins.length === 13 ? [`INS ${ins} in ${source}: it has no key`] : insReasons(ins, inferredOid, source);
  const penalty = problems.length > 0 ? 0.55 : 1;
  const found = [
    candidate('ins', ins, explicit * penalty, line, 'label ins', { problems }),
    candidate('insOid', inferredOid, explicit * penalty * (oid ? 1 : 0.85), line, 'label ins'),
  ];
  return found;
}

// ---------------------------------------------------------------------------------------------------
// Tables whose first row names the columns: "Nom de naissance | Prénom(s) | Date de naissance | Sexe".

function columnTableCandidates(document: Laid, structure: LineStructure[]): Candidate[] {
  const found: Candidate[] = [];
  for (const [index, line] of document.lines.entries()) {
    const header = structure[index]!.headerRow;
    const below = document.lines[index + 1];
    if (!header || !below || below.page !== line.page || below.cells.length !== header.length) continue;
    if (structure[index]!.block === 'other' || structure[index + 1]!.labels.length > 0) continue;
    for (const [column, definition] of header.entries()) {
      const cell = below.cells[column]!;
      found.push(
        ...fieldCandidates(
          definition,
          below.text.slice(cell.start, cell.end),
          below.folded.slice(cell.start, cell.end),
          TABLE_CELL,
          below,
          undefined,
        ),
      );
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------
// People's names: "Mme MARTIN née DUPONT Marie", "Madame Marie DUPONT, née MARTIN", "Dr Jean PETIT".

interface NameGroup {
  text: string;
  role: 'birth' | 'used' | undefined;
}

interface PersonName {
  sex?: 'F' | 'M';
  families: NameGroup[];
  birthFamily?: string;
  usedFamily?: string;
  /** A family name the text does not qualify. */
  family?: string;
  givens: string[];
  /** 1 for NOM Prénom or Prénom NOM; less where case does not tell the family name from the given ones. */
  shapeFactor: number;
  /** How many characters of the text the name took. */
  length: number;
}

const CIVILITY = /^(monsieur|madame|mademoiselle|mme|mlle|mr|m)(?:\.|(?=\s))\s*/i;
const UPPER_WORD = /^[\p{Lu}][\p{Lu}'’-]*\p{Lu}$|^\p{Lu}['’]\p{Lu}+$/u;
/** Words in capitals that are no name: French words of a sentence in capitals, identifiers, acronyms. */
const NOT_A_NAME = new Set([
  'EST',
  'ET',
  'VU',
  'VUE',
  'CE',
  'CET',
  'CETTE',
  'POUR',
  'AVEC',
  'DANS',
  'SUR',
  'PAR',
  'AUX',
  'UN',
  'UNE',
  'QUI',
  'QUE',
  'SON',
  'SA',
  'SES',
  'IL',
  'ELLE',
  'PAS',
  'NE',
  'NEE',
  'NÉ',
  'NÉE',
  'OU',
  'AU',
  'EN',
  'JOUR',
  'IPP',
  'INS',
  'NIR',
  'NIA',
  'RPPS',
  'ADELI',
  'FINESS',
  'CHU',
  'CHR',
  'CH',
  'IRM',
  'TDM',
  'NFS',
  'CRP',
  'HTA',
  'SAU',
  'TEL',
  'TÉL',
  'FAX',
  'NDA',
  'IEP',
  'PAGE',
  'DR',
  'PR',
  'MME',
  'MLLE',
  'MR',
]);
const CAPITALIZED_WORD = /^\p{Lu}[\p{Ll}'’]+(?:-\p{Lu}?[\p{Ll}'’]+)*$/u;
const PARTICLE = /^(?:de|du|des|d'|d’|van|von|le|la|di|da|del|dos)$/;
const UPPER_PARTICLE = /^(?:LE|LA|DE|DU|DES|DI|DA|DEL|DOS|VAN|VON|MAC|MC|SAINT|ST|BEN|EL|AL)$/;

/**
 * A person's name at the start of `text`: civility, family names in capitals and given names in mixed
 * case in either order, `née X` (birth name) and `épouse X` (used name).
 */
function parsePerson(
  text: string,
  folded: string,
  options: { familyOnly?: boolean } = {},
): PersonName | undefined {
  // A name never runs past a column, a cell or a spaced dash.
  const stop = /\t| \| | [–—] /.exec(text)?.index ?? text.length;
  const written = text.slice(0, stop);
  const groups: Array<{
    kind: 'upper' | 'capitalized';
    words: string[];
    role: 'birth' | 'used' | undefined;
  }> = [];
  let position = 0;
  const skipSpaces = () => {
    while (position < written.length && /\s/.test(written[position]!)) {
      // Running text wraps a name onto the next line, but a full name does not go on past a line's end.
      if (
        written[position] === '\n' &&
        groups.some((group) => group.kind === 'upper') &&
        groups.length >= 2
      ) {
        return;
      }
      position++;
    }
  };
  skipSpaces();
  let sex: 'F' | 'M' | undefined;
  const civility = CIVILITY.exec(written.slice(position));
  if (civility?.[1]) {
    const word = civility[1].toLowerCase();
    sex = word === 'monsieur' || word === 'mr' || word === 'm' ? 'M' : 'F';
    position += civility[0].length;
  }
  let role: 'birth' | 'used' | undefined;
  let end = position;
  while (position < written.length && groups.reduce((count, group) => count + group.words.length, 0) < 8) {
    skipSpaces();
    const rest = written.slice(position);
    const marker = /^,?\s*(nee|ne|epouse|ep\.|ep|epse|veuve|vve)(?=\s)\s+/.exec(folded.slice(position, stop));
    if (marker?.[1] && groups.length > 0) {
      const after = (rest.slice(marker[0].length).split(/[\s,;()]+/)[0] ?? '').replace(/[.:]+$/, '');
      if (!UPPER_WORD.test(after) && !UPPER_PARTICLE.test(after)) break;
      role = marker[1].startsWith('ne') ? 'birth' : 'used';
      position += marker[0].length;
      continue;
    }
    const word = /^[^\s,;()]+/.exec(rest)?.[0];
    if (!word) break;
    const clean = word.replace(/[.:]+$/, '');
    const next = (
      rest
        .slice(word.length)
        .trimStart()
        .split(/[\s,;()]+/)[0] ?? ''
    ).replace(/[.:]+$/, '');
    let kind: 'upper' | 'capitalized' | undefined;
    if (NOT_A_NAME.has(clean)) {
      kind = undefined;
    } else if (
      UPPER_WORD.test(clean) ||
      ((UPPER_PARTICLE.test(clean) || PARTICLE.test(clean)) && UPPER_WORD.test(next) && !NOT_A_NAME.has(next))
    ) {
      kind = 'upper';
    } else if (CAPITALIZED_WORD.test(clean) && !NOT_A_GIVEN_NAME.has(fold(clean))) {
      if (!options.familyOnly) kind = 'capitalized';
      else if (groups.length === 0) kind = 'upper';
    }
    if (!kind) break;
    const groupRole = kind === 'upper' ? role : undefined;
    const last = groups.at(-1);
    if (last && last.kind === kind && last.role === groupRole) last.words.push(clean);
    else groups.push({ kind, words: [clean], role: groupRole });
    if (kind === 'capitalized') role = undefined;
    position += word.length;
    end = position;
    // "DUPONT." ends its sentence.
    if (clean.length < word.length) break;
  }
  if (groups.length === 0) return undefined;
  const uppers = groups.filter((group) => group.kind === 'upper');
  const capitalized = groups.filter((group) => group.kind === 'capitalized');
  const person: PersonName = {
    families: uppers.map((group) => ({ text: group.words.join(' '), role: group.role })),
    givens: [],
    shapeFactor: 1,
    length: end,
  };
  if (sex) person.sex = sex;
  if (uppers.length === 0) {
    // "Marie Dupont": case cannot tell the family name; running text writes Prénom NOM.
    const words = capitalized.flatMap((group) => group.words);
    if (words.length < 2) return undefined;
    person.family = words.at(-1)!;
    person.givens = words.slice(0, -1);
    person.shapeFactor = 0.6;
  } else if (
    capitalized.length === 0 &&
    uppers.length === 1 &&
    uppers[0]!.words.length >= 2 &&
    !options.familyOnly
  ) {
    // "DUPONT MARIE": the first word is taken for the family name (two with a particle: LE GALL).
    const words = uppers[0]!.words;
    const split = UPPER_PARTICLE.test(words[0]!) ? 2 : 1;
    person.family = words.slice(0, split).join(' ');
    person.givens = words.slice(split);
    // Two words in capitals are NOM PRÉNOM by a strong convention; three or more could split anywhere.
    person.shapeFactor = person.givens.length === 0 ? 1 : words.length - split === 1 ? 0.85 : 0.7;
  } else {
    const birth = uppers.find((group) => group.role === 'birth');
    const used = uppers.find((group) => group.role === 'used');
    const plain = uppers.find((group) => group.role === undefined)?.words.join(' ');
    if (birth) {
      person.birthFamily = birth.words.join(' ');
      if (plain) person.usedFamily = plain;
    } else if (used) {
      person.usedFamily = used.words.join(' ');
      if (plain) person.birthFamily = plain;
    } else if (plain) {
      person.family = plain;
    }
    person.givens = capitalized[0]?.words ?? [];
  }
  return person;
}

/** Capitalised words that start a sentence or a title, never a given name. */
const NOT_A_GIVEN_NAME = new Set([
  'dr',
  'docteur',
  'pr',
  'professeur',
  'madame',
  'monsieur',
  'mme',
  'mlle',
  'ne',
  'nee',
  'le',
  'la',
  'les',
  'il',
  'elle',
  'son',
  'sa',
  'ses',
  'et',
  'au',
  'aux',
  'en',
  'par',
  'pour',
  'avec',
  'service',
  'cabinet',
  'centre',
  'tel',
  'fax',
  'page',
  'patient',
  'patiente',
  'est',
  'a',
  'qui',
  'que',
  'dont',
  'vu',
  'vue',
]);

function hasFamilyName(person: PersonName): boolean {
  return person.family !== undefined || person.birthFamily !== undefined || person.usedFamily !== undefined;
}

// ---------------------------------------------------------------------------------------------------
// People in running text: "votre patiente Madame Marie MARTIN née DUPONT, née le 12 mars 1979".

interface Person {
  line: Line;
  /** Offset in the page's text. */
  start: number;
  end: number;
  name: PersonName;
  /** `header`: an unlabelled name block with a birth date beside or below it, as laboratories print. */
  role: 'patient' | 'header' | 'unknown' | 'other';
  birthDate?: { iso: string; certainty: number; line: Line };
}

const RELATION =
  /(?<![\p{L}])(?:fils|fille|epoux|epouse|mari|femme|conjointe?|compagnon|compagne|mere|pere|frere|s(?:oe|œ)ur|parents?|tuteur|tutrice|curateur|curatrice|confiance|prevenir|accompagnee?s? (?:de|par)|aidante?|voisine?|amie?|grand-mere|grand-pere|gendre|belle-fille|neveu|niece|oncle|tante|cousine?|beau-frere|belle-s(?:oe|œ)ur)(?![\p{L}])/u;
const RELATION_AFTER =
  /^\s*[,(–-]\s*(?:son|sa|ses|leur|la|le)?\s*(?:secretaire|infirmiere?|interne|externe|assistante?|cadre de sante|fils|fille|epoux|epouse|mari|femme|conjointe?|compagnon|compagne|mere|pere|frere|s(?:oe|œ)ur|tuteur|tutrice|curateur|curatrice|aidante?|voisine?|amie?|personne de confiance)(?![\p{L}])/u;
const PATIENT_MARKER =
  /(?<![\p{L}])(?:patiente?s?|concernant|objet|adressee?|hospitalisee?|admise?|recue?|revue?|vue?|examinee?|suivie?|prise? en charge|consultee?|operee?|enfant|nourrisson|bebe)(?![\p{L}])/u;
const DOCTOR = /(?<![\p{L}])(?:dr|docteur|pr|professeur|confrere|cons(?:oe|œ)ur)\.?\s*$/u;

function freeTextPeople(document: Laid, structure: LineStructure[]): Person[] {
  const people: Person[] = [];
  const mention =
    /(?<![\p{L}\p{N}])(?:Monsieur|Madame|Mademoiselle|MONSIEUR|MADAME|Mme|MME|Mlle|Mr|M)(?:\.|(?=\s))\s*(?=\p{Lu})/gu;
  for (const page of document.pages) {
    for (const match of page.text.matchAll(mention)) {
      const line = lineAt(page, match.index);
      const column = match.index - line.pageOffset;
      // Inside a labelled value (a header's patient, another person's line): the labels read it.
      const labelled = structure[line.index]!.labels.some(
        (label) =>
          label.definition.kind !== 'noise' &&
          column >= label.valueStart &&
          column < Math.max(label.valueEnd, label.valueStart + 1),
      );
      if (labelled || structure[line.index]!.block === 'other') continue;
      const before = page.folded.slice(Math.max(0, match.index - 70), match.index);
      if (DOCTOR.test(before) || /(?:dr|docteur|pr)\.?\s+$/.test(before)) continue;
      const name = parsePerson(page.text.slice(match.index), page.folded.slice(match.index));
      if (!name || !hasFamilyName(name)) continue;
      const end = match.index + name.length;
      // The sentence so far, within this line and the one before when that one is running text too.
      const previous = page.lines[line.number - 2];
      const from = previous && !isShortLine(previous) ? previous.pageOffset : line.pageOffset;
      const clause =
        page.folded
          .slice(Math.max(from, match.index - 70), match.index)
          .split(/[.!?;:]\s/)
          .at(-1) ?? '';
      const after = page.folded.slice(end, end + 40);
      const role =
        RELATION.test(clause) || RELATION_AFTER.test(after) || /(?<![\p{L}])par\s*$/u.test(clause)
          ? 'other'
          : PATIENT_MARKER.test(clause)
            ? 'patient'
            : 'unknown';
      const person: Person = {
        line,
        start: match.index,
        end,
        name,
        role:
          role === 'unknown' && isIdentityBlock(document, structure, line, column, end - line.pageOffset)
            ? 'header'
            : role,
      };
      // "…, née le 12 mars 1979", "(né le …)", or "née MARTIN le …" (the birth name read just before).
      const tail = page.text.slice(end, end + 24);
      const born =
        /^\s*[,(]?\s*(?:née|né\(e\)|né)\s+le\s+/iu.exec(tail) ??
        (name.birthFamily !== undefined ? /^\s+le\s+/.exec(tail) : null);
      if (born) {
        const at = end + born[0].length;
        const date = parseDateAt(page.folded.slice(at, at + 30), 'birth');
        if (date) person.birthDate = { iso: date.iso, certainty: date.certainty, line: lineAt(page, at) };
      }
      people.push(person);
    }
  }
  return people;
}

/**
 * "Mme DUPUIS CATHERINE" alone in its column, "Née le 12/03/79" in the next column or just below: the
 * patient's block of a laboratory's or a clinic's header, without labels.
 */
function isIdentityBlock(
  document: Laid,
  structure: LineStructure[],
  line: Line,
  start: number,
  end: number,
): boolean {
  const cell = cellIndexAt(line, start);
  const { start: cellStart, end: cellEnd } = line.cells[cell]!;
  if (line.text.slice(cellStart, start).trim() !== '' || !/^[\s,.]*$/.test(line.text.slice(end, cellEnd))) {
    return false;
  }
  const isBirthDate = (label: LabelMatch) => label.definition.kind === 'birthDate' && label.form !== 'cell';
  if (structure[line.index]!.labels.some((label) => isBirthDate(label) && label.cell === cell + 1))
    return true;
  const below = document.lines[line.index + 1];
  return (
    below?.page === line.page &&
    structure[below.index]!.labels.some(
      (label) =>
        isBirthDate(label) && below.folded.slice(below.cells[label.cell]!.start, label.start).trim() === '',
    )
  );
}

function peopleCandidates(people: Person[]): Candidate[] {
  const found: Candidate[] = [];
  for (const person of people) {
    if (person.role === 'other') continue;
    const base = person.role === 'header' ? 0.8 : person.role === 'patient' ? 0.7 : 0.5;
    const confidence = base + (person.birthDate ? 0.05 : 0);
    found.push(...personCandidates(person.name, confidence, person.line, `free text ${person.role}`));
    if (person.birthDate) {
      found.push(
        candidate(
          'birthDate',
          person.birthDate.iso,
          confidence * person.birthDate.certainty,
          person.birthDate.line,
          'free text birth date',
        ),
      );
    }
  }
  return found;
}

function lineAt(page: PageText, offset: number): Line {
  let found = page.lines[0]!;
  for (const line of page.lines) {
    if (line.pageOffset <= offset) found = line;
    else break;
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------
// Dates: 12/03/1979, 12.03.1979, 12-03-79, 12 mars 1979, 1er mars 1979, 1979-03-12, "du 14 au 20 mars".

const MONTHS: Readonly<Record<string, number>> = {
  janvier: 1,
  janv: 1,
  jan: 1,
  fevrier: 2,
  fevr: 2,
  fev: 2,
  mars: 3,
  avril: 4,
  avr: 4,
  mai: 5,
  juin: 6,
  juillet: 7,
  juil: 7,
  aout: 8,
  septembre: 9,
  sept: 9,
  sep: 9,
  octobre: 10,
  oct: 10,
  novembre: 11,
  nov: 11,
  decembre: 12,
  dec: 12,
};
const MONTH_NAMES = Object.keys(MONTHS)
  .sort((left, right) => right.length - left.length)
  .join('|');
const NUMERIC_DATE = /^(\d{1,2})\s*([/.-])\s*(\d{1,2})\s*\2\s*(\d{4}|\d{2})(?!\d)/;
const WORDED_DATE = new RegExp(`^(1er|\\d{1,2})\\s+(${MONTH_NAMES})\\.?\\s+(\\d{4})(?!\\d)`);
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?!\d)/;
const RANGE_START = new RegExp(
  `^(1er|\\d{1,2})(?:\\s*[/.]\\s*(\\d{1,2}))?(?:\\s+(${MONTH_NAMES})\\.?)?\\s+(?:au|-)\\s+`,
);

export interface ParsedDate {
  iso: string;
  /** 1 for a full date; less for a two-digit year. */
  certainty: number;
}

/**
 * The date at the start of `folded` (folded text: lower case, no accents), after "le", "du" or a day's
 * name; the first day of a range (`du 14 au 20 novembre 2026`). `kind` picks the century of a two-digit
 * year: a birth date is in the past, a procedure in this century.
 */
export function parseDateAt(folded: string, kind: 'birth' | 'procedure'): ParsedDate | undefined {
  const text = folded
    .replace(/^[\s:,]*/, '')
    .replace(/^(?:en date du|le|du)\s+/, '')
    .replace(/^(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\s+/, '');
  const range = RANGE_START.exec(text);
  if (range) {
    const end = parseDateAt(text.slice(range[0].length), kind);
    if (end) {
      const [year, month] = end.iso.split('-') as [string, string, string];
      const startMonth = range[2] ? Number(range[2]) : range[3] ? MONTHS[range[3]]! : Number(month);
      const startYear = startMonth > Number(month) ? Number(year) - 1 : Number(year);
      const day = range[1] === '1er' ? 1 : Number(range[1]);
      const iso = isoDate(startYear, startMonth, day);
      if (iso) return { iso, certainty: end.certainty };
    }
  }
  const numeric = NUMERIC_DATE.exec(text);
  if (numeric) {
    const [, day, , month, year] = numeric as unknown as [string, string, string, string, string];
    const fullYear = year.length === 4 ? Number(year) : centuryOf(Number(year), kind);
    const iso = isoDate(fullYear, Number(month), Number(day));
    return iso ? { iso, certainty: year.length === 4 ? 1 : 0.9 } : undefined;
  }
  const worded = WORDED_DATE.exec(text);
  if (worded) {
    const [, day, month, year] = worded as unknown as [string, string, string, string];
    const iso = isoDate(Number(year), MONTHS[month]!, day === '1er' ? 1 : Number(day));
    return iso ? { iso, certainty: 1 } : undefined;
  }
  const iso = ISO_DATE.exec(text);
  if (iso) {
    const [, year, month, day] = iso as unknown as [string, string, string, string];
    const date = isoDate(Number(year), Number(month), Number(day));
    return date ? { iso: date, certainty: 1 } : undefined;
  }
  return undefined;
}

function centuryOf(year: number, kind: 'birth' | 'procedure'): number {
  const now = new Date().getUTCFullYear();
  if (kind === 'procedure') return 2000 + year;
  return 2000 + year <= now ? 2000 + year : 1900 + year;
}

function isoDate(year: number, month: number, day: number): string | undefined {
  if (year < 1880 || year > 2200 || month < 1 || month > 12 || day < 1) return undefined;
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** "Lyon, le 28 novembre 2026", "Édité le …": the document's date, a weak guess at the procedure's. */
function documentDateCandidates(document: Laid, structure: LineStructure[]): Candidate[] {
  const found: Candidate[] = [];
  for (const line of document.lines) {
    for (const cell of line.cells) {
      const folded = line.folded.slice(cell.start, cell.end);
      const placeDate = /^\s*(?:fait\s+)?(?:a\s+)?[\p{L}' -]{2,40},\s*le\s+/u.exec(folded);
      if (placeDate) {
        const date = parseDateAt(folded.slice(placeDate[0].length), 'procedure');
        if (date)
          found.push(candidate('procedureDate', date.iso, 0.5 * date.certainty, line, 'document date'));
      }
    }
    for (const label of structure[line.index]!.labels) {
      if (label.definition.kind !== 'documentDate') continue;
      const date = parseDateAt(line.folded.slice(label.valueStart, label.valueEnd), 'procedure');
      if (date)
        found.push(candidate('procedureDate', date.iso, 0.45 * date.certainty, line, 'document date'));
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------
// Resolution: the most confident value; agreement raises it a little, a disagreement lowers it.

/** What two disagreeing values of a field are called in a reason: "two birth dates for the patient". */
const FIELD_PLURALS: Readonly<Record<CandidateField, string>> = {
  ins: 'INS',
  insOid: 'INS OIDs',
  ipp: 'IPPs',
  birthLastName: 'birth names',
  usedLastName: 'used names',
  birthGivenNames: 'lists of given names',
  firstBirthGivenName: 'first given names',
  usedGivenName: 'used given names',
  birthDate: 'birth dates',
  sex: 'sexes',
  birthplaceCode: 'birthplaces',
  procedureDate: 'procedure dates',
};

function resolve(
  field: CandidateField,
  candidates: Candidate[],
  minCompetitor: number,
  reasons: string[],
): Field | undefined {
  if (candidates.length === 0) return undefined;
  const groups = new Map<string, Candidate[]>();
  for (const found of candidates) groups.set(found.key, [...(groups.get(found.key) ?? []), found]);
  const scored = [...groups.values()].map((group) => {
    const sorted = [...group].sort((left, right) => right.confidence - left.confidence);
    const best = sorted[0]!;
    let confidence = best.confidence;
    const seen = new Set([fold(best.line.text)]);
    for (const other of sorted.slice(1)) {
      // The same line again (a running header on every page) says nothing new.
      if (seen.has(fold(other.line.text))) continue;
      seen.add(fold(other.line.text));
      confidence = 1 - (1 - confidence) * (1 - 0.4 * other.confidence);
    }
    return { best, confidence: Math.min(confidence, 0.99) };
  });
  scored.sort((left, right) => right.confidence - left.confidence);
  const [winner, ...others] = scored;
  if (!winner) return undefined;
  const competitor = others.find((other) => other.confidence >= minCompetitor);
  let confidence = winner.confidence;
  if (competitor) {
    confidence = winner.confidence * (1 - 0.5 * (competitor.confidence / winner.confidence));
    reasons.push(
      `two ${FIELD_PLURALS[field]} for the patient: ${winner.best.value} in ${sourceOf(winner.best.line)} and ${competitor.best.value} in ${sourceOf(competitor.best.line)}`,
    );
  }
  if (winner.best.problems) reasons.push(...winner.best.problems);
  return { value: winner.best.value, source: sourceOf(winner.best.line), confidence: round(confidence) };
}

function firstGivenNameOf(names: Field | undefined): Field | undefined {
  if (!names) return undefined;
  const words = names.value.split(/\s+/);
  // Several given names: the first word is the first one ("Jean Pierre" may be one name, but rarely).
  return {
    value: words[0]!,
    source: names.source,
    confidence: round(words.length === 1 ? names.confidence : names.confidence * 0.85),
  };
}

/** The INS's digits repeat the sex (1 male, 2 female) and the year and month of birth. */
function checkInsAgainstTraits(identity: IdentityReading, reasons: string[]): void {
  const { ins, birthDate, sex } = identity;
  if (!ins) return;
  if (ins.value.length !== 15 || !/^[12]/.test(ins.value)) return;
  const lower = (...fields: Array<Field | undefined>) => {
    for (const field of fields) if (field) field.confidence = round(field.confidence * 0.8);
  };
  if (sex && (sex.value === 'F' || sex.value === 'M') && (ins.value[0] === '1' ? 'M' : 'F') !== sex.value) {
    reasons.push(
      `INS ${ins.value} in ${ins.source} is a ${ins.value[0] === '1' ? 'man' : 'woman'}'s, the sex read is ${sex.value}`,
    );
    lower(ins, sex);
  }
  const month = Number(ins.value.slice(3, 5));
  if (birthDate && month >= 1 && month <= 12) {
    const [year, birthMonth] = birthDate.value.split('-') as [string, string, string];
    if (ins.value.slice(1, 3) !== year.slice(2) || ins.value.slice(3, 5) !== birthMonth) {
      reasons.push(
        `INS ${ins.value} in ${ins.source} gives another year or month of birth than ${birthDate.value}`,
      );
      lower(ins, birthDate);
    }
  }
}

function checkBirthDate(identity: IdentityReading, reasons: string[]): void {
  const birthDate = identity.birthDate;
  if (!birthDate) return;
  const today = new Date().toISOString().slice(0, 10);
  if (birthDate.value > today || birthDate.value < '1890-01-01') {
    reasons.push(`birth date ${birthDate.value} in ${birthDate.source} is not a plausible birth date`);
    birthDate.confidence = round(birthDate.confidence * 0.3);
  }
}

// ---------------------------------------------------------------------------------------------------
// The author: the doctor who signs, by role ("Opérateur :", "validé par"), place (the last lines) and
// the RPPS beside the name; never the prescriber, the GP or a doctor in copy.

interface DoctorMention {
  line: Line;
  name: string;
  confidence: number;
  rpps?: { value: string; confidence: number };
}

const AUTHOR_NEARBY =
  /(?<![\p{L}])(?:cardiologue|radiologue|pathologiste|biologiste|chirurgien|urgentiste|praticien hospitalier|praticien attache|chef de clinique|chef de service|medecin senior|gastro-enterologue|rhumatologue|pneumologue|neurologue|oncologue|signe|valide|redige|dicte)(?![\p{L}])/u;
const NOT_AUTHOR =
  /(?<![\p{L}])(?:traitant|prescripteur|demandeur|correspondant|destinataire|copie|adresse par|adressee par|preleveur|prelevee?|prelevement|a l'attention|cher|chere|confrere|aide|anesthesiste|interne)(?![\p{L}])/u;
/** A signature starts its line or column: "Dr X", "Le Dr X", "Signé par Dr X". */
const SIGNATURE_START = /^\s*(?:(?:le|la|pour le|signe(?: electroniquement)? par|p\/o)\s*)?$/;
const FOOTER = /www\.|https?:|page \d+\s*\/\s*\d+|finess|capital|cofrac|siret/;
const DOCTOR_TITLE = '(?<![\\p{L}])(?:Dr|DR|Docteur|DOCTEUR|Pr|PR|Professeur|PROFESSEUR)(?:\\.|(?=\\s))\\s*';
const DOCTOR_MENTION = new RegExp(DOCTOR_TITLE, 'gu');
const HAS_DOCTOR = new RegExp(DOCTOR_TITLE, 'u');
const RPPS = /(?<![\p{L}])(?:n°\s*)?rpps\s*(?:n°|:)?\s*:?\s*(1(?:\s?\d){10})(?!\d)/u;

function doctorMentions(document: Laid, structure: LineStructure[]): DoctorMention[] {
  const mentions: DoctorMention[] = [];
  const lastPage = document.pages.at(-1);
  // The signature: the last lines of the last page, its footer (web site, page number) aside.
  const signatureLines = new Set(
    (lastPage?.lines ?? [])
      .filter((line) => line.text.trim() !== '' && !FOOTER.test(line.folded))
      .slice(-6)
      .map((line) => line.index),
  );
  const firstLines = new Set(document.pages[0]?.lines.slice(0, 6).map((line) => line.index) ?? []);
  const letterheadDoctors = document.lines.filter(
    (line) => firstLines.has(line.index) && HAS_DOCTOR.test(line.text),
  ).length;
  for (const line of document.lines) {
    for (const match of line.text.matchAll(DOCTOR_MENTION)) {
      const offset = match.index + match[0].length;
      const person = parsePerson(line.text.slice(offset), line.folded.slice(offset));
      if (!person || !hasFamilyName(person)) continue;
      const name = line.text.slice(offset, offset + person.length).replace(/[\s,.;:]+$/, '');
      const label = structure[line.index]!.labels.filter((found) => found.start < match.index).at(-1);
      const rest = line.folded.slice(offset + person.length);
      const before = line.folded.slice(0, match.index);
      let confidence: number;
      let place: 'role' | 'signature' | 'letterhead' | 'elsewhere' = 'elsewhere';
      if (
        label?.subject === 'other' ||
        NOT_AUTHOR.test(before.split(/[–|]/).at(-1) ?? '') ||
        NOT_AUTHOR.test(rest.slice(0, 40))
      ) {
        confidence = 0;
      } else if (
        label?.subject === 'author' ||
        /(?:valide|signe|redige|dicte)e?(?:\s+\S+){0,4}\s+par\s*$/.test(before)
      ) {
        confidence = 0.9;
        place = 'role';
      } else if (
        signatureLines.has(line.index) &&
        SIGNATURE_START.test(before.split(/[–|\t]/).at(-1) ?? '')
      ) {
        const next = document.lines[line.index + 1];
        const nearby =
          AUTHOR_NEARBY.test(rest) || (next?.page === line.page && AUTHOR_NEARBY.test(next.folded));
        confidence = nearby ? 0.85 : 0.8;
        place = 'signature';
      } else if (firstLines.has(line.index)) {
        confidence = letterheadDoctors === 1 ? 0.6 : 0.45;
        place = 'letterhead';
      } else {
        confidence = 0.4;
      }
      const mention: DoctorMention = { line, name, confidence };
      // The RPPS on the same line, or on the next lines before another doctor's name.
      const nearbyLines = [line, ...document.lines.slice(line.index + 1, line.index + 4)].filter(
        (other) => other.page === line.page,
      );
      for (const [distance, other] of nearbyLines.entries()) {
        if (distance > 0 && HAS_DOCTOR.test(other.text)) break;
        const rpps = RPPS.exec(distance === 0 ? line.folded.slice(offset) : other.folded);
        if (!rpps?.[1]) continue;
        mention.rpps = { value: rpps[1].replace(/\s/g, ''), confidence: distance === 0 ? 1 : 0.95 };
        // A signature with its RPPS; the one doctor of a letterhead with theirs.
        if (place === 'signature') mention.confidence = Math.max(confidence, 0.9);
        else if (place === 'letterhead') mention.confidence = 0.75;
        break;
      }
      mention.confidence = clamp(mention.confidence * line.confidence);
      mentions.push(mention);
    }
  }
  return mentions;
}

function resolveAuthor(mentions: DoctorMention[]): { name?: Field; rpps?: Field } {
  const groups = new Map<string, DoctorMention[]>();
  for (const mention of mentions) {
    if (mention.confidence <= 0) continue;
    const key = nameKey(mention.name);
    groups.set(key, [...(groups.get(key) ?? []), mention]);
  }
  const scored = [...groups.values()].map((group) => {
    const sorted = [...group].sort((left, right) => right.confidence - left.confidence);
    let confidence = sorted[0]!.confidence;
    for (const other of sorted.slice(1)) confidence = 1 - (1 - confidence) * (1 - 0.4 * other.confidence);
    return { best: sorted[0]!, group: sorted, confidence: Math.min(confidence, 0.99) };
  });
  scored.sort((left, right) => right.confidence - left.confidence);
  const [winner, ...others] = scored;
  if (!winner) return {};
  let confidence = winner.confidence;
  const competitor = others.find((other) => other.confidence >= 0.8);
  if (competitor) confidence *= 1 - 0.5 * (competitor.confidence / confidence);
  const result: { name?: Field; rpps?: Field } = {
    name: { value: winner.best.name, source: sourceOf(winner.best.line), confidence: round(confidence) },
  };
  const withRpps = winner.group.find((mention) => mention.rpps);
  if (withRpps?.rpps) {
    result.rpps = {
      value: withRpps.rpps.value,
      source: sourceOf(withRpps.line),
      confidence: round(confidence * withRpps.rpps.confidence),
    };
  }
  return result;
}

/** A person's name without case, accents or word order: "GARNIER Paul" is "Paul Garnier". */
function nameKey(name: string): string {
  return fold(name)
    .replace(/[^\p{L}\s-]+/gu, ' ')
    .split(/\s+/)
    .filter(Boolean)
    .sort()
    .join(' ');
}

// ---------------------------------------------------------------------------------------------------
// Document type: titles and keywords to the LOINC codes of JDV_J07.

interface TypeEvidence {
  code: string;
  /** A phrase that names the document's type; a keyword only suggests it. */
  explicit: boolean;
  pattern: RegExp;
  weight?: number;
}

const evidence = (code: string, explicit: boolean, source: string, weight = 1): TypeEvidence => ({
  code,
  explicit,
  pattern: new RegExp(`(?<![\\p{L}\\p{N}])(?:${source})(?![\\p{L}\\p{N}])`, 'gu'),
  weight,
});

const CR = '(?:compte[- ]rendu|cr)';
const TYPE_EVIDENCE: readonly TypeEvidence[] = [
  evidence('34749-2', true, `consultation (?:pre-?anesthesique|d'anesthesie)|cpa`),
  evidence('34874-8', true, `${CR} (?:operatoire|d'intervention|chirurgical)|protocole operatoire`),
  evidence(
    '34874-8',
    false,
    "operateur|aide operatoire|incision|fermeture|coelioscopie|c(?:oe|œ)lioscopie|voie d'abord|installation en|trocarts?|cholecystectomie|exerese|anastomose",
    1,
  ),
  evidence('11490-0', true, 'lettre de liaison(?: (?:a la|de) sortie)?|lettre de sortie|courrier de sortie'),
  evidence(
    '11490-0',
    false,
    "traitement de sortie|date de sortie|au cours de (?:son|l') hospitalisation|motif d'hospitalisation|retour a domicile",
    1,
  ),
  evidence('34112-3', true, `${CR} d'hospitalisation|${CR} de sejour|${CR} hospitalier`),
  evidence(
    '11488-4',
    true,
    `${CR} de consultation|lettre de consultation|fiche de consultation|${CR} de visite|(?:vue?|revue?) en consultation`,
  ),
  evidence(
    '11488-4',
    false,
    'consultation|examen clinique|motif de consultation|je (?:le|la) reverrai|je revois',
    1,
  ),
  evidence(
    '60568-3',
    true,
    `anatomie et cytologie pathologiques|anatomie pathologique|anatomo-?cyto-?pathologi(?:e|que)|anatomo-?pathologi(?:e|que)|anatomopathologi(?:e|que)|anapath|examen (?:histologique|cytologique)|cytopathologie|${CR} histologique`,
  ),
  evidence(
    '60568-3',
    false,
    'biopsies?|biopsique|histologi(?:e|que)|cytologi(?:e|que)|immunohistochimi(?:e|que)|macroscopie|microscopie|pathologiste|extemporane|inclus en totalite|coloration',
    1,
  ),
  evidence(
    '15507-7',
    true,
    `passage aux urgences|${CR} des urgences|service d'accueil des urgences|accueil des urgences|urgences (?:adultes|pediatriques)|service des urgences|sau`,
  ),
  evidence(
    '15507-7',
    false,
    "urgences|urgentiste|motif de recours|ioa|tri \\d|smur|mode d'arrivee|date d'arrivee",
    1,
  ),
  evidence(
    '18748-4',
    true,
    `${CR} d'imagerie|${CR} radiologique|${CR} de radiologie|${CR} d'echographie|${CR} de scanner|${CR} d'irm|${CR} de mammographie|imagerie medicale|centre d'imagerie|cabinet de radiologie|service de radiologie|service d'imagerie`,
  ),
  evidence(
    '18748-4',
    false,
    'radiographies?|radiologie|radiologues?|scanner|scanographie|tomodensitometrie|tdm|irm|entero-irm|arthro-irm|echographies?|echo-doppler|doppler|mammographies?|scintigraphie|tep|tep-scan|angioscanner|uroscanner|arthroscanner|densitometrie|cliches|incidences|injection de (?:produit de )?contraste|sequences|produit de contraste|pdl|acr [0-6]',
    1,
  ),
  evidence(
    '11502-2',
    true,
    `${CR} d'examens? (?:de )?biologi(?:e|ques)|resultats d'analyses|resultats de biologie|laboratoire de biologie(?: medicale)?|biologie medicale|examens de biologie`,
  ),
  evidence(
    '11502-2',
    false,
    'hemogramme|numeration formule(?: sanguine)?|nfs|bilan sanguin|biochimie|hematologie|ionogramme|serologie|glycemie|creatinine|hemoglobine|leucocytes|plaquettes|hematies|crp|proteine c reactive|tsh|hemostase|fibrinogene|taux de prothrombine|microbiologie|bacteriologie|ecbu|valeurs de reference|biologiste|laboratoire|anteriorite|prelevement sanguin',
    1,
  ),
  evidence('15508-5', true, `${CR} d'accouchement`),
  evidence('34794-8', true, 'reunion de concertation pluridisciplinaire|rcp'),
  evidence('89601-9', true, 'certificat medical'),
];

function isTitleLike(line: Line, cell: Cell, pageLines: number): boolean {
  const text = line.text.slice(cell.start, cell.end).trim();
  const words = text.split(/\s+/).filter(Boolean);
  if (line.page !== 1 || words.length === 0 || words.length > 10 || HAS_DOCTOR.test(text)) return false;
  if (/[.;]$/.test(text) || /\s:\s*\S/.test(text) || text.endsWith(':')) return false;
  return line.number <= Math.max(12, Math.ceil(pageLines * 0.6));
}

function readDocumentType(
  document: Laid,
): Pick<DocumentReading, 'documentTypeCode' | 'documentTypeLabel' | 'title'> {
  const scores = new Map<
    string,
    {
      score: number;
      explicitTitle: boolean;
      explicit: boolean;
      keywordTitle: boolean;
      keywords: Set<string>;
      title?: { line: Line; text: string; weight: number };
    }
  >();
  const pageLines = document.pages[0]?.lines.length ?? 0;
  for (const line of document.lines) {
    for (const cell of line.cells) {
      const folded = line.folded.slice(cell.start, cell.end);
      const title = isTitleLike(line, cell, pageLines);
      for (const item of TYPE_EVIDENCE) {
        // Every distinct keyword of a cell counts; an explicit phrase counts once.
        const matches = [...new Set([...folded.matchAll(item.pattern)].map((found) => found[0]))];
        const [match] = matches;
        if (match === undefined) continue;
        const entry = scores.get(item.code) ?? {
          score: 0,
          explicitTitle: false,
          explicit: false,
          keywordTitle: false,
          keywords: new Set<string>(),
        };
        const weight =
          (item.weight ?? 1) *
          (item.explicit ? (title ? 10 : 4) : (title ? 5 : 1) * matches.length) *
          line.confidence;
        entry.score += weight;
        if (item.explicit) entry.explicit = true;
        if (item.explicit && title) entry.explicitTitle = true;
        if (!item.explicit && title) entry.keywordTitle = true;
        if (!item.explicit) for (const keyword of matches) entry.keywords.add(keyword);
        if (title) {
          // The report's own title rather than the letterhead of the centre that wrote it.
          const letterhead =
            !/^\s*(?:compte[- ]rendu|cr|lettre|protocole)\b/.test(folded) &&
            line.number <= 4 &&
            /centre|cabinet|laboratoire|service|hopital|clinique|chu|groupe|pole|institut|\d{5}|\btel\b|\b(?:rue|avenue|boulevard|place|quai|allee|chemin)\b/.test(
              line.folded,
            );
          // A title stands alone on its line; a column beside another is a letterhead's or a block's.
          const titleWeight = weight * (letterhead ? 0.4 : 1) * (line.cells.length > 1 ? 0.5 : 1);
          if (!entry.title || titleWeight > entry.title.weight) {
            entry.title = { line, text: line.text.slice(cell.start, cell.end).trim(), weight: titleWeight };
          }
        }
        scores.set(item.code, entry);
      }
    }
  }
  const ranked = [...scores.entries()].sort((left, right) => right[1].score - left[1].score);
  const [best, runnerUp] = ranked;
  if (!best) return {};
  const [code, entry] = best;
  let confidence = entry.explicitTitle
    ? 0.9
    : entry.explicit || entry.keywordTitle
      ? 0.8
      : 0.6 + 0.05 * Math.min(2, entry.keywords.size - 1);
  if (runnerUp && runnerUp[1].score >= 0.9 * entry.score) confidence *= 0.7;
  else if (runnerUp && runnerUp[1].score >= 0.6 * entry.score) confidence *= 0.85;
  const lineConfidence = entry.title?.line.confidence ?? 1;
  const source = entry.title ? sourceOf(entry.title.line) : 'keywords';
  const label = loincLabel(code);
  const rounded = round(Math.min(confidence, confidence * lineConfidence));
  return {
    documentTypeCode: { value: code, source, confidence: rounded },
    ...(label ? { documentTypeLabel: { value: label, source, confidence: rounded } } : {}),
    ...(entry.title ? { title: { value: entry.title.text, source, confidence: rounded } } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------

function withoutEmpty(identity: IdentityReading): IdentityReading {
  const kept: IdentityReading = {};
  for (const [name, field] of Object.entries(identity))
    if (field) (kept as Record<string, Field>)[name] = field;
  return kept;
}

function clamp(value: number): number {
  return Math.min(1, Math.max(0, value));
}

function round(value: number): number {
  return Math.round(clamp(value) * 1000) / 1000;
}
