use async_trait::async_trait;
use omni_core::{CompanyId, UserId};

use crate::{Breakdown, DayRange, ReportError, SettledFact, Tally, TallyKey};

/// Whose figures a report reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The whole team's.
    Team,
    /// One agent's own.
    Agent(UserId),
    /// Each agent's, without breakdown.
    EachAgent,
}

impl Who {
    /// Whether a tally of `agent` (`None`: the team's) is one this report reads.
    pub fn reads(self, agent: Option<UserId>) -> bool {
        match self {
            Who::Team => agent.is_none(),
            Who::Agent(me) => agent == Some(me),
            Who::EachAgent => agent.is_some(),
        }
    }
}

/// What a report reads from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRead {
    /// The company.
    pub company: CompanyId,
    /// The days.
    pub days: DayRange,
    /// Whose figures.
    pub who: Who,
    /// Tallies of this breakdown's groups too (else those of all tickets only).
    pub breakdown: Option<Breakdown>,
}

/// What the store holds for a report, read at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportData {
    /// The settled tallies the read asked for.
    pub tallies: Vec<(TallyKey, Tally)>,
    /// How the team's backlog changed over every settled day before the range.
    pub backlog_before: i64,
    /// Every fact of the company not settled yet, with its ticket's current fields.
    pub unsettled: Vec<SettledFact>,
}

/// A user of the company, as reports name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The user.
    pub id: UserId,
    /// Their name.
    pub name: String,
}

/// Where reports come from: tickets' facts, counted into daily tallies ("rollups") a
/// little after they happen ([`crate::SETTLE_AFTER`]) under the company's
/// [`crate::ReportRules`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// The settled tallies, the team's earlier backlog and the unsettled facts, all as
    /// of one instant (a fact settling meanwhile is counted once).
    async fn read(&self, read: &ReportRead) -> Result<ReportData, ReportError>;

    /// The company's users, who may hold tickets.
    async fn people(&self, company: CompanyId) -> Result<Vec<Person>, ReportError>;

    /// Settles up to `limit` facts that happened before `SETTLE_AFTER` ago: gives each its
    /// ticket's current fields and counts it into its company's tallies under the
    /// company's rules. Returns how many it settled.
    async fn settle(&self, limit: usize) -> Result<usize, ReportError>;

    /// The companies whose settings changed what their reports count by, oldest request
    /// first.
    async fn recounts_requested(&self) -> Result<Vec<CompanyId>, ReportError>;

    /// Counts a company's settled facts again, from scratch, under its current rules
    /// (after its time zone, business hours or targets changed), and answers the
    /// requests to do so made before it began. With `requested_only`, only while a
    /// request is pending and nobody else is recounting it. Says whether it counted.
    async fn rebuild(&self, company: CompanyId, requested_only: bool) -> Result<bool, ReportError>;

    /// The company's whole history, settled or not, the unsettled facts with their
    /// tickets' current fields: what the tallies are checked against.
    async fn history(&self, company: CompanyId) -> Result<Vec<SettledFact>, ReportError>;
}
