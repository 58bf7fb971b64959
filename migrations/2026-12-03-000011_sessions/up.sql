-- Sessions that end. A token carries its user's session epoch and its own id: bumping the
-- epoch (password, e-mail or role changed, log-out everywhere) ends every token issued
-- before; a revoked id ends one token (log-out). Rows live until the token would expire.
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;

CREATE TABLE revoked_tokens (
    token_id    TEXT        PRIMARY KEY CHECK (char_length(token_id) BETWEEN 1 AND 64),
    user_id     BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);
CREATE INDEX revoked_tokens_user_id ON revoked_tokens (user_id);

-- One-time WebSocket tickets: only a hash is kept, the ticket itself travels once to the
-- client and once back in `GET /ws?ticket=`.
CREATE TABLE ws_tickets (
    ticket_hash       BYTEA       PRIMARY KEY CHECK (length(ticket_hash) = 32),
    user_id           BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_id          TEXT        NOT NULL,
    session_epoch     BIGINT      NOT NULL,
    token_expires_at  TIMESTAMPTZ NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL
);

CREATE INDEX ws_tickets_expires_at ON ws_tickets (expires_at);
