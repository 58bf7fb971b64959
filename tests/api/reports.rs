//! `/reports`: a conversation as the team's report, an agent's own and the agents' report
//! count it, as JSON and CSV, and every bad request named.

use reqwest::Method;
use serde_json::{Value, json};

use crate::messages::{Setup, customer, inbound, post_webhook, setup_configured, ticket_of};

async fn get(s: &Setup, path: &str, token: &str) -> (u16, Value) {
    s.app.call(Method::GET, path, None, token).await
}

fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_conversation_counts_in_the_team_report_the_agents_own_and_the_agents_report() {
    // No worker: nothing is sent, and the facts are counted from the history (they settle
    // into tallies two minutes after they happen; the store tests check those agree).
    let s = setup_configured(false, |f| f).await;
    let agent = s.app.add_user(&s.admin, "agent").await;
    let who = customer();
    assert_eq!(
        post_webhook(&s, &inbound(&who, "oi", "SM1"), None)
            .await
            .status(),
        200
    );
    let ticket = ticket_of(&s, &who).await;
    let path = format!("/tickets/{}", ticket["id"]);
    let (status, _) = s
        .app
        .call(
            Method::PUT,
            &path,
            Some(json!({"assigned_to": agent.id()})),
            &agent.token,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .app
        .call(
            Method::POST,
            "/ticket-messages",
            Some(json!({"ticket_id": ticket["id"], "content": "Olá! Já vejo."})),
            &agent.token,
        )
        .await;
    assert_eq!(status, 201);
    let (status, resolved) = s
        .app
        .call(
            Method::PUT,
            &path,
            Some(json!({"status": "resolved"})),
            &agent.token,
        )
        .await;
    assert_eq!(status, 200);
    assert!(resolved["resolved_at"].is_string());
    // The customer writes again: the ticket reopens and is no longer resolved.
    assert_eq!(
        post_webhook(&s, &inbound(&who, "ainda não", "SM2"), None)
            .await
            .status(),
        200
    );
    let (_, reopened) = get(&s, &path, &s.admin.token).await;
    assert_eq!(reopened["status"], "open");
    assert!(reopened["resolved_at"].is_null());
    assert!(reopened["reopened_at"].is_string());

    let (status, team) = get(&s, "/reports/overview", &s.admin.token).await;
    assert_eq!(status, 200, "{team}");
    assert_eq!(team["timezone"], "America/Sao_Paulo");
    assert_eq!(team["group_by"], "day");
    assert!(team["agent_id"].is_null());
    assert_eq!(team["periods"].as_array().unwrap().len(), 30);
    let total = &team["total"];
    assert_eq!(
        (
            &total["opened"],
            &total["reopened"],
            &total["resolved"],
            &total["replies"],
            &total["assigned"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(1), &json!(1))
    );
    assert_eq!(total["first_response"]["count"], 1);
    assert_eq!(total["resolution"]["count"], 1);
    assert!(
        total["first_response_business"].is_null(),
        "no business hours set"
    );
    let today = team["periods"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(today["backlog"], 1, "the reopened ticket waits");
    assert_eq!(today["end"], team["to"]);

    let (_, by_channel) = get(
        &s,
        "/reports/overview?breakdown=channel&group_by=month",
        &s.admin.token,
    )
    .await;
    assert_eq!(by_channel["breakdown"], "channel");
    assert_eq!(by_channel["groups"][0]["value"], "whatsapp");
    assert_eq!(by_channel["groups"][0]["total"]["opened"], 1);
    assert!(by_channel["groups"][0]["periods"][0]["backlog"].is_null());

    // An agent sees their own numbers; the team's agents report is the admins'.
    let (status, own) = get(&s, "/reports/overview", &agent.token).await;
    assert_eq!(status, 200);
    assert_eq!(own["agent_id"], agent.id());
    assert_eq!(own["total"]["replies"], 1);
    assert_eq!(own["total"]["resolved"], 1);
    assert_eq!(own["total"]["opened"], 0);
    assert!(own["periods"][0]["backlog"].is_null());
    let (status, problem) = get(&s, "/reports/agents", &agent.token).await;
    assert_eq!(status, 403, "{problem}");

    let (status, agents) = get(&s, "/reports/agents", &s.admin.token).await;
    assert_eq!(status, 200, "{agents}");
    let rows = agents["agents"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "the admin and the agent");
    let row = rows.iter().find(|r| r["agent_id"] == agent.id()).unwrap();
    assert_eq!(row["assigned"], 1);
    assert_eq!(row["replies"], 1);
    assert_eq!(row["resolved"], 1);
    assert_eq!(row["first_response"]["count"], 1);

    // The same as CSV, with a header row.
    let csv = s
        .app
        .client
        .get(format!(
            "{}/reports/overview?breakdown=channel",
            s.app.address
        ))
        .bearer_auth(&s.admin.token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".csv")
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("breakdown,group,period,start,end,backlog,opened,"));
    // 30 days and a total, for all tickets and for WhatsApp's.
    assert_eq!(lines.len(), 1 + 2 * 31);
    let total_line = lines.iter().find(|l| l.starts_with(",,total,")).unwrap();
    assert_eq!(total_line.split(',').nth(6), Some("1"), "{total_line}");
    assert!(lines.iter().any(|l| l.starts_with("channel,whatsapp,day,")));
    let agents_csv = s
        .app
        .client
        .get(format!("{}/reports/agents", s.app.address))
        .bearer_auth(&s.admin.token)
        .header("Accept", "application/json;q=0.5, text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(agents_csv.starts_with("agent_id,name,from,to,assigned,"));
    assert_eq!(agents_csv.lines().count(), 3);
}

#[tokio::test]
async fn bad_report_requests_name_their_field() {
    let s = setup_configured(false, |f| f).await;
    for (query, field) in [
        ("from=2026-03-02&to=2026-03-01", "from"),
        ("from=2025-01-01&to=2026-03-01", "to"),
        ("from=2026-02-30", "from"),
        ("to=yesterday", "to"),
        ("breakdown=colour", "breakdown"),
        ("group_by=year", "group_by"),
        ("colour=red", "query"),
    ] {
        let (status, problem) =
            get(&s, &format!("/reports/overview?{query}"), &s.admin.token).await;
        assert_eq!(status, 422, "{query}: {problem}");
        assert_eq!(fields(&problem), [field], "{query}: {problem}");
    }
    let (status, problem) = get(
        &s,
        "/reports/agents?from=2026-03-02&to=2026-03-01",
        &s.admin.token,
    )
    .await;
    assert_eq!((status, fields(&problem)), (422, vec!["from"]));
    // Exactly 400 days is allowed.
    let (status, _) = get(
        &s,
        "/reports/overview?from=2025-01-27&to=2026-03-02&group_by=month",
        &s.admin.token,
    )
    .await;
    assert_eq!(status, 200);
    // An admin reports on their own company only; a superadmin names one.
    let (status, problem) = get(&s, "/reports/overview?company_id=999999", &s.admin.token).await;
    assert_eq!((status, fields(&problem)), (422, vec!["company_id"]));
    let root = s.app.superadmin().await;
    let (status, problem) = get(&s, "/reports/overview", &root.token).await;
    assert_eq!((status, fields(&problem)), (422, vec!["company_id"]));
    let (status, report) = get(
        &s,
        &format!("/reports/overview?company_id={}", s.admin.company_id()),
        &root.token,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["company_id"], s.admin.company_id());
    let (status, _) = get(&s, "/reports/overview?company_id=999999", &root.token).await;
    assert_eq!(status, 404);
    let (status, _) = s
        .app
        .call(Method::GET, "/reports/overview", None, "nope")
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_time_zone_change_counts_the_reports_again() {
    let s = setup_configured(false, |f| f).await;
    let path = format!("/companies/{}", s.admin.company_id());
    let sql = s.app.sql().await;
    let requested = || async {
        sql.query_one("SELECT count(*) FROM report_recounts", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let (status, _) = s
        .app
        .call(
            Method::PUT,
            &path,
            Some(json!({"settings": {"locale": "en"}})),
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(requested().await, 0, "the locale changes no report");
    let (status, _) = s
        .app
        .call(
            Method::PUT,
            &path,
            Some(json!({"settings": {"timezone": "Europe/Lisbon"}})),
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(requested().await, 1);
    let (_, report) = get(&s, "/reports/overview", &s.admin.token).await;
    assert_eq!(report["timezone"], "Europe/Lisbon");
}

#[tokio::test]
async fn a_resolved_ticket_asks_once_and_the_customers_score_rates_it_without_reopening() {
    let s = setup_configured(true, |f| f).await;
    crate::messages::messages_api(
        &s.twilio,
        201,
        json!({"sid": "SMsurvey00000000000000000000000001", "status": "queued"}),
    )
    .await;
    let path = format!("/companies/{}", s.admin.company_id());
    let (status, company) = s
        .app
        .call(
            Method::PUT,
            &path,
            Some(
                json!({"settings": {"csat": {"enabled": true, "question": "De 1 a 5, como foi?"}}}),
            ),
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 200, "{company}");
    let who = customer();
    assert_eq!(
        post_webhook(&s, &inbound(&who, "meu pedido?", "SM1"), None)
            .await
            .status(),
        200
    );
    let ticket = ticket_of(&s, &who).await;
    let ticket_path = format!("/tickets/{}", ticket["id"]);
    let (status, _) = s
        .app
        .call(
            Method::PUT,
            &ticket_path,
            Some(json!({"status": "resolved"})),
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 200);
    // The worker asks, through Twilio, once.
    crate::messages::wait_until("the question to go out", || async {
        crate::messages::messages_of(&s, &ticket)
            .await
            .iter()
            // Twilio took it (`queued` at Twilio is `sending` here).
            .any(|m| m["content"] == "De 1 a 5, como foi?" && m["delivery_status"] == "sending")
    })
    .await;
    let (_, asked) = get(&s, &ticket_path, &s.admin.token).await;
    assert!(asked["survey_sent_at"].is_string());
    assert_eq!(asked["status"], "resolved");

    // The customer's score rates the ticket; it stays resolved.
    assert_eq!(
        post_webhook(&s, &inbound(&who, "4 - rápido e gentil", "SM2"), None)
            .await
            .status(),
        200
    );
    let (_, rated) = get(&s, &ticket_path, &s.admin.token).await;
    assert_eq!(rated["status"], "resolved", "{rated}");
    assert_eq!(rated["rating"]["score"], 4);
    assert_eq!(rated["rating"]["comment"], "4 - rápido e gentil");
    assert!(rated["rating"]["rated_at"].is_string());
    let sql = s.app.sql().await;
    let rated_events: i64 = sql
        .query_one(
            "SELECT count(*) FROM events WHERE type = 'ticket.rated'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rated_events, 1);
    let (_, report) = get(&s, "/reports/overview", &s.admin.token).await;
    let csat = &report["total"]["csat"];
    assert_eq!(
        (&csat["surveys_sent"], &csat["ratings"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(csat["average"], 4.0);
    assert_eq!(csat["response_rate"], 1.0);

    // Anything after that is a message like any other: it reopens the ticket.
    assert_eq!(
        post_webhook(&s, &inbound(&who, "5", "SM3"), None)
            .await
            .status(),
        200
    );
    let (_, reopened) = get(&s, &ticket_path, &s.admin.token).await;
    assert_eq!(reopened["status"], "open");
    assert_eq!(reopened["rating"]["score"], 4, "the first rating stays");
    // Resolved again, it is not asked again.
    let (status, _) = s
        .app
        .call(
            Method::PUT,
            &ticket_path,
            Some(json!({"status": "resolved"})),
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let questions = crate::messages::messages_of(&s, &ticket)
        .await
        .iter()
        .filter(|m| m["content"] == "De 1 a 5, como foi?")
        .count();
    assert_eq!(questions, 1);
}
