-- WhatsApp's customer-service window: a business may answer in free form only within 24
-- hours of the customer's latest message (the domain's `Channel::reply_window`); after it,
-- only an approved template. Kept on the ticket, moved by every customer message on the
-- ticket's channel, and shown in the ticket JSON. NULL: the customer never wrote (closed),
-- or the channel has no window (sms). A nullable column without a default: no table
-- rewrite, the lock held for a moment only. The backfill is the next migration, in a
-- transaction of its own.
ALTER TABLE tickets ADD COLUMN window_closes_at TIMESTAMPTZ;
