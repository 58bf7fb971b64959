//! What the conversation's events do to a ticket: a customer writes, someone answers,
//! triage finishes. Each is decided here, on the ticket as loaded; the repositories write
//! what these functions return.

use chrono::{DateTime, Utc};

use crate::ticket::change;
use crate::{
    Channel, CustomerMessageOutcome, FieldChange, Ticket, TicketChanges, TicketFact, TicketStatus,
    TriageResult,
};

/// Why a ticket takes no free-form reply now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyRefused {
    /// The ticket is closed: it takes no more replies.
    #[error("the ticket is closed; the customer's next message opens a new one")]
    Closed,
    /// The channel's customer-service window is closed (on WhatsApp, 24 hours after the
    /// customer's latest message, or they never wrote): only an approved template may go
    /// out until the customer writes again.
    #[error(
        "the customer-service window is closed; only an approved template may go out until the customer writes again"
    )]
    WindowClosed {
        /// When it closed; `None` when it never opened (the customer has not written).
        closed_at: Option<DateTime<Utc>>,
    },
}

/// What a customer's message does to the ticket it lands on.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerMessageEffect {
    /// The status change, if any (a waiting or answered ticket reopens).
    pub status: Option<FieldChange<TicketStatus>>,
    /// Whether triage runs: for a ticket opened by this message, or one it reopened.
    pub triage: bool,
    /// What reports count: a resolved ticket's reopening, or its rating.
    pub facts: Vec<TicketFact>,
    /// The message rated the service (see [`Ticket::awaits_rating`]): the ticket keeps
    /// its status and is not triaged again.
    pub rating: Option<crate::Rating>,
}

/// What storing an answer changes on its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyEffect {
    /// When an agent first answered: set by the first agent's reply, never by the bot's.
    pub first_response_at: Option<DateTime<Utc>>,
    /// The answer's time.
    pub last_message_at: DateTime<Utc>,
    /// What lists sort by.
    pub last_activity_at: DateTime<Utc>,
}

/// Triage's result merged into a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct TriageMerge {
    /// The ticket as it becomes (version unchanged: the repository bumps it).
    pub after: Ticket,
    /// The fields that change, for the `ticket.updated` event (empty: none is sent).
    pub changes: TicketChanges,
}

impl Ticket {
    /// A customer's message arrived on this ticket at `at`; `opened_now` when the message
    /// opened it.
    ///
    /// ```
    /// # use omni_ticketing::{Ticket, TicketStatus};
    /// # fn check(ticket: &Ticket) {
    /// let effect = ticket.on_customer_message(false, chrono::Utc::now(), "oi?");
    /// if ticket.status == TicketStatus::Resolved {
    ///     assert_eq!(effect.status.unwrap().to, TicketStatus::Open);
    ///     assert!(effect.triage);
    /// }
    /// # }
    /// ```
    pub fn on_customer_message(
        &self,
        opened_now: bool,
        at: DateTime<Utc>,
        text: &str,
    ) -> CustomerMessageEffect {
        if !opened_now
            && self.awaits_rating(at)
            && let Some(rating) = crate::read_rating(text, at)
        {
            let mut fact = self.fact_now(crate::FactKind::Rated, at);
            fact.score = Some(rating.score);
            return CustomerMessageEffect {
                status: None,
                triage: false,
                facts: vec![fact],
                rating: Some(rating),
            };
        }
        let reopen =
            !opened_now && self.status.on_customer_message() == CustomerMessageOutcome::Reopen;
        CustomerMessageEffect {
            status: reopen.then_some(FieldChange {
                from: self.status,
                to: TicketStatus::Open,
            }),
            triage: opened_now || reopen,
            facts: if reopen {
                let mut after = self.clone();
                after.take_status(TicketStatus::Open, at);
                after.moved_facts(self.status, at)
            } else {
                Vec::new()
            },
            rating: None,
        }
    }

