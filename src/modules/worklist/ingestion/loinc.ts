/**
 * LOINC codes as the CI-SIS uses them for document types: the code's own check digit, and the French
 * labels of the value set JDV_J07-XdsTypeCode-CISIS (OID 1.2.250.1.213.1.1.5.471, ANS terminologies,
 * version 20260629120000), LOINC part only.
 */

/** The code system OID CDA documents give for LOINC. */
export const LOINC_OID = '2.16.840.1.113883.6.1';
/** The code system URI FHIR resources give for LOINC. */
export const LOINC_SYSTEM = 'http://loinc.org';

/**
 * A LOINC code: up to 7 digits, a hyphen, and the mod-10 check digit LOINC publishes. The digits in odd
 * positions counted from the right, read as one number, are doubled; the even-position digits are
 * written before that product; the check digit brings the sum of all those digits to a multiple of 10.
 */
export function isLoincCode(code: string): boolean {
  const match = /^(\d{1,7})-(\d)$/.exec(code);
  if (!match) return false;
  const [, number, checkDigit] = match as unknown as [string, string, string];
  const fromRight = [...number].reverse();
  const oddPositions = fromRight.filter((_, index) => index % 2 === 0).reverse();
  const evenPositions = fromRight.filter((_, index) => index % 2 === 1).reverse();
  const doubled = (BigInt(oddPositions.join('')) * 2n).toString();
  const digitSum = [...`${evenPositions.join('')}${doubled}`].reduce((sum, digit) => sum + Number(digit), 0);
  return (10 - (digitSum % 10)) % 10 === Number(checkDigit);
}

const JDV_J07_LABELS: Readonly<Record<string, string>> = {
  '11369-6': 'Historique des vaccinations',
  '11488-4': 'CR ou fiche de consultation ou de visite',
  '11490-0': "Lettre de liaison à la sortie d'un établissement de soins",
  '11502-2': "CR d'examens biologiques",
  '11505-5': "CR d'acte thérapeutique (autre)",
  '11506-3': 'CR ou fiche de suivi de soins par auxiliaire médical',
  '15507-7': 'CR de passage aux urgences',
  '15508-5': "CR d'accouchement",
  '18748-4': "CR d'imagerie médicale",
  '18761-7': "Note de transfert (dont lettre de liaison à l'entrée en établissement de soins)",
  '18776-5': 'Plan personnalisé de soins',
  '28617-9': 'Bilan bucco-dentaire',
  '28653-4': 'Document du secteur social / médico-social',
  '29274-8': 'Mesures de signes vitaux',
  '34112-3': 'CR hospitalier (séjour)',
  '34120-6': 'Bilan par professionnel de santé',
  '34133-9': "Synthèse d'épisode de soins",
  '34749-2': 'CR de consultation pré-anesthésique',
  '34794-8': 'CR de réunion de concertation pluridisciplinaire',
  '34842-5': "Grille d'évaluation médico-social",
  '34874-8': 'CR opératoire',
  '34875-5': 'Évaluation postopératoire et note de suivi',
  '34876-3': 'Évaluation préopératoire et note de suivi',
  '34895-3': "Fiche d'information au patient",
  '47420-5': 'CR de bilan fonctionnel',
  '51851-4': 'Document administratif',
  '51969-4': 'CR de génétique moléculaire',
  '52040-3': "Document encapsulant une image d'illustration non DICOM",
  '55115-0': "Demande d'actes d'imagerie",
  '55751-2': 'Déclaration de problème de santé publique',
  '56445-0': 'Bilan médicamenteux (Officine)',
  '56446-8': 'Notification de rendez-vous',
  '57055-6': 'Synthèse antepartum',
  '57057-2': 'Synthèse Salle de Naissance Mère',
  '57075-4': 'Synthèse Salle de Naissance Enfant',
  '57828-6': 'Prescription (autre)',
  '57832-8': 'Prescription de soins',
  '57833-6': 'Prescription de produits de santé',
  '59283-2': "CR d'examen de l'enfant",
  '59284-0': 'Attestation de consentement',
  '60280-5': 'Fiche de retour du service des urgences',
  '60568-3': "CR d'anatomie et de cytologie pathologiques",
  '60591-5': 'Synthèse médicale',
  '60593-1': 'Dispensation médicamenteuse',
  '61357-0': 'Intervention pharmaceutique',
  '67851-6': "CR d'admission",
  '68599-0': 'Synthèse psychiatrique',
  '68814-3': "Note d'évaluation pédiatrique",
  '68817-6': "Bilan de santé et de prévention de l'enfant",
  '70004-7': "CR d'acte diagnostique (autre)",
  '74207-2': "Document de liaison d'urgence",
  '74465-6': 'Questionnaire patient',
  '75468-9': 'Renouvellement ordonnance par pharmacien correspondant',
  '75482-0': "CR d'acte thérapeutique à visée préventive",
  '75492-9': "CR d'acte diagnostique à visée préventive ou de dépistage",
  '75496-0': "Demande d'acte de télémédecine",
  '77436-4': "CR d'anesthésie",
  '77604-7': 'Planification thérapeutique',
  '78341-5': 'Fiche de transfert vers le service des urgences',
  '78489-2': 'Synthèse Enfant en Maternité',
  '78513-9': 'CR de consultation en ophtalmologie',
  '78601-2': "CR d'entretien pharmaceutique",
  '80565-5': "CR d'administration de médicaments",
  '80771-9': "Projet d'accueil individualisé",
  '80788-3': "Projet personnalisé d'accompagnement",
  '80820-4': 'Formulaire de conciliation médicamenteuse (Hôpital)',
  '83836-7': 'Schéma dentaire',
  '83869-8': 'Plan personnalisé de prévention',
  '83901-9': 'Bilan psychologique',
  '83963-9': 'Synthèse environnementale',
  '83981-1': "Lettre de liaison à la sortie d'une structure sociale ou médico-sociale",
  '84067-8': 'Synthèse transfusionnelle',
  '85208-7': 'CR de télémédecine',
  '86531-1': 'Attestation de sortie',
  '87273-9': 'Note de vaccination',
  '88348-8': "Lettre de liaison d'entrée en structure sociale ou médico-sociale",
  '89233-1': 'CR de grossesse',
  '89235-6': 'Synthèse Suites de Couches Mère',
  '89601-9': 'Certificat médical',
  '93024-8': 'CR de consultation pharmaceutique',
  '96163-1': 'Bilan de soins infirmiers',
  '96173-0': "Test rapide d'orientation diagnostique",
  '96349-6': "Lettre d'adressage",
  '96874-3': 'COVID-19 Attestation de vaccination',
  '97694-4': "Note d'évaluation en médecine maternelle et fœtale",
  '100967-9': 'Rythme cardiaque fœtal',
  '101881-1': "Carte d'implant",
};

/** The French CI-SIS label of a document type, for a LOINC code of JDV_J07. */
export function loincLabel(code: string): string | undefined {
  return Object.hasOwn(JDV_J07_LABELS, code) ? JDV_J07_LABELS[code] : undefined;
}

/** Every LOINC code of JDV_J07 this module labels. */
export const JDV_J07_CODES: readonly string[] = Object.keys(JDV_J07_LABELS);
