import { type Kysely, type RawBuilder, sql } from 'kysely';
import { inParallel } from '../../../platform/concurrency.ts';
import { reserveIdentityBlock } from '../../../platform/db/bulk.ts';
import { phasedProgress } from '../../../platform/progress.ts';
import { seededRandom } from '../../../platform/seeded-random.ts';
import type { DB } from '../../../tables.ts';

export interface WorklistDatasetOptions {
  facilities: number;
  patientsPerFacility: number;
  requests: number;
  /** Requests arrive over the last `days` days before `endAt`. */
  days: number;
  seed: number;
  /** Every generated facility's EHR connector; null leaves them without one (ehr_enabled false). */
  fhirBaseUrl: string | null;
  /** The newest possible arrival (truncated to the second); fixed, it makes a run replay exactly. */
  endAt?: Date;
  /**
   * Chunks written at once, each on its own connection (default 1). Above 1, attachment and
   * verification ids interleave between chunks, so only they stop replaying exactly.
   */
  parallelism?: number;
  onProgress?: (done: number, total: number, unit: 'patients' | 'requests') => void;
}

export interface WorklistDatasetResult {
  /** The facilities this run created, in order (FAC-0001… on an empty database). */
  facilityIds: string[];
  providers: number;
  patients: number;
  requests: number;
  attachments: number;
  verifications: number;
  seconds: number;
}

/** Rows per statement: big enough to be set-based, small enough that no transaction holds much. */
const REQUESTS_PER_CHUNK = 50_000;
const PATIENTS_PER_CHUNK = 50_000;
/** Patient keys are facility × this + ordinal, so they never collide across facilities. */
const MAX_PATIENTS_PER_FACILITY = 10_000_000;
const INS_OID_NIR = '1.2.250.1.213.1.4.8';

const SOURCES = ['mssante', 'lab', 'imaging', 'device', 'paper'] as const;
type Source = (typeof SOURCES)[number];

/** LOINC document types, with the French title a hospital gives them. */
const DOCUMENT_TYPES = [
  { code: '11502-2', label: 'Laboratory report', title: 'Compte rendu de biologie' },
  { code: '11526-1', label: 'Pathology study', title: "Compte rendu d'anatomopathologie" },
  { code: '18748-4', label: 'Diagnostic imaging study', title: "Compte rendu d'imagerie" },
  { code: '11524-6', label: 'EKG study', title: 'Électrocardiogramme' },
  { code: '18842-5', label: 'Discharge summary', title: 'Lettre de liaison de sortie' },
  { code: '34133-9', label: 'Summary of episode note', title: "Compte rendu d'hospitalisation" },
  { code: '11488-4', label: 'Consult note', title: 'Compte rendu de consultation' },
  { code: '28570-0', label: 'Procedure note', title: 'Compte rendu opératoire' },
  { code: '11506-3', label: 'Progress note', title: "Note d'évolution" },
  { code: '57133-1', label: 'Referral note', title: "Courrier d'adressage" },
  { code: '60591-5', label: 'Patient summary', title: 'Synthèse médicale' },
  { code: '57833-6', label: 'Prescription for medication', title: 'Ordonnance' },
] as const;

/** What each source sends; a code repeated is a code sent more often. */
const TYPES_BY_SOURCE: Record<Source, string[]> = {
  lab: [...Array(9).fill('11502-2'), '11526-1'],
  imaging: ['18748-4'],
  device: ['11524-6'],
  mssante: [
    '18842-5',
    '18842-5',
    '34133-9',
    '34133-9',
    '11488-4',
    '11488-4',
    '28570-0',
    '57133-1',
    '60591-5',
  ],
  paper: ['11488-4', '57133-1', '57133-1', '18842-5', '11506-3', '60591-5', '57833-6', '57833-6'],
};

/** Cities with their INSEE commune code and a postal code; the first ones host a CHU. */
const CITIES: Array<{ name: string; insee: string; postcode: string; chu?: true }> = [
  { name: 'Paris', insee: '75056', postcode: '75013', chu: true },
  { name: 'Lyon', insee: '69123', postcode: '69003', chu: true },
  { name: 'Marseille', insee: '13055', postcode: '13005', chu: true },
  { name: 'Toulouse', insee: '31555', postcode: '31059', chu: true },
  { name: 'Bordeaux', insee: '33063', postcode: '33000', chu: true },
  { name: 'Lille', insee: '59350', postcode: '59000', chu: true },
  { name: 'Nantes', insee: '44109', postcode: '44000', chu: true },
  { name: 'Strasbourg', insee: '67482', postcode: '67000', chu: true },
  { name: 'Montpellier', insee: '34172', postcode: '34000', chu: true },
  { name: 'Rennes', insee: '35238', postcode: '35000', chu: true },
  { name: 'Nice', insee: '06088', postcode: '06000', chu: true },
  { name: 'Grenoble', insee: '38185', postcode: '38000', chu: true },
  { name: 'Saint-Étienne', insee: '42218', postcode: '42000', chu: true },
  { name: 'Dijon', insee: '21231', postcode: '21000', chu: true },
  { name: 'Angers', insee: '49007', postcode: '49000', chu: true },
  { name: 'Nîmes', insee: '30189', postcode: '30000', chu: true },
  { name: 'Clermont-Ferrand', insee: '63113', postcode: '63000', chu: true },
  { name: 'Reims', insee: '51454', postcode: '51100', chu: true },
  { name: 'Tours', insee: '37261', postcode: '37000', chu: true },
  { name: 'Amiens', insee: '80021', postcode: '80000', chu: true },
  { name: 'Limoges', insee: '87085', postcode: '87000', chu: true },
  { name: 'Brest', insee: '29019', postcode: '29200', chu: true },
  { name: 'Besançon', insee: '25056', postcode: '25000', chu: true },
  { name: 'Rouen', insee: '76540', postcode: '76000', chu: true },
  { name: 'Caen', insee: '14118', postcode: '14000', chu: true },
  { name: 'Nancy', insee: '54395', postcode: '54000', chu: true },
  { name: 'Poitiers', insee: '86194', postcode: '86000', chu: true },
  { name: 'Orléans', insee: '45234', postcode: '45000', chu: true },
  { name: 'Pointe-à-Pitre', insee: '97120', postcode: '97110', chu: true },
  { name: 'Fort-de-France', insee: '97209', postcode: '97200', chu: true },
  { name: 'Toulon', insee: '83137', postcode: '83000' },
  { name: 'Le Havre', insee: '76351', postcode: '76600' },
  { name: 'Villeurbanne', insee: '69266', postcode: '69100' },
  { name: 'Le Mans', insee: '72181', postcode: '72000' },
  { name: 'Aix-en-Provence', insee: '13001', postcode: '13100' },
  { name: 'Annecy', insee: '74010', postcode: '74000' },
  { name: 'Perpignan', insee: '66136', postcode: '66000' },
  { name: 'Metz', insee: '57463', postcode: '57000' },
  { name: 'Mulhouse', insee: '68224', postcode: '68100' },
  { name: 'Argenteuil', insee: '95018', postcode: '95100' },
  { name: 'Montreuil', insee: '93048', postcode: '93100' },
  { name: 'Saint-Denis', insee: '93066', postcode: '93200' },
  { name: 'Roubaix', insee: '59512', postcode: '59100' },
  { name: 'Tourcoing', insee: '59599', postcode: '59200' },
  { name: 'Avignon', insee: '84007', postcode: '84000' },
  { name: 'Pau', insee: '64445', postcode: '64000' },
  { name: 'La Rochelle', insee: '17300', postcode: '17000' },
  { name: 'Calais', insee: '62193', postcode: '62100' },
  { name: 'Béziers', insee: '34032', postcode: '34500' },
  { name: 'Colmar', insee: '68066', postcode: '68000' },
  { name: 'Bourges', insee: '18033', postcode: '18000' },
  { name: 'Quimper', insee: '29232', postcode: '29000' },
  { name: 'Valence', insee: '26362', postcode: '26000' },
  { name: 'Troyes', insee: '10387', postcode: '10000' },
  { name: 'Chambéry', insee: '73065', postcode: '73000' },
  { name: 'Niort', insee: '79191', postcode: '79000' },
  { name: 'Lorient', insee: '56121', postcode: '56100' },
  { name: 'Vannes', insee: '56260', postcode: '56000' },
  { name: 'Angoulême', insee: '16015', postcode: '16000' },
  { name: 'Saint-Brieuc', insee: '22278', postcode: '22000' },
  { name: 'Laval', insee: '53130', postcode: '53000' },
  { name: 'Cholet', insee: '49099', postcode: '49300' },
  { name: 'Chartres', insee: '28085', postcode: '28000' },
  { name: 'Blois', insee: '41018', postcode: '41000' },
  { name: 'Châteauroux', insee: '36044', postcode: '36000' },
  { name: 'Auxerre', insee: '89024', postcode: '89000' },
  { name: 'Belfort', insee: '90010', postcode: '90000' },
  { name: 'Évreux', insee: '27229', postcode: '27000' },
  { name: 'Beauvais', insee: '60057', postcode: '60000' },
  { name: 'Arras', insee: '62041', postcode: '62000' },
  { name: 'Dunkerque', insee: '59183', postcode: '59140' },
  { name: 'Valenciennes', insee: '59606', postcode: '59300' },
  { name: 'Saint-Nazaire', insee: '44184', postcode: '44600' },
  { name: 'Bayonne', insee: '64102', postcode: '64100' },
  { name: 'Tarbes', insee: '65440', postcode: '65000' },
  { name: 'Agen', insee: '47001', postcode: '47000' },
  { name: 'Montauban', insee: '82121', postcode: '82000' },
  { name: 'Albi', insee: '81004', postcode: '81000' },
  { name: 'Rodez', insee: '12202', postcode: '12000' },
  { name: 'Périgueux', insee: '24322', postcode: '24000' },
  { name: 'Brive-la-Gaillarde', insee: '19031', postcode: '19100' },
  { name: 'Montluçon', insee: '03185', postcode: '03100' },
  { name: 'Nevers', insee: '58194', postcode: '58000' },
  { name: 'Mâcon', insee: '71270', postcode: '71000' },
  { name: 'Bourg-en-Bresse', insee: '01053', postcode: '01000' },
  { name: 'Gap', insee: '05061', postcode: '05000' },
  { name: 'Carcassonne', insee: '11069', postcode: '11000' },
  { name: 'Narbonne', insee: '11262', postcode: '11100' },
  { name: 'Sète', insee: '34301', postcode: '34200' },
  { name: 'Alès', insee: '30007', postcode: '30100' },
  { name: 'Arles', insee: '13004', postcode: '13200' },
  { name: 'Fréjus', insee: '83061', postcode: '83600' },
  { name: 'Cannes', insee: '06029', postcode: '06400' },
  { name: 'Antibes', insee: '06004', postcode: '06600' },
  { name: 'Épinal', insee: '88160', postcode: '88000' },
  { name: 'Charleville-Mézières', insee: '08105', postcode: '08000' },
  { name: 'Châlons-en-Champagne', insee: '51108', postcode: '51000' },
  { name: 'Saint-Quentin', insee: '02691', postcode: '02100' },
  { name: 'Compiègne', insee: '60159', postcode: '60200' },
  { name: 'Meaux', insee: '77284', postcode: '77100' },
  { name: 'Melun', insee: '77288', postcode: '77000' },
  { name: 'Versailles', insee: '78646', postcode: '78000' },
  { name: 'Créteil', insee: '94028', postcode: '94000' },
  { name: 'Bobigny', insee: '93008', postcode: '93000' },
  { name: 'Nanterre', insee: '92050', postcode: '92000' },
  { name: 'Boulogne-Billancourt', insee: '92012', postcode: '92100' },
  { name: 'Pontoise', insee: '95500', postcode: '95000' },
  { name: 'Cherbourg-en-Cotentin', insee: '50129', postcode: '50100' },
];