    /// Whether a customer's message at `at` may rate the service: the ticket is resolved,
    /// was asked (within [`crate::RATING_WINDOW`]) and was not rated yet. Any other reply
    /// reopens it as usual.
    pub fn awaits_rating(&self, at: DateTime<Utc>) -> bool {
        self.status == TicketStatus::Resolved
            && self.rating.is_none()
            && self
                .survey_sent_at
                .is_some_and(|asked| at >= asked && at - asked <= crate::RATING_WINDOW)
    }

    /// Whether the satisfaction question may go out at `now`: the ticket is resolved, was
    /// never asked, and takes a reply (on WhatsApp, within the 24-hour window — outside it
    /// the question is not sent at all).
    pub fn survey_due(&self, now: DateTime<Utc>) -> bool {
        self.status == TicketStatus::Resolved
            && self.survey_sent_at.is_none()
            && self.accepts_reply(now).is_ok()
    }

    /// The changes that move this ticket to `to` at `at`: the status, and the times the
    /// move stamps ([`Ticket::take_status`]). Empty when it is there already.
    pub fn status_change(&self, to: TicketStatus, at: DateTime<Utc>) -> TicketChanges {
        let Some(status) = change(&self.status, Some(to)) else {
            return TicketChanges::default();
        };
        let mut after = self.clone();
        after.take_status(to, at);
        TicketChanges {
            status: Some(status),
            resolved_at: after.resolved_at.filter(|_| to == TicketStatus::Resolved),
            reopened_at: after.reopened_at.filter(|r| Some(*r) != self.reopened_at),
            ..TicketChanges::default()
        }
    }

    /// Moves the ticket to `to` at `at` as a change of status does: resolving stamps
    /// `resolved_at`; reopening a resolved ticket stamps `reopened_at` (where the next
    /// resolution's time counts from) and clears `resolved_at`.
    pub fn take_status(&mut self, to: TicketStatus, at: DateTime<Utc>) {
        if to == self.status {
            return;
        }
        if to == TicketStatus::Resolved {
            self.resolved_at = Some(at);
        } else if self.status == TicketStatus::Resolved && crate::history::in_backlog(to) {
            self.reopened_at = Some(at);
            self.resolved_at = None;
        }
        self.status = to;
    }

    /// [`Ticket::on_customer_message`], taken: the ticket moves to the status it decides, so
    /// that the customer's next message (in the same batch of webhooks) is judged against
    /// the ticket as this one left it.
    ///
    /// ```
    /// # use omni_ticketing::{Ticket, TicketStatus};
    /// # fn check(mut ticket: Ticket) {
    /// let now = chrono::Utc::now();
    /// ticket.status = TicketStatus::Resolved;
    /// assert!(ticket.take_customer_message(false, now, "ainda não chegou").triage);
    /// assert_eq!(ticket.status, TicketStatus::Open);
    /// assert_eq!(ticket.resolved_at, None);
    /// assert_eq!(ticket.reopened_at, Some(now));
    /// assert!(!ticket.take_customer_message(false, now, "?").triage);
    /// # }
    /// ```
    pub fn take_customer_message(
        &mut self,
        opened_now: bool,
        at: DateTime<Utc>,
        text: &str,
    ) -> CustomerMessageEffect {
        let effect = self.on_customer_message(opened_now, at, text);
        if let Some(change) = &effect.status {
            self.take_status(change.to, at);
        }
        if let Some(rating) = &effect.rating {
            self.rating = Some(rating.clone());
        }
        effect
    }

    /// Records on the ticket a customer's message stored at `at` under the profile name
    /// the channel gave (if any): the newest message sets when the ticket last heard from
    /// anyone (the list's sort key), and the customer's latest name replaces the one kept.
    /// A message that came on the ticket's own channel (`on`) also opens, or keeps open,
    /// that channel's customer-service window: on WhatsApp free-form replies may go out for
    /// 24 hours after it. An SMS joining a WhatsApp conversation opens nothing: replies
    /// still go out on WhatsApp.
    pub fn note_customer_message(
        &mut self,
        at: DateTime<Utc>,
        profile_name: Option<&str>,
        on: Channel,
    ) {
        let latest = self.last_message_at.map_or(at, |seen| seen.max(at));
        self.last_message_at = Some(latest);
        self.last_activity_at = self.last_activity_at.max(latest);
        if let Some(window) = self.channel.reply_window().filter(|_| on == self.channel) {
            let closes = at + window;
            self.window_closes_at = Some(self.window_closes_at.map_or(closes, |c| c.max(closes)));
        }
        if let Some(name) = profile_name {
            self.customer_name = Some(name.to_owned());
        }
    }

