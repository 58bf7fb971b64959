use std::collections::BTreeMap;

use chrono::NaiveDate;
use omni_core::{CompanyId, UserId};
use serde::Serialize;

use crate::{Breakdown, DayRange, Durations, GroupBy, Tally};

/// How long something took, over the period: how many times, the median and the 90th
/// percentile (nearest rank; exact below 256 seconds, within 0.8 % above).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeFigures {
    /// How many were counted.
    pub count: u64,
    /// The median, in seconds; `null` when none.
    pub median_seconds: Option<i64>,
    /// The 90th percentile, in seconds; `null` when none.
    pub p90_seconds: Option<i64>,
}

impl TimeFigures {
    fn of(d: &Durations) -> Self {
        Self {
            count: d.count(),
            median_seconds: d.quantile(0.5),
            p90_seconds: d.quantile(0.9),
        }
    }
}

/// Targets missed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaBreaches {
    /// First answers later than their priority's target.
    pub first_response: i64,
    /// Resolutions later than their priority's target.
    pub resolution: i64,
}

/// Customer satisfaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CsatFigures {
    /// Questions sent.
    pub surveys_sent: i64,
    /// Ratings received.
    pub ratings: i64,
    /// Their average, 1 to 5; `null` without ratings.
    pub average: Option<f64>,
    /// Ratings per question sent, 0 to 1; `null` when none was sent.
    pub response_rate: Option<f64>,
}

impl CsatFigures {
    fn of(t: &Tally) -> Self {
        Self {
            surveys_sent: t.surveys_sent,
            ratings: t.ratings,
            average: (t.ratings > 0).then(|| round(t.rating_sum as f64 / t.ratings as f64)),
            response_rate: (t.surveys_sent > 0)
                .then(|| round((t.ratings as f64 / t.surveys_sent as f64).min(1.0))),
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What a team (or an agent, or a group of tickets) did over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Figures {
    /// Tickets opened.
    pub opened: i64,
    /// Resolved tickets the customer (or an agent) reopened.
    pub reopened: i64,
    /// Resolutions; a ticket resolved, reopened and resolved again counts twice.
    pub resolved: i64,
    /// Tickets closed (or deleted) without being resolved.
    pub closed: i64,
    /// Agents' replies.
    pub replies: i64,
    /// Automatic replies.
    pub auto_replies: i64,
    /// Tickets given to an agent.
    pub assigned: i64,
    /// Time from opening to an agent's first answer.
    pub first_response: TimeFigures,
    /// The same in business hours only; `null` when the company has set none.
    pub first_response_business: Option<TimeFigures>,
    /// Time from the latest (re)opening to the resolution.
    pub resolution: TimeFigures,
    /// The same in business hours only; `null` when the company has set none.
    pub resolution_business: Option<TimeFigures>,
    /// Targets missed (in business hours when set).
    pub sla_breaches: SlaBreaches,
    /// The satisfaction survey.
    pub csat: CsatFigures,
}

impl Figures {
    /// The figures of a tally; business-hours times only with `business_hours`.
    pub fn of(t: &Tally, business_hours: bool) -> Self {
        Self {
            opened: t.opened,
            reopened: t.reopened,
            resolved: t.resolved,
            closed: t.closed,
            replies: t.replies,
            auto_replies: t.auto_replies,
            assigned: t.assigned,
            first_response: TimeFigures::of(&t.first_response),
            first_response_business: business_hours
                .then(|| TimeFigures::of(&t.first_response_business)),
            resolution: TimeFigures::of(&t.resolution),
            resolution_business: business_hours.then(|| TimeFigures::of(&t.resolution_business)),
            sla_breaches: SlaBreaches {
                first_response: t.first_response_breaches,
                resolution: t.resolution_breaches,
            },
            csat: CsatFigures::of(t),
        }
    }
}

/// One period of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Period {
    /// Its first day.
    pub start: NaiveDate,
    /// Its last day (included).
    pub end: NaiveDate,
    /// Tickets waiting for the team (`new`, `open`, `pending`) at the end of its last
    /// day; the team's figure only (`null` in groups and in an agent's own report).
    pub backlog: Option<i64>,
    /// What happened in it.
    #[serde(flatten)]
    pub figures: Figures,
}

/// The figures of one group of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupFigures {
    /// The group's value (`billing`, `whatsapp`, `urgent`…); `null` for tickets without
    /// one.
    pub value: Option<String>,
    /// Per period.
    pub periods: Vec<Period>,
    /// Over the whole range.
    pub total: Figures,
}

/// `GET /reports/overview`: how the team did, period by period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Overview {
    /// The company.
    pub company_id: CompanyId,
    /// The first day.
    pub from: NaiveDate,
    /// The last day (included).
    pub to: NaiveDate,
    /// The zone the days are the company's in.
    pub timezone: String,
    /// The periods' length.
    pub group_by: GroupBy,
    /// Set when these are one agent's own numbers (an agent asked).
    pub agent_id: Option<UserId>,
    /// Whether the company has business hours (and the `_business` times are given).
    pub business_hours: bool,
    /// Every period of the range, empty ones included.
    pub periods: Vec<Period>,
    /// Over the whole range.
    pub total: Figures,
    /// What `groups` break the figures down by.
    pub breakdown: Option<Breakdown>,
    /// One entry per value of the breakdown that has figures; empty without a breakdown.
    pub groups: Vec<GroupFigures>,
}

