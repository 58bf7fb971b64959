-- The durable work queue (triage, outbound sends, maintenance). Workers take ready rows
-- with FOR UPDATE SKIP LOCKED and hold a lease (locked_until) so that a crashed worker's
-- job runs again. company_id is null for platform jobs such as event pruning.
CREATE TABLE jobs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id    BIGINT      REFERENCES companies (id) ON DELETE CASCADE,
    kind          TEXT        NOT NULL CHECK (kind ~ '^[a-z_]+(\.[a-z_]+)*$'),
    payload       JSONB       NOT NULL DEFAULT '{}'::jsonb,
    -- Equal keys of live jobs are one job: enqueueing "send message 9" twice sends once.
    dedupe_key    TEXT        CHECK (char_length(dedupe_key) BETWEEN 1 AND 255),
    status        TEXT        NOT NULL DEFAULT 'queued'
                              CHECK (status IN ('queued', 'running', 'done', 'dead')),
    attempts      INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts  INTEGER     NOT NULL DEFAULT 10 CHECK (max_attempts > 0),
    run_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_until  TIMESTAMPTZ,
    last_error    TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT jobs_running_has_lease CHECK ((status = 'running') = (locked_until IS NOT NULL))
);

-- The worker's poll: the oldest ready job.
CREATE INDEX jobs_ready ON jobs (run_at, id) WHERE status = 'queued';
-- Reclaiming expired leases.
CREATE INDEX jobs_leases ON jobs (locked_until) WHERE status = 'running';
CREATE UNIQUE INDEX jobs_live_dedupe_key ON jobs (kind, dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');
-- Metrics and cleanup by state.
CREATE INDEX jobs_status_kind ON jobs (status, kind);

CREATE TRIGGER jobs_touch_updated_at BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION omni_touch_updated_at();
