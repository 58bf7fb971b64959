//! One batch that holds every case an inbound message can be, stored by the set-based
//! statements against a real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use omni_core::{CompanyId, IntegrationId, MessageId};
use omni_messaging::{DeliveryStatus, Inbound, InboundOutcome, SendStart, StatusReport};
use omni_ticketing::{Channel, TicketStatus};

use super::{Answer, Work, store_together};
use crate::Database;
use crate::test_db::TestDatabase;

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

async fn id(conn: &mut crate::PooledConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Id>(conn)
        .await
        .unwrap()
        .id
}

async fn lines(conn: &mut crate::PooledConnection, sql: &str) -> Vec<String> {
    diesel::sql_query(sql)
        .load::<Line>(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect()
}

fn inbound(company: i64, integration: i64, sid: &str, phone: &str, name: Option<&str>) -> Inbound {
    Inbound {
        company_id: CompanyId::new(company),
        integration_id: IntegrationId::new(integration),
        channel: Channel::Whatsapp,
        message_sid: sid.into(),
        customer: phone.parse().unwrap(),
        customer_name: name.map(str::to_owned),
        body: format!("body of {sid}"),
        media: vec![],
    }
}

#[tokio::test]
async fn one_batch_opens_reopens_joins_and_skips_redeliveries_as_the_domain_decides() {
    let test_db = TestDatabase::new().await.unwrap();
    let db = Database::new(test_db.config().unwrap()).unwrap();
    let mut conn = db.conn().await.unwrap();
    let c = id(
        &mut conn,
        "INSERT INTO companies (name) VALUES ('A') RETURNING id",
    )
    .await;
    let i = id(
        &mut conn,
        &format!(
            "INSERT INTO integrations (company_id, type, phone_number) \
             VALUES ({c}, 'twilio_whatsapp', '+14155550100') RETURNING id"
        ),
    )
    .await;
    let ticket = |phone: &str, status: &str| {
        format!(
            "INSERT INTO tickets (company_id, integration_id, customer_phone, channel, status) \
             VALUES ({c}, {i}, '{phone}', 'whatsapp', '{status}') RETURNING id"
        )
    };
    let resolved = id(&mut conn, &ticket("+5511900000002", "resolved")).await;
    let open = id(&mut conn, &ticket("+5511900000003", "open")).await;
    let closed = id(&mut conn, &ticket("+5511900000004", "closed")).await;
    let earlier = id(
        &mut conn,
        &format!(
            "INSERT INTO ticket_messages (company_id, ticket_id, content, from_customer, \
                 whatsapp_number, whatsapp_message_id, delivery_status) \
             VALUES ({c}, {open}, 'earlier', true, '+5511900000003', 'SMold', 'received') \
             RETURNING id"
        ),
    )
    .await;

    let batch = [
        inbound(c, i, "SMa1", "+5511900000001", Some("Ana")), // a new customer…
        inbound(c, i, "SMb1", "+5511900000002", None),        // …one coming back…
        inbound(c, i, "SMa2", "+5511900000001", Some("Ana Maria")),
        inbound(c, i, "SMc1", "+5511900000003", None), // …one in a conversation…
        inbound(c, i, "SMa1", "+5511900000001", Some("Ana")), // …a repeat in the batch…
        inbound(c, i, "SMold", "+5511900000003", None), // …a redelivery…
        inbound(c, i, "SMb2", "+5511900000002", None),
        inbound(c, i, "SMd1", "+5511900000004", None), // …one whose ticket was closed.
    ];
    let refs: Vec<&Inbound> = batch.iter().collect();
    let (outcomes, enqueued) = conn
        .transaction(async |conn| store_together(conn, &refs).await)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(enqueued);

    let stored = |k: usize| match &outcomes[k] {
        InboundOutcome::Stored {
            message,
            ticket,
            new_ticket,
        } => (message.clone(), ticket.clone(), *new_ticket),
        other => panic!("message {k}: {other:?}"),
    };
    let (a1, ticket_a, opened_a1) = stored(0);
    let (_, ticket_a_again, opened_a2) = stored(2);
    assert!(opened_a1 && !opened_a2);
    assert_eq!(ticket_a.id, ticket_a_again.id);
    assert_eq!(ticket_a.status, TicketStatus::New);
    assert_eq!(ticket_a.customer_name.as_deref(), Some("Ana Maria"));
    let (_, ticket_b, opened_b) = stored(1);
    assert_eq!(
        (ticket_b.id.get(), ticket_b.status, opened_b),
        (resolved, TicketStatus::Open, false)
    );
    let (_, ticket_c, _) = stored(3);
    assert_eq!(
        (ticket_c.id.get(), ticket_c.status),
        (open, TicketStatus::Open)
    );
    assert_eq!(outcomes[4], InboundOutcome::Duplicate { message_id: a1.id });
    assert_eq!(
        outcomes[5],
        InboundOutcome::Duplicate {
            message_id: earlier.into()
        }
    );
    let (_, ticket_d, opened_d) = stored(7);
    assert!(opened_d);
    assert_ne!(ticket_d.id.get(), closed);

    // Every message once; events in the order the messages came, ticket events first.
    assert_eq!(
        lines(
            &mut conn,
            "SELECT whatsapp_message_id AS line FROM ticket_messages ORDER BY id"
        )
        .await,
        ["SMold", "SMa1", "SMb1", "SMa2", "SMc1", "SMb2", "SMd1"]
    );
    let a = ticket_a.id.get();
    let d = ticket_d.id.get();
    assert_eq!(
        lines(
            &mut conn,
            "SELECT type || ' ' || coalesce(ticket_id::text, '-') || \
                 coalesce(' ' || (payload -> 'changes' -> 'status' ->> 'to'), '') AS line \
             FROM events ORDER BY id"
        )
        .await,
        [
            format!("ticket.created {a}"),
            format!("message.created {a}"),
            format!("ticket.updated {resolved} open"),
            format!("message.created {resolved}"),
            format!("message.created {a}"),
            format!("message.created {open}"),
            format!("message.created {resolved}"),
            format!("ticket.created {d}"),
            format!("message.created {d}"),
        ]
    );
    // Triage for what opened or reopened, once each.
    let mut jobs = lines(
        &mut conn,
        "SELECT kind || ' ' || (payload ->> 'ticket_id') AS line FROM jobs ORDER BY id",
    )
    .await;
    jobs.sort();
    let mut expected = vec![
        format!("triage {a}"),
        format!("triage {resolved}"),
        format!("triage {d}"),
    ];
    expected.sort();
    assert_eq!(jobs, expected);
}

/// A company with a number, a customer's open ticket and one reply Twilio took (`SMout`,
/// `sent`): what delivery reports are about.
async fn with_a_sent_reply(conn: &mut crate::PooledConnection) -> (i64, i64, i64) {
    let c = id(
        conn,
        "INSERT INTO companies (name) VALUES ('A') RETURNING id",
    )
    .await;
    let i = id(
        conn,
        &format!(
            "INSERT INTO integrations (company_id, type, phone_number) \
             VALUES ({c}, 'twilio_whatsapp', '+14155550100') RETURNING id"
        ),
    )
    .await;
    let t = id(
        conn,
        &format!(
            "INSERT INTO tickets (company_id, integration_id, customer_phone, channel, status) \
             VALUES ({c}, {i}, '+5511900000001', 'whatsapp', 'open') RETURNING id"
        ),
    )
    .await;
    id(
        conn,
        &format!(
            "INSERT INTO ticket_messages (company_id, ticket_id, content, from_customer, \
                 whatsapp_number, whatsapp_message_id, delivery_status) \
             VALUES ({c}, {t}, 'Olá!', false, '+5511900000001', 'SMout', 'sent') RETURNING id"
        ),
    )
    .await;
    (c, i, t)
}

fn report(company: i64, sid: &str, status: DeliveryStatus) -> Work {
    Work::Status(StatusReport {
        company_id: CompanyId::new(company),
        message_sid: sid.into(),
        status,
        error_code: None,
        error_message: None,
    })
}

/// What a report was answered: the status it left its message in, `None` if it moved
/// nothing.
fn moved(answer: &Answer) -> Option<DeliveryStatus> {
    match answer {
        Answer::Status(outcome) => match outcome.as_ref() {
            Ok(m) => m.as_ref().map(|m| m.delivery_status),
            Err(e) => panic!("a report failed: {e}"),
        },
        _ => panic!("a report answered as something else"),
    }
}

#[tokio::test]
async fn reports_and_messages_commit_together_and_each_caller_hears_its_own() {
    let test_db = TestDatabase::new().await.unwrap();
    let db = Database::new(test_db.config().unwrap()).unwrap();
    let mut conn = db.conn().await.unwrap();
    let (c, i, t) = with_a_sent_reply(&mut conn).await;
    let batch = [
        report(c, "SMout", DeliveryStatus::Delivered),
        Work::Inbound(inbound(c, i, "SMin", "+5511900000001", None)),
        report(c, "SMout", DeliveryStatus::Read),
        report(c, "SMout", DeliveryStatus::Sent), // late: changes nothing
        report(c, "SMnobody", DeliveryStatus::Read),
        report(c + 1, "SMout", DeliveryStatus::Failed), // another company's sid
    ];
    let work: Vec<&Work> = batch.iter().collect();
    let mut held = None;
    let answers = super::store(&db, &mut held, &work).await;
    assert!(held.is_some(), "a committed batch keeps its connection");
    assert_eq!(moved(&answers[0]), Some(DeliveryStatus::Delivered));
    match &answers[1] {
        Answer::Inbound(outcome) => match outcome.as_ref() {
            Ok(InboundOutcome::Stored { ticket, .. }) => assert_eq!(ticket.id.get(), t),
            other => panic!("{other:?}"),
        },
        _ => panic!("a message answered as something else"),
    }
    assert_eq!(moved(&answers[2]), Some(DeliveryStatus::Read));
    for (k, answer) in answers.iter().enumerate().skip(3) {
        assert_eq!(moved(answer), None, "report {k}");
    }
    assert_eq!(
        lines(
            &mut conn,
            "SELECT delivery_status AS line FROM ticket_messages WHERE whatsapp_message_id = 'SMout'"
        )
        .await,
        ["read"]
    );
    // One event per move, in the order the work came.
    assert_eq!(
        lines(
            &mut conn,
            "SELECT type || coalesce(' ' || (payload -> 'message' ->> 'delivery_status'), '') \
                 AS line FROM events ORDER BY id"
        )
        .await,
        [
            "message.created received",
            "message.status_updated delivered",
            "message.status_updated read",
        ]
    );
}

#[tokio::test]
async fn a_batch_that_fails_stores_each_report_and_message_alone() {
    let test_db = TestDatabase::new().await.unwrap();
    let db = Database::new(test_db.config().unwrap()).unwrap();
    let mut conn = db.conn().await.unwrap();
    let (c, i, _) = with_a_sent_reply(&mut conn).await;
    // A message for a company that does not exist fails the batch as a whole.
    let batch = [
        report(c, "SMout", DeliveryStatus::Read),
        Work::Inbound(inbound(c + 1000, i, "SMx", "+5511900000009", None)),
        Work::Inbound(inbound(c, i, "SMin", "+5511900000001", None)),
    ];
    let work: Vec<&Work> = batch.iter().collect();
    let mut held = None;
    let answers = super::store(&db, &mut held, &work).await;
    assert_eq!(moved(&answers[0]), Some(DeliveryStatus::Read));
    assert!(matches!(&answers[1], Answer::Inbound(o) if o.is_err()));
    assert!(matches!(
        &answers[2],
        Answer::Inbound(o) if matches!(o.as_ref(), Ok(InboundOutcome::Stored { .. }))
    ));
    assert_eq!(
        lines(
            &mut conn,
            "SELECT coalesce(whatsapp_message_id, '-') || ' ' || delivery_status AS line \
             FROM ticket_messages ORDER BY id"
        )
        .await,
        ["SMout read", "SMin received"]
    );
}

#[tokio::test]
async fn a_sends_start_and_answer_commit_in_the_batch_before_the_reports_on_it() {
    let test_db = TestDatabase::new().await.unwrap();
    let db = Database::new(test_db.config().unwrap()).unwrap();
    let mut conn = db.conn().await.unwrap();
    let (c, _, t) = with_a_sent_reply(&mut conn).await;
    let q = id(
        &mut conn,
        &format!(
            "INSERT INTO ticket_messages (company_id, ticket_id, content, from_customer, \
                 whatsapp_number, delivery_status) \
             VALUES ({c}, {t}, 'Já vamos ver.', false, '+5511900000001', 'queued') RETURNING id"
        ),
    )
    .await;
    let finish = |sid: &str| {
        Work::FinishSend(crate::send_batch::Finish {
            id: MessageId::new(q),
            sid: Some(sid.into()),
            status: DeliveryStatus::Sent,
            code: None,
            why: None,
        })
    };
    let batch = [
        Work::BeginSend(MessageId::new(q)),
        // Two workers raced for the job: the second finds the first's start.
        Work::BeginSend(MessageId::new(q)),
        Work::BeginSend(MessageId::new(q + 1000)),
        finish("SMq"),
        // A second answer leaves the first as it is.
        finish("SMq2"),
        report(c, "SMq", DeliveryStatus::Delivered),
    ];
    let work: Vec<&Work> = batch.iter().collect();
    let mut held = None;
    let answers = super::store(&db, &mut held, &work).await;
    assert!(held.is_some(), "the batch committed together");
    assert!(matches!(
        answers[0],
        Answer::BeginSend(Ok(Some(SendStart::First)))
    ));
    assert!(matches!(
        answers[1],
        Answer::BeginSend(Ok(Some(SendStart::Retaken { .. })))
    ));
    assert!(matches!(answers[2], Answer::BeginSend(Ok(None))), "gone");
    assert!(matches!(answers[3], Answer::FinishSend(Ok(()))));
    assert!(matches!(answers[4], Answer::FinishSend(Ok(()))));
    assert_eq!(moved(&answers[5]), Some(DeliveryStatus::Delivered));
    assert_eq!(
        lines(
            &mut conn,
            &format!(
                "SELECT whatsapp_message_id || ' ' || delivery_status || ' ' || \
                     (send_started_at IS NOT NULL) AS line FROM ticket_messages WHERE id = {q}"
            )
        )
        .await,
        ["SMq delivered true"]
    );
    assert_eq!(
        lines(
            &mut conn,
            "SELECT type || ' ' || (payload -> 'message' ->> 'delivery_status') AS line \
             FROM events ORDER BY id"
        )
        .await,
        [
            "message.status_updated sent",
            "message.status_updated delivered"
        ]
    );
}

/// Holds, on a connection of its own, the locks a send's answer takes on `sids` while it
/// commits; `unlock` lets them go.
async fn hold_sids(db: &Database, sids: &[&str]) -> crate::PooledConnection {
    let mut holder = db.conn().await.unwrap();
    for sid in sids {
        diesel::sql_query("SELECT pg_advisory_lock(hashtextextended('sid:' || $1, 0))")
            .bind::<Text, _>(*sid)
            .execute(&mut holder)
            .await
            .unwrap();
    }
    holder
}

async fn unlock(holder: &mut crate::PooledConnection) {
    diesel::sql_query("SELECT pg_advisory_unlock_all()")
        .execute(holder)
        .await
        .unwrap();
}

#[tokio::test]
async fn work_whose_sid_is_locked_elsewhere_is_left_out_and_the_rest_commits() {
    let test_db = TestDatabase::new().await.unwrap();
    let db = Database::new(test_db.config().unwrap()).unwrap();
    let mut conn = db.conn().await.unwrap();
    let (c, i, t) = with_a_sent_reply(&mut conn).await;
    let q = id(
        &mut conn,
        &format!(
            "INSERT INTO ticket_messages (company_id, ticket_id, content, from_customer, \
                 whatsapp_number, delivery_status) \
             VALUES ({c}, {t}, 'Já vamos ver.', false, '+5511900000001', 'sending') RETURNING id"
        ),
    )
    .await;
    // Other transactions are recording `SMq` and `SMr` as sends' answers.
    let mut holder = hold_sids(&db, &["SMq", "SMr"]).await;
    let finish = Work::FinishSend(crate::send_batch::Finish {
        id: MessageId::new(q),
        sid: Some("SMr".into()),
        status: DeliveryStatus::Sent,
        code: None,
        why: None,
    });
    let batch = [
        report(c, "SMq", DeliveryStatus::Sent),
        finish,
        Work::Inbound(inbound(c, i, "SMin", "+5511900000001", None)),
        // Its message carries the sid already: no lock to wait for.
        report(c, "SMout", DeliveryStatus::Read),
    ];
    let work: Vec<&Work> = batch.iter().collect();
    let mut held = None;
    let answers = super::store(&db, &mut held, &work).await;
    assert!(held.is_some(), "the rest committed together");
    assert!(matches!(answers[0], Answer::Deferred));
    assert!(matches!(answers[1], Answer::Deferred));
    assert!(matches!(
        &answers[2],
        Answer::Inbound(o) if matches!(o.as_ref(), Ok(InboundOutcome::Stored { .. }))
    ));
    assert_eq!(moved(&answers[3]), Some(DeliveryStatus::Read));
    let kept = "SELECT whatsapp_message_id || ' ' || status AS line FROM early_reports";
    assert!(
        lines(&mut conn, kept).await.is_empty(),
        "nothing of it kept"
    );
    let answered = format!(
        "SELECT coalesce(whatsapp_message_id, '-') || ' ' || delivery_status AS line \
         FROM ticket_messages WHERE id = {q}"
    );
    assert_eq!(lines(&mut conn, &answered).await, ["- sending"]);
    // Once the answers' transactions end, the left-out work goes in like any other.
    unlock(&mut holder).await;
    let work = [&batch[0], &batch[1]];
    let answers = super::store(&db, &mut held, &work).await;
    assert_eq!(moved(&answers[0]), None);
    assert!(matches!(answers[1], Answer::FinishSend(Ok(()))));
    assert_eq!(lines(&mut conn, kept).await, ["SMq sent"]);
    assert_eq!(lines(&mut conn, &answered).await, ["SMr sent"]);
}

#[tokio::test]
async fn a_lane_goes_on_while_a_report_waits_for_its_sid_and_the_report_lands_after() {
    let test_db = TestDatabase::new().await.unwrap();
    let db = Database::new(test_db.config().unwrap()).unwrap();
    let mut conn = db.conn().await.unwrap();
    let (c, i, _) = with_a_sent_reply(&mut conn).await;
    let mut holder = hold_sids(&db, &["SMq"]).await;
    let lanes = std::sync::Arc::new(super::GroupCommit::default());
    let waiting = tokio::spawn({
        let (lanes, db) = (lanes.clone(), db.clone());
        async move {
            let Work::Status(r) = report(c, "SMq", DeliveryStatus::Sent) else {
                unreachable!()
            };
            lanes.submit_status(&db, &r).await
        }
    });
    // The report goes first, and is left out again and again while the lock is held…
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // …without holding up the customer's message that comes after it.
    let stored = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        lanes.submit(&db, &inbound(c, i, "SMin", "+5511900000001", None)),
    )
    .await
    .expect("the lane went on");
    assert!(matches!(stored, Some(Ok(InboundOutcome::Stored { .. }))));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "the report waits for the sid");
    // Then nothing else comes; the report still lands once the lock is let go.
    unlock(&mut holder).await;
    let landed = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .expect("the report was not forgotten")
        .unwrap();
    assert!(
        matches!(landed, Some(Ok(None))),
        "kept for its send's answer"
    );
    assert_eq!(
        lines(
            &mut conn,
            "SELECT whatsapp_message_id || ' ' || status AS line FROM early_reports"
        )
        .await,
        ["SMq sent"]
    );
}