/** Birthplaces abroad: 99 and the INSEE country code (Maroc, Algérie, Tunisie, Portugal…). */
const BIRTHPLACES_ABROAD = ['99350', '99352', '99351', '99139', '99134', '99127', '99131', '99109', '99341'];

const CLINIC_NAMES = [
  'Saint-Joseph',
  'Sainte-Anne',
  'Pasteur',
  'du Parc',
  'des Cèdres',
  "de l'Union",
  'Saint-Augustin',
  "Jeanne-d'Arc",
  'Bon Secours',
  'de la Sauvegarde',
  'Saint-Jean',
  'Les Émeraudes',
];

const SPECIALTIES = [
  'Médecine générale',
  'Biologie médicale',
  'Radiologie',
  'Cardiologie',
  'Gastro-entérologie',
  'Pneumologie',
  'Oncologie médicale',
  'Chirurgie orthopédique',
  'Gynécologie-obstétrique',
  'Pédiatrie',
  'Neurologie',
  'Anatomie et cytologie pathologiques',
  'Néphrologie',
  'Endocrinologie',
  'Médecine interne',
  'Anesthésie-réanimation',
  'Urologie',
  'Rhumatologie',
];

/** Staff who verify and reject documents (token subjects). */
const STAFF = [
  'c.lambert',
  'n.garcia',
  'm.fontaine',
  'l.nguyen',
  'p.rousseau',
  's.benali',
  'a.lefevre',
  'j.morel',
];

const INTEGRATION_ERRORS = [
  'FHIR server answered 503 Service Unavailable',
  'FHIR request timed out after 1500 ms',
  'FHIR server answered 422: Patient reference not found',
  'FHIR server answered 500 Internal Server Error',
];
const REJECTIONS_AFTER_MISMATCH = [
  "Identité discordante avec le dossier de l'établissement",
  "Patient inconnu de l'établissement",
];
const REJECTIONS_OTHER = ['Document en double', 'Document illisible', 'Adressé au mauvais établissement'];
const MAIL_DOMAINS = ['gmail.com', 'orange.fr', 'free.fr', 'laposte.net', 'hotmail.fr', 'sfr.fr', 'yahoo.fr'];

/** A comma-separated list, wrapped like prose: line breaks inside an entry count as one space. */
function list(entries: string): string[] {
  return entries
    .split(',')
    .map((entry) => entry.replace(/\s+/g, ' ').trim())
    .filter((entry) => entry !== '');
}

/** Frequent names first: picks are skewed towards the head of each pool, as real names are. */
const COMMON_LAST_NAMES = list(`
  Martin, Bernard, Thomas, Petit, Robert, Richard, Durand, Dubois, Moreau, Laurent, Simon, Michel,
  Lefèvre, Leroy, Roux, David, Bertrand, Morel, Fournier, Girard, Bonnet, Dupont, Lambert, Fontaine,
  Rousseau, Vincent, Muller, Lefebvre, Faure, André, Mercier, Blanc, Guérin, Boyer, Garnier, Chevalier,
  François, Legrand, Gauthier, Garcia, Perrin, Robin, Clément, Morin, Nicolas, Henry, Roussel, Mathieu,
  Gautier, Masson, Marchand, Duval, Denis, Dumont, Marie, Lemaire, Noël, Meyer, Dufour, Meunier, Brun,
  Blanchard, Giraud, Joly, Rivière, Lucas, Brunet, Gaillard, Barbier, Arnaud, Martinez, Gérard, Roche,
  Renard, Schmitt, Roy, Leroux, Colin, Vidal, Caron, Picard, Roger, Fabre, Aubert, Lemoine, Renaud,
  Dumas, Lacroix, Olivier, Philippe, Bourgeois, Pierre, Benoît, Rey, Leclerc, Payet, Rolland, Leclercq,
  Guillaume, Lecomte, Lopez, Jean, Dupuy, Guillot, Hubert, Berger, Carpentier, Sanchez, Dupuis, Moulin,
  Le Gall, Le Goff, Le Roux, Da Silva, Dos Santos, De Oliveira, N'Diaye, Nguyen, Traoré, Diallo, Benali,
  Haddad, Saint-Martin, Lévêque, Bénard, Maréchal, Barthélemy, Lemaître, Prévost, Ménard, Hoarau,
  Grondin
`);
const COMMON_FEMALE_NAMES = list(`
  Marie, Nathalie, Isabelle, Sylvie, Catherine, Françoise, Christine, Monique, Valérie, Sandrine,
  Martine, Nicole, Stéphanie, Céline, Julie, Sophie, Aurélie, Émilie, Camille, Léa, Manon, Chloé, Inès,
  Jeanne, Louise, Emma, Jade, Alice, Léna, Zoé, Élodie, Hélène, Brigitte, Danielle, Geneviève, Anne,
  Claire, Laura, Océane, Anaïs, Mélanie, Audrey, Virginie, Agnès, Josiane, Thérèse, Margaux, Noémie,
  Maëlle, Rose, Lucie, Pauline, Justine, Clémence, Mathilde, Fatima, Aïcha, Yasmine, Sarah,
  Marie-Claire, Anne-Sophie, Marie-Thérèse
`);
const COMMON_MALE_NAMES = list(`
  Jean, Pierre, Michel, Philippe, Alain, Patrick, Nicolas, Christophe, Daniel, Bernard, Éric, Frédéric,
  Laurent, Stéphane, David, Julien, Sébastien, Thomas, Olivier, Jacques, François, Gérard, René, André,
  Christian, Dominique, Claude, Thierry, Pascal, Vincent, Guillaume, Maxime, Alexandre, Antoine, Romain,
  Kévin, Lucas, Hugo, Louis, Gabriel, Léo, Raphaël, Arthur, Jules, Adam, Nathan, Théo, Noah, Enzo,
  Mohamed, Karim, Mehdi, Yanis, Jean-Pierre, Jean-Claude, Jean-Marc, Jérôme, Cédric, Benoît, Hervé,
  Gaëtan, Noël
`);
const COMMON_STREETS = list(`
  de la République, Victor Hugo, Jean Jaurès, du Général de Gaulle, Pasteur, de la Gare, des Écoles, du
  Moulin, de l'Église, Gambetta, Jules Ferry, de la Paix, des Lilas, Voltaire
`);
const STREET_KINDS = [
  'rue',
  'rue',
  'rue',
  'avenue',
  'boulevard',
  'allée',
  'impasse',
  'place',
  'chemin',
  'quai',
];

