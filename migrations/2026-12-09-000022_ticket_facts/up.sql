-- Reports read a ticket's history, not its latest state: every opening, reopening,
-- resolution, first answer, reply and assignment is a fact, appended in the transaction of
-- the change that caused it (the domain decides which: omni_ticketing::TicketFact) and
-- never changed afterwards, except once: a fact is "settled" a little after it happened,
-- when the rollup job writes into it the ticket's channel, category, priority and sentiment
-- as triage and the agents left them (a ticket is opened before triage has named its
-- category), and counts it into report_rollups. ticket_id has no foreign key: a deleted
-- ticket's history still happened. A deleted company's goes with it.
CREATE TABLE ticket_facts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    ticket_id BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('opened', 'reopened', 'resolved', 'closed',
        'first_response', 'replied', 'assigned', 'survey_sent', 'rated', 'deleted')),
    at TIMESTAMPTZ NOT NULL,
    since TIMESTAMPTZ,
    agent_id BIGINT,
    score SMALLINT CHECK (score BETWEEN 1 AND 5),
    settled BOOLEAN NOT NULL DEFAULT false,
    channel TEXT,
    category TEXT,
    priority TEXT,
    sentiment TEXT,
    CONSTRAINT ticket_facts_rated_has_score CHECK ((kind = 'rated') = (score IS NOT NULL))
);
-- A company's history in time order: rebuilding its rollups, computing from scratch.
CREATE INDEX ticket_facts_company_at ON ticket_facts (company_id, at);
-- The facts not yet counted into rollups: few, read by the rollup job and by every report.
CREATE INDEX ticket_facts_unsettled ON ticket_facts (company_id, at) WHERE NOT settled;

-- A resolution's time counts from the latest reopening; a reopened ticket is no longer
-- resolved.
ALTER TABLE tickets ADD COLUMN reopened_at TIMESTAMPTZ;

-- The history of tickets that exist already, as far as their columns tell it: each was
-- opened; some were answered, resolved or closed (closed ones without a resolution time
-- are taken to have closed at their last change); every reply went out.
INSERT INTO ticket_facts (company_id, ticket_id, kind, at, agent_id)
SELECT company_id, id, 'opened', created_at, NULL FROM tickets;
INSERT INTO ticket_facts (company_id, ticket_id, kind, at, since, agent_id)
SELECT t.company_id, t.id, 'first_response', t.first_response_at, t.created_at,
       (SELECT m.author_id FROM ticket_messages m
         WHERE m.company_id = t.company_id AND m.ticket_id = t.id AND m.author_id IS NOT NULL
         ORDER BY m.id LIMIT 1)
  FROM tickets t WHERE t.first_response_at IS NOT NULL;
INSERT INTO ticket_facts (company_id, ticket_id, kind, at, since, agent_id)
SELECT company_id, id, 'resolved', resolved_at, created_at, assigned_to
  FROM tickets WHERE resolved_at IS NOT NULL AND status IN ('resolved', 'closed');
INSERT INTO ticket_facts (company_id, ticket_id, kind, at, agent_id)
SELECT company_id, id, 'closed', updated_at, assigned_to
  FROM tickets WHERE status = 'closed' AND resolved_at IS NULL;
INSERT INTO ticket_facts (company_id, ticket_id, kind, at, agent_id)
SELECT company_id, ticket_id, 'replied', created_at, author_id
  FROM ticket_messages WHERE NOT from_customer;
-- A ticket that reopened before this migration keeps its old resolution time visible
-- only in the facts above.
UPDATE tickets SET resolved_at = NULL WHERE resolved_at IS NOT NULL AND status NOT IN ('resolved', 'closed');
