use std::sync::Arc;
use std::time::Duration;

use omni_core::Clock;
use omni_crypto::JwtIssuer;
use omni_identity::TokenIssuer as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{spawn_app, spawn_app_on, unique};

#[tokio::test]
async fn register_then_login_then_profile() {
    let app = spawn_app().await;
    let email = format!("Ana.{}@Example.com", unique());
    let body = json!({"company_name": "Acme Ltda", "name": "Ana", "email": email, "password": "correct horse battery"});
    let res = app
        .request(Method::POST, "/auth/register", Some(&body), None)
        .await;
    assert_eq!(res.status(), 201);
    let registered: Value = res.json().await.unwrap();
    assert_eq!(registered["token_type"], "Bearer");
    assert_eq!(registered["expires_in"], 3600);
    let user = &registered["user"];
    assert_eq!(user["email"], email.to_lowercase());
    assert_eq!(user["role"], "admin");
    assert!(user["company_id"].is_i64());
    for key in ["id", "name", "created_at", "updated_at"] {
        assert!(user.get(key).is_some(), "user has {key}");
    }
    assert!(!registered.to_string().contains("password"), "{registered}");

    // The company was made with default settings.
    let (status, company) = app
        .call(
            Method::GET,
            &format!("/companies/{}", user["company_id"]),
            None,
            registered["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(company["name"], "Acme Ltda");
    assert_eq!(company["settings"]["locale"], "pt-BR");

    let login = app
        .login(&email.to_uppercase(), "correct horse battery")
        .await;
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.unwrap();
    assert_eq!(login["user"], *user);
    let token = login["access_token"].as_str().unwrap();

    let (status, profile) = app.call(Method::GET, "/auth/profile", None, token).await;
    assert_eq!(status, 200);
    assert_eq!(profile, *user);
}

#[tokio::test]
async fn registration_lists_every_bad_field() {
    let app = spawn_app().await;
    let bad = json!({"company_name": "", "name": " ", "email": "nope", "password": "x"});
    let res = app
        .request(Method::POST, "/auth/register", Some(&bad), None)
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: Value = res.json().await.unwrap();
    let mut fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["company_name", "email", "name", "password"]);
    for e in problem["errors"].as_array().unwrap() {
        assert!(!e["message"].as_str().unwrap().is_empty());
    }

    // Missing fields are named too, and unknown ones refused.
    let (status, problem) = (
        app.request(Method::POST, "/auth/register", Some(&json!({})), None)
            .await
            .status(),
        app.request(
            Method::POST,
            "/auth/register",
            Some(&json!({"is_admin": true})),
            None,
        )
        .await
        .json::<Value>()
        .await
        .unwrap(),
    );
    assert_eq!(status, 422);
    assert!(
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "is_admin"),
        "{problem}"
    );

    // Nothing was created by any of this.
    let sql = app.sql().await;
    let count: i64 = sql
        .query_one("SELECT count(*) FROM companies", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn bodies_that_are_not_json_are_refused_clearly() {
    let app = spawn_app().await;
    let url = format!("{}/auth/login", app.address);
    let res = app
        .client
        .post(&url)
        .body("email=a")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    let res = app
        .client
        .post(&url)
        .body("{\"email\": ")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let huge = json!({"email": "a@b.co", "password": "x".repeat(70 * 1024)});
    let res = app
        .request(Method::POST, "/auth/login", Some(&huge), None)
        .await;
    assert_eq!(res.status(), 413);
}

#[tokio::test]
async fn a_taken_email_is_a_conflict_and_creates_nothing() {
    let app = spawn_app().await;
    let first = app.register().await;
    let body = json!({"company_name": "Other", "name": "Bia", "email": first.email.to_uppercase(), "password": "another password"});
    let res = app
        .request(Method::POST, "/auth/register", Some(&body), None)
        .await;
    assert_eq!(res.status(), 409);
    let sql = app.sql().await;
    let count: i64 = sql
        .query_one("SELECT count(*) FROM companies", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        count, 1,
        "the second company was rolled back with its admin"
    );
}

#[tokio::test]
async fn login_says_the_same_for_unknown_email_and_wrong_password() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let wrong = app.login(&admin.email, "not the password").await;
    assert_eq!(wrong.status(), 401);
    let wrong: Value = wrong.json().await.unwrap();
    let unknown = app.login("nobody@example.com", &admin.password).await;
    assert_eq!(unknown.status(), 401);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn bad_tokens_are_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let profile = format!("{}/auth/profile", app.address);

    let missing = app.client.get(&profile).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");

    let secret = app.config.auth.jwt_secret.expose().clone();
    let user: omni_identity::User = {
        let state = omni_server::state::AppState::new(app.config.clone()).unwrap();
        let principal = state.identity.authenticate(&admin.token).await.unwrap();
        state.identity.profile(&principal.principal).await.unwrap()
    };
    struct Past;
    impl Clock for Past {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            chrono::Utc::now() - chrono::Duration::hours(3)
        }
    }
    let expired = JwtIssuer::new(&secret, Duration::from_secs(3600), Arc::new(Past))
        .issue(&user)
        .unwrap()
        .token;
    let forged = JwtIssuer::new(
        b"a different secret, 32 bytes long!",
        Duration::from_secs(3600),
        Arc::new(omni_core::SystemClock),
    )
    .issue(&user)
    .unwrap()
    .token;
    let payload = admin.token.split('.').nth(1).unwrap();
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");

    for auth in [
        format!("Basic {}", admin.token),
        "Bearer".to_owned(),
        "Bearer not.a.token".to_owned(),
        format!("Bearer {expired}"),
        format!("Bearer {forged}"),
        format!("Bearer {unsigned}"),
    ] {
        let res = app
            .client
            .get(&profile)
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{auth}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    let ok = app
        .client
        .get(&profile)
        .header("authorization", format!("bearer {}", admin.token))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "the scheme is case-insensitive");
}