/// One agent's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentFigures {
    /// The agent.
    pub agent_id: UserId,
    /// Their name; `null` for a user deleted since.
    pub name: Option<String>,
    /// Tickets given to them.
    pub assigned: i64,
    /// Resolutions of tickets they held.
    pub resolved: i64,
    /// Their replies.
    pub replies: i64,
    /// Time to their first answers.
    pub first_response: TimeFigures,
    /// Time to resolve the tickets they held.
    pub resolution: TimeFigures,
    /// How customers rated the tickets they held.
    pub csat: CsatFigures,
}

/// `GET /reports/agents`: each agent's figures over the range.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentsReport {
    /// The company.
    pub company_id: CompanyId,
    /// The first day.
    pub from: NaiveDate,
    /// The last day (included).
    pub to: NaiveDate,
    /// The zone the days are the company's in.
    pub timezone: String,
    /// Every user of the company, and anyone else who has figures; by name.
    pub agents: Vec<AgentFigures>,
}

/// Periods of `range` filled from per-day tallies, with their total; the backlog run
/// from `backlog_start` when given.
pub(crate) fn periods<'a>(
    range: DayRange,
    by: GroupBy,
    days: impl IntoIterator<Item = (NaiveDate, &'a Tally)>,
    backlog_start: Option<i64>,
    business_hours: bool,
) -> (Vec<Period>, Figures) {
    let spans = range.periods(by);
    let mut tallies = vec![Tally::default(); spans.len()];
    let mut total = Tally::default();
    for (day, tally) in days {
        if !range.contains(day) {
            continue;
        }
        let i = spans.partition_point(|(_, end)| *end < day);
        if let Some(t) = tallies.get_mut(i) {
            t.merge(tally);
            total.merge(tally);
        }
    }
    let mut backlog = backlog_start;
    let periods = spans
        .into_iter()
        .zip(&tallies)
        .map(|((start, end), t)| {
            backlog = backlog.map(|b| b + t.backlog_change);
            Period {
                start,
                end,
                backlog,
                figures: Figures::of(t, business_hours),
            }
        })
        .collect();
    (periods, Figures::of(&total, business_hours))
}

/// Tallies of each group, by value, per day.
pub(crate) type GroupDays<'a> = BTreeMap<Option<String>, Vec<(NaiveDate, &'a Tally)>>;
