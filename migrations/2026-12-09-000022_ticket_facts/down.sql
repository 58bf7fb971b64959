ALTER TABLE tickets DROP COLUMN reopened_at;
DROP TABLE ticket_facts;
