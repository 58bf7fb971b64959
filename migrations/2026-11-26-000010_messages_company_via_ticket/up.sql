-- A message's company is already held by its composite foreign key to the ticket
-- (company_id, ticket_id), whose ticket references the company, and deleting a company
-- cascades through its tickets to their messages. The direct key to companies repeated
-- that check — one more lookup and row lock per stored message, on the webhook's path.
ALTER TABLE ticket_messages DROP CONSTRAINT ticket_messages_company_id_fkey;
