use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, spawn_app};

async fn open_ticket(app: &TestApp, who: &Account, phone: &str) -> Value {
    let (status, t) = app
        .call(
            Method::POST,
            "/tickets",
            Some(json!({"customer_phone": phone})),
            &who.token,
        )
        .await;
    assert_eq!(status, 201, "{t}");
    t
}

/// The events of a ticket, oldest first: (type, payload).
async fn events_of(app: &TestApp, ticket: i64) -> Vec<(String, Value)> {
    let sql = app.sql().await;
    sql.query(
        "SELECT type, payload::text FROM events WHERE ticket_id = $1 ORDER BY id",
        &[&ticket],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get::<_, String>(0),
            serde_json::from_str(r.get::<_, &str>(1)).unwrap(),
        )
    })
    .collect()
}

#[tokio::test]
async fn a_tickets_life_and_exactly_one_event_per_change() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let agent = app.add_user(&admin, "agent").await;
    let t = open_ticket(&app, &agent, "+55 11 98765-0001").await;
    assert_eq!(t["status"], "new");
    assert_eq!(t["priority"], "medium");
    assert_eq!(t["customer_phone"], "+5511987650001");
    assert_eq!(t["company_id"], admin.company_id());
    for key in [
        "id",
        "category",
        "assigned_to",
        "created_at",
        "updated_at",
        "last_message_at",
        "first_response_at",
        "resolved_at",
    ] {
        assert!(t.get(key).is_some(), "ticket has {key}");
    }
    let id = t["id"].as_i64().unwrap();
    let path = format!("/tickets/{id}");
    assert_eq!(app.call(Method::GET, &path, None, &agent.token).await.1, t);

    let (status, t) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"status": "open", "assigned_to": agent.id(), "priority": "high"})),
            &agent.token,
        )
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        (
            t["status"].as_str(),
            t["priority"].as_str(),
            t["assigned_to"].as_i64()
        ),
        (Some("open"), Some("high"), Some(agent.id()))
    );
    // The same values again change nothing and make no event.
    let (_, same) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"status": "open", "priority": "high"})),
            &agent.token,
        )
        .await;
    assert_eq!(same, t);
    let (_, t) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"category": "billing", "status": "resolved"})),
            &agent.token,
        )
        .await;
    assert_eq!(t["category"], "billing");
    assert!(t["resolved_at"].is_string());
    let (_, t) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"category": null, "assigned_to": null})),
            &agent.token,
        )
        .await;
    assert!(t["category"].is_null() && t["assigned_to"].is_null());

    let events = events_of(&app, id).await;
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "ticket.created",
            "ticket.updated",
            "ticket.updated",
            "ticket.updated"
        ]
    );
    assert_eq!(
        events[1].1["changes"],
        json!({
            "status": {"from": "new", "to": "open"},
            "priority": {"from": "medium", "to": "high"},
            "assigned_to": {"from": null, "to": agent.id()},
        })
    );
    assert_eq!(
        events[3].1["ticket"], t,
        "the event carries the ticket as the API shows it"
    );

    assert_eq!(
        app.call(Method::DELETE, &path, None, &agent.token).await.0,
        403
    );
    assert_eq!(
        app.call(Method::DELETE, &path, None, &admin.token).await.0,
        204
    );
    assert_eq!(
        app.call(Method::GET, &path, None, &admin.token).await.0,
        404
    );
    assert_eq!(
        events_of(&app, id).await.last().unwrap().0,
        "ticket.deleted"
    );
}

#[tokio::test]
async fn an_illegal_move_is_409_with_the_way_forward() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let t = open_ticket(&app, &admin, "+5511987650002").await;
    let path = format!("/tickets/{}", t["id"]);
    app.call(
        Method::PUT,
        &path,
        Some(json!({"status": "resolved"})),
        &admin.token,
    )
    .await;
    let (status, problem) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"status": "pending"})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(problem["current_status"], "resolved");
    assert_eq!(problem["allowed"], json!(["open", "closed"]));
    app.call(
        Method::PUT,
        &path,
        Some(json!({"status": "closed"})),
        &admin.token,
    )
    .await;
    let (status, problem) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"status": "open"})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(problem["allowed"], json!([]));
    assert_eq!(
        events_of(&app, t["id"].as_i64().unwrap()).await.len(),
        3,
        "refused moves leave no event"
    );
}

