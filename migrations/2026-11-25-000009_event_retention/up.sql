-- How far the retention job has pruned the event log: a client asking to replay from
-- before this point has missed events for good and must reload.
CREATE TABLE event_log_state (
    singleton        BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    pruned_through   BIGINT  NOT NULL DEFAULT 0
);
INSERT INTO event_log_state DEFAULT VALUES;
