CREATE TABLE ticket_messages (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id           BIGINT      NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    ticket_id            BIGINT      NOT NULL,
    content              TEXT        NOT NULL DEFAULT '',
    from_customer        BOOLEAN     NOT NULL,
    -- The customer's WhatsApp number, whichever way the message travels.
    whatsapp_number      TEXT        NOT NULL CHECK (whatsapp_number ~ '^\+[1-9][0-9]{6,14}$'),
    -- Twilio's MessageSid: unique per company so a redelivered webhook stores nothing twice.
    whatsapp_message_id  TEXT        CHECK (char_length(whatsapp_message_id) BETWEEN 1 AND 64),
    author_id            BIGINT,
    delivery_status      TEXT        NOT NULL CHECK (delivery_status IN
        ('received', 'queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'undelivered')),
    error_code           INTEGER,
    error_message        TEXT,
    media                JSONB       NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(media) = 'array'),
    -- The client's Idempotency-Key of POST /ticket-messages: a retry finds the first result.
    idempotency_key      TEXT        CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    -- Text search for GET /tickets?q=, Portuguese and English stems alike.
    search               TSVECTOR    GENERATED ALWAYS AS
        (to_tsvector('portuguese', content) || to_tsvector('english', content)) STORED,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT ticket_messages_inbound_is_received CHECK (from_customer = (delivery_status = 'received')),
    CONSTRAINT ticket_messages_customer_has_no_author CHECK (NOT from_customer OR author_id IS NULL),
    CONSTRAINT ticket_messages_company_message_sid_key UNIQUE (company_id, whatsapp_message_id),
    CONSTRAINT ticket_messages_ticket_same_company FOREIGN KEY (company_id, ticket_id)
        REFERENCES tickets (company_id, id) ON DELETE CASCADE,
    CONSTRAINT ticket_messages_author_same_company FOREIGN KEY (company_id, author_id)
        REFERENCES users (company_id, id) ON DELETE SET NULL (author_id)
);

-- A ticket's messages, oldest first (and the ticket foreign key's cascade).
CREATE INDEX ticket_messages_company_ticket ON ticket_messages (company_id, ticket_id, id);
CREATE UNIQUE INDEX ticket_messages_idempotency_key ON ticket_messages (company_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX ticket_messages_author ON ticket_messages (company_id, author_id)
    WHERE author_id IS NOT NULL;
CREATE INDEX ticket_messages_search ON ticket_messages USING gin (search);

CREATE TRIGGER ticket_messages_touch_updated_at BEFORE UPDATE ON ticket_messages
    FOR EACH ROW EXECUTE FUNCTION omni_touch_updated_at();
