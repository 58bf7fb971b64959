use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::TimeDelta;
use omni_core::{Clock, CompanyId, FieldError, Scope, UserId};
use omni_identity::{Principal, Role};
use omni_tenancy::{CompanyRepository, TenancyError};

use crate::figures::{GroupDays, periods};
use crate::query::choice;
use crate::{
    AgentFigures, AgentsQuery, AgentsReport, Breakdown, DayRange, Figures, GroupBy, GroupFigures,
    Overview, OverviewQuery, ReportData, ReportError, ReportRead, ReportRules, ReportStore, Tally,
    TallyKey, Who, fold,
};

/// How long after it happened a fact is counted into the tallies: by then triage has
/// named the ticket's category and mood, which the fact is broken down by. Until then
/// reports count it from the ticket as it is.
pub const SETTLE_AFTER: TimeDelta = TimeDelta::minutes(2);

/// The reports' use cases: who may see which, over which days, counted how.
pub struct ReportService {
    store: Arc<dyn ReportStore>,
    companies: Arc<dyn CompanyRepository>,
    clock: Arc<dyn Clock>,
}

fn tenancy(e: TenancyError) -> ReportError {
    match e {
        TenancyError::NotFound => ReportError::NotFound,
        TenancyError::Unavailable(cause) => ReportError::Unavailable(cause),
        other => ReportError::Unknown(other.to_string()),
    }
}

/// A report's days, periods and breakdown, as checked.
struct Asked {
    company: CompanyId,
    rules: ReportRules,
    range: DayRange,
    group_by: GroupBy,
    breakdown: Option<Breakdown>,
}

