DROP INDEX tickets_company_category_activity;
DROP INDEX tickets_company_priority_activity;
ALTER TABLE tickets DROP COLUMN version;
