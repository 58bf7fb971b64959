//! A ticket's history as reports count it: each opening, reopening, resolution, first
//! answer, reply and assignment is a [`TicketFact`], decided here from the change that
//! causes it and written by the repositories in that change's own transaction. Facts are
//! never changed afterwards: a report of last month reads the same next year.

use chrono::{DateTime, Utc};
use omni_core::{CompanyId, TicketId, UserId};

use crate::{Ticket, TicketChanges, TicketStatus};

omni_core::wire_enum! {
    /// What happened.
    pub enum FactKind, error UnknownFactKind {
        /// The ticket was opened (by a customer's message or an agent).
        Opened => "opened",
        /// A resolved ticket opened again: the customer wrote, or an agent reopened it.
        Reopened => "reopened",
        /// The ticket was resolved; the time to resolve counts from its latest opening.
        Resolved => "resolved",
        /// The ticket was closed without being resolved first.
        Closed => "closed",
        /// An agent answered for the first time; counted from the ticket's opening.
        FirstResponse => "first_response",
        /// A reply went out: an agent's, or the automatic one (no agent).
        Replied => "replied",
        /// The ticket was given to an agent.
        Assigned => "assigned",
        /// The satisfaction question went to the customer.
        SurveySent => "survey_sent",
        /// The customer rated the service 1 to 5.
        Rated => "rated",
        /// The ticket was deleted while still waiting for an answer.
        Deleted => "deleted",
    }
}

impl FactKind {
    /// How the fact moves the backlog of tickets waiting for the team (`new`, `open`,
    /// `pending`): +1 when one enters it, -1 when one leaves it.
    pub const fn backlog(self) -> i64 {
        match self {
            FactKind::Opened | FactKind::Reopened => 1,
            FactKind::Resolved | FactKind::Closed | FactKind::Deleted => -1,
            FactKind::FirstResponse
            | FactKind::Replied
            | FactKind::Assigned
            | FactKind::SurveySent
            | FactKind::Rated => 0,
        }
    }
}

/// One thing that happened to a ticket, as reports count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFact {
    /// The ticket's company.
    pub company_id: CompanyId,
    /// The ticket.
    pub ticket_id: TicketId,
    /// What happened.
    pub kind: FactKind,
    /// When.
    pub at: DateTime<Utc>,
    /// Where the time it measures starts: the opening for a first response, the latest
    /// (re)opening for a resolution; `None` for facts that measure no time.
    pub since: Option<DateTime<Utc>>,
    /// The agent it counts for: the one who answered, was assigned, or held the ticket
    /// when it was resolved, closed, reopened or rated.
    pub agent: Option<UserId>,
    /// The customer's rating, 1 to 5, of a [`FactKind::Rated`].
    pub score: Option<u8>,
}

/// Whether a ticket in `status` waits for the team.
pub const fn in_backlog(status: TicketStatus) -> bool {
    matches!(
        status,
        TicketStatus::New | TicketStatus::Open | TicketStatus::Pending
    )
}

impl Ticket {
    /// A fact of this ticket at `at`, counted for the agent holding it.
    pub(crate) fn fact_now(&self, kind: FactKind, at: DateTime<Utc>) -> TicketFact {
        self.fact(kind, at, self.assigned_to)
    }

    fn fact(&self, kind: FactKind, at: DateTime<Utc>, agent: Option<UserId>) -> TicketFact {
        TicketFact {
            company_id: self.company_id,
            ticket_id: self.id,
            kind,
            at,
            since: None,
            agent,
            score: None,
        }
    }

    /// When the time to resolve the ticket now counts from: its latest reopening, or its
    /// opening.
    pub fn opened_at(&self) -> DateTime<Utc> {
        self.reopened_at.unwrap_or(self.created_at)
    }

    /// The facts of the ticket's opening (this ticket as just stored): opened, and
    /// assigned when it was opened for an agent.
    pub fn opening_facts(&self) -> Vec<TicketFact> {
        let mut facts = vec![self.fact(FactKind::Opened, self.created_at, self.assigned_to)];
        if let Some(agent) = self.assigned_to {
            facts.push(self.fact(FactKind::Assigned, self.created_at, Some(agent)));
        }
        facts
    }

    /// The facts of this ticket (as it is now) having moved from `from` to its status at
    /// `at` ([`Ticket::take_status`]), counted for the agent holding it.
    ///
    /// ```
    /// # use omni_ticketing::{FactKind, Ticket, TicketStatus};
    /// # fn check(mut ticket: Ticket, at: chrono::DateTime<chrono::Utc>) {
    /// ticket.status = TicketStatus::Open;
    /// ticket.take_status(TicketStatus::Resolved, at);
    /// let facts = ticket.moved_facts(TicketStatus::Open, at);
    /// assert_eq!(facts[0].kind, FactKind::Resolved);
    /// assert_eq!(facts[0].since, Some(ticket.opened_at()));
    /// # }
    /// ```
    pub fn moved_facts(&self, from: TicketStatus, at: DateTime<Utc>) -> Vec<TicketFact> {
        let to = self.status;
        let kind = match (in_backlog(from), to) {
            (true, TicketStatus::Resolved) => FactKind::Resolved,
            (true, TicketStatus::Closed) => FactKind::Closed,
            (false, to) if from == TicketStatus::Resolved && in_backlog(to) => FactKind::Reopened,
            _ => return Vec::new(),
        };
        let mut fact = self.fact(kind, at, self.assigned_to);
        if kind == FactKind::Resolved {
            fact.since = Some(self.opened_at());
        }
        vec![fact]
    }