#[tokio::test]
async fn one_open_ticket_per_customer() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let first = open_ticket(&app, &admin, "+5511987650003").await;
    let (status, problem) = app
        .call(
            Method::POST,
            "/tickets",
            Some(json!({"customer_phone": "+5511987650003"})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(problem["ticket_id"], first["id"]);
    app.call(
        Method::PUT,
        &format!("/tickets/{}", first["id"]),
        Some(json!({"status": "closed"})),
        &admin.token,
    )
    .await;
    open_ticket(&app, &admin, "+5511987650003").await;
}

#[tokio::test]
async fn bad_ticket_input_is_422_by_field() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let (status, problem) = app
        .call(
            Method::POST,
            "/tickets",
            Some(json!({"customer_phone": "123", "priority": "whenever", "category": "astrology"})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["customer_phone", "priority"]);
    let (status, problem) = app
        .call(
            Method::POST,
            "/tickets",
            Some(json!({"customer_phone": "+5511987650004", "category": "astrology"})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["field"], "category");
    let other = app.register().await;
    let (status, problem) = app
        .call(
            Method::POST,
            "/tickets",
            Some(json!({"customer_phone": "+5511987650004", "assigned_to": other.id()})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 422, "an assignee of another company: {problem}");
    let t = open_ticket(&app, &admin, "+5511987650004").await;
    let path = format!("/tickets/{}", t["id"]);
    assert_eq!(
        app.call(
            Method::PUT,
            &path,
            Some(json!({"status": "finished"})),
            &admin.token
        )
        .await
        .0,
        422
    );
    assert_eq!(
        app.call(
            Method::PUT,
            &path,
            Some(json!({"assigned_to": other.id()})),
            &admin.token
        )
        .await
        .0,
        422
    );
    assert_eq!(
        app.call(Method::GET, "/tickets?status=lost", None, &admin.token)
            .await
            .0,
        422
    );
    assert_eq!(
        app.call(Method::GET, "/tickets?sort=asc", None, &admin.token)
            .await
            .0,
        422
    );
}

#[tokio::test]
async fn agents_take_free_tickets_but_not_anothers() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let ana = app.add_user(&admin, "agent").await;
    let bia = app.add_user(&admin, "agent").await;
    let t = open_ticket(&app, &admin, "+5511987650005").await;
    let path = format!("/tickets/{}", t["id"]);
    assert_eq!(
        app.call(
            Method::PUT,
            &path,
            Some(json!({"assigned_to": ana.id()})),
            &ana.token
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.call(
            Method::PUT,
            &path,
            Some(json!({"assigned_to": bia.id()})),
            &bia.token
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.call(
            Method::PUT,
            &path,
            Some(json!({"assigned_to": bia.id()})),
            &ana.token
        )
        .await
        .0,
        200,
        "hand on"
    );
    assert_eq!(
        app.call(
            Method::PUT,
            &path,
            Some(json!({"assigned_to": admin.id()})),
            &ana.token
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.call(
            Method::PUT,
            &path,
            Some(json!({"assigned_to": ana.id()})),
            &admin.token
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn filters_find_what_they_name() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let agent = app.add_user(&admin, "agent").await;
    let a = open_ticket(&app, &admin, "+5511900000001").await;
    let b = open_ticket(&app, &admin, "+5511900000002").await;
    let c = open_ticket(&app, &admin, "+5511900000003").await;
    app.call(
        Method::PUT,
        &format!("/tickets/{}", a["id"]),
        Some(json!({"status": "open", "priority": "urgent", "assigned_to": agent.id()})),
        &admin.token,
    )
    .await;
    app.call(
        Method::PUT,
        &format!("/tickets/{}", b["id"]),
        Some(json!({"status": "pending", "category": "billing"})),
        &admin.token,
    )
    .await;
    let sql = app.sql().await;
    sql.execute(
        "INSERT INTO ticket_messages (company_id, ticket_id, content, from_customer, whatsapp_number, delivery_status) \
         VALUES ($1, $2, 'Meu pedido não chegou e estou esperando há dias', true, '+5511900000003', 'received')",
        &[&admin.company_id(), &c["id"].as_i64().unwrap()],
    )
    .await
    .unwrap();

    let ids = |v: Value| -> Vec<i64> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    };
    let get = |q: &str| {
        let path = format!("/tickets?{q}");
        let app = &app;
        let token = agent.token.clone();
        async move { app.call(Method::GET, &path, None, &token).await }
    };
    let (a, b, c) = (
        a["id"].as_i64().unwrap(),
        b["id"].as_i64().unwrap(),
        c["id"].as_i64().unwrap(),
    );
    assert_eq!(ids(get("").await.1), [c, b, a], "newest activity first");
    assert_eq!(ids(get("status=open&status=pending").await.1), [b, a]);
    assert_eq!(ids(get("status=open,new").await.1), [c, a]);
    assert_eq!(ids(get("priority=urgent").await.1), [a]);
    assert_eq!(ids(get("category=billing").await.1), [b]);
    assert_eq!(ids(get("assigned_to=me").await.1), [a]);
    assert_eq!(
        ids(get(&format!("assigned_to={}", agent.id())).await.1),
        [a]
    );
    assert_eq!(ids(get("assigned_to=none").await.1), [c, b]);
    assert_eq!(ids(get("customer_phone=%2B5511900000002").await.1), [b]);
    assert_eq!(
        ids(get("q=pedidos").await.1),
        [c],
        "Portuguese stems: pedidos ~ pedido"
    );
    assert_eq!(ids(get("q=ESPERANDO").await.1), [c]);
    assert_eq!(ids(get("q=waiting").await.1), Vec::<i64>::new());
    assert_eq!(ids(get("q=pedido&status=new").await.1), [c]);
}

/// A few thousand tickets, paged while new ones keep arriving: every seeded ticket is seen
/// exactly once, in order.
#[tokio::test]
async fn pages_have_no_gaps_and_no_duplicates_while_tickets_arrive() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let sql = app.sql().await;
    // 3,000 tickets with distinct and tied activity times (ties are broken by id).
    sql.execute(
        "INSERT INTO tickets (company_id, customer_phone, status, last_activity_at, created_at) \
         SELECT $1, '+55119' || lpad(n::text, 8, '0'), (ARRAY['new','open','pending','resolved'])[1 + n % 4], \
                now() - interval '1 day' - (n / 3) * interval '1 second', now() - interval '2 days' \
         FROM generate_series(1, 3000) AS n",
        &[&admin.company_id()],
    )
    .await
    .unwrap();
    let seeded: Vec<i64> = sql
        .query(
            "SELECT id FROM tickets WHERE company_id = $1 ORDER BY last_activity_at DESC, id DESC",
            &[&admin.company_id()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut arrivals = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/tickets?limit=200&cursor={c}"),
            None => "/tickets?limit=200".to_owned(),
        };
        let (status, page) = app.call(Method::GET, &path, None, &admin.token).await;
        assert_eq!(status, 200);
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap()),
        );
        // A new ticket arrives between every two pages.
        arrivals += 1;
        open_ticket(&app, &admin, &format!("+5521{:09}", arrivals)).await;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    let from_seed: Vec<i64> = seen
        .iter()
        .copied()
        .filter(|id| seeded.contains(id))
        .collect();
    assert_eq!(from_seed, seeded, "every seeded ticket, once, in order");
}

/// Replays the `status` changes of a ticket's events from `new`: each starts where the
/// previous ended. Returns where they end.
fn replay_status(events: &[(String, Value)]) -> String {
    let mut status = "new".to_owned();
    for (_, e) in &events[1..] {
        if let Some(change) = e["changes"].get("status") {
            assert_eq!(change["from"], status.as_str(), "{events:?}");
            status = change["to"].as_str().unwrap().to_owned();
        }
    }
    status
}

/// Two agents change one ticket at the same moment, many times: no change is lost (last
/// write wins per field), the state machine holds against the ticket as it really is, and
/// each applied change left exactly one event.
#[tokio::test]
async fn concurrent_changes_lose_nothing() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let ana = app.add_user(&admin, "agent").await;
    let bia = app.add_user(&admin, "agent").await;
    for round in 0..10 {
        let t = open_ticket(&app, &admin, &format!("+5531{round:09}")).await;
        let path = format!("/tickets/{}", t["id"]);
        let category = if round % 2 == 0 { "billing" } else { "sales" };
        // Both moves are legal in either order: new → open → pending or new → pending → open.
        let (one, two) = tokio::join!(
            app.call(
                Method::PUT,
                &path,
                Some(json!({"priority": "urgent", "status": "open"})),
                &ana.token
            ),
            app.call(
                Method::PUT,
                &path,
                Some(json!({"category": category, "status": "pending"})),
                &bia.token
            ),
        );
        assert_eq!((one.0, two.0), (200, 200), "{one:?} {two:?}");
        let (_, now) = app.call(Method::GET, &path, None, &admin.token).await;
        assert_eq!(now["priority"], "urgent", "Ana's field survived");
        assert_eq!(now["category"], category, "Bia's field survived");
        assert_eq!(now["version"], 3);
        let events = events_of(&app, t["id"].as_i64().unwrap()).await;
        assert_eq!(events.len(), 3, "created + one per change");
        assert_eq!(now["status"], replay_status(&events).as_str());
    }
}

/// One agent closes while another reopens: whichever lands second is judged against the
/// first. Closing last is fine; opening a closed ticket is refused and leaves no event.
#[tokio::test]
async fn a_racing_close_never_lets_a_closed_ticket_move() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let ana = app.add_user(&admin, "agent").await;
    let bia = app.add_user(&admin, "agent").await;
    for round in 0..10 {
        let t = open_ticket(&app, &admin, &format!("+5541{round:09}")).await;
        let path = format!("/tickets/{}", t["id"]);
        let (open, close) = tokio::join!(
            app.call(
                Method::PUT,
                &path,
                Some(json!({"status": "open", "priority": "high"})),
                &ana.token
            ),
            app.call(
                Method::PUT,
                &path,
                Some(json!({"status": "closed"})),
                &bia.token
            ),
        );
        assert_eq!(close.0, 200);
        let (_, now) = app.call(Method::GET, &path, None, &admin.token).await;
        assert_eq!(now["status"], "closed");
        let events = events_of(&app, t["id"].as_i64().unwrap()).await;
        match open.0 {
            // Opened first, then closed: both applied, in that order.
            200 => assert_eq!((events.len(), now["priority"].as_str()), (3, Some("high"))),
            // Closed first: the whole opening change is refused, priority included.
            409 => {
                assert_eq!(open.1["current_status"], "closed");
                assert_eq!(
                    (events.len(), now["priority"].as_str()),
                    (2, Some("medium"))
                );
            }
            other => panic!("unexpected {other}: {:?}", open.1),
        }
        assert_eq!(replay_status(&events), "closed");
    }
}

#[tokio::test]
async fn company_a_never_sees_or_touches_company_bs_tickets() {
    let app = spawn_app().await;
    let a_admin = app.register().await;
    let a_agent = app.add_user(&a_admin, "agent").await;
    let b_admin = app.register().await;
    let theirs = open_ticket(&app, &b_admin, "+5511977770000").await;
    open_ticket(&app, &a_admin, "+5511977770001").await;
    let path = format!("/tickets/{}", theirs["id"]);
    for who in [&a_admin, &a_agent] {
        assert_eq!(app.call(Method::GET, &path, None, &who.token).await.0, 404);
        assert_eq!(
            app.call(
                Method::PUT,
                &path,
                Some(json!({"status": "closed"})),
                &who.token
            )
            .await
            .0,
            404
        );
        let (_, list) = app
            .call(
                Method::GET,
                "/tickets?customer_phone=%2B5511977770000",
                None,
                &who.token,
            )
            .await;
        assert!(list["data"].as_array().unwrap().is_empty());
        let (_, list) = app.call(Method::GET, "/tickets", None, &who.token).await;
        assert!(
            list["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["company_id"] == a_admin.company_id())
        );
    }
    assert_eq!(
        app.call(Method::DELETE, &path, None, &a_admin.token)
            .await
            .0,
        404
    );
    assert_eq!(
        app.call(Method::GET, &path, None, &b_admin.token).await.1,
        theirs,
        "B's ticket is untouched"
    );
}
