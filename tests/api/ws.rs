//! WebSocket delivery with a real client (tokio-tungstenite).

use std::time::Duration;

use futures_util::StreamExt as _;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::helpers::{Account, TestApp, spawn_app, spawn_app_beside, spawn_app_on};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn connect(app: &TestApp, who: &Account, since: Option<i64>) -> Socket {
    let mut url = format!(
        "{}/ws?token={}",
        app.address.replace("http://", "ws://"),
        who.token
    );
    if let Some(since) = since {
        url.push_str(&format!("&since={since}"));
    }
    connect_async(url).await.expect("the socket opens").0
}

/// The next text frame as JSON, or None if nothing comes within `wait`.
async fn next(ws: &mut Socket, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(serde_json::from_str(&t).unwrap()),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(other))) => panic!("unexpected frame {other:?}"),
            Ok(Some(Err(e))) => panic!("socket error {e}"),
            Ok(None) | Err(_) => return None,
        }
    }
}

pub async fn hello(ws: &mut Socket) -> i64 {
    let frame = next(ws, Duration::from_secs(5))
        .await
        .expect("a hello frame");
    assert_eq!(frame["type"], "hello");
    frame["last_event_id"].as_i64().unwrap()
}

pub async fn next_of(ws: &mut Socket, kind: &str) -> Value {
    loop {
        let frame = next(ws, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("no {kind} frame"));
        if frame["type"] == kind {
            return frame;
        }
    }
}

#[tokio::test]
async fn changes_arrive_as_frames_and_other_companies_see_none() {
    let app = spawn_app().await;
    let a = app.register().await;
    let b = app.register().await;
    let mut ws_a = connect(&app, &a, None).await;
    let mut ws_b = connect(&app, &b, None).await;
    hello(&mut ws_a).await;
    hello(&mut ws_b).await;
    let (_, t) = app
        .call(
            Method::POST,
            "/tickets",
            Some(json!({"customer_phone": "+5511987650001"})),
            &a.token,
        )
        .await;
    let frame = next_of(&mut ws_a, "ticket.created").await;
    for key in ["id", "company_id", "ticket_id", "data", "occurred_at"] {
        assert!(frame.get(key).is_some(), "frame has {key}: {frame}");
    }
    assert_eq!(frame["ticket_id"], t["id"]);
    assert_eq!(frame["company_id"], a.company_id());
    assert_eq!(frame["data"]["ticket"]["id"], t["id"]);
    app.call(
        Method::PUT,
        &format!("/tickets/{}", t["id"]),
        Some(json!({"status": "open"})),
        &a.token,
    )
    .await;
    let updated = next_of(&mut ws_a, "ticket.updated").await;
    assert_eq!(updated["data"]["changes"]["status"]["to"], "open");
    assert!(updated["id"].as_i64() > frame["id"].as_i64());
    assert!(
        next(&mut ws_b, Duration::from_millis(700)).await.is_none(),
        "company B saw nothing"
    );
}

#[tokio::test]
async fn a_client_that_reconnects_with_since_gets_exactly_what_it_missed() {
    let app = spawn_app().await;
    let a = app.register().await;
    let mut ws = connect(&app, &a, None).await;
    hello(&mut ws).await;
    let (_, t) = app
        .call(
            Method::POST,
            "/tickets",
            Some(json!({"customer_phone": "+5511987650002"})),
            &a.token,
        )
        .await;
    let seen = next_of(&mut ws, "ticket.created").await["id"]
        .as_i64()
        .unwrap();
    ws.close(None).await.unwrap();
    let path = format!("/tickets/{}", t["id"]);
    for change in [
        json!({"status": "open"}),
        json!({"priority": "high"}),
        json!({"status": "pending"}),
    ] {
        assert_eq!(
            app.call(Method::PUT, &path, Some(change), &a.token).await.0,
            200
        );
    }
    let mut ws = connect(&app, &a, Some(seen)).await;
    hello(&mut ws).await;
    let mut replayed = Vec::new();
    while let Some(frame) = next(&mut ws, Duration::from_millis(700)).await {
        replayed.push(frame);
    }
    assert_eq!(replayed.len(), 3, "{replayed:?}");
    let ids: Vec<i64> = replayed.iter().map(|f| f["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");
    assert_eq!(replayed[0]["data"]["changes"]["status"]["to"], "open");
    assert_eq!(replayed[1]["data"]["changes"]["priority"]["to"], "high");
    assert_eq!(replayed[2]["data"]["changes"]["status"]["to"], "pending");
}

#[tokio::test]
async fn an_event_on_one_instance_reaches_a_socket_on_another() {
    let app = spawn_app().await;
    let other = spawn_app_beside(&app, |f| f).await;
    let a = app.register().await;
    let mut ws = connect(&other, &a, None).await;
    hello(&mut ws).await;
    let (_, t) = app
        .call(
            Method::POST,
            "/tickets",
            Some(json!({"customer_phone": "+5511987650003"})),
            &a.token,
        )
        .await;
    assert_eq!(
        next_of(&mut ws, "ticket.created").await["ticket_id"],
        t["id"]
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_before_the_upgrade() {
    let app = spawn_app().await;
    for token in ["", "not-a-token"] {
        let url = format!(
            "{}/ws?token={token}",
            app.address.replace("http://", "ws://")
        );
        match connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401)
            }
            other => panic!("expected 401, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_cursor_older_than_the_retention_gets_a_reset() {
    let app = spawn_app().await;
    let a = app.register().await;
    app.sql()
        .await
        .execute("UPDATE event_log_state SET pruned_through = 1000", &[])
        .await
        .unwrap();
    let mut ws = connect(&app, &a, Some(5)).await;
    hello(&mut ws).await;
    assert_eq!(
        next(&mut ws, Duration::from_secs(2)).await.unwrap()["type"],
        "reset"
    );
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_and_memory_stays_bounded() {
    let db = omni_store_postgres::test_db::TestDatabase::new()
        .await
        .unwrap();
    let url = db.url().to_owned();
    let app = spawn_app_on(db, &url, |f| f.merge(("ws.queue_size", 8))).await;
    let a = app.register().await;
    let mut ws = connect(&app, &a, None).await;
    hello(&mut ws).await;
    // 400 events of 32 KiB: far more than the socket's buffers and the queue of 8 hold.
    let sql = app.sql().await;
    sql.execute(
        "INSERT INTO events (company_id, type, payload) \
         SELECT $1, 'ticket.updated', jsonb_build_object('filler', repeat('x', 32768)) FROM generate_series(1, 400); \
         ",
        &[&a.company_id()],
    )
    .await
    .unwrap();
    sql.execute("SELECT pg_notify('omni_events', '')", &[])
        .await
        .unwrap();
    // The server gives up on the client: after the frames that fitted, a 1008 close.
    let mut received = 0;
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => received += 1,
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close, got {other:?} after {received} frames"),
        }
    };
    assert_eq!(u16::from(closed.expect("a close reason").code), 1008);
    assert!(
        received < 400,
        "the slow client did not get everything: {received}"
    );
    let metrics = app.scrape().await;
    assert!(
        metrics.contains("omni_ws_slow_consumers_closed_total 1"),
        "{metrics}"
    );
}
