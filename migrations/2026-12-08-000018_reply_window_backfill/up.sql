-- Windows still open when this runs: tickets a customer may have written to in the last
-- 24 hours (their last message, either way, is that recent), from their latest customer
-- message. Any older window has closed already; those tickets keep NULL (a 409 then says
-- `window_closed_at: null`). Row locks only, on the few tickets of the last day.
UPDATE tickets t
   SET window_closes_at = (
         SELECT m.created_at FROM ticket_messages m
          WHERE m.company_id = t.company_id AND m.ticket_id = t.id AND m.from_customer
          ORDER BY m.id DESC LIMIT 1
       ) + interval '24 hours'
 WHERE t.channel = 'whatsapp'
   AND t.last_message_at > now() - interval '24 hours'
   AND t.window_closes_at IS NULL;
