-- Triage's suggested answer to the customer, kept with the ticket so that agents find it
-- whenever they open the conversation (not only while they watched triage finish).
-- Cleared when the automatic reply sent it.
ALTER TABLE tickets ADD COLUMN suggested_reply TEXT;
