-- Documents also arrive from an MSSanté mailbox (IMAP) and from a watched folder (scanners, devices
-- and laboratories dropping files on a share).

ALTER TABLE inbound_messages DROP CONSTRAINT inbound_messages_listener_check;
ALTER TABLE inbound_messages ADD CONSTRAINT inbound_messages_listener_check
  CHECK (listener IN ('mllp', 'http', 'cli', 'mailbox', 'folder'));

-- A mail's subject, as its sender wrote it: what a person sees of where a document came from.
ALTER TABLE inbound_messages ADD COLUMN subject text CHECK (length(subject) <= 998);
