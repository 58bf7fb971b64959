use crate::helpers::spawn_app;

#[tokio::test]
async fn unknown_routes_are_problem_json_404() {
    let app = spawn_app().await;
    let res = app.get("/no/such/route").await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = res.json().await.unwrap();
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["title"], "Not found");
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:omni:problem:")
    );
    assert!(problem["detail"].is_string());
    assert!(problem.get("errors").is_none());
}

#[tokio::test]
async fn header_names_go_out_in_their_conventional_case() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = spawn_app().await;
    let addr = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: omni\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    assert!(
        raw.contains("\r\nContent-Type: application/json\r\n"),
        "{raw}"
    );
    assert!(raw.contains("\r\nX-Request-Id: "), "{raw}");
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let app = spawn_app().await;
    for path in ["/health/live", "/no/such/route"] {
        let res = app.get(path).await;
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(res.headers()["x-frame-options"], "DENY");
        assert_eq!(res.headers()["referrer-policy"], "no-referrer");
        assert!(
            res.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        assert_eq!(
            res.headers()["strict-transport-security"],
            "max-age=31536000; includeSubDomains",
            "the public URL is https"
        );
    }
}

#[tokio::test]
async fn cors_admits_the_configured_agent_ui_only() {
    let db = omni_store_postgres::test_db::TestDatabase::new()
        .await
        .unwrap();
    let url = db.url().to_owned();
    let app = crate::helpers::spawn_app_on(db, &url, |f| {
        f.merge(("cors.allowed_origins", vec!["https://agents.example.com"]))
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/tickets", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight("https://agents.example.com").await.unwrap();
    assert!(ok.status().is_success());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://agents.example.com"
    );
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_path_that_cannot_hold_an_id_is_named_not_a_missing_resource() {
    let app = spawn_app().await;
    let admin = app.register().await;
    for path in [
        "/tickets/abc",
        "/users/1.5",
        "/ticket-messages/99999999999999999999",
    ] {
        let (status, problem) = app
            .call(reqwest::Method::GET, path, None, &admin.token)
            .await;
        assert_eq!(status, 422, "{path}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "id", "{path}");
        assert_eq!(
            problem["errors"][0]["message"],
            "must be a whole number (an id)"
        );
    }
    let (status, problem) = app
        .call(
            reqwest::Method::GET,
            "/ticket-messages/1/media/x",
            None,
            &admin.token,
        )
        .await;
    assert_eq!(
        (status, &problem["errors"][0]["field"]),
        (422, &serde_json::json!("n"))
    );
    // A well-formed id nobody has is still a 404.
    let (status, _) = app
        .call(reqwest::Method::GET, "/tickets/424242", None, &admin.token)
        .await;
    assert_eq!(status, 404);
}
