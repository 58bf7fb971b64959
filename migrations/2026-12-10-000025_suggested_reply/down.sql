ALTER TABLE tickets DROP COLUMN suggested_reply;
