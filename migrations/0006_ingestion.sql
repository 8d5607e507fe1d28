-- Documents as hospitals send them: HL7 v2 (over MLLP or HTTP), CDA R2 and FHIR, each message kept as
-- received, each document read into a request once, however often it is sent.

-- The identifiers senders put in MSH-6 (receiving facility) to reach a facility, besides the
-- facility's own id, which always routes to it.
CREATE TABLE facility_receiving_identifiers (
  identifier  text PRIMARY KEY CHECK (length(identifier) BETWEEN 1 AND 200),
  facility_id text NOT NULL REFERENCES facilities (facility_id),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX facility_receiving_identifiers_facility_idx ON facility_receiving_identifiers (facility_id);

-- Every message accepted, once. A resend from the same sending facility with the same control id
-- (MSH-10) finds its row and is answered with the same requests; the raw bytes stay in the object
-- store, downloadable from the requests' detail.
CREATE TABLE inbound_messages (
  message_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  facility_id  text NOT NULL REFERENCES facilities (facility_id),
  listener     text NOT NULL CHECK (listener IN ('mllp', 'http', 'cli')),
  format       text NOT NULL CHECK (format IN ('hl7v2', 'cda', 'fhir')),
  -- MSH-4 (sending facility) for HL7 v2; who sent it over HTTP otherwise.
  sender       text NOT NULL,
  control_id   text,
  message_type text,
  content_type text NOT NULL,
  size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
  sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  storage_key  text NOT NULL UNIQUE,
  -- The requests this message made, replaced or cancelled: what a resend is answered with.
  request_ids  bigint[] NOT NULL DEFAULT '{}',
  received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX inbound_messages_control_id_idx
  ON inbound_messages (facility_id, sender, control_id) WHERE control_id IS NOT NULL;

ALTER TABLE integration_requests DROP CONSTRAINT integration_requests_status_check;
ALTER TABLE integration_requests
  ADD CONSTRAINT integration_requests_status_check CHECK (status IN
    ('received', 'pending_verification', 'verified', 'integrated', 'rejected', 'error', 'cancelled')),
  ADD COLUMN message_id           bigint REFERENCES inbound_messages (message_id),
  ADD COLUMN format               text NOT NULL DEFAULT 'upload' CHECK (format IN ('upload', 'hl7v2', 'cda', 'fhir')),
  -- TXA-12, ClinicalDocument/id (root^extension), DocumentReference.masterIdentifier.
  ADD COLUMN document_id          text,
  ADD COLUMN replaces_request_id  bigint REFERENCES integration_requests (request_id),
  ADD COLUMN identity_reliability text CHECK (identity_reliability IN ('PROV', 'RECUP', 'VALI', 'QUAL')),
  -- What a person must look at before verifying: envelope and content disagree, an INS key is wrong…
  ADD COLUMN mismatch_reasons     text[] NOT NULL DEFAULT '{}',
  ADD COLUMN cancelled_at         timestamptz,
  ADD COLUMN cancellation_reason  text;
-- A document is received once per facility: a resend under another control id is still a duplicate.
CREATE UNIQUE INDEX integration_requests_document_idx
  ON integration_requests (facility_id, document_id) WHERE document_id IS NOT NULL;
CREATE INDEX integration_requests_replaces_idx
  ON integration_requests (replaces_request_id) WHERE replaces_request_id IS NOT NULL;
CREATE INDEX integration_requests_message_idx ON integration_requests (message_id) WHERE message_id IS NOT NULL;

-- Every field a reader extracted, with where it was read and how sure the reader was:
-- {"birthLastName": {"value": "DUPONT", "source": "PID-5[1].1", "confidence": 1}, …}.
ALTER TABLE extracted_metadata
  ADD COLUMN first_birth_given_name text,
  ADD COLUMN used_given_name        text,
  ADD COLUMN author_rpps            text,
  ADD COLUMN fields                 jsonb NOT NULL DEFAULT '{}'::jsonb;