    /// Whether the ticket may be answered in free form at `now`: not once it is closed,
    /// nor outside the channel's customer-service window.
    ///
    /// ```
    /// # use chrono::{TimeDelta, Utc};
    /// # use omni_ticketing::{ReplyRefused, Ticket};
    /// # fn check(mut ticket: Ticket) {
    /// let wrote = Utc::now();
    /// ticket.note_customer_message(wrote, None, ticket.channel);
    /// assert!(ticket.accepts_reply(wrote + TimeDelta::hours(23)).is_ok());
    /// assert!(matches!(
    ///     ticket.accepts_reply(wrote + TimeDelta::hours(25)),
    ///     Err(ReplyRefused::WindowClosed { .. })
    /// ));
    /// # }
    /// ```
    pub fn accepts_reply(&self, now: DateTime<Utc>) -> Result<(), ReplyRefused> {
        if self.status == TicketStatus::Closed {
            return Err(ReplyRefused::Closed);
        }
        self.within_window(now)
    }

    /// Whether nothing has happened on the ticket since it was opened: still `new`, no
    /// message either way, nobody's change (its first version).
    pub fn is_untouched(&self) -> bool {
        self.status == TicketStatus::New
            && self.last_message_at.is_none()
            && self.first_response_at.is_none()
            && self.version == 1
    }

    /// Whether an approved template may be sent: whenever the ticket takes replies, window
    /// or not — a template is how a business writes first, or again after the window
    /// closed.
    pub fn accepts_template(&self) -> Result<(), ReplyRefused> {
        if self.status == TicketStatus::Closed {
            return Err(ReplyRefused::Closed);
        }
        Ok(())
    }

    /// Whether a reply that failed (or never left) may be sent again at `now`: only within
    /// the channel's customer-service window, outside which the provider refuses it. A
    /// closed ticket's reply may go again: it was written while the ticket took replies.
    pub fn accepts_resend(&self, now: DateTime<Utc>) -> Result<(), ReplyRefused> {
        self.within_window(now)
    }

    fn within_window(&self, now: DateTime<Utc>) -> Result<(), ReplyRefused> {
        let open = self.window_closes_at.is_some_and(|closes| now < closes);
        if self.channel.reply_window().is_some() && !open {
            return Err(ReplyRefused::WindowClosed {
                closed_at: self.window_closes_at,
            });
        }
        Ok(())
    }

    /// Whether triage's automatic reply may go out at `now`: nobody has answered the
    /// customer yet and the ticket can still be answered.
    pub fn awaits_auto_reply(&self, now: DateTime<Utc>) -> bool {
        self.first_response_at.is_none() && self.accepts_reply(now).is_ok()
    }

    /// Triage's suggested answer as it stands once the automatic reply went out
    /// (`auto_reply_sent`) or not: a suggestion sent to the customer is no longer one.
    pub fn suggestion_after(&self, auto_reply_sent: bool) -> Option<&str> {
        if auto_reply_sent {
            None
        } else {
            self.suggested_reply.as_deref()
        }
    }

    /// An answer stored at `at`, by an agent (`by_agent`) or by the automatic reply.
    pub fn on_reply(&self, by_agent: bool, at: DateTime<Utc>) -> ReplyEffect {
        ReplyEffect {
            first_response_at: self.first_response_at.or(by_agent.then_some(at)),
            last_message_at: at,
            last_activity_at: at,
        }
    }