    /// The facts of `changes` that made this ticket what it is now, at `at`.
    pub fn change_facts(&self, changes: &TicketChanges, at: DateTime<Utc>) -> Vec<TicketFact> {
        let mut facts = changes
            .status
            .as_ref()
            .map(|s| self.moved_facts(s.from, at))
            .unwrap_or_default();
        if let Some(agent) = changes.assigned_to.as_ref().and_then(|c| c.to) {
            facts.push(self.fact(FactKind::Assigned, at, Some(agent)));
        }
        facts
    }

    /// The facts of a reply stored at `at` on this ticket (as it was before the reply):
    /// a reply, and the first response when it is an agent's first answer.
    pub fn reply_facts(&self, author: Option<UserId>, at: DateTime<Utc>) -> Vec<TicketFact> {
        let mut facts = vec![self.fact(FactKind::Replied, at, author)];
        if author.is_some() && self.first_response_at.is_none() {
            let mut first = self.fact(FactKind::FirstResponse, at, author);
            first.since = Some(self.created_at);
            facts.push(first);
        }
        facts
    }

    /// The facts of the satisfaction question going out at `at` (besides those of the
    /// reply that carries it): the survey, counted for the agent holding the ticket.
    pub fn survey_facts(&self, at: DateTime<Utc>) -> Vec<TicketFact> {
        vec![self.fact_now(FactKind::SurveySent, at)]
    }

    /// The facts of deleting this ticket at `at`: it leaves the backlog if it was in it.
    pub fn deletion_facts(&self, at: DateTime<Utc>) -> Vec<TicketFact> {
        if in_backlog(self.status) {
            vec![self.fact(FactKind::Deleted, at, self.assigned_to)]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::FieldChange;
    use crate::ticket::test_ticket;

    #[test]
    fn the_backlog_moves_only_on_entering_or_leaving_it() {
        use TicketStatus::*;
        let at = Utc::now();
        let cases = [
            (New, Open, None),
            (Open, Pending, None),
            (Pending, Open, None),
            (New, Resolved, Some(FactKind::Resolved)),
            (Pending, Resolved, Some(FactKind::Resolved)),
            (Open, Closed, Some(FactKind::Closed)),
            (Resolved, Open, Some(FactKind::Reopened)),
            (Resolved, Closed, None),
        ];
        for (from, to, kind) in cases {
            let mut t = test_ticket();
            t.status = from;
            t.take_status(to, at);
            let facts = t.moved_facts(from, at);
            assert_eq!(facts.first().map(|f| f.kind), kind, "{from} → {to}");
        }
        let sum: i64 = [
            FactKind::Opened,
            FactKind::Resolved,
            FactKind::Reopened,
            FactKind::Closed,
        ]
        .iter()
        .map(|k| k.backlog())
        .sum();
        assert_eq!(sum, 0);
    }

    #[test]
    fn a_resolution_counts_from_the_latest_opening() {
        let mut t = test_ticket();
        t.status = TicketStatus::Open;
        let created = t.created_at;
        let hour = |h| created + TimeDelta::hours(h);
        t.take_status(TicketStatus::Resolved, hour(1));
        assert_eq!(
            t.moved_facts(TicketStatus::Open, hour(1))[0].since,
            Some(created)
        );
        t.take_status(TicketStatus::Open, hour(3));
        assert_eq!(t.resolved_at, None);
        assert_eq!(
            t.moved_facts(TicketStatus::Resolved, hour(3))[0].kind,
            FactKind::Reopened
        );
        t.take_status(TicketStatus::Resolved, hour(5));
        assert_eq!(t.resolved_at, Some(hour(5)));
        assert_eq!(
            t.moved_facts(TicketStatus::Open, hour(5))[0].since,
            Some(hour(3))
        );
    }

    #[test]
    fn changes_count_for_the_agent_holding_the_ticket_after_them() {
        let mut t = test_ticket();
        t.status = TicketStatus::Resolved;
        let agent = UserId::new(7);
        t.assigned_to = Some(agent);
        let changes = TicketChanges {
            status: Some(FieldChange {
                from: TicketStatus::Open,
                to: TicketStatus::Resolved,
            }),
            assigned_to: Some(FieldChange {
                from: None,
                to: Some(agent),
            }),
            ..TicketChanges::default()
        };
        let facts = t.change_facts(&changes, Utc::now());
        let kinds: Vec<_> = facts.iter().map(|f| (f.kind, f.agent)).collect();
        assert_eq!(
            kinds,
            [
                (FactKind::Resolved, Some(agent)),
                (FactKind::Assigned, Some(agent))
            ]
        );
    }

    #[test]
    fn only_an_agents_first_answer_is_the_first_response() {
        let mut t = test_ticket();
        let at = t.created_at + TimeDelta::minutes(4);
        let bot: Vec<_> = t.reply_facts(None, at).iter().map(|f| f.kind).collect();
        assert_eq!(bot, [FactKind::Replied]);
        let agent = t.reply_facts(Some(UserId::new(2)), at);
        assert_eq!(agent[1].kind, FactKind::FirstResponse);
        assert_eq!(agent[1].since, Some(t.created_at));
        t.first_response_at = Some(at);
        assert_eq!(t.reply_facts(Some(UserId::new(2)), at).len(), 1);
        t.status = TicketStatus::Resolved;
        assert!(t.deletion_facts(at).is_empty());
        t.status = TicketStatus::Pending;
        assert_eq!(t.deletion_facts(at)[0].kind, FactKind::Deleted);
    }
}
