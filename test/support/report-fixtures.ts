/**
 * French medical reports as PDFs with a text layer, each with the truth a careful reader takes from it:
 * letterheads, addresses, phone numbers, other people's names and dates that are not the birth date
 * included, as hospitals, laboratories and practices lay them out. The truth lists what the document
 * states about its patient, its type, its date and its author, nothing guessed: a report that only says
 * "Patient : DUPONT Marie" states DUPONT as the patient's name, which the truth files as the birth name.
 */
import { type PdfLine, type PdfText, textPdf } from '../../src/platform/pdf.ts';

/** The fields a fixture's truth can give: identity traits, then the document's own. */
export interface ReportTruth {
  ins?: string;
  ipp?: string;
  birthLastName?: string;
  usedLastName?: string;
  birthGivenNames?: string;
  firstBirthGivenName?: string;
  usedGivenName?: string;
  /** YYYY-MM-DD. */
  birthDate?: string;
  sex?: 'F' | 'M';
  birthplaceCode?: string;
  documentTypeCode?: string;
  /** YYYY-MM-DD. */
  procedureDate?: string;
  authorRpps?: string;
  /** The author's name as written, without "Dr". */
  authorName?: string;
}

export type TruthField = keyof ReportTruth;

export const TRUTH_FIELDS: readonly TruthField[] = [
  'ins',
  'ipp',
  'birthLastName',
  'usedLastName',
  'birthGivenNames',
  'firstBirthGivenName',
  'usedGivenName',
  'birthDate',
  'sex',
  'birthplaceCode',
  'documentTypeCode',
  'procedureDate',
  'authorRpps',
  'authorName',
];

export interface ReportFixture {
  name: string;
  /** One list of lines a page. */
  pages: PdfLine[][];
  truth: ReportTruth;
  /** What a person must be told, by a word the reason contains. */
  expectedReasons?: string[];
}

/** A NIR's 13 digits with the key that makes it valid (97 − number mod 97). */
export function withInsKey(nir13: string): string {
  const key = 97n - (BigInt(nir13.replace('2A', '19').replace('2B', '18')) % 97n);
  return `${nir13}${String(key).padStart(2, '0')}`;
}

/** The INS as printed on a card or a label: `2 79 03 75 056 123 45`. */
export function spacedIns(ins: string): string {
  return [
    ins.slice(0, 1),
    ins.slice(1, 3),
    ins.slice(3, 5),
    ins.slice(5, 7),
    ins.slice(7, 10),
    ins.slice(10, 13),
    ins.slice(13),
  ].join(' ');
}

/** Two columns on one baseline: the left margin and the middle of the page. */
const columns = (left: string, right: string, rightX = 330): PdfText[] => [
  { text: left, x: 56 },
  { text: right, x: rightX },
];
/** Table cells at x positions. */
const cells = (...texts: Array<[string, number]>): PdfText[] => texts.map(([text, x]) => ({ text, x }));
const heading = (text: string, size = 13): PdfText => ({ text, bold: true, size });
const right = (text: string): PdfText => ({ text, x: 340 });

const INS_BERTRAND = withInsKey('2790375056123');
const INS_DURAND = withInsKey('1500238185001');
const INS_FERREIRA = withInsKey('2470299139045');
/** A key off by one: a typing mistake on the report. */
const INS_GARCIA_WRONG_KEY = (() => {
  const valid = withInsKey('2940999350012');
  const key = (Number(valid.slice(13)) % 96) + 1;
  return `${valid.slice(0, 13)}${String(key).padStart(2, '0')}`;
})();

