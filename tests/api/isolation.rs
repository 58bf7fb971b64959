//! Tenant isolation: the admin and an agent of company A try every route of identity and
//! tenancy with company B's ids. Everything answers 404, lists hold none of B's rows, and
//! B is left exactly as it was.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, spawn_app};

async fn snapshot(app: &TestApp, b_admin: &Account) -> (Value, Value) {
    let (_, company) = app
        .call(
            Method::GET,
            &format!("/companies/{}", b_admin.company_id()),
            None,
            &b_admin.token,
        )
        .await;
    let (_, users) = app.call(Method::GET, "/users", None, &b_admin.token).await;
    (company, users)
}

#[tokio::test]
async fn company_a_cannot_see_or_touch_company_b() {
    let app = spawn_app().await;
    let a_admin = app.register().await;
    let a_agent = app.add_user(&a_admin, "agent").await;
    let b_admin = app.register().await;
    let b_agent = app.add_user(&b_admin, "agent").await;
    let before = snapshot(&app, &b_admin).await;

    let b_company = format!("/companies/{}", b_admin.company_id());
    let b_users = [
        format!("/users/{}", b_admin.id()),
        format!("/users/{}", b_agent.id()),
    ];

    for attacker in [&a_admin, &a_agent] {
        for user in &b_users {
            assert_eq!(
                app.call(Method::GET, user, None, &attacker.token).await.0,
                404,
                "GET {user}"
            );
            let put = app
                .call(
                    Method::PUT,
                    user,
                    Some(json!({"name": "Owned", "role": "agent"})),
                    &attacker.token,
                )
                .await;
            assert_eq!(put.0, 404, "PUT {user}");
            assert_eq!(
                app.call(Method::DELETE, user, None, &attacker.token)
                    .await
                    .0,
                404,
                "DELETE {user}"
            );
        }
        assert_eq!(
            app.call(Method::GET, &b_company, None, &attacker.token)
                .await
                .0,
            404
        );
        let put = app
            .call(
                Method::PUT,
                &b_company,
                Some(json!({"name": "Owned"})),
                &attacker.token,
            )
            .await;
        assert_eq!(put.0, 404);
        assert_eq!(
            app.call(Method::DELETE, &b_company, None, &attacker.token)
                .await
                .0,
            404
        );

        // Lists hold only A's rows, whatever filter is asked for.
        for path in [
            "/users".to_owned(),
            format!("/users?company_id={}", b_admin.company_id()),
            "/companies".to_owned(),
        ] {
            let (status, list) = app.call(Method::GET, &path, None, &attacker.token).await;
            assert_eq!(status, 200);
            for row in list["data"].as_array().unwrap() {
                let company = row.get("company_id").unwrap_or(&row["id"]);
                assert_eq!(
                    company.as_i64(),
                    Some(a_admin.company_id()),
                    "{path}: {row}"
                );
            }
        }
    }

    // An admin of A cannot plant a user in B either.
    let planted = json!({"email": "mole@example.com", "name": "Mole", "password": "mole password", "company_id": b_admin.company_id()});
    assert_eq!(
        app.call(Method::POST, "/users", Some(planted), &a_admin.token)
            .await
            .0,
        422
    );

    assert_eq!(
        snapshot(&app, &b_admin).await,
        before,
        "company B is unchanged"
    );
    assert_eq!(
        app.call(Method::GET, "/auth/profile", None, &b_agent.token)
            .await
            .0,
        200
    );
}
