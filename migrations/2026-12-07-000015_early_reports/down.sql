DROP TABLE early_reports;