    /// Merges triage's result: category and priority unless a person set them (see
    /// [`crate::HandSet`]), the mood and the suggestions always.
    pub fn merge_triage(&self, result: &TriageResult) -> TriageMerge {
        let changes = TicketChanges {
            category: (!self.hand_set.category)
                .then(|| change(&self.category, Some(Some(result.category.clone()))))
                .flatten(),
            priority: (!self.hand_set.priority)
                .then(|| change(&self.priority, Some(result.priority)))
                .flatten(),
            ..TicketChanges::default()
        };
        let mut after = self.clone();
        if let Some(c) = &changes.category {
            after.category.clone_from(&c.to);
        }
        if let Some(p) = &changes.priority {
            after.priority = p.to;
        }
        after.sentiment = Some(result.sentiment);
        after.sentiment_score = Some(result.sentiment_score);
        after.suggested_categories =
            serde_json::to_value(&result.suggested_categories).unwrap_or_default();
        after.suggested_reply.clone_from(&result.reply);
        TriageMerge { after, changes }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, Utc};
    use omni_core::{CompanyId, TicketId};

    use super::*;
    use crate::{Channel, HandSet, Priority, Sentiment, SuggestedCategory, WHATSAPP_REPLY_WINDOW};

    fn ticket(status: TicketStatus) -> Ticket {
        Ticket {
            id: TicketId::new(1),
            company_id: CompanyId::new(1),
            integration_id: None,
            customer_phone: "+5511987650001".parse().unwrap(),
            customer_name: None,
            channel: Channel::Whatsapp,
            status,
            priority: Priority::Medium,
            category: Some("general".into()),
            sentiment: None,
            sentiment_score: None,
            suggested_categories: serde_json::json!([]),
            assigned_to: None,
            last_message_at: None,
            window_closes_at: Some(Utc::now() + chrono::TimeDelta::hours(1)),
            last_activity_at: Utc::now(),
            first_response_at: None,
            resolved_at: None,
            reopened_at: None,
            survey_sent_at: None,
            suggested_reply: None,
            rating: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 3,
            hand_set: HandSet::default(),
        }
    }

    fn result() -> TriageResult {
        TriageResult {
            category: "billing".into(),
            priority: Priority::Urgent,
            sentiment: Sentiment::Negative,
            sentiment_score: -0.7,
            suggested_categories: vec![SuggestedCategory {
                name: "billing".into(),
                confidence: 0.9,
            }],
            reply: None,
            engine: "test".into(),
        }
    }

    #[test]
    fn a_customer_reopens_waiting_and_answered_tickets_and_triage_follows() {
        for (status, reopens) in [
            (TicketStatus::New, false),
            (TicketStatus::Open, false),
            (TicketStatus::Pending, true),
            (TicketStatus::Resolved, true),
        ] {
            let effect = ticket(status).on_customer_message(false, Utc::now(), "oi");
            assert_eq!(effect.status.is_some(), reopens, "{status:?}");
            assert_eq!(effect.triage, reopens, "{status:?}");
        }
        let opened = ticket(TicketStatus::New).on_customer_message(true, Utc::now(), "oi");
        assert_eq!((opened.status.clone(), opened.triage), (None, true));
    }

    #[test]
    fn a_batch_of_one_customer_reopens_once_and_then_only_appends() {
        let mut t = ticket(TicketStatus::Pending);
        let first = t.take_customer_message(false, Utc::now(), "oi");
        assert_eq!(
            first.status,
            Some(FieldChange {
                from: TicketStatus::Pending,
                to: TicketStatus::Open
            })
        );
        assert!(first.triage);
        assert_eq!(t.status, TicketStatus::Open);
        let second = t.take_customer_message(false, Utc::now(), "oi");
        assert_eq!((second.status, second.triage), (None, false));

        let mut new = ticket(TicketStatus::New);
        assert!(new.take_customer_message(true, Utc::now(), "oi").triage);
        assert!(!new.take_customer_message(false, Utc::now(), "oi").triage);
        assert_eq!(new.status, TicketStatus::New);
    }

