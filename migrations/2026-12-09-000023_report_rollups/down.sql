DROP TABLE report_recounts;
DROP TABLE report_rollups;
