-- WhatsApp's customer-service window: a business may answer in free form only within 24
-- hours of the customer's latest message (the domain's `Channel::reply_window`); after it,
-- only an approved template. Kept on the ticket, moved by every customer message, and
-- shown in the ticket JSON. NULL: the customer never wrote (closed), or the channel has no
-- window (sms).
ALTER TABLE tickets ADD COLUMN window_closes_at TIMESTAMPTZ;

-- Tickets that may still be answered get theirs from their latest customer message
-- (closed tickets take no reply, and are many).
UPDATE tickets t
   SET window_closes_at = (
         SELECT max(m.created_at) FROM ticket_messages m
          WHERE m.company_id = t.company_id AND m.ticket_id = t.id AND m.from_customer
       ) + interval '24 hours'
 WHERE t.channel = 'whatsapp' AND t.status <> 'closed';