export const REPORT_FIXTURES: readonly ReportFixture[] = [
  {
    name: 'imaging report, INS-era header block, two-column letterhead',
    pages: [
      [
        columns("CENTRE D'IMAGERIE MÉDICALE DU PARC", 'Dr Sophie LEROY'),
        columns('12 avenue Jean Jaurès – 69007 Lyon', 'Dr Marc BENOIT'),
        columns('Tél. : 04 78 12 34 56 – Fax : 04 78 12 34 57', 'Radiologues – Secteur 1'),
        '',
        right('Lyon, le 28 novembre 2026'),
        '',
        'Nom de naissance : BERTRAND',
        'Nom utilisé : LEMAIRE',
        'Prénom(s) de naissance : Hélène Marie Josée',
        'Prénom utilisé : Hélène',
        columns('Date de naissance : 12/03/1979', 'Sexe : Féminin'),
        `INS : ${spacedIns(INS_BERTRAND)} (INS-NIR)`,
        'IPP : 0012345',
        'Médecin prescripteur : Dr Paul GARNIER',
        "Date de l'examen : 27/11/2026",
        '',
        heading('IRM DU GENOU DROIT'),
        '',
        'Indication : gonalgie droite mécanique depuis 3 mois, suspicion de lésion méniscale.',
        'Technique : séquences sagittales T1, DP FS dans les trois plans, sans injection de gadolinium.',
        'Résultats : fissure horizontale de la corne postérieure du ménisque médial, atteignant la surface',
        'articulaire inférieure. Ménisque latéral normal. Ligaments croisés et collatéraux continus.',
        'Épanchement articulaire de faible abondance. Pas de lésion ostéochondrale.',
        'Conclusion : fissure méniscale médiale horizontale de grade 3.',
        '',
        'Dr Sophie LEROY',
        'Compte rendu validé électroniquement le 28/11/2026 à 09:12',
        '',
        "Centre d'Imagerie du Parc – SELARL au capital de 10 000 € – FINESS 690012345 – www.imagerie-parc.fr",
      ],
    ],
    truth: {
      ins: INS_BERTRAND,
      ipp: '0012345',
      birthLastName: 'BERTRAND',
      usedLastName: 'LEMAIRE',
      birthGivenNames: 'Hélène Marie Josée',
      firstBirthGivenName: 'Hélène',
      usedGivenName: 'Hélène',
      birthDate: '1979-03-12',
      sex: 'F',
      documentTypeCode: '18748-4',
      procedureDate: '2026-11-27',
      authorName: 'Sophie LEROY',
    },
  },
  {
    name: 'laboratory results, patient and sample data in columns, result tables',
    pages: [
      [
        columns('LABORATOIRE DE BIOLOGIE MÉDICALE BIOLAB RHÔNE', 'Dossier n° 261127-0456', 400),
        columns('Site de Villeurbanne – 3 rue Francis de Pressensé', 'Page 1/1', 400),
        'Tél : 04 72 00 11 22 – Résultats en ligne : www.biolab-rhone.fr',
        '',
        cells(['Patient', 56], ['Mme MARTIN née DUPONT Marie', 130], ['Né(e) le : 05.07.1958', 380]),
        cells(['Adresse', 56], ['18 rue Paul Bert, 69003 Lyon', 130]),
        columns('Prélevé le : 27/11/2026 à 08h15', 'Enregistré le : 27/11/2026 à 09h02'),
        columns('Prescripteur : Dr GARNIER Paul', 'Édité le 28/11/2026'),
        '',
        heading('HÉMATOLOGIE', 11),
        heading('Hémogramme', 10),
        cells(['Hématies', 56], ['4,52 T/L', 260], ['(4,00-5,40)', 380]),
        cells(['Hémoglobine', 56], ['13,4 g/dL', 260], ['(12,0-16,0)', 380]),
        cells(['Hématocrite', 56], ['40,1 %', 260], ['(37,0-47,0)', 380]),
        cells(['Leucocytes', 56], ['6,8 G/L', 260], ['(4,0-10,0)', 380]),
        cells(['Plaquettes', 56], ['245 G/L', 260], ['(150-400)', 380]),
        '',
        heading('BIOCHIMIE', 11),
        cells(['Glycémie à jeun', 56], ['5,2 mmol/L', 260], ['(4,1-5,9)', 380]),
        cells(['Créatinine', 56], ['68 µmol/L', 260], ['(45-90)', 380]),
        cells(['DFG estimé (CKD-EPI)', 56], ['> 90 mL/min/1,73 m²', 260], ['', 380]),
        cells(['Protéine C réactive', 56], ['< 5 mg/L', 260], ['(< 5)', 380]),
        '',
        'Antériorité du 14/05/2025 : hémoglobine 12,9 g/dL.',
        '',
        'Biologiste responsable : Dr Anne ROUX',
        'Laboratoire accrédité COFRAC n° 8-1234 – portée disponible sur www.cofrac.fr',
      ],
    ],
    truth: {
      birthLastName: 'DUPONT',
      usedLastName: 'MARTIN',
      birthGivenNames: 'Marie',
      firstBirthGivenName: 'Marie',
      birthDate: '1958-07-05',
      sex: 'F',
      documentTypeCode: '11502-2',
      procedureDate: '2026-11-27',
      authorName: 'Anne ROUX',
    },
  },
  {
    name: 'discharge letter in free text, addressed to the GP, a son named, two pages',
    pages: [
      [
        heading('CENTRE HOSPITALIER UNIVERSITAIRE DE NANTES', 12),
        'Service de Cardiologie – Pr Jacques LEFEVRE',
        "5 allée de l'Île Gloriette – 44093 Nantes Cedex 1",
        'Secrétariat : 02 40 08 33 33 – cardiologie.secretariat@chu-nantes.fr',
        '',
        right('Docteur Paul GARNIER'),
        right('15 rue des Lilas'),
        right('44000 Nantes'),
        '',
        right('Nantes, le 20 novembre 2026'),
        '',
        heading('LETTRE DE LIAISON À LA SORTIE', 12),
        '',
        'Cher Confrère,',
        "J'ai pris en charge votre patiente Madame Marie MARTIN née DUPONT, née le 12 mars 1979,",
        'hospitalisée dans le service du 14 au 20 novembre 2026 pour une décompensation cardiaque',
        'gauche sur fibrillation atriale rapide.',
        'Elle était accompagnée de son fils, M. Pierre MARTIN, joignable au 06 12 34 56 78.',
        '',
        'Antécédents : hypertension artérielle depuis 2010, cholécystectomie en 2004.',
        "Histoire de la maladie : dyspnée d'effort d'aggravation progressive depuis le 1er novembre,",
        'orthopnée depuis une semaine. À l’entrée, fibrillation atriale à 140/min, BNP à 1 250 pg/mL.',
        'Évolution : ralentissement par bêtabloquant, anticoagulation par apixaban, déplétion sodée.',
        'Échocardiographie du 16/11/2026 : FEVG à 45 %, pas de valvulopathie significative.',
      ],
      [
        'Traitement de sortie :',
        '- Apixaban 5 mg : 1 comprimé matin et soir',
        '- Bisoprolol 2,5 mg : 1 comprimé le matin',
        '- Furosémide 40 mg : 1 comprimé le matin',
        '',
        'Suivi : consultation de cardiologie le 15/01/2027 à 10h00, bilan biologique à J8.',
        '',
        'Je vous prie de croire, cher Confrère, à l’assurance de mes sentiments confraternels.',
        '',
        'Dr Claire MOREAU',
        'Cardiologue – RPPS 10003456789',
        '',
        'Copie : Dr Paul GARNIER (médecin traitant)',
      ],
    ],
    truth: {
      birthLastName: 'DUPONT',
      usedLastName: 'MARTIN',
      birthGivenNames: 'Marie',
      firstBirthGivenName: 'Marie',
      birthDate: '1979-03-12',
      sex: 'F',
      documentTypeCode: '11490-0',
      procedureDate: '2026-11-14',
      authorName: 'Claire MOREAU',
      authorRpps: '10003456789',
    },
  },
  {
    name: 'operative report: surgeon, assistant and anaesthetist named',
    pages: [
      [
        'CLINIQUE DU VAL DE SAÔNE – Chirurgie viscérale et digestive',
        '2 rue du Port – 71100 Chalon-sur-Saône – Tél. 03 85 00 00 00',
        '',
        heading('COMPTE RENDU OPÉRATOIRE', 14),
        '',
        columns('Patient : M. PETIT Jean, né le 05/07/1958 (68 ans)', 'IPP : 00458712', 380),
        "Date d'intervention : 02/11/2026",
        'Opérateur : Dr Luc FABRE (RPPS 10001234567)',
        'Aide opératoire : Dr Sarah COHEN',
        'Anesthésiste : Dr Marc DUBOIS – Anesthésie générale',
        '',
        'Indication : lithiase vésiculaire symptomatique, deux épisodes de colique hépatique.',
        'Intervention : cholécystectomie par cœlioscopie.',
        'Installation en décubitus dorsal, jambes écartées. Open cœlioscopie ombilicale, trois trocarts.',
        'Dissection du triangle de Calot, contrôle du canal et de l’artère cystiques par clips.',
        'Cholangiographie peropératoire normale. Cholécystectomie rétrograde. Extraction en sac.',
        'Fermeture aponévrotique ombilicale au fil résorbable, points cutanés.',
        'Pièce adressée en anatomie pathologique.',
        'Suites : sortie prévue le 04/11/2026 si les suites sont simples.',
        '',
        'Dr Luc FABRE',
      ],
    ],
    truth: {
      ipp: '00458712',
      birthLastName: 'PETIT',
      birthGivenNames: 'Jean',
      firstBirthGivenName: 'Jean',
      birthDate: '1958-07-05',
      sex: 'M',
      documentTypeCode: '34874-8',
      procedureDate: '2026-11-02',
      authorName: 'Luc FABRE',
      authorRpps: '10001234567',
    },
  },
  {
    name: 'consultation letter, dates in words, a particle name, the partner named',
    pages: [
      [
        heading('Dr Hélène FAURE', 12),
        'Gastro-entérologie et hépatologie – Ancienne cheffe de clinique',
        'Cabinet médical des Tilleuls – 8 place de la République – 35000 Rennes',
        'Tél. 02 99 00 11 22 – N° RPPS 10009876543',
        '',
        right('Rennes, le 3 décembre 2026'),
        right('Docteur François LE GALL'),
        right('22 boulevard de la Liberté'),
        right('35000 Rennes'),
        '',
        heading('Compte rendu de consultation du 03/12/2026', 11),
        'Objet : M. Gaël LE GOFF, né le 1er février 1990',
        '',
        'Cher ami,',
        "J'ai revu ce jour en consultation M. Gaël LE GOFF pour le suivi de sa maladie de Crohn iléale,",
        'diagnostiquée en mars 2018. Sa compagne, Mme Anaïs ROBIN, rapporte une asthénie marquée depuis',
        'septembre. Il a présenté une poussée modérée en octobre, traitée par budésonide.',
        'Examen clinique : poids 68 kg (− 3 kg), abdomen souple, pas de masse, pas de lésion anopérinéale.',
        'Biologie du 25/11/2026 : CRP à 18 mg/L, calprotectine fécale à 450 µg/g.',
        'Conclusion : maladie de Crohn active. Je propose une entéro-IRM et l’introduction d’un',
        'traitement par anti-TNF après bilan pré-thérapeutique.',
        '',
        'Bien confraternellement,',
        'Dr Hélène FAURE',
      ],
    ],
    truth: {
      birthLastName: 'LE GOFF',
      birthGivenNames: 'Gaël',
      firstBirthGivenName: 'Gaël',
      birthDate: '1990-02-01',
      sex: 'M',
      documentTypeCode: '11488-4',
      procedureDate: '2026-12-03',
      authorName: 'Hélène FAURE',
      authorRpps: '10009876543',
    },
  },
  {
    name: 'pathology report, sample and receipt dates, dotted birth date',
    pages: [
      [
        heading("CABINET D'ANATOMIE ET CYTOLOGIE PATHOLOGIQUES DES ALPES", 11),
        '14 rue Lesdiguières – 38000 Grenoble – Tél : 04 76 00 00 00 – Fax : 04 76 00 00 01',
        '',
        columns('Patient : DURAND Jacques', "N° d'examen : H26-04512"),
        columns('Né le : 01.02.1950', 'Sexe : M'),
        `INS : ${spacedIns(INS_DURAND)}`,
        columns('Prélèvement du : 10/11/2026', 'Reçu le : 12/11/2026'),
        'Médecin préleveur : Dr Anne VIDAL – Service de gastro-entérologie, CHU Grenoble Alpes',
        '',
        'Nature du prélèvement : biopsies gastriques antrales et fundiques (endoscopie).',
        "Renseignements cliniques : épigastralgies, recherche d'Helicobacter pylori.",
        'Macroscopie : 4 fragments biopsiques de 2 à 3 mm, inclus en totalité.',
        'Microscopie : muqueuse antrale siège d’un infiltrat lympho-plasmocytaire du chorion,',
        'avec activité neutrophile modérée. Bacilles spiralés visibles en surface (Giemsa).',
        'Absence de métaplasie intestinale, absence de dysplasie.',
        '',
        'CONCLUSION : gastrite chronique active à Helicobacter pylori. Pas de lésion tumorale.',
        '',
        'Compte rendu validé le 14/11/2026 par Dr Bernard MOREL, pathologiste',
      ],
    ],
    truth: {
      ins: INS_DURAND,
      birthLastName: 'DURAND',
      birthGivenNames: 'Jacques',
      firstBirthGivenName: 'Jacques',
      birthDate: '1950-02-01',
      sex: 'M',
      documentTypeCode: '60568-3',
      procedureDate: '2026-11-10',
      authorName: 'Bernard MOREL',
    },
  },
  {
    name: 'emergency department record: the mother as the person to call, the GP named',
    pages: [
      [
        'CENTRE HOSPITALIER DE VALENCE',
        heading("SERVICE D'ACCUEIL DES URGENCES", 12),
        heading('Compte rendu de passage aux urgences', 11),
        '',
        columns("Date d'arrivée : 15/11/2026 à 22h14", "Mode d'arrivée : pompiers"),
        cells(
          ['Nom : LEFEBVRE', 56],
          ['Prénom : Lucas', 200],
          ['Né le : 30/11/2001', 320],
          ['Sexe : Masculin', 450],
        ),
        columns('IPP : 0098765', 'N° de séjour : 26112345'),
        'Adresse : 4 impasse des Peupliers, 26000 Valence – Tél. 06 11 22 33 44',
        'Personne à prévenir : Mme LEFEBVRE Sandrine (mère) – 06 12 34 56 78',
        'Médecin traitant : Dr Olivier BLANC, 26000 Valence',
        '',
        'Motif de recours : traumatisme de la cheville droite lors d’un match de football.',
        'IOA : tri 4, EVA 6/10.',
        'Examen : œdème et ecchymose sous-malléolaires externes, appui impossible.',
        'Radiographie de la cheville droite : pas de fracture.',
        'Diagnostic : entorse de gravité moyenne du ligament collatéral latéral.',
        'Traitement : immobilisation par attelle, anticoagulation préventive, antalgiques de palier 1.',
        'Sortie le 16/11/2026 à 01h30 – retour à domicile.',
        '',
        'Médecin urgentiste : Dr Karim BENALI',
      ],
    ],
    truth: {
      ipp: '0098765',
      birthLastName: 'LEFEBVRE',
      birthGivenNames: 'Lucas',
      firstBirthGivenName: 'Lucas',
      birthDate: '2001-11-30',
      sex: 'M',
      documentTypeCode: '15507-7',
      procedureDate: '2026-11-15',
      authorName: 'Karim BENALI',
    },
  },
  {
    name: 'CT report over three pages, identity as a table, running header, an older exam cited',
    pages: [
      [
        'HÔPITAL PRIVÉ DE LA LOIRE – IMAGERIE MÉDICALE',
        '10 quai Jean Moulin – 42000 Saint-Étienne – Rendez-vous : 04 77 00 00 00',
        '',
        cells(['Nom de naissance', 56], ['Prénom(s)', 200], ['Date de naissance', 330], ['Sexe', 470]),
        cells(['BERNARD', 56], ['Chloé Emma', 200], ['14/06/1985', 330], ['F', 470]),
        columns('IPP : 0034567', "Nom d'usage : GIRARD"),
        '',
        heading('SCANNER THORACO-ABDOMINO-PELVIEN', 12),
        'Examen du 25/11/2026',
        'Demandeur : Dr Yves PERRIN, oncologie médicale',
        '',
        "Indication : bilan d'extension d'un adénocarcinome colique droit.",
        'Technique : acquisition hélicoïdale thoraco-abdomino-pelvienne après injection de produit de',
        'contraste iodé, temps portal. Produit de contraste : 90 mL. PDL : 612 mGy.cm.',
      ],
      [
        'BERNARD Chloé – née le 14/06/1985 – IPP 0034567 – page 2/3',
        '',
        "Résultats : à l'étage thoracique, deux micronodules pulmonaires du lobe inférieur droit,",
        "infracentimétriques, stables comparés à l'examen du 12/05/2026.",
        'Pas d’adénopathie médiastinale. Pas d’épanchement pleural.',
        "À l'étage abdominal, épaississement pariétal du côlon droit connu. Foie de taille normale,",
        'sans lésion focale. Rate, pancréas et surrénales sans particularité.',
      ],
      [
        'BERNARD Chloé – née le 14/06/1985 – IPP 0034567 – page 3/3',
        '',
        'Conclusion : épaississement du côlon droit connu, sans lésion secondaire hépatique.',
        'Micronodules pulmonaires stables, non spécifiques : contrôle dans six mois.',
        '',
        'Dr Thomas ROUSSEAU, radiologue',
        'Compte rendu dicté le 25/11/2026, validé le 26/11/2026',
        'Hôpital privé de la Loire – www.hpl-loire.fr – page 3/3',
      ],
    ],
    truth: {
      ipp: '0034567',
      birthLastName: 'BERNARD',
      usedLastName: 'GIRARD',
      birthGivenNames: 'Chloé Emma',
      firstBirthGivenName: 'Chloé',
      birthDate: '1985-06-14',
      sex: 'F',
      documentTypeCode: '18748-4',
      procedureDate: '2026-11-25',
      authorName: 'Thomas ROUSSEAU',
    },
  },
  {
    name: 'specialist letter without a title, patient in free text, sister and husband named',
    pages: [
      [
        heading('Docteur Isabelle NOËL', 12),
        'Rhumatologie – Ancienne interne des hôpitaux de Paris',
        '45 rue de Rivoli – 75004 Paris – Tél : 01 42 00 00 00',
        'RPPS : 10004567891',
        '',
        right('Paris, le 24 novembre 2026'),
        '',
        right('Docteur Jean-Michel ROY'),
        right('Médecin généraliste'),
        right('3 rue de la Roquette'),
        right('75011 Paris'),
        '',
        'Cher Confrère,',
        "Je vous remercie de m'avoir adressé Madame Élise DUPONT, née MARTIN le 8 avril 1962, que j'ai",
        'vue en consultation le 24/11/2026 pour des douleurs articulaires diffuses évoluant depuis l’été.',
        'Sa sœur, Mme Claire MARTIN, est suivie pour une polyarthrite rhumatoïde.',
        'Madame DUPONT est venue accompagnée de son époux, M. Alain DUPONT.',
        '',
        'Antécédents : hypothyroïdie substituée, appendicectomie dans l’enfance.',
        'Examen clinique : synovites des 2e et 3e métacarpo-phalangiennes droites, pas de rachialgie.',
        'Je demande un bilan immunologique (facteur rhumatoïde, anticorps anti-CCP) et des radiographies',
        'des mains et des pieds, et je la reverrai dans un mois avec les résultats.',
        '',
        'Bien confraternellement.',
        '',
        'Docteur Isabelle NOËL',
      ],
    ],
    truth: {
      birthLastName: 'MARTIN',
      usedLastName: 'DUPONT',
      birthGivenNames: 'Élise',
      firstBirthGivenName: 'Élise',
      birthDate: '1962-04-08',
      sex: 'F',
      documentTypeCode: '11488-4',
      procedureDate: '2026-11-24',
      authorName: 'Isabelle NOËL',
      authorRpps: '10004567891',
    },
  },
  {
    name: 'hospital laboratory, capitals, inline labels, an INS with a wrong key',
    pages: [
      [
        'CHU DE BORDEAUX – PÔLE DE BIOLOGIE ET PATHOLOGIE',
        "Laboratoire d'hématologie – Hôpital Haut-Lévêque – 33604 Pessac",
        '',
        columns('Demande n° 2611300123', 'Date de prélèvement : 30/11/2026 07:45'),
        'Nom : GARCIA  Prénom : LUCIA  DDN : 21/09/1994  Sexe : F',
        `N° patient : 000456123   INS : ${spacedIns(INS_GARCIA_WRONG_KEY)}`,
        'Service demandeur : Maternité – Médecin demandeur : Dr Hugo LAMBERT',
        '',
        heading('NUMÉRATION FORMULE SANGUINE', 11),
        cells(['Hémoglobine', 56], ['10,8 g/dL', 260], ['12,0 – 16,0', 380]),
        cells(['VGM', 56], ['76 fL', 260], ['80 – 100', 380]),
        cells(['Plaquettes', 56], ['312 G/L', 260], ['150 – 400', 380]),
        heading('HÉMOSTASE', 11),
        cells(['Taux de prothrombine', 56], ['92 %', 260], ['70 – 100', 380]),
        cells(['Fibrinogène', 56], ['4,9 g/L', 260], ['2,0 – 4,0', 380]),
        '',
        'Commentaire : anémie microcytaire, à compléter par un bilan martial.',
        'Validé par : Dr Emma FONTAINE, biologiste – le 30/11/2026 à 11:20',
      ],
    ],
    truth: {
      ipp: '000456123',
      birthLastName: 'GARCIA',
      birthGivenNames: 'LUCIA',
      firstBirthGivenName: 'LUCIA',
      birthDate: '1994-09-21',
      sex: 'F',
      documentTypeCode: '11502-2',
      procedureDate: '2026-11-30',
      authorName: 'Emma FONTAINE',
    },
    expectedReasons: ['key is wrong'],
  },
  {
    name: 'screening mammography, identity on one line with separators',
    pages: [
      [
        'RADIOLOGIE DU LITTORAL – Sénologie – 6 avenue de la Mer – 17000 La Rochelle',
        'Tél. 05 46 00 00 00',
        '',
        heading('Mammographie bilatérale de dépistage organisé', 12),
        'Patient | Mme DUPONT Marie | née le 12/03/1979 | IPP 0056781',
        'Examen réalisé le 18/11/2026 – deuxième lecture le 25/11/2026',
        'Prescripteur : Dr Nicolas HUET',
        '',
        'Incidences : face et oblique externe bilatérales, complétées par une échographie.',
        'Résultats : seins de densité de type B. Pas de masse, pas de foyer de microcalcifications',
        'suspectes, pas de distorsion architecturale. Ganglions axillaires d’aspect normal.',
        'Conclusion : ACR 1 à droite, ACR 1 à gauche. Prochain dépistage dans deux ans.',
        '',
        'Dr Laure CHEVALIER',
      ],
    ],
    truth: {
      ipp: '0056781',
      birthLastName: 'DUPONT',
      birthGivenNames: 'Marie',
      firstBirthGivenName: 'Marie',
      birthDate: '1979-03-12',
      sex: 'F',
      documentTypeCode: '18748-4',
      procedureDate: '2026-11-18',
      authorName: 'Laure CHEVALIER',
    },
  },
  {
    name: 'discharge letter with an INS identity block and a trusted person block',
    pages: [
      [
        'GROUPE HOSPITALIER SUD – Service de médecine interne',
        '1 avenue du Professeur Calmette – 34000 Montpellier – Tél. 04 67 00 00 00',
        '',
        heading('LETTRE DE LIAISON DE SORTIE', 12),
        '',
        heading('IDENTITÉ DU PATIENT', 10),
        'Nom de naissance : FERREIRA',
        'Premier prénom de naissance : Ana',
        'Prénom(s) de naissance : Ana Maria',
        columns('Date de naissance : 03/02/1947', 'Sexe : F'),
        'Lieu de naissance : Porto, Portugal (99139)',
        `Matricule INS : ${spacedIns(INS_FERREIRA)}`,
        columns('Nom utilisé : FERREIRA', 'IPP : 0001289'),
        '',
        heading('PERSONNE DE CONFIANCE', 10),
        'Nom : COSTA',
        'Prénom : Miguel',
        'Lien : fils – Tél. : 06 98 76 54 32',
        '',
        'Séjour du 16/11/2026 au 26/11/2026 – Unité de médecine interne B',
        'Motif d’hospitalisation : pneumopathie franche lobaire aiguë droite.',
        'Évolution favorable sous amoxicilline, apyrexie au troisième jour.',
        'Traitement de sortie : amoxicilline 1 g trois fois par jour jusqu’au 30/11/2026.',
        '',
        'Dr Nathalie GIRAUD, praticien hospitalier – RPPS 10007654321',
        'Médecin traitant : Dr Olivier BLANC – RPPS 10001112223',
      ],
    ],
    truth: {
      ins: INS_FERREIRA,
      ipp: '0001289',
      birthLastName: 'FERREIRA',
      usedLastName: 'FERREIRA',
      birthGivenNames: 'Ana Maria',
      firstBirthGivenName: 'Ana',
      birthDate: '1947-02-03',
      sex: 'F',
      birthplaceCode: '99139',
      documentTypeCode: '11490-0',
      procedureDate: '2026-11-16',
      authorName: 'Nathalie GIRAUD',
      authorRpps: '10007654321',
    },
  },
];

