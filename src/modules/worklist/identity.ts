/**
 * French national health identifier (INS): the NIR (or a temporary NIA), 13 characters and a 2-digit
 * key, key = 97 − (number mod 97). Corsican départements 2A and 2B count as 19 and 18 in the number.
 */
export function insKeyIsValid(ins: string): boolean {
  const match = /^([1-8]\d{4})(\d{2}|2A|2B)(\d{6})(\d{2})$/.exec(ins);
  if (!match) return false;
  const [, head, department, tail, key] = match as unknown as [string, string, string, string, string];
  const numericDepartment = department === '2A' ? '19' : department === '2B' ? '18' : department;
  const number = BigInt(`${head}${numericDepartment}${tail}`);
  return 97n - (number % 97n) === BigInt(key);
}

export const INS_OIDS = {
  '1.2.250.1.213.1.4.8': 'NIR',
  '1.2.250.1.213.1.4.9': 'NIA',
  '1.2.250.1.213.1.4.10': 'test',
  '1.2.250.1.213.1.4.11': 'demo',
} as const;

/** The identity traits read from a document, as the matcher needs them. */
export interface ExtractedIdentity {
  ins?: string | undefined;
  birthLastName?: string | undefined;
  firstNames?: string | undefined;
  birthDate?: string | undefined;
  sex?: 'F' | 'M' | 'U' | undefined;
  /** Read apart from the other given names (HL7 PID-5 L, CDA given BR): then a strict trait for INS too. */
  firstBirthGivenName?: string | undefined;
  birthplaceCode?: string | undefined;
}

export interface PatientTraits {
  patient_id: number;
  ins: string | null;
  same_ins: boolean;
  same_name: boolean;
  same_first_name: boolean;
  same_birth_date: boolean;
  same_sex: boolean;
  /** Null when the document or the patient has no INSEE birthplace code: nothing to compare. */
  same_birthplace?: boolean | null;
}

export type MatchOutcome =
  | { kind: 'matched'; patientId: number; by: 'ins' | 'traits' }
  | { kind: 'mismatch'; patientId: number; note: string }
  | { kind: 'pending'; note: string };

/**
 * The matching rules, strictest first: a valid INS held by exactly one of the facility's patients whose
 * strict traits (birth name, birth date, sex; the first birth given name when the document gives it
 * apart, the INSEE birthplace when both sides have one) agree matches; the same INS with disagreeing traits is a
 * mismatch for a person to judge; without an INS match, exactly one patient with the same birth name,
 * first given name, birth date and sex matches. Anything less stays pending, with candidates.
 */
export function decideMatch(extracted: ExtractedIdentity, rows: PatientTraits[]): MatchOutcome {
  const insUsable = extracted.ins !== undefined && insKeyIsValid(extracted.ins);
  if (insUsable) {
    const byIns = rows.filter((row) => row.same_ins);
    const [only, ...more] = byIns;
    if (only && more.length === 0) {
      const firstNameDiffers = extracted.firstBirthGivenName !== undefined && !only.same_first_name;
      const birthplaceDiffers = only.same_birthplace === false;
      if (
        only.same_name &&
        only.same_birth_date &&
        only.same_sex &&
        !firstNameDiffers &&
        !birthplaceDiffers
      ) {
        return { kind: 'matched', patientId: only.patient_id, by: 'ins' };
      }
      const differing = [
        only.same_name ? undefined : 'birth name',
        firstNameDiffers ? 'first birth given name' : undefined,
        only.same_birth_date ? undefined : 'birth date',
        only.same_sex ? undefined : 'sex',
        birthplaceDiffers ? 'birthplace' : undefined,
      ].filter(Boolean);
      return {
        kind: 'mismatch',
        patientId: only.patient_id,
        note: `INS matches but ${differing.join(', ')} differ`,
      };
    }
    if (more.length > 0) return { kind: 'pending', note: 'INS held by several patients of the facility' };
  }
  const byTraits = rows.filter(
    (row) =>
      row.same_name &&
      row.same_first_name &&
      row.same_birth_date &&
      row.same_sex &&
      row.same_birthplace !== false,
  );
  const [only, ...more] = byTraits;
  if (only && more.length === 0) return { kind: 'matched', patientId: only.patient_id, by: 'traits' };
  if (more.length > 0) return { kind: 'pending', note: 'several patients share these traits' };
  const why = extracted.ins !== undefined && !insUsable ? 'INS key invalid; ' : '';
  return { kind: 'pending', note: `${why}no patient matches exactly` };
}
