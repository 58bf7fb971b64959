//! The reports crate's [`ReportStore`] in memory: no tallies are kept; every report counts
//! the company's facts from scratch, each broken down by its ticket as it is now — the
//! computation the PostgreSQL tallies are checked against.

use async_trait::async_trait;
use omni_core::CompanyId;
use omni_reports::{Dims, Person, ReportData, ReportError, ReportRead, ReportStore, SettledFact};

use crate::MemoryStore;
use crate::state::State;

fn history_of(state: &State, company: CompanyId) -> Vec<SettledFact> {
    state
        .facts
        .iter()
        .filter(|f| f.company_id == company)
        .map(|fact| {
            let dims = state
                .tickets
                .get(&fact.ticket_id.get())
                .map(Dims::of)
                .unwrap_or_default();
            SettledFact {
                fact: fact.clone(),
                dims,
            }
        })
        .collect()
}

#[async_trait]
impl ReportStore for MemoryStore {
    async fn read(&self, read: &ReportRead) -> Result<ReportData, ReportError> {
        Ok(ReportData {
            tallies: Vec::new(),
            backlog_before: 0,
            unsettled: history_of(&self.lock(), read.company),
        })
    }

    async fn people(&self, company: CompanyId) -> Result<Vec<Person>, ReportError> {
        Ok(self
            .lock()
            .users
            .values()
            .filter(|(u, _)| u.company_id == Some(company))
            .map(|(u, _)| Person {
                id: u.id,
                name: u.name.as_str().to_owned(),
            })
            .collect())
    }

    async fn settle(&self, _limit: usize) -> Result<usize, ReportError> {
        Ok(0)
    }

    async fn recounts_requested(&self) -> Result<Vec<CompanyId>, ReportError> {
        Ok(Vec::new())
    }

    async fn rebuild(
        &self,
        _company: CompanyId,
        _requested_only: bool,
    ) -> Result<bool, ReportError> {
        Ok(false)
    }

    async fn history(&self, company: CompanyId) -> Result<Vec<SettledFact>, ReportError> {
        Ok(history_of(&self.lock(), company))
    }
}
