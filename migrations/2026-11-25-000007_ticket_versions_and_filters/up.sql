-- Optimistic concurrency for PUT /tickets/:id: a change applies only to the version it was
-- decided on; a concurrent change makes the use case re-read and decide again.
ALTER TABLE tickets ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);

-- GET /tickets filtered by priority or category, newest activity first.
CREATE INDEX tickets_company_priority_activity
    ON tickets (company_id, priority, last_activity_at DESC, id DESC);
CREATE INDEX tickets_company_category_activity
    ON tickets (company_id, category, last_activity_at DESC, id DESC);
