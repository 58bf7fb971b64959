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
