-- The clinical document registry: studies, sections, logical documents and their versions (the source
-- of truth), and document_registry, the projection that answers "latest approved" in one probe.

CREATE TABLE studies (
  study_id   text PRIMARY KEY CHECK (study_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sections (
  study_id      text NOT NULL REFERENCES studies (study_id),
  section_id    text NOT NULL CHECK (section_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  document_type text NOT NULL CHECK (document_type ~ '^[A-Z][A-Z0-9_]{1,31}$'),
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (study_id, section_id)
);

-- layout: 'registry' for documents uploaded through hotpath (objects under documents/{logical_id}/),
-- 'legacy' for documents adopted by import-bucket (objects under the old section prefix).
CREATE TABLE documents (
  logical_id text PRIMARY KEY CHECK (logical_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
  study_id   text NOT NULL,
  section_id text NOT NULL,
  title      text NOT NULL,
  layout     text NOT NULL DEFAULT 'registry' CHECK (layout IN ('registry', 'legacy')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (study_id, section_id) REFERENCES sections (study_id, section_id)
);
CREATE INDEX documents_section_idx ON documents (study_id, section_id);

CREATE TABLE document_versions (
  logical_id   text NOT NULL REFERENCES documents (logical_id),
  version      integer NOT NULL CHECK (version > 0),
  storage_key  text NOT NULL UNIQUE,
  content_type text NOT NULL,
  size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
  -- NULL only for versions adopted from a legacy bucket, whose bytes import-bucket does not read.
  sha256       text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  state        text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'approved', 'rejected', 'withdrawn')),
  uploaded_by  text NOT NULL,
  uploaded_at  timestamptz NOT NULL DEFAULT now(),
  approved_by  text,
  approved_at  timestamptz,
  rejected_by  text,
  rejected_at  timestamptz,
  withdrawn_by text,
  withdrawn_at timestamptz,
  -- Why it was rejected or withdrawn; a version is at most one of the two.
  reason       text,
  PRIMARY KEY (logical_id, version),
  CHECK (state NOT IN ('approved', 'withdrawn') OR (approved_by IS NOT NULL AND approved_at IS NOT NULL)),
  CHECK (state <> 'rejected' OR (rejected_by IS NOT NULL AND rejected_at IS NOT NULL)),
  CHECK (state <> 'withdrawn' OR (withdrawn_by IS NOT NULL AND withdrawn_at IS NOT NULL))
);
-- Recomputing a document's latest approved version after a transition is one probe of this index.
CREATE INDEX document_versions_approved_idx ON document_versions (logical_id, version DESC) WHERE state = 'approved';

-- One row per logical document, written in the same transaction as every change to its versions.
-- Everything GET /v1/documents/{id} returns is on the row, so the read is one primary-key probe.
-- revision increases on every change and feeds the ETag.
CREATE TABLE document_registry (
  logical_id            text PRIMARY KEY REFERENCES documents (logical_id),
  study_id              text NOT NULL,
  section_id            text NOT NULL,
  document_type         text NOT NULL,
  title                 text NOT NULL,
  layout                text NOT NULL,
  latest_version        integer,
  latest_version_key    text,
  approved_version      integer,
  approved_key          text,
  approved_content_type text,
  approved_size_bytes   bigint,
  approved_sha256       text,
  approved_at           timestamptz,
  approved_by           text,
  revision              bigint NOT NULL DEFAULT 1,
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CHECK ((approved_version IS NULL) = (approved_key IS NULL))
);

-- The outcome of each `hotpath reconcile`, so /metrics can export the latest drift count.
CREATE TABLE registry_reconcile_runs (
  run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL DEFAULT now(),
  checked     integer NOT NULL,
  mismatches  integer NOT NULL,
  fixed       integer NOT NULL DEFAULT 0
);

-- What each document's registry row must say, computed from the versions: the one definition that
-- transitions, backfill, import-bucket and reconcile all use.
CREATE VIEW document_registry_expected AS
SELECT d.logical_id, d.study_id, d.section_id, s.document_type, d.title, d.layout,
       latest.version      AS latest_version,
       latest.storage_key  AS latest_version_key,
       approved.version    AS approved_version,
       approved.storage_key AS approved_key,
       approved.content_type AS approved_content_type,
       approved.size_bytes AS approved_size_bytes,
       approved.sha256     AS approved_sha256,
       approved.approved_at,
       approved.approved_by
FROM documents d
JOIN sections s ON s.study_id = d.study_id AND s.section_id = d.section_id
LEFT JOIN LATERAL (
  SELECT v.version, v.storage_key FROM document_versions v
  WHERE v.logical_id = d.logical_id ORDER BY v.version DESC LIMIT 1
) latest ON true
LEFT JOIN LATERAL (
  SELECT v.version, v.storage_key, v.content_type, v.size_bytes, v.sha256, v.approved_at, v.approved_by
  FROM document_versions v
  WHERE v.logical_id = d.logical_id AND v.state = 'approved' ORDER BY v.version DESC LIMIT 1
) approved ON true;
