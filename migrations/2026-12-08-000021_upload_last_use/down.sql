ALTER TABLE uploads DROP COLUMN last_used_at;