const INS_HADDAD = withInsKey('1710999350123');

/**
 * Written after the rules were developed on REPORT_FIXTURES, and not changed since. Their first run gave
 * 36 of 53 fields confident and right, none confident and wrong (precision 1, recall 0.68); the rules
 * then learnt the conventions that run showed missing (an unlabelled "Mme NOM PRÉNOM" block above
 * "Née le", "Enfant :", "Prélèvement :", "Date :", a sampler named in the last lines), so these are no
 * longer unseen: their figures are reported apart from the development set's.
 */
export const HELD_OUT_REPORT_FIXTURES: readonly ReportFixture[] = [
  {
    name: 'held out: private laboratory, name in capitals, two-digit birth year',
    pages: [
      [
        heading('CERBALLIANCE – LABORATOIRE DE BIOLOGIE MÉDICALE', 11),
        'Site Grenoble Europole – 2 place Robert Schuman – 38000 Grenoble – 04 76 00 00 00',
        '',
        columns('Mme DUPUIS CATHERINE', 'Dossier : 2611140087'),
        columns('Née le 12/03/79', 'Prescrit par : Dr Marc ALLARD'),
        columns('Prélèvement : 14/11/2026 08:30', 'Édition : 14/11/2026 16:02'),
        '',
        heading('BIOCHIMIE SANGUINE', 10),
        cells(['Sodium', 56], ['139 mmol/L', 260], ['136 – 145', 400]),
        cells(['Potassium', 56], ['4,1 mmol/L', 260], ['3,5 – 5,1', 400]),
        cells(['Créatinine', 56], ['72 µmol/L', 260], ['49 – 90', 400]),
        cells(['Cholestérol LDL', 56], ['1,62 g/L', 260], ['< 1,60', 400]),
        '',
        'Biologiste : Dr Julien MASSON',
      ],
    ],
    truth: {
      birthLastName: 'DUPUIS',
      birthGivenNames: 'CATHERINE',
      firstBirthGivenName: 'CATHERINE',
      birthDate: '1979-03-12',
      sex: 'F',
      documentTypeCode: '11502-2',
      procedureDate: '2026-11-14',
      authorName: 'Julien MASSON',
    },
  },
  {
    name: 'held out: abdominal ultrasound, names in mixed case, date label alone',
    pages: [
      [
        'Cabinet de Radiologie et d’Échographie des Quais – 5 quai Perrache – 69002 Lyon',
        '',
        heading('ÉCHOGRAPHIE ABDOMINALE', 12),
        '',
        columns('Nom : Martin', 'Prénom : Sophie'),
        columns('Date de naissance : 3 août 1988', 'Date : 20/11/2026'),
        'Médecin demandeur : Dr Claire BESSON',
        '',
        'Indication : douleurs de l’hypochondre droit.',
        'Foie de taille normale, d’échostructure homogène. Vésicule alithiasique à paroi fine.',
        'Voies biliaires non dilatées. Pancréas, rate et reins sans particularité.',
        'Conclusion : échographie abdominale normale.',
        '',
        'Docteur Pierre-Yves LE BRIS, radiologue',
      ],
    ],
    truth: {
      birthLastName: 'Martin',
      birthGivenNames: 'Sophie',
      firstBirthGivenName: 'Sophie',
      birthDate: '1988-08-03',
      documentTypeCode: '18748-4',
      procedureDate: '2026-11-20',
      authorName: 'Pierre-Yves LE BRIS',
    },
  },
  {
    name: 'held out: hospital stay report, admission and discharge lines, the son as trusted person',
    pages: [
      [
        'CENTRE HOSPITALIER DE CHAMBÉRY – Service de gériatrie aiguë',
        'Place Lucien Biset – 73000 Chambéry – Secrétariat : 04 79 00 00 00',
        '',
        heading("COMPTE RENDU D'HOSPITALISATION", 12),
        '',
        'Patiente : Mme BLANC Jeanne, née le 21/01/1942',
        columns('Entrée le 02/11/2026', 'Sortie le 12/11/2026'),
        'Médecin traitant : Dr Alain VIDAL',
        'Personne de confiance : M. BLANC Henri (fils) – 06 45 00 00 00',
        '',
        'Madame BLANC, 84 ans, a été hospitalisée pour une chute à domicile avec station au sol prolongée.',
        'Bilan : rhabdomyolyse modérée, pas de fracture sur les radiographies du bassin.',
        'Évolution favorable après réhydratation. Mise en place d’aides à domicile.',
        '',
        'Dr Sylvie PERRET, gériatre',
      ],
    ],
    truth: {
      birthLastName: 'BLANC',
      birthGivenNames: 'Jeanne',
      firstBirthGivenName: 'Jeanne',
      birthDate: '1942-01-21',
      sex: 'F',
      documentTypeCode: '34112-3',
      procedureDate: '2026-11-02',
      authorName: 'Sylvie PERRET',
    },
  },
  {
    name: 'held out: paediatric emergency visit, the mother as legal guardian',
    pages: [
      [
        'HÔPITAL FEMME MÈRE ENFANT – URGENCES PÉDIATRIQUES',
        '59 boulevard Pinel – 69500 Bron',
        '',
        heading('Compte rendu des urgences', 12),
        columns('Enfant : MOREAU Léo', 'Né le : 04/05/2020'),
        columns('Sexe : M', 'IPP : 0123987'),
        'Responsable légal : Mme MOREAU Julie (mère) – 06 70 00 00 00',
        'Arrivée le 22/11/2026 à 19h40',
        '',
        'Motif : fièvre à 39,5 °C depuis 48 heures et otalgie droite.',
        'Examen : otite moyenne aiguë droite. Pas de signe de gravité.',
        'Traitement : amoxicilline 80 mg/kg/j pendant 8 jours, paracétamol.',
        'Sortie à 21h15 avec sa mère.',
        '',
        'Dr Inès BOUVIER, pédiatre',
      ],
    ],
    truth: {
      ipp: '0123987',
      birthLastName: 'MOREAU',
      birthGivenNames: 'Léo',
      firstBirthGivenName: 'Léo',
      birthDate: '2020-05-04',
      sex: 'M',
      documentTypeCode: '15507-7',
      procedureDate: '2026-11-22',
      authorName: 'Inès BOUVIER',
    },
  },
  {
    name: 'held out: neurology consultation, identity on one line, professor signing',
    pages: [
      [
        'CHU DE LYON – HÔPITAL PIERRE WERTHEIMER – Service de neurologie',
        '',
        heading('CONSULTATION DE NEUROLOGIE', 12),
        `M. Karim HADDAD – né le 17.09.1971 – IPP 0077889 – INS ${spacedIns(INS_HADDAD)}`,
        'Date de consultation : 26/11/2026',
        'Adressé par : Dr Nadia SAIDI',
        '',
        'Monsieur HADDAD consulte pour des céphalées chroniques quotidiennes depuis six mois.',
        'Examen neurologique normal. IRM cérébrale du 10/11/2026 sans anomalie.',
        'Conclusion : céphalées de tension, abus médicamenteux associé.',
        '',
        'Pr Anne-Sophie DELORME',
        'RPPS 10008765432',
      ],
    ],
    truth: {
      ins: INS_HADDAD,
      ipp: '0077889',
      birthLastName: 'HADDAD',
      birthGivenNames: 'Karim',
      firstBirthGivenName: 'Karim',
      birthDate: '1971-09-17',
      sex: 'M',
      documentTypeCode: '11488-4',
      procedureDate: '2026-11-26',
      authorName: 'Anne-Sophie DELORME',
      authorRpps: '10008765432',
    },
  },
  {
    name: 'held out: pathology report with an INS-NIR label and a stay number',
    pages: [
      [
        'INSTITUT DE PATHOLOGIE DU SUD-OUEST – 12 allée des Cèdres – 33000 Bordeaux',
        '',
        heading('COMPTE RENDU ANATOMO-PATHOLOGIQUE', 12),
        columns('Nom de naissance : LAURENT', "Nom d'usage : ROCHE"),
        columns('Prénom(s) : Nathalie Anne', 'Sexe : Féminin'),
        columns('Date de naissance : 09/10/1966', 'N° de séjour : 2600451'),
        `INS-NIR : ${spacedIns(withInsKey('2661033063042'))}`,
        'Prélèvement réalisé le 05/11/2026 par le Dr Éric COLIN (chirurgie gynécologique)',
        '',
        'Nature : pièce de tumorectomie du sein gauche orientée.',
        'Examen macroscopique : lésion de 14 mm, à 8 mm de la berge la plus proche.',
        'Examen microscopique : carcinome canalaire infiltrant de grade II, RH positifs.',
        '',
        'Dr Marion FAVRE, pathologiste – signé le 12/11/2026',
      ],
    ],
    truth: {
      ins: withInsKey('2661033063042'),
      birthLastName: 'LAURENT',
      usedLastName: 'ROCHE',
      birthGivenNames: 'Nathalie Anne',
      firstBirthGivenName: 'Nathalie',
      birthDate: '1966-10-09',
      sex: 'F',
      documentTypeCode: '60568-3',
      procedureDate: '2026-11-05',
      authorName: 'Marion FAVRE',
    },
  },
];

