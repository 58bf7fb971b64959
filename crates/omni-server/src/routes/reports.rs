//! `/reports`: how the team is doing — as JSON, or as CSV for a spreadsheet
//! (`Accept: text/csv`).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use omni_core::CompanyId;
use omni_reports::{
    AgentsQuery, AgentsReport, Breakdown, Figures, GroupBy, Overview, OverviewQuery, Period,
    TimeFigures,
};
use serde::Deserialize;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /reports/overview` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OverviewParams {
    /// The first day, in the company's time zone (default: 29 days before `to`).
    #[param(value_type = Option<String>, format = Date, pattern = r"^(19|[2-9][0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub from: Option<String>,
    /// The last day, included (default: today in the company's time zone); at most 400
    /// days after `from`.
    #[param(value_type = Option<String>, format = Date, pattern = r"^(19|[2-9][0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub to: Option<String>,
    /// The periods' length (default `day`).
    #[param(value_type = Option<GroupBy>)]
    pub group_by: Option<String>,
    /// Break the figures down by the tickets' channel, category, priority or sentiment.
    #[param(value_type = Option<Breakdown>)]
    pub breakdown: Option<String>,
    /// The company to report on: a superadmin's choice (others get their own).
    pub company_id: Option<i64>,
}

/// `GET /reports/agents` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AgentsParams {
    /// The first day, in the company's time zone (default: 29 days before `to`).
    #[param(value_type = Option<String>, format = Date, pattern = r"^(19|[2-9][0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub from: Option<String>,
    /// The last day, included (default: today); at most 400 days after `from`.
    #[param(value_type = Option<String>, format = Date, pattern = r"^(19|[2-9][0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub to: Option<String>,
    /// The company to report on: a superadmin's choice (others get their own).
    pub company_id: Option<i64>,
}

/// Whether the caller asked for CSV rather than JSON.
fn wants_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"))
        })
}

/// How the team did, period by period, in the company's time zone: tickets opened,
/// reopened, resolved and closed, the backlog at each period's end, first-response and
/// resolution times (median and 90th percentile, in business hours too when the company
/// has set them), SLA breaches, replies and satisfaction. Admins see the team's figures;
/// an agent sees their own (`agent_id` says so). With `breakdown`, the same figures per
/// channel, category, priority or sentiment as the tickets had them. `Accept: text/csv`
/// answers a CSV file with a header row: one row per period (and per group), then a
/// `total` row each.
#[utoipa::path(get, path = "/reports/overview", tag = "reports", security(("bearer" = [])),
    params(OverviewParams),
    responses(
        (status = 200, description = "The report", content(
            (Overview = "application/json"),
            (String = "text/csv"),
        )),
        (status = 422, description = "A date that is not one, `from` after `to`, more than 400 days, an unknown `group_by` or `breakdown`; each field named"),
    ))]
pub async fn overview(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<OverviewParams>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let report = state
        .reports
        .overview(
            &caller.0,
            &OverviewQuery {
                company_id: query.company_id.map(CompanyId::new),
                from: query.from,
                to: query.to,
                group_by: query.group_by,
                breakdown: query.breakdown,
            },
        )
        .await?;
    if wants_csv(&req) {
        let name = format!("omni-overview-{}-{}.csv", report.from, report.to);
        return Ok(csv(name, overview_rows(&report)));
    }
    Ok(HttpResponse::Ok().json(report))
}

/// Each agent's figures over the range: tickets assigned to them, resolutions of tickets
/// they held, their replies, median (and 90th percentile) first-response and resolution
/// times, and how customers rated them. Admins only: an agent's own figures are in the
/// overview. `Accept: text/csv` answers CSV, one row per agent.
#[utoipa::path(get, path = "/reports/agents", tag = "reports", security(("bearer" = [])),
    params(AgentsParams),
    responses(
        (status = 200, description = "The report", content(
            (AgentsReport = "application/json"),
            (String = "text/csv"),
        )),
        (status = 403, description = "An agent asked for the team's report"),
        (status = 422, description = "A bad date or range; each field named"),
    ))]
pub async fn agents(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<AgentsParams>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let report = state
        .reports
        .agents(
            &caller.0,
            &AgentsQuery {
                company_id: query.company_id.map(CompanyId::new),
                from: query.from,
                to: query.to,
            },
        )
        .await?;
    if wants_csv(&req) {
        let name = format!("omni-agents-{}-{}.csv", report.from, report.to);
        return Ok(csv(name, agent_rows(&report)));
    }
    Ok(HttpResponse::Ok().json(report))
}

/// A CSV answer streamed line by line.
fn csv(filename: String, lines: Vec<String>) -> HttpResponse {
    let body = futures_util::stream::iter(
        lines
            .into_iter()
            .map(|line| Ok::<_, std::convert::Infallible>(Bytes::from(line + "\r\n"))),
    );
    let mut response = HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .streaming(body);
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// One CSV field: quoted when it holds a separator, a quote or a line break; a text a
/// spreadsheet would take for a formula (`=`, `+`, `-`, `@` first) is quoted with a `'`
/// before it, so that a name cannot run as one.
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn number<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn times(t: Option<&TimeFigures>) -> [String; 3] {
    [
        number(t.map(|t| t.count)),
        number(t.and_then(|t| t.median_seconds)),
        number(t.and_then(|t| t.p90_seconds)),
    ]
}

