CREATE INDEX jobs_status_kind ON jobs (status, kind);