/** The fixture as the PDF a sender drops. */
export function fixturePdf(fixture: ReportFixture): Buffer {
  return textPdf(fixture.pages, { title: fixture.name });
}

/** A field as a reader gave it, for scoring. */
export interface ScoredField {
  value: string;
  confidence: number;
}

/** The fields of a reading that a truth can name. */
export type ExtractedFields = Partial<Record<TruthField, ScoredField | undefined>>;

export interface FieldScore {
  /** Fields the truth gives. */
  truth: number;
  /** Fields extracted at all, and those at or above the threshold. */
  extracted: number;
  confident: number;
  correct: number;
  confidentCorrect: number;
}

export interface ExtractionScore {
  fields: Record<TruthField, FieldScore>;
  total: FieldScore;
  /** Confident fields: what goes on without a person. */
  precision: number;
  recall: number;
  /** Every field extracted, confident or not: what a person finds filled in. */
  precisionAll: number;
  recallAll: number;
  /** `fixture: field got X (confidence), truth Y` for every confident mistake and every miss. */
  errors: string[];
}

/**
 * Whether an extracted value is the truth's: names without regard to case (accents count), the author's
 * name without regard to word order, everything else exactly.
 */
export function sameValue(field: TruthField, extracted: string, truth: string): boolean {
  const words = (text: string) => text.trim().split(/\s+/);
  if (field === 'authorName') {
    const key = (text: string) =>
      words(text)
        .map((word) => word.toLocaleLowerCase('fr'))
        .sort()
        .join(' ');
    return key(extracted) === key(truth);
  }
  if (
    ['birthLastName', 'usedLastName', 'birthGivenNames', 'firstBirthGivenName', 'usedGivenName'].includes(
      field,
    )
  ) {
    return (
      words(extracted).join(' ').localeCompare(words(truth).join(' '), 'fr', { sensitivity: 'accent' }) === 0
    );
  }
  return extracted === truth;
}

