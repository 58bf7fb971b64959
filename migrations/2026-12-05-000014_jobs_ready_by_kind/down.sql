DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (run_at, id) WHERE status = 'queued';
