use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeDelta};
use omni_core::UserId;
use omni_tenancy::{BusinessHours, CompanySettings, Sla, Timezone};
use omni_ticketing::FactKind;

use crate::{Breakdown, Durations, Group, SettledFact};

/// How a company's facts are counted: which day they fall on, which hours count as
/// business hours, which targets they are held to. Reports counted under other rules
/// are counted again ([`CompanySettings::reports_differ_from`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRules {
    /// Where days begin and end.
    pub timezone: Timezone,
    /// When the team works; not set: no business-hours figures.
    pub business_hours: BusinessHours,
    /// The targets per priority.
    pub sla: Sla,
}

impl ReportRules {
    /// The rules a company's settings make.
    pub fn of(settings: &CompanySettings) -> Self {
        Self {
            timezone: settings.timezone,
            business_hours: settings.business_hours,
            sla: settings.sla.clone(),
        }
    }

    /// The company's day a fact falls on.
    pub fn day_of(&self, fact: &SettledFact) -> NaiveDate {
        fact.fact.at.with_timezone(&self.timezone.tz()).date_naive()
    }
}

/// What a set of facts adds up to: the counts and durations of a day, an agent's day, a
/// category's day… Tallies add up exactly ([`Tally::merge`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tally {
    /// Tickets opened.
    pub opened: i64,
    /// Resolved tickets reopened.
    pub reopened: i64,
    /// Resolutions (a ticket resolved twice counts twice).
    pub resolved: i64,
    /// Tickets closed without being resolved.
    pub closed: i64,
    /// How the backlog (tickets `new`, `open` or `pending`) changed.
    pub backlog_change: i64,
    /// Agents' replies.
    pub replies: i64,
    /// Automatic replies.
    pub auto_replies: i64,
    /// Tickets given to an agent.
    pub assigned: i64,
    /// Time to the first agent's answer.
    pub first_response: Durations,
    /// The same, in business hours only (when set).
    pub first_response_business: Durations,
    /// Time to resolve, from the latest (re)opening.
    pub resolution: Durations,
    /// The same, in business hours only (when set).
    pub resolution_business: Durations,
    /// First answers later than their priority's target.
    pub first_response_breaches: i64,
    /// Resolutions later than their priority's target.
    pub resolution_breaches: i64,
    /// Satisfaction questions sent.
    pub surveys_sent: i64,
    /// Ratings received.
    pub ratings: i64,
    /// Their sum (the average is `rating_sum / ratings`).
    pub rating_sum: i64,
}

fn seconds(d: TimeDelta) -> i64 {
    d.num_seconds().max(0)
}

impl Tally {
    /// Counts one fact under `rules`.
    pub fn count(&mut self, settled: &SettledFact, rules: &ReportRules) {
        let fact = &settled.fact;
        self.backlog_change += fact.kind.backlog();
        match fact.kind {
            FactKind::Opened => self.opened += 1,
            FactKind::Reopened => self.reopened += 1,
            FactKind::Closed | FactKind::Deleted => self.closed += 1,
            FactKind::Replied if fact.agent.is_some() => self.replies += 1,
            FactKind::Replied => self.auto_replies += 1,
            FactKind::Assigned => self.assigned += 1,
            FactKind::SurveySent => self.surveys_sent += 1,
            FactKind::Rated => {
                self.ratings += 1;
                self.rating_sum += i64::from(fact.score.unwrap_or(0));
            }
            FactKind::FirstResponse | FactKind::Resolved => {
                let since = fact.since.unwrap_or(fact.at);
                let full = fact.at - since;
                let business = rules.business_hours.is_set().then(|| {
                    rules
                        .business_hours
                        .working_time(rules.timezone, since, fact.at)
                });
                // Targets count in business hours when the company has set them.
                let measured = business.unwrap_or(full);
                let priority = settled.dims.priority;
                let (times, in_hours, breaches, target) = if fact.kind == FactKind::Resolved {
                    self.resolved += 1;
                    (
                        &mut self.resolution,
                        &mut self.resolution_business,
                        &mut self.resolution_breaches,
                        priority.and_then(|p| rules.sla.resolution(p)),
                    )
                } else {
                    (
                        &mut self.first_response,
                        &mut self.first_response_business,
                        &mut self.first_response_breaches,
                        priority.and_then(|p| rules.sla.first_response(p)),
                    )
                };
                times.record(seconds(full));
                if let Some(b) = business {
                    in_hours.record(seconds(b));
                }
                if target.is_some_and(|t| measured > t) {
                    *breaches += 1;
                }
            }
        }
    }

    /// Adds another tally to this one.
    pub fn merge(&mut self, other: &Tally) {
        self.opened += other.opened;
        self.reopened += other.reopened;
        self.resolved += other.resolved;
        self.closed += other.closed;
        self.backlog_change += other.backlog_change;
        self.replies += other.replies;
        self.auto_replies += other.auto_replies;
        self.assigned += other.assigned;
        self.first_response.merge(&other.first_response);
        self.first_response_business
            .merge(&other.first_response_business);
        self.resolution.merge(&other.resolution);
        self.resolution_business.merge(&other.resolution_business);
        self.first_response_breaches += other.first_response_breaches;
        self.resolution_breaches += other.resolution_breaches;
        self.surveys_sent += other.surveys_sent;
        self.ratings += other.ratings;
        self.rating_sum += other.rating_sum;
    }
}

