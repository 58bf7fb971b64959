DROP INDEX ticket_messages_idempotency_key;
ALTER TABLE ticket_messages DROP CONSTRAINT ticket_messages_idempotency_key_check;
UPDATE ticket_messages
   SET idempotency_key = regexp_replace(idempotency_key, '^(c|sys):', '')
 WHERE idempotency_key IS NOT NULL;
-- Keys that only differed by author collide again: keep the oldest.
UPDATE ticket_messages m SET idempotency_key = NULL
 WHERE idempotency_key IS NOT NULL
   AND EXISTS (SELECT 1 FROM ticket_messages o
                WHERE o.company_id = m.company_id AND o.idempotency_key = m.idempotency_key
                  AND o.id < m.id);
ALTER TABLE ticket_messages ADD CONSTRAINT ticket_messages_idempotency_key_check
    CHECK (char_length(idempotency_key) BETWEEN 1 AND 255);
CREATE UNIQUE INDEX ticket_messages_idempotency_key ON ticket_messages (company_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
