-- `config` holds the non-secret fields of the typed configuration; `secrets` maps each
-- secret's name to its AES-256-GCM envelope (key id, nonce, ciphertext), never plaintext.
-- The phone number is a column of its own because inbound webhooks are routed by it and a
-- number may belong to one integration across all companies.
CREATE TABLE integrations (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id    BIGINT      NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    type          TEXT        NOT NULL CHECK (type IN ('twilio_whatsapp', 'twilio_sms', 'vera_ai')),
    config        JSONB       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(config) = 'object'),
    secrets       JSONB       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(secrets) = 'object'),
    phone_number  TEXT        CHECK (phone_number ~ '^\+[1-9][0-9]{6,14}$'),
    enabled       BOOLEAN     NOT NULL DEFAULT true,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT integrations_phone_iff_channel
        CHECK ((type IN ('twilio_whatsapp', 'twilio_sms')) = (phone_number IS NOT NULL)),
    CONSTRAINT integrations_company_id_id_key UNIQUE (company_id, id)
);

CREATE UNIQUE INDEX integrations_phone_number_key ON integrations (phone_number)
    WHERE phone_number IS NOT NULL;
-- A company's triage goes to one Vera AI configuration.
CREATE UNIQUE INDEX integrations_one_vera_per_company ON integrations (company_id)
    WHERE type = 'vera_ai';

CREATE TRIGGER integrations_touch_updated_at BEFORE UPDATE ON integrations
    FOR EACH ROW EXECUTE FUNCTION omni_touch_updated_at();
