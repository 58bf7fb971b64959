-- Files agents upload to send (`POST /media`), served to Twilio at signed, expiring URLs.
-- In a bytea column rather than large objects: measured on this machine, writing 10 files
-- of 16 MiB took 1.06 s as bytea and 1.45 s as large objects, 100 files of 1 MiB 0.37 s
-- and 0.74 s, deleting them 0.69 s and 1.11 s, reading the same; and a row's bytes go with
-- it (a deleted company's files too), where a large object would need unlinking. Files are
-- at most 16 MiB (WhatsApp's limit through Twilio), far under bytea's 1 GiB.
CREATE TABLE uploads (
    id BIGSERIAL PRIMARY KEY,
    company_id BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    filename TEXT,
    size BIGINT NOT NULL CHECK (size > 0),
    data BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The retention prune deletes by age; company deletion finds a company's files.
CREATE INDEX uploads_created_at ON uploads (created_at);
CREATE INDEX uploads_company ON uploads (company_id);