impl ReportService {
    /// The use cases over the store, the companies (for their settings) and a clock (for
    /// "today" in each company's zone).
    pub fn new(
        store: Arc<dyn ReportStore>,
        companies: Arc<dyn CompanyRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            companies,
            clock,
        }
    }

    /// The company a caller reports on: their own; a superadmin names one.
    fn company_of(caller: &Principal, asked: Option<CompanyId>) -> Result<CompanyId, ReportError> {
        match (caller.role, caller.company_id, asked) {
            (Role::Superadmin, _, Some(company)) => Ok(company),
            (Role::Superadmin, _, None) => Err(ReportError::Validation(vec![FieldError::new(
                "company_id",
                "is required: a superadmin names the company to report on",
            )])),
            (_, Some(own), None) => Ok(own),
            (_, Some(own), Some(asked)) if asked == own => Ok(own),
            (_, Some(_), Some(_)) => Err(ReportError::Validation(vec![FieldError::new(
                "company_id",
                "must be your own company",
            )])),
            (_, None, _) => Err(ReportError::NotFound),
        }
    }

    async fn asked(
        &self,
        company: CompanyId,
        from: Option<&str>,
        to: Option<&str>,
        group_by: Option<&str>,
        breakdown: Option<&str>,
    ) -> Result<Asked, ReportError> {
        let settings = self
            .companies
            .find(Scope::All, company)
            .await
            .map_err(tenancy)?
            .ok_or(ReportError::NotFound)?
            .settings;
        let rules = ReportRules::of(&settings);
        let today = self
            .clock
            .now()
            .with_timezone(&rules.timezone.tz())
            .date_naive();
        let mut errors = Vec::new();
        let range = DayRange::parse(from, to, today)
            .map_err(|e| errors.extend(e))
            .ok();
        let group_by = choice("group_by", group_by, &mut errors).unwrap_or(GroupBy::Day);
        let breakdown = choice("breakdown", breakdown, &mut errors);
        match range {
            Some(range) if errors.is_empty() => Ok(Asked {
                company,
                rules,
                range,
                group_by,
                breakdown,
            }),
            _ => Err(ReportError::Validation(errors)),
        }
    }

    /// How the team did, period by period: admins see the team's figures, agents their
    /// own.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id))]
    pub async fn overview(
        &self,
        caller: &Principal,
        query: &OverviewQuery,
    ) -> Result<Overview, ReportError> {
        let company = Self::company_of(caller, query.company_id)?;
        let asked = self
            .asked(
                company,
                query.from.as_deref(),
                query.to.as_deref(),
                query.group_by.as_deref(),
                query.breakdown.as_deref(),
            )
            .await?;
        let who = match caller.role {
            Role::Agent => Who::Agent(caller.user_id),
            Role::Admin | Role::Superadmin => Who::Team,
        };
        let data = self
            .store
            .read(&ReportRead {
                company,
                days: asked.range,
                who,
                breakdown: asked.breakdown,
            })
            .await?;
        Ok(overview_of(&asked, who, &data))
    }

    /// Keeps the tallies up to date: counts every company whose settings changed again,
    /// then settles the facts due, `batch` at a time. Returns how many facts it settled
    /// and how many companies it counted again. Run by the worker every few seconds.
    #[tracing::instrument(skip_all)]
    pub async fn keep_up(&self, batch: usize) -> Result<(usize, usize), ReportError> {
        let mut recounted = 0;
        for company in self.store.recounts_requested().await? {
            if self.store.rebuild(company, true).await? {
                recounted += 1;
            }
        }
        let mut settled = 0;
        loop {
            let n = self.store.settle(batch).await?;
            settled += n;
            if n < batch {
                return Ok((settled, recounted));
            }
        }
    }

    /// Counts a company's facts again from scratch (`omni-server reports recount`).
    pub async fn recount(&self, company: CompanyId) -> Result<(), ReportError> {
        self.companies
            .find(Scope::All, company)
            .await
            .map_err(tenancy)?
            .ok_or(ReportError::NotFound)?;
        self.store.rebuild(company, false).await.map(|_| ())
    }

    /// Each agent's figures over the range (admins only).
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id))]
    pub async fn agents(
        &self,
        caller: &Principal,
        query: &AgentsQuery,
    ) -> Result<AgentsReport, ReportError> {
        if caller.role == Role::Agent {
            return Err(ReportError::Forbidden(
                "the agents' report is the admins'; an agent sees their own numbers in the overview",
            ));
        }
        let company = Self::company_of(caller, query.company_id)?;
        let asked = self
            .asked(
                company,
                query.from.as_deref(),
                query.to.as_deref(),
                None,
                None,
            )
            .await?;
        let read = ReportRead {
            company,
            days: asked.range,
            who: Who::EachAgent,
            breakdown: None,
        };
        let data = self.store.read(&read).await?;
        let people = self.store.people(company).await?;
        let mut by_agent: BTreeMap<UserId, Tally> = BTreeMap::new();
        for (key, tally) in current_tallies(&asked, Who::EachAgent, &data) {
            if let Some(agent) = key.agent {
                by_agent.entry(agent).or_default().merge(&tally);
            }
        }
        let names: HashMap<UserId, String> =
            people.iter().map(|p| (p.id, p.name.clone())).collect();
        for person in &people {
            by_agent.entry(person.id).or_default();
        }
        let mut agents: Vec<AgentFigures> = by_agent
            .into_iter()
            .map(|(agent, t)| {
                let figures = Figures::of(&t, false);
                AgentFigures {
                    agent_id: agent,
                    name: names.get(&agent).cloned(),
                    assigned: t.assigned,
                    resolved: t.resolved,
                    replies: t.replies,
                    first_response: figures.first_response,
                    resolution: figures.resolution,
                    csat: figures.csat,
                }
            })
            .collect();
        agents.sort_by(|a, b| (&a.name, a.agent_id).cmp(&(&b.name, b.agent_id)));
        Ok(AgentsReport {
            company_id: company,
            from: asked.range.from(),
            to: asked.range.to(),
            timezone: asked.rules.timezone.name().to_owned(),
            agents,
        })
    }
}

