-- The worklist's document-type filter (a LOINC code) within a facility, newest first: a page of a
-- rare type (a prescription among laboratory results) reads its own rows, not every row of the
-- facility until it has found twenty.
CREATE INDEX integration_requests_facility_type_received_idx
  ON integration_requests (facility_id, document_type_code, received_at DESC, request_id DESC)
  WHERE document_type_code IS NOT NULL;
