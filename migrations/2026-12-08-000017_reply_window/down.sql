ALTER TABLE tickets DROP COLUMN window_closes_at;
