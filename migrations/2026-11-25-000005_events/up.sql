-- The durable event log behind WebSocket replay. ticket_id deliberately has no foreign
-- key: the log is history and keeps describing a ticket after it is deleted; the
-- retention job prunes it by age.
CREATE TABLE events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id  BIGINT      NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    type        TEXT        NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    ticket_id   BIGINT,
    payload     JSONB       NOT NULL DEFAULT '{}'::jsonb,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Replay: a company's events after a given id.
CREATE INDEX events_company_id ON events (company_id, id);
-- Retention: prune by age.
CREATE INDEX events_created_at ON events (created_at);
