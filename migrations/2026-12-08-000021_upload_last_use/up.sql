-- An upload's retention counts from the last message that attached it, not from the
-- upload: a reply queued (or failed and sent again) near the end of the retention still
-- finds its file when Twilio fetches it. NULL: never attached.
ALTER TABLE uploads ADD COLUMN last_used_at TIMESTAMPTZ;