    #[test]
    fn a_customer_message_moves_the_ticket_to_the_top_and_keeps_their_latest_name() {
        let mut t = ticket(TicketStatus::Open);
        t.customer_name = Some("Ana".into());
        let first = t.created_at + chrono::Duration::seconds(5);
        let second = first + chrono::Duration::seconds(1);
        t.note_customer_message(second, Some("Ana Paula"), Channel::Whatsapp);
        t.note_customer_message(first, None, Channel::Whatsapp);
        assert_eq!(t.last_message_at, Some(second), "the newest message counts");
        assert_eq!(t.last_activity_at, second);
        assert_eq!(t.customer_name.as_deref(), Some("Ana Paula"));
    }

    #[test]
    fn closed_tickets_take_no_reply() {
        let now = Utc::now();
        assert_eq!(
            ticket(TicketStatus::Closed).accepts_reply(now),
            Err(ReplyRefused::Closed)
        );
        for status in [
            TicketStatus::New,
            TicketStatus::Open,
            TicketStatus::Resolved,
        ] {
            assert_eq!(ticket(status).accepts_reply(now), Ok(()));
        }
    }

    #[test]
    fn whatsapp_replies_wait_for_the_customer_and_stop_a_day_after_they_last_wrote() {
        let mut t = ticket(TicketStatus::Open);
        t.window_closes_at = None;
        let wrote = Utc::now();
        assert_eq!(
            t.accepts_reply(wrote),
            Err(ReplyRefused::WindowClosed { closed_at: None }),
            "a customer who never wrote"
        );
        t.note_customer_message(wrote, None, Channel::Whatsapp);
        let closes = wrote + WHATSAPP_REPLY_WINDOW;
        assert_eq!(t.window_closes_at, Some(closes));
        assert_eq!(t.accepts_reply(closes - TimeDelta::seconds(1)), Ok(()));
        assert_eq!(
            t.accepts_reply(closes),
            Err(ReplyRefused::WindowClosed {
                closed_at: Some(closes)
            })
        );
        // An older message arriving late does not shorten the window.
        t.note_customer_message(wrote - TimeDelta::hours(3), None, Channel::Whatsapp);
        assert_eq!(t.window_closes_at, Some(closes));
        // Writing again opens it again.
        let again = closes + TimeDelta::hours(5);
        t.note_customer_message(again, None, Channel::Whatsapp);
        assert_eq!(t.accepts_reply(again + TimeDelta::hours(1)), Ok(()));
        // A failed reply goes again only within the window, even once the ticket closed.
        t.status = TicketStatus::Closed;
        assert_eq!(t.accepts_resend(again + TimeDelta::hours(1)), Ok(()));
        assert!(t.accepts_resend(again + TimeDelta::hours(25)).is_err());
        // An SMS joining the WhatsApp conversation opens nothing: replies go on WhatsApp.
        let mut quiet = ticket(TicketStatus::Open);
        quiet.window_closes_at = None;
        quiet.note_customer_message(wrote, None, Channel::Sms);
        assert_eq!(quiet.window_closes_at, None);
        // The auto-reply keeps to the window too.
        let mut late = ticket(TicketStatus::New);
        late.window_closes_at = Some(wrote);
        assert!(!late.awaits_auto_reply(wrote + TimeDelta::minutes(1)));
    }

    #[test]
    fn sms_has_no_window() {
        let mut t = ticket(TicketStatus::Open);
        t.channel = Channel::Sms;
        t.window_closes_at = None;
        assert_eq!(t.accepts_reply(Utc::now()), Ok(()));
        t.note_customer_message(Utc::now(), None, Channel::Sms);
        assert_eq!(t.window_closes_at, None);
    }

    #[test]
    fn the_auto_reply_waits_for_nobody_and_never_goes_to_a_closed_ticket() {
        let now = Utc::now();
        assert!(ticket(TicketStatus::New).awaits_auto_reply(now));
        assert!(!ticket(TicketStatus::Closed).awaits_auto_reply(now));
        let mut answered = ticket(TicketStatus::Open);
        answered.first_response_at = Some(Utc::now());
        assert!(!answered.awaits_auto_reply(now));
    }

