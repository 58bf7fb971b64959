//! The rules the database itself enforces, whatever code writes to it.

use omni_store_postgres::test_db::TestDatabase;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::{client, rows};

async fn one_i64(c: &Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

/// Two companies with an admin each, and a ticket in the first.
async fn seed(c: &Client) -> (i64, i64, i64, i64) {
    let a = one_i64(c, "INSERT INTO companies (name) VALUES ('A') RETURNING id").await;
    let b = one_i64(c, "INSERT INTO companies (name) VALUES ('B') RETURNING id").await;
    let ua = one_i64(
        c,
        &format!("INSERT INTO users (company_id, email, password_hash, name, role) VALUES ({a}, 'a@a.test', 'x', 'Ana', 'admin') RETURNING id"),
    )
    .await;
    let ub = one_i64(
        c,
        &format!("INSERT INTO users (company_id, email, password_hash, name, role) VALUES ({b}, 'b@b.test', 'x', 'Bia', 'admin') RETURNING id"),
    )
    .await;
    (a, b, ua, ub)
}

async fn code_of(c: &Client, sql: &str) -> SqlState {
    c.batch_execute(sql)
        .await
        .expect_err(sql)
        .code()
        .cloned()
        .expect("a database error")
}

#[tokio::test]
async fn emails_are_unique_whatever_their_case_and_stored_lower() {
    let db = TestDatabase::new().await.unwrap();
    let c = client(&db).await;
    let (a, ..) = seed(&c).await;
    let dup = format!(
        "INSERT INTO users (company_id, email, password_hash, name, role) VALUES ({a}, 'a@a.test', 'x', 'Other', 'agent')"
    );
    assert_eq!(code_of(&c, &dup).await, SqlState::UNIQUE_VIOLATION);
    let upper = format!(
        "INSERT INTO users (company_id, email, password_hash, name, role) VALUES ({a}, 'A@a.test', 'x', 'Other', 'agent')"
    );
    assert_eq!(code_of(&c, &upper).await, SqlState::CHECK_VIOLATION);
}

#[tokio::test]
async fn only_a_superadmin_has_no_company() {
    let db = TestDatabase::new().await.unwrap();
    let c = client(&db).await;
    let (a, ..) = seed(&c).await;
    c.batch_execute("INSERT INTO users (email, password_hash, name, role) VALUES ('root@omni.test', 'x', 'Root', 'superadmin')")
        .await
        .unwrap();
    let agent = "INSERT INTO users (email, password_hash, name, role) VALUES ('x@omni.test', 'x', 'X', 'agent')";
    assert_eq!(code_of(&c, agent).await, SqlState::CHECK_VIOLATION);
    let bad_role = format!(
        "INSERT INTO users (company_id, email, password_hash, name, role) VALUES ({a}, 'y@a.test', 'x', 'Y', 'owner')"
    );
    assert_eq!(code_of(&c, &bad_role).await, SqlState::CHECK_VIOLATION);
}

#[tokio::test]
async fn one_open_ticket_per_customer_but_history_may_hold_closed_ones() {
    let db = TestDatabase::new().await.unwrap();
    let c = client(&db).await;
    let (a, b, ..) = seed(&c).await;
    let open = |company: i64| {
        format!(
            "INSERT INTO tickets (company_id, customer_phone) VALUES ({company}, '+5511987650001')"
        )
    };
    c.batch_execute(&open(a)).await.unwrap();
    assert_eq!(code_of(&c, &open(a)).await, SqlState::UNIQUE_VIOLATION);
    // Another company may talk to the same customer.
    c.batch_execute(&open(b)).await.unwrap();
    // Once closed, the customer's next message opens a new ticket.
    c.batch_execute(&format!(
        "UPDATE tickets SET status = 'closed' WHERE company_id = {a}"
    ))
    .await
    .unwrap();
    c.batch_execute(&open(a)).await.unwrap();
    c.batch_execute(&format!(
        "UPDATE tickets SET status = 'closed' WHERE company_id = {a} AND status <> 'closed'"
    ))
    .await
    .unwrap();
    c.batch_execute(&open(a)).await.unwrap();
    assert_eq!(
        rows(
            &c,
            &format!("SELECT count(*) FROM tickets WHERE company_id = {a}")
        )
        .await,
        vec!["3"]
    );
}

#[tokio::test]
async fn a_ticket_cannot_point_at_another_tenants_user() {
    let db = TestDatabase::new().await.unwrap();
    let c = client(&db).await;
    let (a, _, ua, ub) = seed(&c).await;
    let assign = |user: i64| {
        format!(
            "INSERT INTO tickets (company_id, customer_phone, assigned_to) VALUES ({a}, '+5511900000001', {user})"
        )
    };
    assert_eq!(
        code_of(&c, &assign(ub)).await,
        SqlState::FOREIGN_KEY_VIOLATION
    );
    c.batch_execute(&assign(ua)).await.unwrap();
    // Deleting the assignee keeps the ticket, unassigned.
    c.batch_execute(&format!("DELETE FROM users WHERE id = {ua}"))
        .await
        .unwrap();
    assert_eq!(
        rows(&c, "SELECT company_id, assigned_to FROM tickets").await,
        vec![format!("{a}|∅")]
    );
}

#[tokio::test]
async fn messages_are_stored_once_per_message_sid_and_stay_in_their_tenant() {
    let db = TestDatabase::new().await.unwrap();
    let c = client(&db).await;
    let (a, b, ..) = seed(&c).await;
    let t = one_i64(&c, &format!("INSERT INTO tickets (company_id, customer_phone) VALUES ({a}, '+5511900000001') RETURNING id")).await;
    let msg = |company: i64| {
        format!(
            "INSERT INTO ticket_messages (company_id, ticket_id, content, from_customer, whatsapp_number, \
             whatsapp_message_id, delivery_status) VALUES ({company}, {t}, 'oi', true, '+5511900000001', 'SM1', 'received')"
        )
    };
    c.batch_execute(&msg(a)).await.unwrap();
    assert_eq!(code_of(&c, &msg(a)).await, SqlState::UNIQUE_VIOLATION);
    // A message of company B cannot hang on company A's ticket.
    assert_eq!(code_of(&c, &msg(b)).await, SqlState::FOREIGN_KEY_VIOLATION);
    // An inbound message is `received`; an outbound one never is.
    let outbound_received = format!(
        "INSERT INTO ticket_messages (company_id, ticket_id, from_customer, whatsapp_number, delivery_status) \
         VALUES ({a}, {t}, false, '+5511900000001', 'received')"
    );
    assert_eq!(
        code_of(&c, &outbound_received).await,
        SqlState::CHECK_VIOLATION
    );
    // Text search sees Portuguese and English stems.
    c.batch_execute(&format!(
        "INSERT INTO ticket_messages (company_id, ticket_id, content, from_customer, whatsapp_number, delivery_status) \
         VALUES ({a}, {t}, 'Meus pedidos não chegaram', true, '+5511900000001', 'received')"
    ))
    .await
    .unwrap();
    let hits = rows(
        &c,
        "SELECT count(*) FROM ticket_messages WHERE search @@ (plainto_tsquery('portuguese', 'pedido') || plainto_tsquery('english', 'pedido'))",
    )
    .await;
    assert_eq!(hits, vec!["1"]);
}

#[tokio::test]
async fn deleting_a_company_purges_the_tenant() {
    let db = TestDatabase::new().await.unwrap();
    let c = client(&db).await;
    let (a, b, ..) = seed(&c).await;
    for company in [a, b] {
        let t = one_i64(&c, &format!("INSERT INTO tickets (company_id, customer_phone) VALUES ({company}, '+5511900000001') RETURNING id")).await;
        c.batch_execute(&format!(
            "INSERT INTO ticket_messages (company_id, ticket_id, from_customer, whatsapp_number, delivery_status) \
               VALUES ({company}, {t}, true, '+5511900000001', 'received'); \
             INSERT INTO events (company_id, type, ticket_id) VALUES ({company}, 'ticket.created', {t}); \
             INSERT INTO jobs (company_id, kind) VALUES ({company}, 'triage'); \
             INSERT INTO integrations (company_id, type, phone_number) VALUES ({company}, 'twilio_whatsapp', '+1415555000{company}')"
        ))
        .await
        .unwrap();
    }
    c.batch_execute(&format!("DELETE FROM companies WHERE id = {a}"))
        .await
        .unwrap();
    for table in [
        "users",
        "tickets",
        "ticket_messages",
        "events",
        "jobs",
        "integrations",
    ] {
        let left = rows(&c, &format!("SELECT DISTINCT company_id FROM {table}")).await;
        assert_eq!(left, vec![b.to_string()], "{table}");
    }
}

#[tokio::test]
async fn a_phone_number_routes_to_one_integration_across_companies() {
    let db = TestDatabase::new().await.unwrap();
    let c = client(&db).await;
    let (a, b, ..) = seed(&c).await;
    let add = |company: i64| {
        format!(
            "INSERT INTO integrations (company_id, type, phone_number) VALUES ({company}, 'twilio_whatsapp', '+14155550100')"
        )
    };
    c.batch_execute(&add(a)).await.unwrap();
    assert_eq!(code_of(&c, &add(b)).await, SqlState::UNIQUE_VIOLATION);
    let vera_with_phone = format!(
        "INSERT INTO integrations (company_id, type, phone_number) VALUES ({a}, 'vera_ai', '+14155550101')"
    );
    assert_eq!(
        code_of(&c, &vera_with_phone).await,
        SqlState::CHECK_VIOLATION
    );
    let channel_without_phone =
        format!("INSERT INTO integrations (company_id, type) VALUES ({a}, 'twilio_sms')");
    assert_eq!(
        code_of(&c, &channel_without_phone).await,
        SqlState::CHECK_VIOLATION
    );
}

#[tokio::test]
async fn live_jobs_are_deduplicated_and_updated_at_moves() {
    let db = TestDatabase::new().await.unwrap();
    let c = client(&db).await;
    let enqueue = "INSERT INTO jobs (kind, dedupe_key) VALUES ('message.send', 'message:9')";
    c.batch_execute(enqueue).await.unwrap();
    assert_eq!(code_of(&c, enqueue).await, SqlState::UNIQUE_VIOLATION);
    // A finished job no longer blocks a new one with the same key.
    c.batch_execute("UPDATE jobs SET status = 'done'")
        .await
        .unwrap();
    c.batch_execute(enqueue).await.unwrap();
    let moved = rows(
        &c,
        "SELECT bool_and(updated_at > created_at) FROM jobs WHERE status = 'done'",
    )
    .await;
    assert_eq!(moved, vec!["t"]);
    // A running job holds a lease.
    assert_eq!(
        code_of(
            &c,
            "UPDATE jobs SET status = 'running' WHERE status = 'queued'"
        )
        .await,
        SqlState::CHECK_VIOLATION
    );
}

/// The CHECK lists of the database and the domain's enums name the same values.
#[tokio::test]
async fn check_constraints_match_the_domain_enums() {
    let db = TestDatabase::new().await.unwrap();
    let c = client(&db).await;
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        (
            "users",
            "role",
            omni_identity::Role::ALL.map(|v| v.as_str()).to_vec(),
        ),
        (
            "integrations",
            "type",
            omni_tenancy::IntegrationType::ALL
                .map(|v| v.as_str())
                .to_vec(),
        ),
        (
            "tickets",
            "status",
            omni_ticketing::TicketStatus::ALL
                .map(|v| v.as_str())
                .to_vec(),
        ),
        (
            "tickets",
            "priority",
            omni_ticketing::Priority::ALL.map(|v| v.as_str()).to_vec(),
        ),
        (
            "tickets",
            "sentiment",
            omni_ticketing::Sentiment::ALL.map(|v| v.as_str()).to_vec(),
        ),
        (
            "ticket_messages",
            "delivery_status",
            omni_messaging::DeliveryStatus::ALL
                .map(|v| v.as_str())
                .to_vec(),
        ),
        (
            "early_reports",
            "status",
            omni_messaging::DeliveryStatus::ALL
                .map(|v| v.as_str())
                .to_vec(),
        ),
    ];
    for (table, column, values) in cases {
        let def = rows(
            &c,
            &format!(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '{table}'::regclass \
                 AND contype = 'c' AND pg_get_constraintdef(oid) LIKE 'CHECK (({column} = ANY%'"
            ),
        )
        .await;
        assert_eq!(def.len(), 1, "{table}.{column}: {def:?}");
        let mut listed: Vec<&str> = def[0].split('\'').skip(1).step_by(2).collect();
        let mut expected = values.clone();
        listed.sort_unstable();
        expected.sort_unstable();
        assert_eq!(listed, expected, "{table}.{column}");
    }
}