/** Field-level precision and recall of readings against their fixtures' truth. */
export function scoreExtraction(
  results: Array<{ fixture: ReportFixture; extracted: ExtractedFields }>,
  threshold: number,
): ExtractionScore {
  const empty = (): FieldScore => ({ truth: 0, extracted: 0, confident: 0, correct: 0, confidentCorrect: 0 });
  const fields = Object.fromEntries(TRUTH_FIELDS.map((field) => [field, empty()])) as Record<
    TruthField,
    FieldScore
  >;
  const total = empty();
  const errors: string[] = [];
  for (const { fixture, extracted } of results) {
    for (const field of TRUTH_FIELDS) {
      const truth = fixture.truth[field];
      const got = extracted[field];
      const confident = got !== undefined && got.confidence >= threshold;
      const correct = got !== undefined && truth !== undefined && sameValue(field, got.value, truth);
      for (const score of [fields[field], total]) {
        if (truth !== undefined) score.truth++;
        if (got) score.extracted++;
        if (confident) score.confident++;
        if (correct) score.correct++;
        if (correct && confident) score.confidentCorrect++;
      }
      if (confident && !correct) {
        errors.push(
          `${fixture.name}: ${field} read ${got.value} (${got.confidence}), truth ${truth ?? 'none'}`,
        );
      } else if (truth !== undefined && !confident) {
        const read = got ? `${got.value} (${got.confidence})` : 'nothing';
        errors.push(`${fixture.name}: ${field} left for a person, read ${read}, truth ${truth}`);
      }
    }
  }
  const ratio = (part: number, whole: number) => (whole === 0 ? 1 : part / whole);
  return {
    fields,
    total,
    precision: ratio(total.confidentCorrect, total.confident),
    recall: ratio(total.confidentCorrect, total.truth),
    precisionAll: ratio(total.correct, total.extracted),
    recallAll: ratio(total.correct, total.truth),
    errors,
  };
}
