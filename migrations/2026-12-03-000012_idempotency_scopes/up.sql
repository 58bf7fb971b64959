-- Idempotency keys get namespaces and an author: a client's keys are `c:<key>`, Omni's own
-- `sys:<key>` (a client can no longer write the key of an automatic reply), and a key is
-- unique per (company, author) rather than per company (two agents' keys never collide).
ALTER TABLE ticket_messages DROP CONSTRAINT ticket_messages_idempotency_key_check;
UPDATE ticket_messages
   SET idempotency_key = CASE
           WHEN author_id IS NULL AND idempotency_key LIKE 'auto-reply:%' THEN 'sys:' || idempotency_key
           ELSE 'c:' || idempotency_key
       END
 WHERE idempotency_key IS NOT NULL;
ALTER TABLE ticket_messages ADD CONSTRAINT ticket_messages_idempotency_key_check
    CHECK (idempotency_key ~ '^(c|sys):' AND char_length(idempotency_key) BETWEEN 3 AND 300);
DROP INDEX ticket_messages_idempotency_key;
CREATE UNIQUE INDEX ticket_messages_idempotency_key
    ON ticket_messages (company_id, author_id, idempotency_key) NULLS NOT DISTINCT
    WHERE idempotency_key IS NOT NULL;
