//! Diesel's view of the tables of `migrations/`. Kept in step with the migrations by the
//! `schema_matches_the_database` test; generated columns used only from SQL (the messages'
//! `search` vector) are left out on purpose.
#![allow(missing_docs)]

diesel::table! {
    companies (id) {
        id -> Int8,
        name -> Text,
        settings -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        company_id -> Nullable<Int8>,
        email -> Text,
        password_hash -> Text,
        name -> Text,
        role -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        session_epoch -> Int8,
    }
}

diesel::table! {
    revoked_tokens (token_id) {
        token_id -> Text,
        user_id -> Int8,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    ws_tickets (ticket_hash) {
        ticket_hash -> Bytea,
        user_id -> Int8,
        token_id -> Text,
        session_epoch -> Int8,
        token_expires_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    integrations (id) {
        id -> Int8,
        company_id -> Int8,
        #[sql_name = "type"]
        kind -> Text,
        config -> Jsonb,
        secrets -> Jsonb,
        phone_number -> Nullable<Text>,
        enabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    tickets (id) {
        id -> Int8,
        company_id -> Int8,
        integration_id -> Nullable<Int8>,
        customer_phone -> Text,
        customer_name -> Nullable<Text>,
        channel -> Text,
        status -> Text,
        priority -> Text,
        category -> Nullable<Text>,
        sentiment -> Nullable<Text>,
        sentiment_score -> Nullable<Float8>,
        suggested_categories -> Jsonb,
        assigned_to -> Nullable<Int8>,
        last_message_at -> Nullable<Timestamptz>,
        last_activity_at -> Timestamptz,
        window_closes_at -> Nullable<Timestamptz>,
        first_response_at -> Nullable<Timestamptz>,
        resolved_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int4,
        manual_fields -> Array<Text>,
        reopened_at -> Nullable<Timestamptz>,
        survey_sent_at -> Nullable<Timestamptz>,
        rating_score -> Nullable<Int2>,
        rating_comment -> Nullable<Text>,
        rated_at -> Nullable<Timestamptz>,
        suggested_reply -> Nullable<Text>,
    }
}

diesel::table! {
    ticket_messages (id) {
        id -> Int8,
        company_id -> Int8,
        ticket_id -> Int8,
        content -> Text,
        from_customer -> Bool,
        whatsapp_number -> Text,
        whatsapp_message_id -> Nullable<Text>,
        author_id -> Nullable<Int8>,
        delivery_status -> Text,
        error_code -> Nullable<Int4>,
        error_message -> Nullable<Text>,
        media -> Jsonb,
        idempotency_key -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        send_started_at -> Nullable<Timestamptz>,
        template -> Nullable<Jsonb>,
    }
}

diesel::table! {
    events (id) {
        id -> Int8,
        company_id -> Int8,
        #[sql_name = "type"]
        event_type -> Text,
        ticket_id -> Nullable<Int8>,
        payload -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    jobs (id) {
        id -> Int8,
        company_id -> Nullable<Int8>,
        kind -> Text,
        payload -> Jsonb,
        dedupe_key -> Nullable<Text>,
        status -> Text,
        attempts -> Int4,
        max_attempts -> Int4,
        run_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    event_log_state (singleton) {
        singleton -> Bool,
        pruned_through -> Int8,
    }
}

diesel::table! {
    early_reports (id) {
        id -> Int8,
        company_id -> Int8,
        whatsapp_message_id -> Text,
        status -> Text,
        error_code -> Nullable<Int4>,
        error_message -> Nullable<Text>,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    uploads (id) {
        id -> Int8,
        company_id -> Int8,
        content_type -> Text,
        filename -> Nullable<Text>,
        size -> Int8,
        data -> Bytea,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    ticket_facts (id) {
        id -> Int8,
        company_id -> Int8,
        ticket_id -> Int8,
        kind -> Text,
        at -> Timestamptz,
        since -> Nullable<Timestamptz>,
        agent_id -> Nullable<Int8>,
        score -> Nullable<Int2>,
        settled -> Bool,
        channel -> Nullable<Text>,
        category -> Nullable<Text>,
        priority -> Nullable<Text>,
        sentiment -> Nullable<Text>,
    }
}

diesel::table! {
    report_rollups (company_id, agent_id, grp, day) {
        company_id -> Int8,
        agent_id -> Int8,
        grp -> Text,
        day -> Date,
        opened -> Int8,
        reopened -> Int8,
        resolved -> Int8,
        closed -> Int8,
        backlog_change -> Int8,
        replies -> Int8,
        auto_replies -> Int8,
        assigned -> Int8,
        first_response -> Bytea,
        first_response_business -> Bytea,
        resolution -> Bytea,
        resolution_business -> Bytea,
        first_response_breaches -> Int8,
        resolution_breaches -> Int8,
        surveys_sent -> Int8,
        ratings -> Int8,
        rating_sum -> Int8,
    }
}

diesel::table! {
    report_recounts (company_id) {
        company_id -> Int8,
        requested_at -> Timestamptz,
    }
}

diesel::joinable!(users -> companies (company_id));
diesel::joinable!(integrations -> companies (company_id));
diesel::joinable!(tickets -> companies (company_id));
diesel::joinable!(ticket_messages -> tickets (ticket_id));
diesel::joinable!(events -> companies (company_id));
diesel::joinable!(early_reports -> companies (company_id));

diesel::allow_tables_to_appear_in_same_query!(
    companies,
    users,
    integrations,
    tickets,
    ticket_messages,
    events,
    jobs,
    event_log_state,
    revoked_tokens,
    ws_tickets,
    early_reports,
    uploads,
    ticket_facts,
    report_rollups,
    report_recounts,
);
