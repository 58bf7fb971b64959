-- When the first attempt to hand a message to the provider began. A worker that finds it
-- set with no outcome recorded (its predecessor died mid-call) asks the provider whether
-- the message went out before sending it again: the provider takes no idempotency key.
ALTER TABLE ticket_messages ADD COLUMN send_started_at TIMESTAMPTZ;

-- Retries ride out a 30-minute provider outage: with back-off capped at 60 s, 40 attempts
-- span about 36 minutes before a job is dead.
ALTER TABLE jobs ALTER COLUMN max_attempts SET DEFAULT 40;
