DROP TABLE ticket_messages;
