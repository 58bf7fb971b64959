use std::time::{Duration, Instant};

use omni_store_postgres::test_db::TestDatabase;

use crate::helpers::{TcpProxy, spawn_app, spawn_app_on};

#[tokio::test]
async fn live_and_ready_answer_ok_with_a_request_id() {
    let app = spawn_app().await;
    let live = app.get("/health/live").await;
    assert_eq!(live.status(), 200);
    let id = live
        .headers()
        .get("x-request-id")
        .expect("a request id")
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(
        live.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );

    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200);
    let other = ready
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert_ne!(other, id, "one id per request");
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["database"],
        "ok"
    );
}

async fn wait_for_status(app: &crate::helpers::TestApp, path: &str, status: u16) -> Duration {
    let started = Instant::now();
    loop {
        if app.get(path).await.status() == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} never answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn ready_is_503_while_the_database_is_away_and_200_when_it_returns() {
    let db = TestDatabase::new().await.unwrap();
    let mut proxy = TcpProxy::start(db.server_addr().unwrap()).await;
    let url = db.url_via("127.0.0.1", proxy.port).unwrap();
    let app = spawn_app_on(db, &url, |f| f).await;
    assert_eq!(app.get("/health/ready").await.status(), 200);

    proxy.cut();
    let started = Instant::now();
    let down = app.get("/health/ready").await;
    assert_eq!(down.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered in {:?}",
        started.elapsed()
    );
    assert_eq!(
        down.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let problem: serde_json::Value = down.json().await.unwrap();
    assert_eq!(problem["status"], 503);
    assert_eq!(problem["title"], "Service unavailable");
    // The process itself is fine.
    assert_eq!(app.get("/health/live").await.status(), 200);

    proxy.restore().await;
    wait_for_status(&app, "/health/ready", 200).await;
}

#[tokio::test]
async fn ready_answers_503_when_the_database_never_was_there() {
    let db = TestDatabase::new().await.unwrap();
    // Nothing listens on port 1.
    let url = db.url_via("127.0.0.1", 1).unwrap();
    let app = spawn_app_on(db, &url, |f| f).await;
    assert_eq!(app.get("/health/live").await.status(), 200);
    let started = Instant::now();
    assert_eq!(app.get("/health/ready").await.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/metrics", app.metrics_address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let body = res.text().await.unwrap();
    assert!(
        body.contains("omni_triage_answers_total{engine=\"builtin\"}"),
        "{body}"
    );
    assert!(body.contains("omni_triage_vera_failures_total"));
    assert!(body.contains("omni_db_pool_connections{state=\"idle\"}"));
    // Requests are counted by route pattern, with a latency histogram.
    app.get("/health/live").await;
    let body = app.scrape().await;
    assert!(
        body.contains(
            "omni_http_requests_total{method=\"GET\",route=\"/health/live\",status=\"200\"}"
        ),
        "{body}"
    );
    assert!(body.contains("omni_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health/live\",status=\"200\",le=\"0.005\"}"), "{body}");
}
