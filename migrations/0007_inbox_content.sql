-- Documents read from their text (a PDF's text layer, OCR of a scan) besides the structured formats,
-- and resends recognised by their content when they carry no control id of their own.

ALTER TABLE inbound_messages DROP CONSTRAINT inbound_messages_format_check;
ALTER TABLE inbound_messages ADD CONSTRAINT inbound_messages_format_check
  CHECK (format IN ('hl7v2', 'cda', 'fhir', 'pdf', 'scan'));
ALTER TABLE integration_requests DROP CONSTRAINT integration_requests_format_check;
ALTER TABLE integration_requests ADD CONSTRAINT integration_requests_format_check
  CHECK (format IN ('upload', 'hl7v2', 'cda', 'fhir', 'pdf', 'scan'));

-- A message without a control id (a CDA, a FHIR Bundle, a file) sent again byte for byte is the same
-- message: an HTTP retry after a lost answer stores nothing new.
CREATE UNIQUE INDEX inbound_messages_content_idx ON inbound_messages (facility_id, sha256) WHERE control_id IS NULL;
