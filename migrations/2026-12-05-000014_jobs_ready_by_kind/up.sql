-- A lane claims jobs of its own kind, oldest first. Ordered by kind first, the index hands
-- a claim its first ready jobs and stops: with (run_at, id) alone every claim read and
-- sorted the whole backlog of its kind, so claims grew slower as the queue grew — the
-- queue fell further behind the more it had to do.
DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (kind, run_at, id) WHERE status = 'queued';
