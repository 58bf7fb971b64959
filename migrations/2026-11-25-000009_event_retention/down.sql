DROP TABLE event_log_state;