const FIGURE_COLUMNS: [&str; 25] = [
    "opened",
    "reopened",
    "resolved",
    "closed",
    "replies",
    "auto_replies",
    "assigned",
    "first_response_count",
    "first_response_median_seconds",
    "first_response_p90_seconds",
    "first_response_business_count",
    "first_response_business_median_seconds",
    "first_response_business_p90_seconds",
    "resolution_count",
    "resolution_median_seconds",
    "resolution_p90_seconds",
    "resolution_business_count",
    "resolution_business_median_seconds",
    "resolution_business_p90_seconds",
    "sla_first_response_breaches",
    "sla_resolution_breaches",
    "csat_surveys_sent",
    "csat_ratings",
    "csat_average",
    "csat_response_rate",
];

fn figure_fields(f: &Figures) -> Vec<String> {
    let mut out = vec![
        f.opened.to_string(),
        f.reopened.to_string(),
        f.resolved.to_string(),
        f.closed.to_string(),
        f.replies.to_string(),
        f.auto_replies.to_string(),
        f.assigned.to_string(),
    ];
    out.extend(times(Some(&f.first_response)));
    out.extend(times(f.first_response_business.as_ref()));
    out.extend(times(Some(&f.resolution)));
    out.extend(times(f.resolution_business.as_ref()));
    out.extend([
        f.sla_breaches.first_response.to_string(),
        f.sla_breaches.resolution.to_string(),
        f.csat.surveys_sent.to_string(),
        f.csat.ratings.to_string(),
        number(f.csat.average),
        number(f.csat.response_rate),
    ]);
    out
}

/// The overview as CSV lines: the header, every period of all tickets and their total,
/// then the same for each group of the breakdown.
fn overview_rows(r: &Overview) -> Vec<String> {
    let mut lines = Vec::new();
    let mut header = vec!["breakdown", "group", "period", "start", "end", "backlog"];
    header.extend(FIGURE_COLUMNS);
    lines.push(header.join(","));
    let breakdown = r.breakdown.map(|b| b.as_str()).unwrap_or_default();
    let mut section = |breakdown: &str, group: &str, periods: &[Period], total: &Figures| {
        for p in periods {
            let mut row = vec![
                breakdown.to_owned(),
                field(group),
                r.group_by.as_str().to_owned(),
                p.start.to_string(),
                p.end.to_string(),
                number(p.backlog),
            ];
            row.extend(figure_fields(&p.figures));
            lines.push(row.join(","));
        }
        let mut row = vec![
            breakdown.to_owned(),
            field(group),
            "total".to_owned(),
            r.from.to_string(),
            r.to.to_string(),
            String::new(),
        ];
        row.extend(figure_fields(total));
        lines.push(row.join(","));
    };
    section("", "", &r.periods, &r.total);
    for g in &r.groups {
        section(
            breakdown,
            g.value.as_deref().unwrap_or(""),
            &g.periods,
            &g.total,
        );
    }
    lines
}

/// The agents' report as CSV lines, one per agent.
fn agent_rows(r: &AgentsReport) -> Vec<String> {
    let mut lines = vec![
        [
            "agent_id",
            "name",
            "from",
            "to",
            "assigned",
            "resolved",
            "replies",
            "first_response_count",
            "first_response_median_seconds",
            "first_response_p90_seconds",
            "resolution_count",
            "resolution_median_seconds",
            "resolution_p90_seconds",
            "csat_ratings",
            "csat_average",
        ]
        .join(","),
    ];
    for a in &r.agents {
        let mut row = vec![
            a.agent_id.to_string(),
            field(a.name.as_deref().unwrap_or("")),
            r.from.to_string(),
            r.to.to_string(),
            a.assigned.to_string(),
            a.resolved.to_string(),
            a.replies.to_string(),
        ];
        row.extend(times(Some(&a.first_response)));
        row.extend(times(Some(&a.resolution)));
        row.extend([a.csat.ratings.to_string(), number(a.csat.average)]);
        lines.push(row.join(","));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(field("Ana"), "Ana");
        assert_eq!(field("Souza, Ana"), "\"Souza, Ana\"");
        assert_eq!(field("Ana \"Bia\""), "\"Ana \"\"Bia\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-1"), "'-1");
        assert_eq!(FIGURE_COLUMNS.len(), 25);
    }
}