interface NamePools {
  lastNames: string[];
  femaleNames: string[];
  maleNames: string[];
  streets: string[];
}

/** "Marie-Thérèse" → "marie-therese", "N'Diaye" → "n-diaye": for e-mail addresses and file names. */
function slug(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/** Faker's French definitions lengthen the tails of the hand-picked pools; loaded only to generate. */
async function namePools(seed: number): Promise<NamePools> {
  const { fr } = await import('@faker-js/faker');
  const person = fr.person ?? {};
  const given = person.first_name as { female?: string[]; male?: string[] } | undefined;
  const family = person.last_name as { generic?: string[] } | undefined;
  const single = (name: string) => !/\s/.test(name);
  const random = seededRandom(seed);
  const kinds = COMMON_STREETS.concat(fr.location?.street_suffix ?? []);
  return {
    lastNames: unique([...COMMON_LAST_NAMES, ...(family?.generic ?? []).map(capitalizeWords)]),
    femaleNames: unique([...COMMON_FEMALE_NAMES, ...(given?.female ?? []).filter(single)]),
    maleNames: unique([...COMMON_MALE_NAMES, ...(given?.male ?? []).filter(single)]),
    streets: unique(kinds).map(
      (name) => `${STREET_KINDS[Math.floor(random() * STREET_KINDS.length)] as string} ${name}`,
    ),
  };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** "Da silva" → "Da Silva", "le gall" → "Le Gall". */
function capitalizeWords(name: string): string {
  return name.replace(
    /(^|[\s-])(\p{L})/gu,
    (_, separator: string, letter: string) => separator + letter.toUpperCase(),
  );
}

/** "de Lyon", "d'Angers", "du Havre", "de La Rochelle". */
function ofCity(city: string): string {
  if (city.startsWith('Le ')) return `du ${city.slice(3)}`;
  if (/^[AEIOUYÉÈÂÎ]/u.test(city)) return `d'${city}`;
  return `de ${city}`;
}

export function facilityId(number: number): string {
  return `FAC-${String(number).padStart(4, '0')}`;
}

interface PlannedFacility {
  id: string;
  name: string;
  /** 1-based index into CITIES. */
  city: number;
}

/** CHUs first (so the busiest facilities are university hospitals), then the other names shuffled. */
function planFacilities(firstNumber: number, count: number, seed: number): PlannedFacility[] {
  // An appended run shuffles differently, so its facilities are not the first run's names again.
  const random = seededRandom(seed * 7919 + firstNumber);
  const shuffle = <T>(items: T[]): T[] => {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  };
  const cityIndex = (name: string) => CITIES.findIndex((city) => city.name === name) + 1;
  const universities = shuffle(
    CITIES.filter((city) => city.chu).map((city) => ({
      name: `CHU ${ofCity(city.name)}`,
      city: cityIndex(city.name),
    })),
  );
  const others = shuffle(
    CITIES.flatMap((city) => [
      { name: `Centre hospitalier ${ofCity(city.name)}`, city: cityIndex(city.name) },
      { name: `Hôpital privé ${ofCity(city.name)}`, city: cityIndex(city.name) },
      { name: `Polyclinique ${ofCity(city.name)}`, city: cityIndex(city.name) },
      ...CLINIC_NAMES.map((clinic) => ({
        name: `Clinique ${clinic} (${city.name})`,
        city: cityIndex(city.name),
      })),
    ]),
  );
  const names = [...universities, ...others];
  return Array.from({ length: count }, (_, index) => {
    const planned = names[index % names.length] as { name: string; city: number };
    const round = Math.floor(index / names.length);
    return {
      id: facilityId(firstNumber + index),
      name: round === 0 ? planned.name : `${planned.name} – site ${round + 1}`,
      city: planned.city,
    };
  });
}

/**
 * Deterministic draws: a hash of (row key, salt), so every value of every row replays from the seed
 * alone, whatever the chunking or the order rows are produced in.
 */
function draws(saltBase: bigint) {
  const hash = (key: string, salt: number) =>
    sql`hashint8extended(${sql.raw(key)}, ${sql.lit(saltBase + BigInt(salt))})`;
  return {
    /** Uniform in [0, 1). */
    uniform: (key: string, salt: number) =>
      sql<number>`((${hash(key, salt)} & 4503599627370495)::float8 / 4503599627370496)`,
    /** Integer in [0, bound). */
    below: (key: string, salt: number, bound: number | RawBuilder<unknown>) =>
      sql<number>`((${hash(key, salt)} & 9223372036854775807) % ${typeof bound === 'number' ? sql.lit(bound) : bound})::int`,
  };
}

/** One letter near the middle changed: the kind of slip that defeats an exact match on identity_key(). */
function misspelt(column: string): RawBuilder<string> {
  const name = sql.raw(column);
  return sql`overlay(${name} placing CASE WHEN identity_key(substr(${name}, length(${name}) / 2 + 1, 1)) = 'E'
    THEN 'a' ELSE 'e' END from length(${name}) / 2 + 1 for 1)`;
}

interface RunContext {
  db: Kysely<DB>;
  options: WorklistDatasetOptions;
  pools: NamePools;
  facilities: PlannedFacility[];
  firstFacilityNumber: number;
  anchor: Date;
  draw: ReturnType<typeof draws>;
  superuser: boolean;
  parallelism: number;
  /** The first of the contiguous ids reserved for this run's patients and requests. */
  firstPatientId: number;
  firstRequestId: number;
  authors: { lab: number[]; imaging: number[]; device: number[]; any: number[] };
  gps: { names: string[]; rpps: string[] };
}

/**
 * Fills the worklist tables with set-based SQL (INSERT … SELECT over generate_series and unnest): new
 * facilities (numbered after the highest existing FAC-…), providers, patients with every column, and
 * requests with their attachments, extracted metadata and verifications, in chunks of one transaction
 * each. Projections on integration_requests (status, identity_check, attachment_count, search_text) are
 * written from the same values as the rows they summarise. Storage keys point at no object; the demo
 * writes the few it needs.
 */
export async function generateWorklistDataset(
  db: Kysely<DB>,
  options: WorklistDatasetOptions,
): Promise<WorklistDatasetResult> {
  validate(options);
  const started = performance.now();
  const anchor = new Date(Math.floor((options.endAt ?? new Date()).getTime() / 1000) * 1000);
  const { rows: state } = await sql<{ last_facility: number; superuser: boolean }>`
    SELECT coalesce(max(substring(facility_id FROM '^FAC-([0-9]+)$')::int), 0) AS last_facility,
           (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser
    FROM facilities`.execute(db);
  const firstFacilityNumber = (state[0]?.last_facility ?? 0) + 1;
  const facilities = planFacilities(firstFacilityNumber, options.facilities, options.seed);
  const context: RunContext = {
    db,
    options,
    pools: await namePools(options.seed),
    facilities,
    firstFacilityNumber,
    anchor,
    // Salted by the first facility too, so an appended run does not repeat the first one's patterns.
    draw: draws(BigInt(options.seed) * 2n ** 32n + BigInt(firstFacilityNumber) * 2n ** 10n),
    superuser: state[0]?.superuser === true,
    parallelism: options.parallelism ?? 1,
    firstPatientId: 0,
    firstRequestId: 0,
    authors: { lab: [], imaging: [], device: [], any: [] },
    gps: { names: [], rpps: [] },
  };

  await bulk(context, async (trx) => {
    await insertFacilities(trx, context);
    await insertProviders(trx, context);
    context.firstPatientId = await reserveIdentityBlock(
      trx,
      'patients',
      'patient_id',
      facilities.length * options.patientsPerFacility,
    );
    context.firstRequestId = await reserveIdentityBlock(
      trx,
      'integration_requests',
      'request_id',
      options.requests,
    );
  });
  const patients = await insertPatients(context);
  const written = await insertRequests(context);
  await bulk(context, (trx) => recordConnectorErrors(trx, context));
  await tidy(db);
  return {
    facilityIds: facilities.map((facility) => facility.id),
    providers: context.authors.any.length,
    patients,
    ...written,
    seconds: (performance.now() - started) / 1000,
  };
}

function validate(options: WorklistDatasetOptions): void {
  const positive = (name: keyof WorklistDatasetOptions, max: number) => {
    const value = options[name];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
      throw new RangeError(`${name} must be an integer from 1 to ${max} (got ${String(value)})`);
    }
  };
  positive('facilities', 9999);
  positive('patientsPerFacility', MAX_PATIENTS_PER_FACILITY - 1);
  positive('requests', 1_000_000_000);
  positive('days', 36_500);
  if (options.parallelism !== undefined) positive('parallelism', 64);
  if (!Number.isSafeInteger(options.seed) || options.seed < 0 || options.seed >= 2 ** 31) {
    throw new RangeError(`seed must be an integer from 0 to ${2 ** 31 - 1} (got ${options.seed})`);
  }
}

/**
 * One transaction of bulk work. Its statements may outlast the service's statement timeout, which
 * guards requests; and the rows are consistent by construction, so a superuser skips the per-row
 * foreign-key triggers.
 */
function bulk<T>(context: RunContext, work: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
  return context.db.transaction().execute(async (trx) => {
    // JIT compiling these long expressions costs more than it saves on 50,000 rows; sorts of a chunk
    // fit in memory; a longer GIN pending list merges trigrams in bigger batches (tidy() flushes it).
    await sql`SET LOCAL statement_timeout = 0; SET LOCAL jit = off; SET LOCAL work_mem = '64MB';
      SET LOCAL gin_pending_list_limit = '32MB'`.execute(trx);
    if (context.superuser) await sql`SET LOCAL session_replication_role = replica`.execute(trx);
    return work(trx);
  });
}

/**
 * VACUUM ANALYZE, outside any transaction: statistics for the planner, the visibility map for
 * index-only scans, hint bits set once rather than by the first readers, and GIN pending lists merged,
 * so a benchmark right after generation measures steady state.
 */
async function tidy(db: Kysely<DB>): Promise<void> {
  await db.connection().execute(async (connection) => {
    await sql`SET statement_timeout = 0`.execute(connection);
    try {
      await sql`VACUUM (ANALYZE) facilities, providers, patients, integration_requests, attachments,
        extracted_metadata, verifications`.execute(connection);
    } finally {
      await sql`RESET statement_timeout`.execute(connection);
    }
  });
}

async function insertFacilities(trx: Kysely<DB>, context: RunContext): Promise<void> {
  const { facilities, options, anchor } = context;
  await sql`
    INSERT INTO facilities (facility_id, name, fhir_base_url, ehr_enabled, created_at)
    SELECT f.id, f.name, ${options.fhirBaseUrl}::text, ${options.fhirBaseUrl !== null},
           ${anchor.toISOString()}::timestamptz - make_interval(days => ${options.days} + 30 + f.n::int)
    FROM unnest(${facilities.map((f) => f.id)}::text[], ${facilities.map((f) => f.name)}::text[])
         WITH ORDINALITY AS f(id, name, n)`.execute(trx);
}

/**
 * Providers numbered on from those already there; RPPS-like national ids are a bijection of that
 * number. Each specialty group a source draws its authors from is non-empty.
 */
async function insertProviders(trx: Kysely<DB>, context: RunContext): Promise<void> {
  const { pools, draw } = context;
  const { rows: existing } = await sql<{
    count: number;
  }>`SELECT count(*)::int AS count FROM providers`.execute(trx);
  const first = (existing[0]?.count ?? 0) + 1;
  const count = Math.max(30, context.facilities.length * 5);
  const { rows } = await sql<{
    provider_id: number;
    national_id: string;
    first_name: string;
    last_name: string;
    specialty: string;
  }>`
    WITH pools AS (
      SELECT ${pools.lastNames}::text[] AS last_names, ${pools.femaleNames}::text[] AS female_names,
             ${pools.maleNames}::text[] AS male_names, ${SPECIALTIES}::text[] AS specialties
    )
    INSERT INTO providers (national_id, first_name, last_name, specialty)
    SELECT '10' || lpad(((n * 387420489) % 1000000000)::text, 9, '0'),
           CASE WHEN ${draw.uniform('n', 1)} < 0.5
             THEN female_names[1 + floor(cardinality(female_names) * power(${draw.uniform('n', 2)}, 2))::int]
             ELSE male_names[1 + floor(cardinality(male_names) * power(${draw.uniform('n', 2)}, 2))::int] END,
           last_names[1 + floor(cardinality(last_names) * power(${draw.uniform('n', 3)}, 1.5))::int],
           CASE WHEN n % 10 < 4 THEN specialties[1] WHEN n % 10 = 4 THEN specialties[2]
                WHEN n % 10 = 5 THEN specialties[3] WHEN n % 10 = 6 THEN specialties[4]
                ELSE specialties[5 + ${draw.below('n', 4, SPECIALTIES.length - 4)}] END
    FROM pools, generate_series(${first}::bigint, ${first + count - 1}::bigint) AS n
    ON CONFLICT (national_id) DO NOTHING
    RETURNING provider_id, national_id, first_name, last_name, specialty`.execute(trx);
  rows.sort((a, b) => a.provider_id - b.provider_id);
  const of = (specialty: string) =>
    rows.filter((row) => row.specialty === specialty).map((row) => row.provider_id);
  context.authors = {
    lab: of('Biologie médicale'),
    imaging: of('Radiologie'),
    device: of('Cardiologie'),
    any: rows.map((row) => row.provider_id),
  };
  const gps = rows.filter((row) => row.specialty === 'Médecine générale');
  context.gps = {
    names: gps.map((gp) => `Dr ${gp.first_name} ${gp.last_name.toUpperCase()}`),
    rpps: gps.map((gp) => gp.national_id),
  };
}

/** Patients, a chunk of facilities per transaction. */
async function insertPatients(context: RunContext): Promise<number> {
  const perFacility = context.options.patientsPerFacility;
  const total = context.facilities.length * perFacility;
  const facilitiesPerChunk = Math.max(1, Math.floor(PATIENTS_PER_CHUNK / perFacility));
  const chunks: Array<{ from: number; to: number }> = [];
  for (let from = 1; from <= context.facilities.length; from += facilitiesPerChunk) {
    chunks.push({ from, to: Math.min(context.facilities.length, from + facilitiesPerChunk - 1) });
  }
  let done = 0;
  context.options.onProgress?.(0, total, 'patients');
  await inParallel(chunks, context.parallelism, async ({ from, to }) => {
    const inserted = await bulk(context, (trx) => insertPatientChunk(trx, context, from, to));
    done += inserted;
    context.options.onProgress?.(done, total, 'patients');
  });
  return done;
}

async function insertPatientChunk(
  trx: Kysely<DB>,
  context: RunContext,
  from: number,
  to: number,
): Promise<number> {
  const { pools, draw, facilities, anchor, gps, firstFacilityNumber, firstPatientId } = context;
  const { uniform, below } = draw;
  const perFacility = context.options.patientsPerFacility;
  // Frequent names first in each pool, so a power of the draw favours them.
  const pick = (pool: string, draw: RawBuilder<number>, skew: number) =>
    sql`1 + floor(cardinality(${sql.raw(pool)}) * power(${draw}, ${sql.lit(skew)}))::int`;
  const phone = (digits: RawBuilder<number>) => sql`to_char(${digits}, 'FM00 00 00 00')`;
  // Each LATERAL step ends in OFFSET 0 so it stays a subquery computed once per row: flattened, every
  // use of one of its columns would recompute the hashes behind it.
  const result = await sql`
    WITH pools AS (
      SELECT ${facilities.map((f) => f.id)}::text[] AS facility_ids, ${facilities.map((f) => f.city)}::int[] AS facility_cities,
             ${pools.lastNames}::text[] AS last_names, ${pools.lastNames.map(slug)}::text[] AS last_slugs,
             ${pools.femaleNames}::text[] AS female_names, ${pools.femaleNames.map(slug)}::text[] AS female_slugs,
             ${pools.maleNames}::text[] AS male_names, ${pools.maleNames.map(slug)}::text[] AS male_slugs,
             ${pools.streets}::text[] AS streets,
             ${CITIES.map((c) => c.name)}::text[] AS city_names, ${CITIES.map((c) => c.postcode)}::text[] AS postcodes,
             ${CITIES.map((c) => c.insee)}::text[] AS birthplaces, ${BIRTHPLACES_ABROAD}::text[] AS birthplaces_abroad,
             ${gps.names}::text[] AS gp_names, ${gps.rpps}::text[] AS gp_rpps, ${MAIL_DOMAINS}::text[] AS mail_domains,
             ${anchor.toISOString()}::timestamptz AS anchor
    )
    INSERT INTO patients (patient_id, facility_id, ipp, ins, ins_oid, identity_status, birth_last_name, used_last_name,
      birth_first_names, first_name, birth_date, sex, birthplace_code, address_line1, address_line2, postal_code,
      city, country_code, phone_mobile, phone_home, email, gp_name, gp_rpps, insurance_fund_code, insurance_number,
      deceased, deceased_at, confidential, vip, fhir_id, created_at, updated_at)
    OVERRIDING SYSTEM VALUE
    SELECT id.patient_id, id.facility_id,
           -- The hospital's patient number: 8 digits, a bijection of the ordinal within the facility.
           lpad(((n::bigint * 48271 + id.f::bigint * 7777777) % 100000000)::text, 8, '0'),
           c.ins, CASE WHEN c.ins IS NOT NULL THEN ${INS_OID_NIR} END,
           CASE WHEN c.ins IS NOT NULL THEN CASE WHEN ${uniform('k', 20)} < 0.85 THEN 'qualified' ELSE 'recovered' END
                ELSE CASE WHEN ${uniform('k', 20)} < 0.25 THEN 'validated' ELSE 'provisional' END END,
           last_names[b.last], last_names[b.used], concat_ws(' ', g.names[b.given1], g.names[b.given2], g.names[b.given3]),
           g.names[CASE WHEN b.given2 IS NOT NULL AND ${uniform('k', 21)} < 0.1 THEN b.given2 ELSE b.given1 END],
           a.birth_date, a.sex, b.birthplace_code,
           (1 + ${below('k', 22, 180)})::text || CASE WHEN ${uniform('k', 23)} < 0.06 THEN ' bis ' ELSE ' ' END
             || streets[1 + ${below('k', 24, sql`cardinality(streets)`)}],
           CASE WHEN ${uniform('k', 25)} < 0.08 THEN 'Appartement ' || (1 + ${below('k', 26, 80)})
                WHEN ${uniform('k', 25)} < 0.14 THEN 'Bâtiment ' || chr(65 + ${below('k', 26, 6)}) END,
           postcodes[b.home], city_names[b.home], 'FR',
           CASE WHEN ${uniform('k', 27)} < 0.85
             THEN '0' || (6 + ${below('k', 28, 2)}) || ' ' || ${phone(below('k', 29, 100000000))} END,
           CASE WHEN ${uniform('k', 30)} < 0.3
             THEN '0' || (1 + ${below('k', 31, 5)}) || ' ' || ${phone(below('k', 32, 100000000))} END,
           CASE WHEN a.age_years >= 15 AND ${uniform('k', 33)} < 0.6 THEN
             g.slugs[b.given1] || '.' || last_slugs[coalesce(b.used, b.last)]
             || CASE WHEN ${uniform('k', 34)} < 0.4 THEN (${below('k', 35, 100)})::text ELSE '' END
             || '@' || mail_domains[1 + ${below('k', 36, MAIL_DOMAINS.length)}] END,
           gp_names[b.gp], gp_rpps[b.gp],
           CASE WHEN ${uniform('k', 37)} < 0.9 THEN '01' ELSE '02' END || left(postcodes[b.home], 2) || '1',
           CASE WHEN a.age_years >= 16 THEN c.ins END,
           a.deceased,
           CASE WHEN a.deceased THEN greatest(a.birth_date, anchor::date - ${below('k', 38, 3650)}) END,
           ${uniform('k', 39)} < 0.01, ${uniform('k', 40)} < 0.002,
           'pat-' || id.facility_id || '-' || n, c.created_at,
           c.created_at + (anchor - c.created_at) * ${uniform('k', 41)}
    FROM pools
    CROSS JOIN generate_series(${from}::int, ${to}::int) AS i
    CROSS JOIN generate_series(1, ${perFacility}::int) AS n
    CROSS JOIN LATERAL (
      SELECT facility_ids[i] AS facility_id, ${firstFacilityNumber - 1} + i AS f,
             (${firstFacilityNumber - 1} + i)::bigint * ${MAX_PATIENTS_PER_FACILITY} + n AS k,
             ${firstPatientId - 1}::bigint + (i - 1)::bigint * ${perFacility} + n AS patient_id
    ) id
    CROSS JOIN LATERAL (
      SELECT CASE WHEN ${uniform('k', 1)} < 0.515 THEN 'F' WHEN ${uniform('k', 1)} < 0.997 THEN 'M' ELSE 'U' END AS sex,
             anchor::date - floor(36525 * ${uniform('k', 2)})::int AS birth_date,
             floor(36525 * ${uniform('k', 2)}) / 365.25 AS age_years,
             ${uniform('k', 3)} < 0.004 + 0.03 * ${uniform('k', 2)} AS deceased
      OFFSET 0
    ) a
    CROSS JOIN LATERAL (
      SELECT CASE WHEN a.sex = 'F' OR (a.sex = 'U' AND ${uniform('k', 4)} < 0.5) THEN female_names ELSE male_names END AS names,
             CASE WHEN a.sex = 'F' OR (a.sex = 'U' AND ${uniform('k', 4)} < 0.5) THEN female_slugs ELSE male_slugs END AS slugs
      OFFSET 0
    ) g
    CROSS JOIN LATERAL (
      SELECT last, nullif(used, last) AS used, given1, nullif(given2, given1) AS given2, given3,
             CASE WHEN ${uniform('k', 12)} < 0.9 THEN birthplaces[${pick('birthplaces', uniform('k', 13), 1.3)}]
                  ELSE birthplaces_abroad[1 + ${below('k', 13, BIRTHPLACES_ABROAD.length)}] END AS birthplace_code,
             CASE WHEN ${uniform('k', 14)} < 0.75 THEN facility_cities[i] ELSE 1 + ${below('k', 15, CITIES.length)} END AS home,
             CASE WHEN ${uniform('k', 16)} < 0.92 AND cardinality(gp_names) > 0
               THEN 1 + ${below('k', 17, sql`cardinality(gp_names)`)} END AS gp
      FROM (SELECT ${pick('last_names', uniform('k', 5), 1.5)} AS last,
                   CASE WHEN a.sex = 'F' AND a.age_years >= 20 AND ${uniform('k', 6)} < 0.45
                     THEN ${pick('last_names', uniform('k', 7), 1.5)} END AS used,
                   ${pick('g.names', uniform('k', 8), 3)} AS given1,
                   CASE WHEN ${uniform('k', 9)} < 0.35 THEN ${pick('g.names', uniform('k', 10), 3)} END AS given2,
                   CASE WHEN ${uniform('k', 9)} < 0.08 THEN ${pick('g.names', uniform('k', 11), 1)} END AS given3 OFFSET 0) picks
      OFFSET 0
    ) b
    CROSS JOIN LATERAL (
      SELECT CASE WHEN a.sex <> 'U' AND ${uniform('k', 18)} < 0.88
               THEN n13.nir || lpad((97 - n13.nir::bigint % 97)::text, 2, '0') END AS ins,
             greatest((a.birth_date + time '09:00')::timestamptz,
                      anchor - make_interval(secs => ${below('k', 19, 10 * 365 * 86400)})) AS created_at
      FROM (SELECT CASE a.sex WHEN 'F' THEN '2' ELSE '1' END || to_char(a.birth_date, 'YYMM') || b.birthplace_code
                   || lpad((1 + ${below('k', 42, 999)})::text, 3, '0') AS nir OFFSET 0) n13
      OFFSET 0
    ) c`.execute(trx);
  return Number(result.numAffectedRows ?? 0);
}

/** Requests and everything that hangs off them, a chunk per transaction. */
async function insertRequests(
  context: RunContext,
): Promise<{ requests: number; attachments: number; verifications: number }> {
  const total = context.options.requests;
  const written = { requests: 0, attachments: 0, verifications: 0 };
  const chunks: Array<{ from: number; to: number }> = [];
  for (let from = 1; from <= total; from += REQUESTS_PER_CHUNK) {
    chunks.push({ from, to: Math.min(total, from + REQUESTS_PER_CHUNK - 1) });
  }
  context.options.onProgress?.(0, total, 'requests');
  await inParallel(chunks, context.parallelism, async ({ from, to }) => {
    const chunk = await bulk(context, async (trx) => {
      await planRequests(trx, context, from, to);
      const requests = await affected(trx, insertRequestRows());
      const attachments = await affected(trx, insertAttachments(context));
      await insertExtractedMetadata(context).execute(trx);
      return { requests, attachments, verifications: await affected(trx, insertVerifications()) };
    });
    written.requests += chunk.requests;
    written.attachments += chunk.attachments;
    written.verifications += chunk.verifications;
    context.options.onProgress?.(written.requests, total, 'requests');
  });
  return written;
}

async function affected(trx: Kysely<DB>, statement: RawBuilder<unknown>): Promise<number> {
  const result = await statement.execute(trx);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * Decides every request of the chunk in a temporary table: its facility, arrival, type, status, the
 * patient it belongs to (or was compared with), what extraction read and when each step happened.
 * Ids come from the run's reserved blocks, because the attachments, metadata and verifications inserted
 * next must name them. Ordinals map to arrival times in order, so ids grow with received_at as they do
 * in production; documents of one delivery share facility, source and second.
 */
async function planRequests(trx: Kysely<DB>, context: RunContext, from: number, to: number): Promise<void> {
  const { facilities, draw, options, authors, anchor } = context;
  const { uniform, below } = draw;
  const horizon = options.days * 86_400;
  // As for patients, OFFSET 0 keeps each step computed once per row.
  const byStatus = (age: string) => sql`CASE
      WHEN ${sql.raw(age)} < 86400 THEN CASE WHEN x < 0.15 THEN 'received' WHEN x < 0.55 THEN 'pending_verification'
        WHEN x < 0.70 THEN 'verified' WHEN x < 0.95 THEN 'integrated' WHEN x < 0.98 THEN 'error' ELSE 'rejected' END
      WHEN ${sql.raw(age)} < 7 * 86400 THEN CASE WHEN x < 0.02 THEN 'received' WHEN x < 0.17 THEN 'pending_verification'
        WHEN x < 0.22 THEN 'verified' WHEN x < 0.92 THEN 'integrated' WHEN x < 0.95 THEN 'error' ELSE 'rejected' END
      ELSE CASE WHEN x < 0.02 THEN 'pending_verification' WHEN x < 0.95 THEN 'integrated' WHEN x < 0.97 THEN 'error'
        ELSE 'rejected' END END`;
  await sql`
    CREATE TEMP TABLE generated_requests ON COMMIT DROP AS
    WITH pools AS (
      SELECT ${facilities.map((f) => f.id)}::text[] AS facility_ids,
             ${TYPES_BY_SOURCE.lab}::text[] AS lab_types, ${TYPES_BY_SOURCE.imaging}::text[] AS imaging_types,
             ${TYPES_BY_SOURCE.device}::text[] AS device_types, ${TYPES_BY_SOURCE.mssante}::text[] AS mssante_types,
             ${TYPES_BY_SOURCE.paper}::text[] AS paper_types,
             ${DOCUMENT_TYPES.map((t) => t.code)}::text[] AS type_codes,
             ${DOCUMENT_TYPES.map((t) => t.label)}::text[] AS type_labels,
             ${DOCUMENT_TYPES.map((t) => t.title)}::text[] AS type_titles,
             ${DOCUMENT_TYPES.map((t) => `${slug(t.title)}.pdf`)}::text[] AS type_files,
             ${authors.lab}::bigint[] AS lab_authors, ${authors.imaging}::bigint[] AS imaging_authors,
             ${authors.device}::bigint[] AS device_authors, ${authors.any}::bigint[] AS any_authors,
             ${STAFF}::text[] AS staff, ${INTEGRATION_ERRORS}::text[] AS integration_errors,
             ${REJECTIONS_AFTER_MISMATCH}::text[] AS rejections_after_mismatch,
             ${REJECTIONS_OTHER}::text[] AS rejections_other,
             ${anchor.toISOString()}::timestamptz AS anchor
    ),
    planned AS (
      SELECT r, t, pools.*, e.fi, d.facility_id, d.source, d.age_s, d.received_at, s.status, s.planned_check,
             s.type_code, s.delay, s.patient_ordinal, s.attachment_count, s.priority, s.extractor, s.person,
             s.author_provider_id
      FROM pools
      CROSS JOIN generate_series(${from}::bigint, ${to}::bigint) AS r
      -- Deliveries of up to four documents: those inside a delivery take its first document's draws.
      CROSS JOIN LATERAL (
        SELECT CASE WHEN (r - 1) % 4 < 1 + ${below('(r - 1) / 4', 1, 4)} THEN (r - 1) / 4 * 4 + 1 ELSE r END AS t
        OFFSET 0
      ) delivery
      CROSS JOIN LATERAL (
        SELECT 1 + floor(${facilities.length} * power(${uniform('t', 2)}, 1.6))::int AS fi,
               ${uniform('t', 3)} AS source_draw,
               floor(${horizon} * (1 - (t - 1 + ${uniform('t', 4)}) / ${options.requests}::float8))::int AS age_s
        OFFSET 0
      ) e
      CROSS JOIN LATERAL (
        SELECT facility_ids[e.fi] AS facility_id, e.age_s,
               anchor - make_interval(secs => e.age_s) AS received_at,
               CASE WHEN e.source_draw < 0.35 THEN 'mssante' WHEN e.source_draw < 0.65 THEN 'lab'
                    WHEN e.source_draw < 0.80 THEN 'imaging' WHEN e.source_draw < 0.85 THEN 'device'
                    ELSE 'paper' END AS source
        OFFSET 0
      ) d
      CROSS JOIN LATERAL (SELECT ${uniform('r', 5)} AS x, ${uniform('r', 6)} AS y OFFSET 0) u
      CROSS JOIN LATERAL (
        SELECT ${byStatus('d.age_s')} AS status,
               CASE d.source WHEN 'lab' THEN lab_types WHEN 'imaging' THEN imaging_types WHEN 'device' THEN device_types
                    WHEN 'mssante' THEN mssante_types ELSE paper_types END AS types,
               CASE d.source WHEN 'lab' THEN ${below('r', 7, 3)} WHEN 'imaging' THEN ${below('r', 7, 8)}
                    WHEN 'device' THEN ${below('r', 7, 2)} WHEN 'mssante' THEN ${below('r', 7, 21)}
                    ELSE ${below('r', 7, 61)} END AS delay,
               1 + ${below('r', 8, options.patientsPerFacility)} AS patient_ordinal,
               CASE WHEN ${uniform('r', 9)} < 0.6 THEN 1 WHEN ${uniform('r', 9)} < 0.9 THEN 2 ELSE 3 END AS attachment_count,
               CASE WHEN ${uniform('r', 10)} < CASE d.source WHEN 'lab' THEN 0.12 WHEN 'imaging' THEN 0.08 ELSE 0.03 END
                    THEN 'urgent' ELSE 'routine' END AS priority,
               CASE d.source WHEN 'mssante' THEN CASE WHEN ${uniform('r', 11)} < 0.9 THEN 'cda' ELSE 'manual' END
                    WHEN 'imaging' THEN CASE WHEN ${uniform('r', 11)} < 0.6 THEN 'hl7' ELSE 'cda' END
                    WHEN 'paper' THEN CASE WHEN ${uniform('r', 11)} < 0.85 THEN 'ocr' ELSE 'manual' END
                    ELSE 'hl7' END AS extractor,
               staff[1 + ${below('r', 12, STAFF.length)}] AS person,
               CASE d.source WHEN 'lab' THEN lab_authors[1 + ${below('r', 13, sql`cardinality(lab_authors)`)}]
                    WHEN 'imaging' THEN imaging_authors[1 + ${below('r', 13, sql`cardinality(imaging_authors)`)}]
                    WHEN 'device' THEN device_authors[1 + ${below('r', 13, sql`cardinality(device_authors)`)}]
                    WHEN 'paper' THEN CASE WHEN ${uniform('r', 14)} < 0.85
                      THEN any_authors[1 + ${below('r', 13, sql`cardinality(any_authors)`)}] END
                    ELSE any_authors[1 + ${below('r', 13, sql`cardinality(any_authors)`)}] END AS author_provider_id
        OFFSET 0
      ) s0
      CROSS JOIN LATERAL (
        SELECT s0.*, s0.types[1 + ${below('r', 15, sql`cardinality(s0.types)`)}] AS type_code,
               CASE s0.status WHEN 'received' THEN 'pending'
                    WHEN 'pending_verification' THEN CASE WHEN u.y < 0.35 THEN 'mismatch' ELSE 'pending' END
                    WHEN 'rejected' THEN CASE WHEN u.y < 0.6 THEN 'mismatch' ELSE 'pending' END
                    ELSE 'ok' END AS planned_check
        OFFSET 0
      ) s
    )
    SELECT ${context.firstRequestId - 1}::bigint + pl.r AS request_id, pl.r, pl.facility_id, pl.source, pl.received_at, pl.status, pl.priority, pl.attachment_count,
             pl.extractor, pl.person, pl.author_provider_id, pl.age_s,
             pl.type_code AS document_type_code, pl.type_labels[ty.i] AS document_type_label,
             pl.type_files[ty.i] AS file_name,
             pl.type_titles[ty.i] || ' du ' || to_char(pl.received_at::date - pl.delay, 'DD/MM/YYYY') AS title,
             pl.received_at::date - pl.delay AS procedure_date,
             p.patient_id AS candidate_id, p.ins AS p_ins, p.ipp AS p_ipp, p.birth_last_name AS p_birth_last_name,
             p.used_last_name AS p_used_last_name, p.birth_first_names AS p_birth_first_names,
             p.first_name AS p_first_name, p.birth_date AS p_birth_date, p.sex AS p_sex,
             p.birthplace_code AS p_birthplace_code,
             id.identity_check, id.has_identity, id.carries_ins, id.manual_ok,
             -- The trait extraction got wrong: one the INS rule compares when the INS was read (a
             -- mismatch), any of them otherwise (no exact match, so pending).
             CASE WHEN id.identity_check = 'mismatch' OR (id.manual_ok AND id.carries_ins)
                    THEN (ARRAY['birth_date', 'birth_last_name', 'sex'])[1 + ${below('pl.r', 16, 3)}]
                  WHEN (id.identity_check = 'pending' AND id.has_identity) OR id.manual_ok
                    THEN (ARRAY['birth_date', 'birth_last_name', 'first_names', 'sex'])[1 + ${below('pl.r', 16, 4)}]
             END AS wrong_trait,
             tm.extracted_at, tm.first_check_at,
             tm.first_check_at + CASE WHEN id.manual_ok
               THEN make_interval(secs => least(600 + ${below('pl.r', 17, 86400)}, floor(pl.age_s * 0.3))) ELSE interval '0' END
               AS final_check_at,
             ${uniform('pl.r', 18)} < 0.08 AS checks_procedure_date,
             ${uniform('pl.r', 19)} < 0.04 AS checks_document_type,
             CASE WHEN ${uniform('pl.r', 20)} < 0.9 THEN 1 ELSE 2 END AS integrated_attempts,
             1 + ${below('pl.r', 21, 6)} AS failed_attempts,
             pl.integration_errors[1 + ${below('pl.r', 22, INTEGRATION_ERRORS.length)}] AS integration_error,
             CASE WHEN id.identity_check = 'mismatch'
               THEN pl.rejections_after_mismatch[1 + ${below('pl.r', 23, REJECTIONS_AFTER_MISMATCH.length)}]
               ELSE pl.rejections_other[1 + ${below('pl.r', 23, REJECTIONS_OTHER.length)}] END AS rejection_reason,
             make_interval(secs => least(5 + ${below('pl.r', 24, 600)}, floor(pl.age_s * 0.3))) AS settle_delay
      FROM planned pl
      -- One primary-key probe per request (LIMIT keeps the subquery from being flattened into a hash
      -- join, which would read every patient for every chunk).
      CROSS JOIN LATERAL (
        SELECT patient_id, ins, ipp, birth_last_name, used_last_name, birth_first_names, first_name, birth_date, sex,
               birthplace_code
        FROM patients
        WHERE patient_id = ${context.firstPatientId - 1}::bigint
                           + (pl.fi - 1)::bigint * ${options.patientsPerFacility} + pl.patient_ordinal
        LIMIT 1
      ) p
      CROSS JOIN LATERAL (SELECT array_position(pl.type_codes, pl.type_code) AS i) ty
      CROSS JOIN LATERAL (
        SELECT ic.identity_check, pl.status <> 'received' AS has_identity,
               pl.status <> 'received' AND p.ins IS NOT NULL AND CASE ic.identity_check
                 WHEN 'mismatch' THEN true WHEN 'pending' THEN false
                 ELSE ${uniform('pl.r', 25)} < CASE pl.extractor WHEN 'cda' THEN 0.9 WHEN 'hl7' THEN 0.6
                                                  WHEN 'ocr' THEN 0.3 ELSE 1 END END AS carries_ins,
               -- A person confirms what the matcher could not; they need time after the matcher's check.
               ic.identity_check = 'ok' AND pl.age_s >= 3600 AND ${uniform('pl.r', 26)} < 0.2 AS manual_ok
        FROM (SELECT CASE WHEN pl.planned_check = 'mismatch' AND p.ins IS NULL THEN 'pending'
                          ELSE pl.planned_check END AS identity_check OFFSET 0) ic
        OFFSET 0
      ) id
      CROSS JOIN LATERAL (
        SELECT pl.received_at + make_interval(secs => least(2 + ${below('pl.r', 27, 60)}, floor(pl.age_s * 0.1))) AS extracted_at,
               pl.received_at + make_interval(secs => least(30 + ${below('pl.r', 28, 3600)}, floor(pl.age_s * 0.3))) AS first_check_at
      ) tm`.execute(trx);
}

function insertRequestRows(): RawBuilder<unknown> {
  return sql`
    INSERT INTO integration_requests (request_id, facility_id, source, received_at, status, document_type_code,
      document_type_label, title, procedure_date, patient_id, author_provider_id, priority, identity_check,
      attachment_count, search_text, integration_state, integration_attempts, integration_error, integrated_at,
      ehr_document_reference, rejected_by, rejected_at, rejection_reason, updated_at)
    OVERRIDING SYSTEM VALUE
    SELECT g.request_id, g.facility_id, g.source, g.received_at, g.status, g.document_type_code,
           g.document_type_label, g.title, g.procedure_date, m.patient_id, g.author_provider_id, g.priority,
           g.identity_check, g.attachment_count,
           -- As the application writes it: the title, then the matched patient's names.
           identity_key(concat_ws(' ', g.title, m.first_name, coalesce(m.used_last_name, m.birth_last_name), m.birth_last_name)),
           CASE g.status WHEN 'integrated' THEN 'done' WHEN 'error' THEN 'failed' END,
           CASE g.status WHEN 'integrated' THEN g.integrated_attempts WHEN 'error' THEN g.failed_attempts ELSE 0 END,
           CASE WHEN g.status = 'error' THEN g.integration_error END,
           CASE WHEN g.status = 'integrated' THEN g.final_check_at + g.settle_delay END,
           CASE WHEN g.status = 'integrated' THEN 'docref-' || g.request_id END,
           CASE WHEN g.status = 'rejected' THEN g.person END,
           CASE WHEN g.status = 'rejected' THEN g.final_check_at + g.settle_delay END,
           CASE WHEN g.status = 'rejected' THEN g.rejection_reason END,
           CASE g.status WHEN 'received' THEN g.extracted_at WHEN 'pending_verification' THEN g.first_check_at
                WHEN 'verified' THEN g.final_check_at ELSE g.final_check_at + g.settle_delay END
    FROM generated_requests g
    CROSS JOIN LATERAL (
      SELECT CASE WHEN g.identity_check = 'ok' THEN g.candidate_id END AS patient_id,
             CASE WHEN g.identity_check = 'ok' THEN g.p_first_name END AS first_name,
             CASE WHEN g.identity_check = 'ok' THEN g.p_used_last_name END AS used_last_name,
             CASE WHEN g.identity_check = 'ok' THEN g.p_birth_last_name END AS birth_last_name
    ) m
    ORDER BY g.request_id`;
}

function insertAttachments(context: RunContext): RawBuilder<unknown> {
  const { uniform, below } = context.draw;
  return sql`
    INSERT INTO attachments (request_id, file_name, content_type, size_bytes, sha256, pages, storage_key, created_at)
    SELECT g.request_id,
           CASE WHEN n = 1 THEN g.file_name ELSE 'annexe-' || (n - 1) || '.pdf' END,
           'application/pdf',
           CASE WHEN g.source = 'paper' THEN 150000 + ${below('g.r * 4 + n', 50, 2850000)}
                ELSE 12000 + ${below('g.r * 4 + n', 50, 500000)} END,
           encode(sha256(convert_to(k.storage_key, 'UTF8')), 'hex'),
           1 + floor(CASE g.source WHEN 'paper' THEN 12 WHEN 'lab' THEN 3 ELSE 6 END
                     * power(${uniform('g.r * 4 + n', 51)}, 2))::int,
           k.storage_key, g.received_at
    FROM generated_requests g
    CROSS JOIN generate_series(1, g.attachment_count) AS n
    CROSS JOIN LATERAL (SELECT 'worklist/' || g.facility_id || '/' || g.request_id || '/' || n || '.pdf' AS storage_key) k
    ORDER BY g.request_id, n`;
}

/**
 * What extraction read: the candidate patient's traits, as each format carries them (a CDA header has
 * every trait, HL7 the IPP, OCR upper-cases names and rarely reads the INS), with the wrong trait
 * changed where the matcher could not confirm the identity. Nothing identifying for a request still
 * `received`, which is why the matcher has not run on it.
 */
function insertExtractedMetadata(context: RunContext): RawBuilder<unknown> {
  const { uniform } = context.draw;
  // Structured formats are all but certain of what they carry; OCR anywhere from 0.6 to 0.99.
  const sure = (salt: number) => sql`CASE g.extractor
    WHEN 'cda' THEN 0.99 WHEN 'hl7' THEN 0.97 WHEN 'manual' THEN 1.0
    ELSE round((0.6 + 0.39 * ${uniform('g.r', salt)})::numeric, 2) END`;
  const confidence = (field: string, salt: number) =>
    sql`CASE WHEN m.${sql.raw(field)} IS NULL THEN NULL WHEN g.wrong_trait = ${field}
      THEN round((0.3 + 0.35 * ${uniform('g.r', salt + 1)})::numeric, 2) ELSE ${sure(salt)} END`;
  return sql`
    INSERT INTO extracted_metadata (request_id, extractor, ins, ins_oid, birth_last_name, used_last_name, first_names,
      birth_date, sex, birthplace_code, ipp, procedure_date, document_type_code, confidence, extracted_at)
    SELECT g.request_id, g.extractor, m.ins, CASE WHEN m.ins IS NOT NULL THEN ${INS_OID_NIR} END, m.birth_last_name,
           m.used_last_name, m.first_names, m.birth_date, m.sex, m.birthplace_code, m.ipp, g.procedure_date,
           g.document_type_code,
           jsonb_strip_nulls(jsonb_build_object(
             'ins', ${confidence('ins', 60)}, 'birth_last_name', ${confidence('birth_last_name', 62)},
             'first_names', ${confidence('first_names', 64)}, 'birth_date', ${confidence('birth_date', 66)},
             'sex', ${confidence('sex', 68)}, 'procedure_date', ${sure(70)}, 'document_type_code', ${sure(72)})),
           g.extracted_at
    FROM generated_requests g
    CROSS JOIN LATERAL (
      SELECT CASE WHEN g.carries_ins THEN g.p_ins END AS ins,
             CASE WHEN NOT g.has_identity THEN NULL
                  WHEN g.wrong_trait = 'birth_last_name' THEN ${misspelt('g.p_birth_last_name')}
                  WHEN g.extractor = 'ocr' THEN upper(g.p_birth_last_name) ELSE g.p_birth_last_name END AS birth_last_name,
             CASE WHEN g.has_identity AND g.extractor = 'cda' THEN g.p_used_last_name END AS used_last_name,
             CASE WHEN NOT g.has_identity THEN NULL
                  WHEN g.wrong_trait = 'first_names' THEN ${misspelt("split_part(g.p_birth_first_names, ' ', 1)")}
                    || substr(g.p_birth_first_names, length(split_part(g.p_birth_first_names, ' ', 1)) + 1)
                  ELSE g.p_birth_first_names END AS first_names,
             CASE WHEN NOT g.has_identity THEN NULL
                  WHEN g.wrong_trait IS DISTINCT FROM 'birth_date' THEN g.p_birth_date
                  -- Day and month swapped when that still makes a date, else the next day.
                  WHEN extract(day FROM g.p_birth_date) <= 12 AND extract(day FROM g.p_birth_date) <> extract(month FROM g.p_birth_date)
                    THEN make_date(extract(year FROM g.p_birth_date)::int, extract(day FROM g.p_birth_date)::int,
                                   extract(month FROM g.p_birth_date)::int)
                  ELSE g.p_birth_date + 1 END AS birth_date,
             CASE WHEN NOT g.has_identity THEN NULL
                  WHEN g.wrong_trait = 'sex' THEN CASE g.p_sex WHEN 'F' THEN 'M' ELSE 'F' END ELSE g.p_sex END AS sex,
             CASE WHEN g.has_identity AND g.extractor = 'cda' THEN g.p_birthplace_code END AS birthplace_code,
             CASE WHEN g.has_identity AND g.extractor = 'hl7' AND ${uniform('g.r', 74)} < 0.7 THEN g.p_ipp END AS ipp
    ) m
    ORDER BY g.request_id`;
}

/**
 * The checks, as the application records them: the matcher's on arrival (ok, mismatch against the
 * INS holder, or pending), a person's confirmation after the matcher's mismatch or pending, and a few
 * procedure-date and document-type checks. identity_check is the outcome of the latest identity row.
 */
function insertVerifications(): RawBuilder<unknown> {
  return sql`
    INSERT INTO verifications (request_id, kind, outcome, patient_id, verified_by, verified_at, note)
    SELECT g.request_id, v.kind, v.outcome, v.patient_id, v.verified_by, v.verified_at, v.note
    FROM generated_requests g
    CROSS JOIN LATERAL (
      SELECT CASE WHEN g.carries_ins THEN 'mismatch' ELSE 'pending' END AS outcome,
             CASE WHEN g.carries_ins THEN g.candidate_id END AS patient_id,
             CASE WHEN g.carries_ins
               THEN 'INS matches but ' || CASE g.wrong_trait WHEN 'birth_last_name' THEN 'birth name'
                 WHEN 'birth_date' THEN 'birth date' ELSE g.wrong_trait END || ' differ'
               ELSE 'no patient matches exactly' END AS note
    ) unmatched
    CROSS JOIN LATERAL (VALUES
      (1, g.has_identity AND (g.identity_check <> 'ok' OR g.manual_ok), 'identity', unmatched.outcome,
       unmatched.patient_id, 'matcher', g.first_check_at, unmatched.note),
      (2, g.identity_check = 'ok' AND NOT g.manual_ok, 'identity', 'ok', g.candidate_id, 'matcher', g.first_check_at,
       CASE WHEN g.carries_ins THEN 'matched by INS' ELSE 'matched by strict traits' END),
      (3, g.manual_ok, 'identity', 'ok', g.candidate_id, g.person, g.final_check_at, 'verified by a person'),
      (4, g.identity_check = 'ok' AND g.checks_procedure_date, 'procedure_date', 'ok', NULL::bigint, g.person,
       g.final_check_at, 'procedure date checked against the document'),
      (5, g.has_identity AND g.checks_document_type, 'document_type', 'ok', NULL::bigint, g.person, g.first_check_at,
       'document type confirmed')
    ) AS v(step, present, kind, outcome, patient_id, verified_by, verified_at, note)
    WHERE v.present
    ORDER BY g.request_id, v.step`;
}

/** A facility whose latest integration failed shows that failure on its connector, as the worker leaves it. */
async function recordConnectorErrors(trx: Kysely<DB>, context: RunContext): Promise<void> {
  await sql`
    UPDATE facilities f SET ehr_last_error = latest.integration_error, ehr_last_error_at = latest.updated_at
    FROM (
      SELECT DISTINCT ON (facility_id) facility_id, status, integration_error, updated_at
      FROM integration_requests
      WHERE facility_id = ANY(${context.facilities.map((facility) => facility.id)}::text[])
        AND status IN ('integrated', 'error')
      ORDER BY facility_id, updated_at DESC, request_id DESC
    ) latest
    WHERE f.facility_id = latest.facility_id AND latest.status = 'error'`.execute(trx);
}

/** An `onProgress` that draws a progress bar per unit (patients, then requests) on stderr. */
export const progressBars = (label: string) => phasedProgress<'patients' | 'requests'>(label);