    #[test]
    fn only_an_agent_makes_the_first_response() {
        let t = ticket(TicketStatus::Open);
        let at = Utc::now();
        assert_eq!(t.on_reply(false, at).first_response_at, None);
        assert_eq!(t.on_reply(true, at).first_response_at, Some(at));
        let mut answered = t.clone();
        let earlier = at - chrono::Duration::minutes(5);
        answered.first_response_at = Some(earlier);
        let effect = answered.on_reply(true, at);
        assert_eq!(effect.first_response_at, Some(earlier));
        assert_eq!(effect.last_activity_at, at);
    }

    #[test]
    fn triage_leaves_what_a_person_chose() {
        let merged = ticket(TicketStatus::New).merge_triage(&result());
        assert_eq!(merged.after.category.as_deref(), Some("billing"));
        assert_eq!(merged.after.priority, Priority::Urgent);
        assert_eq!(merged.after.sentiment, Some(Sentiment::Negative));
        assert!(merged.changes.category.is_some() && merged.changes.priority.is_some());

        let mut chosen = ticket(TicketStatus::Open);
        chosen.hand_set = HandSet {
            category: true,
            priority: false,
        };
        let merged = chosen.merge_triage(&result());
        assert_eq!(merged.after.category.as_deref(), Some("general"));
        assert_eq!(merged.after.priority, Priority::Urgent);
        assert!(merged.changes.category.is_none());
        assert_eq!(merged.after.sentiment_score, Some(-0.7));
    }

    #[test]
    fn a_result_that_changes_nothing_reports_no_change() {
        let mut t = ticket(TicketStatus::Open);
        t.category = Some("billing".into());
        t.priority = Priority::Urgent;
        assert!(t.merge_triage(&result()).changes.is_empty());
    }

    #[test]
    fn hand_set_fields_are_stored_by_name() {
        let set = HandSet::default().marking(&TicketChanges {
            priority: Some(FieldChange {
                from: Priority::Low,
                to: Priority::High,
            }),
            ..TicketChanges::default()
        });
        assert_eq!(set.names(), vec!["priority"]);
        assert_eq!(
            HandSet::from_names(["category", "x", "priority"]),
            HandSet {
                category: true,
                priority: true
            }
        );
    }

    #[test]
    fn a_score_within_a_day_of_the_question_rates_and_anything_else_reopens() {
        let mut t = ticket(TicketStatus::Resolved);
        let asked = Utc::now() - TimeDelta::hours(2);
        assert!(
            t.survey_due(Utc::now()),
            "resolved, never asked, window open"
        );
        t.survey_sent_at = Some(asked);
        assert!(!t.survey_due(Utc::now()), "asked once");
        let now = Utc::now();
        let effect = t.clone().take_customer_message(false, now, "5 - ótimo");
        assert_eq!(effect.status, None);
        assert!(!effect.triage);
        assert_eq!(effect.rating.as_ref().map(|r| r.score), Some(5));
        assert_eq!(effect.facts[0].score, Some(5));
        let words = t
            .clone()
            .take_customer_message(false, now, "ainda com defeito");
        assert_eq!(words.status.map(|s| s.to), Some(TicketStatus::Open));
        assert!(words.rating.is_none());
        // A day later the same score is a message like any other.
        let late = t
            .clone()
            .take_customer_message(false, asked + TimeDelta::hours(25), "5");
        assert!(late.rating.is_none() && late.status.is_some());
        // Rated once: the next score reopens.
        let mut rated = t.clone();
        rated.take_customer_message(false, now, "4");
        assert_eq!(rated.rating.as_ref().map(|r| r.score), Some(4));
        assert!(
            rated
                .take_customer_message(false, now, "5")
                .status
                .is_some()
        );
        // Not asked: no rating.
        let never = ticket(TicketStatus::Resolved);
        assert!(never.on_customer_message(false, now, "5").rating.is_none());
    }
}
