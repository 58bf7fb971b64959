-- A message that sends an approved WhatsApp template: `{content_sid, variables}`, what the
-- send job hands Twilio as ContentSid and ContentVariables (the message's `content` is the
-- text as the customer reads it). NULL for free text. Nullable without a default: no table
-- rewrite.
ALTER TABLE ticket_messages ADD COLUMN template JSONB;
