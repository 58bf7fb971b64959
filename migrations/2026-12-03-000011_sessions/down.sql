DROP TABLE ws_tickets;
DROP TABLE revoked_tokens;
ALTER TABLE users DROP COLUMN session_epoch;