/// The settled tallies with the unsettled facts counted in: what the report shows.
fn current_tallies(asked: &Asked, who: Who, data: &ReportData) -> BTreeMap<TallyKey, Tally> {
    let wanted = |key: &TallyKey| {
        who.reads(key.agent)
            && asked.range.contains(key.day)
            && key
                .group
                .as_ref()
                .is_none_or(|g| Some(g.breakdown) == asked.breakdown)
    };
    let mut out: BTreeMap<TallyKey, Tally> = BTreeMap::new();
    for (key, tally) in &data.tallies {
        if wanted(key) {
            out.entry(key.clone()).or_default().merge(tally);
        }
    }
    for (key, tally) in fold(&data.unsettled, &asked.rules) {
        if wanted(&key) {
            out.entry(key).or_default().merge(&tally);
        }
    }
    out
}

/// The overview `data` makes for `asked`: the settled tallies with the unsettled facts
/// counted in. With every fact unsettled and no tallies, this is the report computed from
/// scratch, which the tallies must agree with.
fn overview_of(asked: &Asked, who: Who, data: &ReportData) -> Overview {
    let tallies = current_tallies(asked, who, data);
    let business_hours = asked.rules.business_hours.is_set();
    // The team's backlog at the start: the settled days before, and the unsettled facts
    // of those days.
    let backlog_start = (who == Who::Team).then(|| {
        data.backlog_before
            + data
                .unsettled
                .iter()
                .filter(|f| asked.rules.day_of(f) < asked.range.from())
                .map(|f| f.fact.kind.backlog())
                .sum::<i64>()
    });
    let all = tallies
        .iter()
        .filter(|(k, _)| k.group.is_none())
        .map(|(k, t)| (k.day, t));
    let (periods_all, total) = periods(
        asked.range,
        asked.group_by,
        all,
        backlog_start,
        business_hours,
    );
    let mut groups: GroupDays<'_> = BTreeMap::new();
    for (key, tally) in &tallies {
        if let Some(group) = &key.group {
            groups
                .entry(group.value.clone())
                .or_default()
                .push((key.day, tally));
        }
    }
    let groups = groups
        .into_iter()
        .map(|(value, days)| {
            let (periods, total) = periods(asked.range, asked.group_by, days, None, business_hours);
            GroupFigures {
                value,
                periods,
                total,
            }
        })
        .collect();
    Overview {
        company_id: asked.company,
        from: asked.range.from(),
        to: asked.range.to(),
        timezone: asked.rules.timezone.name().to_owned(),
        group_by: asked.group_by,
        agent_id: match who {
            Who::Agent(me) => Some(me),
            Who::Team | Who::EachAgent => None,
        },
        business_hours,
        periods: periods_all,
        total,
        breakdown: asked.breakdown,
        groups,
    }
}

/// An overview computed straight from facts, without tallies: what the tallies must
/// agree with. `facts` is the company's whole history.
pub fn overview_from_scratch(
    company: CompanyId,
    rules: &ReportRules,
    range: DayRange,
    group_by: GroupBy,
    breakdown: Option<Breakdown>,
    who: Who,
    facts: Vec<crate::SettledFact>,
) -> Overview {
    // Every fact counted as if none had settled yet.
    let data = ReportData {
        tallies: Vec::new(),
        backlog_before: 0,
        unsettled: facts,
    };
    overview_from_data(company, rules, range, group_by, breakdown, who, &data)
}

/// The overview `data` (as a store read it) makes: for checking a store's tallies
/// against [`overview_from_scratch`].
pub fn overview_from_data(
    company: CompanyId,
    rules: &ReportRules,
    range: DayRange,
    group_by: GroupBy,
    breakdown: Option<Breakdown>,
    who: Who,
    data: &ReportData,
) -> Overview {
    let asked = Asked {
        company,
        rules: rules.clone(),
        range,
        group_by,
        breakdown,
    };
    overview_of(&asked, who, data)
}
