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

/// Pooled connections are not verified when they were just in use: when the server ends
/// every backend under load, the requests that meet a dead connection answer 503 (retry),
/// never 500, and the pool recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_killed_under_load_give_503s_then_recover_never_500s() {
    let db = TestDatabase::new().await.unwrap();
    let url = db.url().to_owned();
    let app = spawn_app_on(db, &url, |f| f.merge(("limits.api_per_minute_per_user", 0))).await;
    let admin = app.register().await;
    let statuses = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(Duration, u16)>::new()));
    let started = Instant::now();
    let mut load = Vec::new();
    for _ in 0..8 {
        let (client, address, token) =
            (app.client.clone(), app.address.clone(), admin.token.clone());
        let statuses = statuses.clone();
        load.push(tokio::spawn(async move {
            while started.elapsed() < Duration::from_secs(4) {
                let status = client
                    .get(format!("{address}/tickets"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16());
                statuses.lock().unwrap().push((started.elapsed(), status));
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killer = app.sql().await;
    let killed: i64 = killer
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed > 0, "the app had connections to end");
    for task in load {
        task.await.unwrap();
    }
    let statuses = statuses.lock().unwrap().clone();
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for (_, status) in &statuses {
        *by_status.entry(*status).or_default() += 1;
    }
    assert!(
        by_status.keys().all(|s| matches!(s, 200 | 503)),
        "only 200 and 503: {by_status:?}"
    );
    let late: Vec<u16> = statuses
        .iter()
        .filter(|(at, _)| *at > Duration::from_secs(3))
        .map(|(_, s)| *s)
        .collect();
    assert!(
        !late.is_empty() && late.iter().all(|s| *s == 200),
        "recovered within 2 s: {by_status:?}"
    );
    assert!(
        by_status.get(&200).copied().unwrap_or(0) > 100,
        "{by_status:?}"
    );
}
