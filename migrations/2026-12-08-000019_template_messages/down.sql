ALTER TABLE ticket_messages DROP COLUMN template;
