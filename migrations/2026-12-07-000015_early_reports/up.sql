-- Twilio may post a message's status callbacks before Omni has recorded the sid Twilio
-- answered the send with: such a report names no message yet. It waits here until the
-- send's answer records that sid (and is applied then), or a day, whichever comes first.
CREATE TABLE early_reports (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id bigint NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    whatsapp_message_id text NOT NULL CHECK (char_length(whatsapp_message_id) BETWEEN 1 AND 64),
    status text NOT NULL CHECK (status IN ('received', 'queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'undelivered')),
    error_code integer,
    error_message text,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX early_reports_sid ON early_reports (company_id, whatsapp_message_id, id);
CREATE INDEX early_reports_received_at ON early_reports (received_at);
