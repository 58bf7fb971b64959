ALTER TABLE tickets DROP COLUMN manual_fields;
