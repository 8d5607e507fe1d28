-- The integration worklist: documents arriving at hospitals, the patient each belongs to, the checks
-- that prove it, and their integration into the hospital's record (EHR) over FHIR.

-- Trigram indexes answer the worklist's `q` (patient names, titles) and rank candidate patients;
-- btree_gin lets those indexes lead with the facility, so a common name is looked up in one hospital,
-- not in all 800. Both are trusted extensions: the database owner may create them.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- The one normalisation of names for matching and search: accents folded, punctuation to spaces,
-- upper case. Immutable, so generated columns and indexes can use it, and queries apply the same
-- function to what they look for.
CREATE FUNCTION identity_key(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN btrim(regexp_replace(upper(translate(value,
  'àâäáãåçéèêëíìîïñóòôöõúùûüýÿœæÀÂÄÁÃÅÇÉÈÊËÍÌÎÏÑÓÒÔÖÕÚÙÛÜÝŸŒÆ',
  'aaaaaaceeeeiiiinooooouuuuyyoaAAAAAACEEEEIIIINOOOOOUUUUYYOA')), '[^A-Z0-9]+', ' ', 'g'));

CREATE TABLE facilities (
  facility_id       text PRIMARY KEY CHECK (facility_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  name              text NOT NULL,
  -- The facility's EHR connector.
  fhir_base_url     text,
  ehr_enabled       boolean NOT NULL DEFAULT false,
  ehr_last_error    text,
  ehr_last_error_at timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now()
);

-- Patients as the hospital knows them: the full identity record (30+ columns). The worklist shows four
-- of them; only the detail page reads the rest.
CREATE TABLE patients (
  patient_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  facility_id            text NOT NULL REFERENCES facilities (facility_id),
  ipp                    text NOT NULL,                 -- the hospital's local patient id
  ins                    text CHECK (ins ~ '^[0-9]{13}[0-9]{2}$' OR ins ~ '^[12][0-9]{4}2[AB][0-9]{6}[0-9]{2}$'),
  ins_oid                text,                          -- 1.2.250.1.213.1.4.8 NIR, .9 NIA, .10 test, .11 demo
  identity_status        text NOT NULL DEFAULT 'provisional'
                         CHECK (identity_status IN ('provisional', 'recovered', 'validated', 'qualified')),
  birth_last_name        text NOT NULL,
  used_last_name         text,
  birth_first_names      text NOT NULL,                 -- all given names at birth, space separated
  first_name             text NOT NULL,                 -- the used first name
  birth_date             date NOT NULL,
  sex                    text NOT NULL CHECK (sex IN ('F', 'M', 'U')),
  birthplace_code        text,                          -- INSEE commune code (5 characters)
  address_line1          text,
  address_line2          text,
  postal_code            text,
  city                   text,
  country_code           text,
  phone_mobile           text,
  phone_home             text,
  email                  text,
  gp_name                text,
  gp_rpps                text,
  insurance_fund_code    text,
  insurance_number       text,
  deceased               boolean NOT NULL DEFAULT false,
  deceased_at            date,
  confidential           boolean NOT NULL DEFAULT false,
  vip                    boolean NOT NULL DEFAULT false,
  merged_into_patient_id bigint REFERENCES patients (patient_id),
  fhir_id                text,                          -- the Patient's id on the facility's FHIR server
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  birth_last_name_key    text GENERATED ALWAYS AS (identity_key(birth_last_name)) STORED,
  first_given_name_key   text GENERATED ALWAYS AS (identity_key(split_part(birth_first_names, ' ', 1))) STORED,
  UNIQUE (facility_id, ipp)
);
-- Matching: the national identifier first, then the strict traits.
CREATE INDEX patients_facility_ins_idx ON patients (facility_id, ins) WHERE ins IS NOT NULL;
CREATE INDEX patients_facility_traits_idx ON patients (facility_id, birth_date, birth_last_name_key);
-- Ranking candidates by name similarity.
CREATE INDEX patients_facility_name_trgm_idx ON patients USING gin (facility_id, birth_last_name_key gin_trgm_ops);

CREATE TABLE providers (
  provider_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  national_id text NOT NULL UNIQUE,                   -- RPPS
  first_name  text NOT NULL,
  last_name   text NOT NULL,
  specialty   text
);

-- One per received document. status, identity_check, attachment_count and search_text are kept in
-- the same transaction as the rows they summarise, so a worklist page is one statement.
CREATE TABLE integration_requests (
  request_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  facility_id         text NOT NULL REFERENCES facilities (facility_id),
  source              text NOT NULL CHECK (source IN ('mssante', 'lab', 'imaging', 'device', 'paper')),
  received_at         timestamptz NOT NULL DEFAULT now(),
  status              text NOT NULL DEFAULT 'received'
                      CHECK (status IN ('received', 'pending_verification', 'verified', 'integrated', 'rejected', 'error')),
  document_type_code  text,                           -- LOINC
  document_type_label text,
  title               text NOT NULL,
  procedure_date      date,
  patient_id          bigint REFERENCES patients (patient_id),
  author_provider_id  bigint REFERENCES providers (provider_id),
  priority            text NOT NULL DEFAULT 'routine' CHECK (priority IN ('routine', 'urgent')),
  identity_check      text NOT NULL DEFAULT 'pending' CHECK (identity_check IN ('ok', 'mismatch', 'pending')),
  attachment_count    integer NOT NULL DEFAULT 0,
  -- identity_key() of the title and the patient's names: what `q` searches.
  search_text         text NOT NULL DEFAULT '',
  -- Integration into the EHR: queued → running → done, or failed (retries exhausted).
  integration_state   text CHECK (integration_state IN ('queued', 'running', 'done', 'failed')),
  integration_attempts integer NOT NULL DEFAULT 0,
  integration_error   text,
  integrated_at       timestamptz,
  ehr_document_reference text,
  rejected_by         text,
  rejected_at         timestamptz,
  rejection_reason    text,
  updated_at          timestamptz NOT NULL DEFAULT now()
);
-- The worklist: newest first within a facility, keyset on (received_at, request_id).
CREATE INDEX integration_requests_facility_received_idx
  ON integration_requests (facility_id, received_at DESC, request_id DESC);
-- The usual filtered view: one status (pending_verification, verified…) of one facility.
CREATE INDEX integration_requests_facility_status_received_idx
  ON integration_requests (facility_id, status, received_at DESC, request_id DESC);
-- An admin's worklist across every facility.
CREATE INDEX integration_requests_received_idx ON integration_requests (received_at DESC, request_id DESC);
CREATE INDEX integration_requests_search_trgm_idx
  ON integration_requests USING gin (facility_id, search_text gin_trgm_ops);
CREATE INDEX integration_requests_patient_idx ON integration_requests (patient_id) WHERE patient_id IS NOT NULL;

CREATE TABLE attachments (
  attachment_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  request_id    bigint NOT NULL REFERENCES integration_requests (request_id),
  file_name     text NOT NULL,
  content_type  text NOT NULL,
  size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
  sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  pages         integer CHECK (pages > 0),
  storage_key   text NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_request_idx ON attachments (request_id);

-- What extraction read from the document (CDA header, HL7 message, OCR…), with a confidence per field.
CREATE TABLE extracted_metadata (
  request_id         bigint PRIMARY KEY REFERENCES integration_requests (request_id),
  extractor          text NOT NULL,
  ins                text,
  ins_oid            text,
  birth_last_name    text,
  used_last_name     text,
  first_names        text,
  birth_date         date,
  sex                text CHECK (sex IN ('F', 'M', 'U')),
  birthplace_code    text,
  ipp                text,
  procedure_date     date,
  document_type_code text,
  confidence         jsonb NOT NULL DEFAULT '{}'::jsonb,
  extracted_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE verifications (
  verification_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  request_id      bigint NOT NULL REFERENCES integration_requests (request_id),
  kind            text NOT NULL CHECK (kind IN ('identity', 'procedure_date', 'document_type')),
  outcome         text NOT NULL CHECK (outcome IN ('ok', 'mismatch', 'pending')),
  patient_id      bigint REFERENCES patients (patient_id),
  verified_by     text NOT NULL,
  verified_at     timestamptz NOT NULL DEFAULT now(),
  note            text
);
CREATE INDEX verifications_request_idx ON verifications (request_id, verified_at DESC);
