//! Tickets' history (`ticket_facts`): appended in the transaction of the change that
//! caused each fact, as the ticketing domain decides them.

use diesel::QueryResult;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use omni_ticketing::TicketFact;

use crate::batch_sql::InsertFacts;

/// Facts laid out column by column, as the insert takes them.
#[derive(Default)]
pub(crate) struct FactColumns {
    companies: Vec<i64>,
    tickets: Vec<i64>,
    kinds: Vec<&'static str>,
    ats: Vec<chrono::DateTime<chrono::Utc>>,
    sinces: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    agents: Vec<Option<i64>>,
    scores: Vec<Option<i16>>,
}

impl FactColumns {
    pub(crate) fn push(&mut self, fact: &TicketFact) {
        self.companies.push(fact.company_id.get());
        self.tickets.push(fact.ticket_id.get());
        self.kinds.push(fact.kind.as_str());
        self.ats.push(fact.at);
        self.sinces.push(fact.since);
        self.agents.push(fact.agent.map(|a| a.get()));
        self.scores.push(fact.score.map(i16::from));
    }

    pub(crate) fn of<'a>(facts: impl IntoIterator<Item = &'a TicketFact>) -> Self {
        let mut columns = Self::default();
        for fact in facts {
            columns.push(fact);
        }
        columns
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.companies.is_empty()
    }

    /// The insert of these facts (to run on any connection, pipelined or not).
    pub(crate) fn insert(&self) -> InsertFacts<'_> {
        InsertFacts {
            companies: &self.companies,
            tickets: &self.tickets,
            kinds: &self.kinds,
            ats: &self.ats,
            sinces: &self.sinces,
            agents: &self.agents,
            scores: &self.scores,
        }
    }
}

/// Appends `facts` in the caller's transaction.
pub(crate) async fn append(conn: &mut AsyncPgConnection, facts: &[TicketFact]) -> QueryResult<()> {
    if facts.is_empty() {
        return Ok(());
    }
    FactColumns::of(facts).insert().execute(conn).await?;
    Ok(())
}
