ALTER TABLE ticket_messages ADD CONSTRAINT ticket_messages_company_id_fkey
    FOREIGN KEY (company_id) REFERENCES companies (id) ON DELETE CASCADE;
