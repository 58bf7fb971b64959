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
