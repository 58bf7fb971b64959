-- Fields an agent set by hand (`category`, `priority`): automatic triage leaves them alone.
ALTER TABLE tickets ADD COLUMN manual_fields TEXT[] NOT NULL DEFAULT '{}'
    CHECK (manual_fields <@ ARRAY['category', 'priority']::text[]);
