-- Daily tallies of tickets' facts (omni_reports::Tally), so that a 90-day report of a
-- company with a million tickets reads a few hundred rows instead of millions of facts.
-- One row per company, agent (0: the whole team), group ('': all tickets, else
-- 'category:billing', 'priority:urgent'…) and day in the company's time zone. Written
-- only by the rollup job (facts a little after they happen) and by a recount, both under
-- the company's advisory lock; durations are histograms (omni_reports::Durations), stored
-- compact: for each bin, its distance from the previous one and its count, as varints —
-- read as flattened bigint arrays, a 90-day report by category moved 10 MB; so, 1 MB.
CREATE TABLE report_rollups (
    company_id BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    agent_id BIGINT NOT NULL,
    grp TEXT NOT NULL,
    day DATE NOT NULL,
    opened BIGINT NOT NULL,
    reopened BIGINT NOT NULL,
    resolved BIGINT NOT NULL,
    closed BIGINT NOT NULL,
    backlog_change BIGINT NOT NULL,
    replies BIGINT NOT NULL,
    auto_replies BIGINT NOT NULL,
    assigned BIGINT NOT NULL,
    first_response BYTEA NOT NULL,
    first_response_business BYTEA NOT NULL,
    resolution BYTEA NOT NULL,
    resolution_business BYTEA NOT NULL,
    first_response_breaches BIGINT NOT NULL,
    resolution_breaches BIGINT NOT NULL,
    surveys_sent BIGINT NOT NULL,
    ratings BIGINT NOT NULL,
    rating_sum BIGINT NOT NULL,
    PRIMARY KEY (company_id, agent_id, grp, day)
);
-- The agents' report: every agent's all-tickets rows of a range of days.
CREATE INDEX report_rollups_agents ON report_rollups (company_id, day)
    WHERE agent_id <> 0 AND grp = '';

-- Companies whose settings changed what their reports count by (time zone, business
-- hours, targets): the rollup job counts their facts again.
CREATE TABLE report_recounts (
    company_id BIGINT PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
