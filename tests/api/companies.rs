use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn everyone_sees_their_own_company_and_admins_change_it() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let agent = app.add_user(&admin, "agent").await;
    let path = format!("/companies/{}", admin.company_id());

    for who in [&admin, &agent] {
        let (status, list) = app.call(Method::GET, "/companies", None, &who.token).await;
        assert_eq!(status, 200);
        let data = list["data"].as_array().unwrap();
        assert_eq!(data.len(), 1);
        assert_eq!(data[0]["id"], admin.company_id());
    }
    let (_, company) = app.call(Method::GET, &path, None, &agent.token).await;
    let categories: Vec<&str> = company["settings"]["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(categories.contains(&"billing") && categories.contains(&"general"));
    assert_eq!(company["settings"]["auto_reply"], true);

    assert_eq!(
        app.call(
            Method::PUT,
            &path,
            Some(json!({"name": "Agent Co"})),
            &agent.token
        )
        .await
        .0,
        403
    );
    let (status, changed) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"name": "Acme Brasil", "settings": {"locale": "en"}})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(changed["name"], "Acme Brasil");
    assert_eq!(changed["settings"]["locale"], "en");
    assert_eq!(
        changed["settings"]["auto_reply"], true,
        "unnamed settings keep their value"
    );
    assert_eq!(
        changed["settings"]["categories"],
        company["settings"]["categories"]
    );

    let custom = json!({"settings": {"categories": [{"name": "vip", "keywords": ["ouro"]}, {"name": "general"}]}});
    let (status, changed) = app
        .call(Method::PUT, &path, Some(custom), &admin.token)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        changed["settings"]["categories"][0],
        json!({"name": "vip", "keywords": ["ouro"]})
    );

    let bad = json!({"settings": {"categories": [{"name": "Not A Slug"}], "locale": "fr"}});
    let (status, problem) = app.call(Method::PUT, &path, Some(bad), &admin.token).await;
    assert_eq!(status, 422, "{problem}");
    let bad = json!({"settings": {"categories": [{"name": "Not A Slug"}]}});
    let (status, problem) = app.call(Method::PUT, &path, Some(bad), &admin.token).await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["settings.categories[0].name", "settings.categories"]
    );

    assert_eq!(
        app.call(
            Method::POST,
            "/companies",
            Some(json!({"name": "Mine"})),
            &admin.token
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.call(Method::DELETE, &path, None, &admin.token).await.0,
        403
    );
}

#[tokio::test]
async fn the_superadmin_runs_every_company() {
    let app = spawn_app().await;
    let a = app.register().await;
    let b = app.register().await;
    let root = app.superadmin().await;
    assert_eq!(root.user["role"], "superadmin");
    assert!(root.user["company_id"].is_null());

    let (status, list) = app.call(Method::GET, "/companies", None, &root.token).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);

    let (status, created) = app
        .call(
            Method::POST,
            "/companies",
            Some(json!({"name": "Nova", "settings": {"auto_reply": false}})),
            &root.token,
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(created["settings"]["auto_reply"], false);
    assert_eq!(created["settings"]["locale"], "pt-BR");

    // The superadmin staffs the new company and can see everyone's users.
    let staff = json!({"email": "nova-admin@example.com", "name": "Nina", "password": "nina password", "role": "admin", "company_id": created["id"]});
    assert_eq!(
        app.call(Method::POST, "/users", Some(staff), &root.token)
            .await
            .0,
        201
    );
    let (_, users) = app
        .call(
            Method::GET,
            &format!("/users?company_id={}", a.company_id()),
            None,
            &root.token,
        )
        .await;
    assert_eq!(users["data"].as_array().unwrap().len(), 1);

    // Deleting a company removes its whole tenant; its admin's token dies with it.
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/companies/{}", b.company_id()),
            None,
            &root.token
        )
        .await
        .0,
        204
    );
    assert_eq!(
        app.call(Method::GET, "/auth/profile", None, &b.token)
            .await
            .0,
        401
    );
    assert_eq!(
        app.call(
            Method::GET,
            &format!("/companies/{}", b.company_id()),
            None,
            &root.token
        )
        .await
        .0,
        404
    );
    assert_eq!(
        app.call(Method::GET, "/auth/profile", None, &a.token)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn an_admin_sets_what_reports_count_by_and_each_bad_value_is_named() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let path = format!("/companies/{}", admin.company_id());
    let (_, company) = app.call(Method::GET, &path, None, &admin.token).await;
    let settings = &company["settings"];
    assert_eq!(settings["timezone"], "America/Sao_Paulo");
    assert_eq!(settings["business_hours"], json!({}));
    assert_eq!(settings["sla"], json!({}));
    assert_eq!(
        settings["csat"],
        json!({"enabled": false, "question": null})
    );

    let change = json!({"settings": {
        "timezone": "Europe/Lisbon",
        "business_hours": {
            "monday": {"start": "09:00", "end": "18:00"},
            "saturday": {"start": "10:00", "end": "24:00"}
        },
        "sla": {"urgent": {"first_response_minutes": 15, "resolution_minutes": 240}},
        "csat": {"enabled": true, "question": "  De 1 a 5, como foi?  "}
    }});
    let (status, changed) = app
        .call(Method::PUT, &path, Some(change), &admin.token)
        .await;
    assert_eq!(status, 200, "{changed}");
    let settings = &changed["settings"];
    assert_eq!(settings["timezone"], "Europe/Lisbon");
    assert_eq!(
        settings["business_hours"]["saturday"],
        json!({"start": "10:00", "end": "24:00"})
    );
    assert!(settings["business_hours"].get("sunday").is_none());
    assert_eq!(settings["sla"]["urgent"]["first_response_minutes"], 15);
    assert_eq!(settings["csat"]["question"], "De 1 a 5, como foi?");
    // Untouched settings keep their values.
    assert_eq!(settings["locale"], "pt-BR");

    let fields = |problem: &serde_json::Value| -> Vec<String> {
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, problem) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"settings": {"timezone": "Mars/Olympus"}})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(fields(&problem), ["settings.timezone"], "{problem}");
    let bad = json!({"settings": {
        "business_hours": {"friday": {"start": "18:00", "end": "09:00"}},
        "sla": {"low": {"resolution_minutes": 0}},
        "csat": {"enabled": true, "question": "   "}
    }});
    let (status, problem) = app.call(Method::PUT, &path, Some(bad), &admin.token).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        fields(&problem),
        [
            "settings.business_hours.friday.end",
            "settings.sla.low.resolution_minutes",
            "settings.csat.question"
        ]
    );
    // Nothing of a refused change was kept; `{}` removes business hours.
    let (_, company) = app.call(Method::GET, &path, None, &admin.token).await;
    assert_eq!(company["settings"]["timezone"], "Europe/Lisbon");
    let (status, cleared) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"settings": {"business_hours": {}}})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(cleared["settings"]["business_hours"], json!({}));
}