#[tokio::test]
async fn a_deleted_users_token_stops_working_at_once() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let agent = app.add_user(&admin, "agent").await;
    assert_eq!(
        app.call(Method::GET, "/auth/profile", None, &agent.token)
            .await
            .0,
        200
    );
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/users/{}", agent.id()),
            None,
            &admin.token,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        app.call(Method::GET, "/auth/profile", None, &agent.token)
            .await
            .0,
        401
    );
    assert_eq!(
        app.call(Method::GET, "/users", None, &agent.token).await.0,
        401
    );
}

#[tokio::test]
async fn a_changed_role_applies_to_the_next_request() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let other_admin = app.add_user(&admin, "admin").await;
    let new_user = json!({"email": format!("x-{}@example.com", unique()), "name": "X", "password": "password 123"});
    assert_eq!(
        app.call(
            Method::POST,
            "/users",
            Some(new_user.clone()),
            &other_admin.token
        )
        .await
        .0,
        201
    );
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/users/{}", other_admin.id()),
            Some(json!({"role": "agent"})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 200);
    let again = json!({"email": format!("y-{}@example.com", unique()), "name": "Y", "password": "password 123"});
    // The role change ended the old session; the new one carries the new role.
    assert_eq!(
        app.call(
            Method::POST,
            "/users",
            Some(again.clone()),
            &other_admin.token
        )
        .await
        .0,
        401
    );
    let login: Value = app
        .login(&other_admin.email, &other_admin.password)
        .await
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap();
    assert_eq!(
        app.call(Method::POST, "/users", Some(again), token).await.0,
        403
    );
}

#[tokio::test]
async fn registration_can_be_switched_off() {
    let db = omni_store_postgres::test_db::TestDatabase::new()
        .await
        .unwrap();
    let url = db.url().to_owned();
    let app = spawn_app_on(db, &url, |f| f.merge(("auth.allow_registration", false))).await;
    let body = json!({"company_name": "Acme", "name": "Ana", "email": "ana@acme.test", "password": "correct horse"});
    let res = app
        .request(Method::POST, "/auth/register", Some(&body), None)
        .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn brute_forcing_a_login_gets_429s() {
    let db = omni_store_postgres::test_db::TestDatabase::new()
        .await
        .unwrap();
    let url = db.url().to_owned();
    let app = spawn_app_on(db, &url, |f| f.merge(("limits.login_free_failures", 3))).await;
    let admin = app.register().await;
    for _ in 0..3 {
        assert_eq!(app.login(&admin.email, "guess").await.status(), 401);
    }
    let res = app.login(&admin.email.to_uppercase(), "guess").await;
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    // Even the right password waits out the back-off.
    assert_eq!(app.login(&admin.email, &admin.password).await.status(), 429);
}

#[tokio::test]
async fn each_user_has_an_api_budget() {
    let db = omni_store_postgres::test_db::TestDatabase::new()
        .await
        .unwrap();
    let url = db.url().to_owned();
    let app = spawn_app_on(db, &url, |f| f.merge(("limits.api_per_minute_per_user", 3))).await;
    let admin = app.register().await;
    for _ in 0..3 {
        assert_eq!(
            app.call(Method::GET, "/auth/profile", None, &admin.token)
                .await
                .0,
            200
        );
    }
    let res = app
        .request(Method::GET, "/auth/profile", None, Some(&admin.token))
        .await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let other = app.register().await;
    assert_eq!(
        app.call(Method::GET, "/auth/profile", None, &other.token)
            .await
            .0,
        200,
        "another user's budget is untouched"
    );
}