/// Whose figures a tally holds, of which day and which group: the rollups' key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TallyKey {
    /// The company's day.
    pub day: NaiveDate,
    /// `None`: the whole team; else the agent the facts count for.
    pub agent: Option<UserId>,
    /// `None`: all tickets; else one group of one breakdown.
    pub group: Option<Group>,
}

/// Counts facts into tallies: each fact counts for its day, for the team and for its
/// agent (if any), in all tickets and in its group of each breakdown.
pub fn fold<'a>(
    facts: impl IntoIterator<Item = &'a SettledFact>,
    rules: &ReportRules,
) -> BTreeMap<TallyKey, Tally> {
    let mut out: BTreeMap<TallyKey, Tally> = BTreeMap::new();
    for settled in facts {
        let day = rules.day_of(settled);
        // Counted once (business hours walk the days between two times), added to each key.
        let mut one = Tally::default();
        one.count(settled, rules);
        let agents = [None, settled.fact.agent];
        let agents = if settled.fact.agent.is_some() {
            &agents[..]
        } else {
            &agents[..1]
        };
        for agent in agents {
            let groups = std::iter::once(None).chain(Breakdown::ALL.iter().map(|b| {
                Some(Group {
                    breakdown: *b,
                    value: settled.dims.value(*b),
                })
            }));
            for group in groups {
                out.entry(TallyKey {
                    day,
                    agent: *agent,
                    group,
                })
                .or_default()
                .merge(&one);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use omni_core::{CompanyId, Priority, TicketId};
    use omni_ticketing::{Channel, TicketFact};

    use super::*;
    use crate::Dims;

    pub(crate) fn fact(kind: FactKind, at: &str, since: Option<&str>) -> SettledFact {
        let parse = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        SettledFact {
            fact: TicketFact {
                company_id: CompanyId::new(1),
                ticket_id: TicketId::new(1),
                kind,
                at: parse(at),
                since: since.map(parse),
                agent: None,
                score: None,
            },
            dims: Dims {
                channel: Some(Channel::Whatsapp),
                category: Some("billing".into()),
                priority: Some(Priority::Urgent),
                sentiment: None,
            },
        }
    }

    fn rules() -> ReportRules {
        ReportRules::of(&CompanySettings::default())
    }

    #[test]
    fn each_fact_counts_for_the_team_its_agent_and_each_breakdown() {
        let mut reply = fact(FactKind::Replied, "2026-03-02T12:00:00Z", None);
        reply.fact.agent = Some(UserId::new(9));
        let tallies = fold([&reply], &rules());
        assert_eq!(tallies.len(), 10);
        assert!(tallies.values().all(|t| t.replies == 1));
        let bot = fact(FactKind::Replied, "2026-03-02T12:00:00Z", None);
        let tallies = fold([&bot], &rules());
        assert_eq!(tallies.len(), 5);
        assert!(tallies.values().all(|t| t.auto_replies == 1));
        let sentiment = tallies
            .keys()
            .find(|k| {
                k.group
                    .as_ref()
                    .is_some_and(|g| g.breakdown == Breakdown::Sentiment)
            })
            .unwrap();
        assert_eq!(sentiment.group.as_ref().unwrap().value, None);
    }

    #[test]
    fn days_are_the_companys_and_targets_count_in_business_hours() {
        // 01:30 UTC is still the day before in São Paulo (UTC−3).
        let late = fact(FactKind::Opened, "2026-03-03T01:30:00Z", None);
        assert_eq!(
            rules().day_of(&late),
            NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
        );
        let settings: CompanySettings = serde_json::from_value(serde_json::json!({
            "business_hours": {"monday": {"start": "09:00", "end": "18:00"}},
            "sla": {"urgent": {"first_response_minutes": 60}}
        }))
        .unwrap();
        let rules = ReportRules::of(&settings);
        // Opened Sunday 20:00, answered Monday 09:30 (local): 13.5 h, 30 min in hours.
        let answered = fact(
            FactKind::FirstResponse,
            "2026-03-02T12:30:00Z",
            Some("2026-03-01T23:00:00Z"),
        );
        let mut t = Tally::default();
        t.count(&answered, &rules);
        let near = |got: Option<i64>, want: i64| {
            let got = got.unwrap();
            assert!(
                (got - want).abs() * 128 <= want,
                "{got} is not within 0.8 % of {want}"
            );
        };
        near(t.first_response.quantile(0.5), 48_600);
        near(t.first_response_business.quantile(0.5), 1_800);
        assert_eq!(t.first_response_breaches, 0);
        // Without business hours the same answer misses the hour.
        let mut t = Tally::default();
        t.count(
            &answered,
            &ReportRules::of(&CompanySettings {
                business_hours: BusinessHours::default(),
                ..settings
            }),
        );
        assert_eq!(t.first_response_breaches, 1);
        assert_eq!(t.first_response_business.count(), 0);
    }
}
