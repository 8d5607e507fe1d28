import type { Answer } from '../app/api.ts';

/** The worklist in words: what the API's codes mean to the people reading them. */
export type WorklistItem = Answer<'/v2/worklist', 'get'>['items'][number];
export type RequestDetail = Answer<'/v2/worklist/{id}', 'get'>;
export type Status = WorklistItem['status'];
export type Source = WorklistItem['source'];
export type IdentityCheck = WorklistItem['identityCheck'];
export type TraitComparison = RequestDetail['candidates'][number]['traits'][number];
export type Trait = TraitComparison['trait'];

/** A badge's colour: each status has its own, and its own word. */
export type Tone = 'neutral' | 'todo' | 'info' | 'success' | 'danger' | 'muted' | 'dark';

export const STATUSES: Status[] = [
  'received',
  'pending_verification',
  'verified',
  'integrated',
  'error',
  'rejected',
  'cancelled',
];

export const STATUS_WORDS: Record<Status, { label: string; tone: Tone; hint: string }> = {
  received: { label: 'Received', tone: 'neutral', hint: 'arrived, not read or not matched yet' },
  pending_verification: {
    label: 'To verify',
    tone: 'todo',
    hint: 'a person must confirm the patient',
  },
  verified: { label: 'Verified', tone: 'info', hint: 'the patient is confirmed; ready for the record' },
  integrated: { label: 'In the record', tone: 'success', hint: 'integrated into the hospital’s record' },
  error: {
    label: 'Integration failed',
    tone: 'danger',
    hint: 'the record refused it or could not be reached',
  },
  rejected: { label: 'Rejected', tone: 'dark', hint: 'a person rejected it' },
  cancelled: { label: 'Cancelled', tone: 'muted', hint: 'its sender withdrew or replaced it' },
};

export const SOURCES: Source[] = ['mssante', 'lab', 'imaging', 'device', 'paper'];

export const SOURCE_WORDS: Record<Source, string> = {
  mssante: 'MSSanté mail',
  lab: 'Laboratory',
  imaging: 'Imaging centre',
  device: 'Device',
  paper: 'Paper',
};

export const IDENTITY_WORDS: Record<IdentityCheck, { label: string; tone: Tone }> = {
  ok: { label: 'Identity confirmed', tone: 'success' },
  mismatch: { label: 'Identity differs', tone: 'danger' },
  pending: { label: 'Identity unchecked', tone: 'todo' },
};

export const TRAIT_WORDS: Record<Trait, string> = {
  ins: 'INS',
  birthLastName: 'Birth name',
  firstBirthGivenName: 'First given name',
  birthDate: 'Birth date',
  sex: 'Sex',
  birthplaceCode: 'Birthplace (INSEE)',
  usedLastName: 'Used name',
  ipp: 'IPP (hospital id)',
};

export const SEX_WORDS: Record<string, string> = { F: 'Female', M: 'Male', U: 'Unknown' };

export const FORMAT_WORDS: Record<RequestDetail['format'], string> = {
  upload: 'Upload',
  hl7v2: 'HL7 v2 message',
  cda: 'CDA R2 document',
  fhir: 'FHIR DocumentReference',
  pdf: 'PDF read from its text',
  scan: 'Scan read by OCR',
};

export const LISTENER_WORDS: Record<NonNullable<RequestDetail['message']>['listener'], string> = {
  mllp: 'MLLP',
  http: 'the HTTP inbox',
  cli: 'the command line',
  mailbox: 'an MSSanté mailbox',
  folder: 'a watched folder',
};

export const INTEGRATION_WORDS: Record<NonNullable<RequestDetail['integration']>['state'], string> = {
  queued: 'Waiting to be sent to the record',
  running: 'Being sent to the record',
  done: 'In the hospital’s record',
  failed: 'Sending failed',
};

export const RELIABILITY_WORDS: Record<NonNullable<RequestDetail['identityReliability']>, string> = {
  PROV: 'provisional',
  RECUP: 'recovered',
  VALI: 'validated',
  QUAL: 'qualified',
};

export const IDENTITY_STATUS_WORDS: Record<NonNullable<RequestDetail['patient']>['identityStatus'], string> =
  {
    provisional: 'provisional identity',
    recovered: 'recovered identity',
    validated: 'validated identity',
    qualified: 'qualified identity (INS checked)',
  };

/** Document types a hospital receives (LOINC, the CI-SIS list JDV_J07 and common others). */
export const DOCUMENT_TYPES: Array<{ code: string; label: string }> = [
  { code: '11502-2', label: 'Laboratory report' },
  { code: '18748-4', label: 'Imaging report' },
  { code: '11490-0', label: 'Discharge letter' },
  { code: '18842-5', label: 'Discharge summary' },
  { code: '34133-9', label: 'Summary of episode' },
  { code: '34112-3', label: 'Hospital report' },
  { code: '11488-4', label: 'Consultation note' },
  { code: '34874-8', label: 'Operative report' },
  { code: '28570-0', label: 'Procedure note' },
  { code: '60568-3', label: 'Pathology report' },
  { code: '11526-1', label: 'Pathology study' },
  { code: '15507-7', label: 'Emergency department note' },
  { code: '11524-6', label: 'EKG study' },
  { code: '11506-3', label: 'Progress note' },
  { code: '57133-1', label: 'Referral note' },
  { code: '60591-5', label: 'Patient summary' },
  { code: '57833-6', label: 'Prescription' },
];

/** A patient's name as the hospital writes it: used (or birth) name in capitals, then the first name. */
export function patientName(patient: { firstName: string; lastName: string }): string {
  return `${patient.lastName.toUpperCase()} ${patient.firstName}`;
}

/** A trait's value in words: sex as a word, dates as the reader writes them. */
export function traitValue(trait: Trait, value: string | null, formatDate: (date: string) => string): string {
  if (value === null || value === '') return '—';
  if (trait === 'sex') return SEX_WORDS[value] ?? value;
  if (trait === 'birthDate') return formatDate(value);
  return value;
}
