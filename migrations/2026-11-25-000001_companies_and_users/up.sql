-- Keeps updated_at honest whichever code path changes a row.
CREATE FUNCTION omni_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE companies (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT        NOT NULL CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    settings    JSONB       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TRIGGER companies_touch_updated_at BEFORE UPDATE ON companies
    FOR EACH ROW EXECUTE FUNCTION omni_touch_updated_at();

-- A superadmin operates the platform and belongs to no company; everyone else belongs to
-- exactly one. Deleting a company removes its users with it (the tenant is purged whole).
CREATE TABLE users (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id     BIGINT      REFERENCES companies (id) ON DELETE CASCADE,
    email          TEXT        NOT NULL CHECK (email = lower(email) AND email LIKE '_%@_%'),
    password_hash  TEXT        NOT NULL,
    name           TEXT        NOT NULL CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    role           TEXT        NOT NULL CHECK (role IN ('superadmin', 'admin', 'agent')),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_company_unless_superadmin CHECK ((role = 'superadmin') = (company_id IS NULL)),
    -- Target of the (company_id, user) foreign keys that keep assignees and authors in-tenant.
    CONSTRAINT users_company_id_id_key UNIQUE (company_id, id)
);

CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TRIGGER users_touch_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION omni_touch_updated_at();
