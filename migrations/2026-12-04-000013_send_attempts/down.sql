ALTER TABLE jobs ALTER COLUMN max_attempts SET DEFAULT 10;
ALTER TABLE ticket_messages DROP COLUMN send_started_at;
