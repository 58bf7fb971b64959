-- Foreign keys to users and integrations are composite, (company_id, x), so the database
-- itself refuses an assignee or a channel of another tenant. Deleting a user or an
-- integration keeps the ticket and clears only the reference (PostgreSQL 15 column lists).
CREATE TABLE tickets (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id            BIGINT           NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    integration_id        BIGINT,
    customer_phone        TEXT             NOT NULL CHECK (customer_phone ~ '^\+[1-9][0-9]{6,14}$'),
    customer_name         TEXT             CHECK (char_length(customer_name) <= 200),
    channel               TEXT             NOT NULL DEFAULT 'whatsapp' CHECK (channel IN ('whatsapp', 'sms')),
    status                TEXT             NOT NULL DEFAULT 'new'
                                           CHECK (status IN ('new', 'open', 'pending', 'resolved', 'closed')),
    priority              TEXT             NOT NULL DEFAULT 'medium'
                                           CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    category              TEXT             CHECK (char_length(btrim(category)) BETWEEN 1 AND 64),
    sentiment             TEXT             CHECK (sentiment IN ('positive', 'neutral', 'negative')),
    sentiment_score       DOUBLE PRECISION CHECK (sentiment_score BETWEEN -1 AND 1),
    suggested_categories  JSONB            NOT NULL DEFAULT '[]'::jsonb
                                           CHECK (jsonb_typeof(suggested_categories) = 'array'),
    assigned_to           BIGINT,
    last_message_at       TIMESTAMPTZ,
    -- The list's sort key: last_message_at when there are messages, else created_at. A
    -- column of its own keeps keyset pages on one NOT NULL index.
    last_activity_at      TIMESTAMPTZ      NOT NULL DEFAULT now(),
    first_response_at     TIMESTAMPTZ,
    resolved_at           TIMESTAMPTZ,
    created_at            TIMESTAMPTZ      NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ      NOT NULL DEFAULT now(),
    CONSTRAINT tickets_sentiment_has_score CHECK ((sentiment IS NULL) = (sentiment_score IS NULL)),
    CONSTRAINT tickets_company_id_id_key UNIQUE (company_id, id),
    CONSTRAINT tickets_assignee_same_company FOREIGN KEY (company_id, assigned_to)
        REFERENCES users (company_id, id) ON DELETE SET NULL (assigned_to),
    CONSTRAINT tickets_integration_same_company FOREIGN KEY (company_id, integration_id)
        REFERENCES integrations (company_id, id) ON DELETE SET NULL (integration_id)
);

-- One conversation at a time per customer: concurrent webhooks cannot open two tickets.
CREATE UNIQUE INDEX tickets_one_open_per_customer ON tickets (company_id, customer_phone)
    WHERE status <> 'closed';

-- GET /tickets: newest activity first, keyset on (last_activity_at, id), per filter.
CREATE INDEX tickets_company_activity ON tickets (company_id, last_activity_at DESC, id DESC);
CREATE INDEX tickets_company_status_activity
    ON tickets (company_id, status, last_activity_at DESC, id DESC);
CREATE INDEX tickets_company_assignee_activity
    ON tickets (company_id, assigned_to, last_activity_at DESC, id DESC);
CREATE INDEX tickets_company_customer_activity
    ON tickets (company_id, customer_phone, last_activity_at DESC, id DESC);
-- Deleting an integration clears its tickets' reference; without this it scans them all.
CREATE INDEX tickets_integration ON tickets (company_id, integration_id)
    WHERE integration_id IS NOT NULL;

CREATE TRIGGER tickets_touch_updated_at BEFORE UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION omni_touch_updated_at();
