use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{spawn_app, unique};

#[tokio::test]
async fn an_admin_manages_the_companys_users() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let email = format!("bia-{}@example.com", unique());
    let (status, bia) = app
        .call(
            Method::POST,
            "/users",
            Some(json!({"email": email, "name": "Bia", "password": "bia password"})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(bia["role"], "agent", "agent by default");
    assert_eq!(bia["company_id"], admin.user["company_id"]);
    assert!(bia.get("password").is_none() && bia.get("password_hash").is_none());
    let path = format!("/users/{}", bia["id"]);

    let (status, list) = app.call(Method::GET, "/users", None, &admin.token).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(list["next_cursor"].is_null());

    assert_eq!(
        app.call(Method::GET, &path, None, &admin.token).await.1,
        bia
    );

    let (status, changed) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"name": "Bia Souza", "role": "admin", "password": "a new password"})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(changed["name"], "Bia Souza");
    assert_eq!(changed["role"], "admin");
    assert_eq!(app.login(&email, "bia password").await.status(), 401);
    assert_eq!(app.login(&email, "a new password").await.status(), 200);

    assert_eq!(
        app.call(Method::DELETE, &path, None, &admin.token).await.0,
        204
    );
    assert_eq!(
        app.call(Method::GET, &path, None, &admin.token).await.0,
        404
    );
    assert_eq!(
        app.call(Method::DELETE, &path, None, &admin.token).await.0,
        404
    );
}

#[tokio::test]
async fn agents_may_read_users_and_change_only_themselves() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let agent = app.add_user(&admin, "agent").await;
    let me = format!("/users/{}", agent.id());
    let boss = format!("/users/{}", admin.id());

    assert_eq!(
        app.call(Method::GET, "/users", None, &agent.token).await.0,
        200
    );
    assert_eq!(
        app.call(Method::GET, &boss, None, &agent.token).await.0,
        200
    );
    let new_user = json!({"email": format!("z-{}@example.com", unique()), "name": "Z", "password": "password 123"});
    assert_eq!(
        app.call(Method::POST, "/users", Some(new_user), &agent.token)
            .await
            .0,
        403
    );
    assert_eq!(
        app.call(
            Method::PUT,
            &boss,
            Some(json!({"name": "Hacked"})),
            &agent.token
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.call(Method::DELETE, &boss, None, &agent.token).await.0,
        403
    );

    let (status, renamed) = app
        .call(
            Method::PUT,
            &me,
            Some(json!({"name": "Carla"})),
            &agent.token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(renamed["name"], "Carla");
    assert_eq!(
        app.call(
            Method::PUT,
            &me,
            Some(json!({"role": "admin"})),
            &agent.token
        )
        .await
        .0,
        409
    );
    assert_eq!(
        app.call(Method::GET, &boss, None, &admin.token).await.1["name"],
        "Ana Admin"
    );
}

#[tokio::test]
async fn an_admin_cannot_remove_themselves() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let me = format!("/users/{}", admin.id());
    assert_eq!(
        app.call(
            Method::PUT,
            &me,
            Some(json!({"role": "agent"})),
            &admin.token
        )
        .await
        .0,
        409
    );
    assert_eq!(
        app.call(Method::DELETE, &me, None, &admin.token).await.0,
        409
    );
    assert_eq!(
        app.call(Method::GET, "/auth/profile", None, &admin.token)
            .await
            .1["role"],
        "admin"
    );
}

#[tokio::test]
async fn emails_stay_unique_on_create_and_update() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let agent = app.add_user(&admin, "agent").await;
    let taken =
        json!({"email": admin.email.to_uppercase(), "name": "X", "password": "password 123"});
    let (status, problem) = app
        .call(Method::POST, "/users", Some(taken), &admin.token)
        .await;
    assert_eq!(status, 409);
    assert_eq!(problem["status"], 409);
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/users/{}", agent.id()),
            Some(json!({"email": admin.email})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn bad_user_fields_are_each_named() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let bad = json!({"email": "x", "name": "", "password": "short", "role": "owner"});
    let (status, problem) = app
        .call(Method::POST, "/users", Some(bad), &admin.token)
        .await;
    assert_eq!(status, 422);
    let mut fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "name", "password", "role"]);
    let (status, problem) = app
        .call(
            Method::PUT,
            &format!("/users/{}", admin.id()),
            Some(json!({"name": "a\u{0}b"})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        app.call(Method::GET, "/users/not-a-number", None, &admin.token)
            .await
            .0,
        422
    );
    assert_eq!(
        app.call(Method::PATCH, "/users", None, &admin.token)
            .await
            .0,
        405
    );
    // A 405 names what the route does answer (RFC 9110).
    for (path, allow) in [("/users", "GET, POST"), ("/users/1", "GET, PUT, DELETE")] {
        let response = app
            .client
            .patch(format!("{}{path}", app.address))
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], allow);
    }
}

#[tokio::test]
async fn user_lists_page_with_a_cursor() {
    let app = spawn_app().await;
    let admin = app.register().await;
    for _ in 0..4 {
        app.add_user(&admin, "agent").await;
    }
    let mut seen = Vec::new();
    let mut path = "/users?limit=2".to_owned();
    loop {
        let (status, page) = app.call(Method::GET, &path, None, &admin.token).await;
        assert_eq!(status, 200);
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|u| u["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/users?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, seen, "ascending, no duplicates");

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=500", "limit"),
        ("cursor=garbage", "cursor"),
    ] {
        let (status, problem): (u16, Value) = app
            .call(Method::GET, &format!("/users?{query}"), None, &admin.token)
            .await;
        assert_eq!(status, 422, "{query}");
        assert_eq!(problem["errors"][0]["field"], field);
    }
}
