//! Omni ticketing: a customer's conversation as a ticket with a status, a priority, a
//! category and an assignee.
//!
//! The status state machine, the assignment rules and the triage port live here.
#![warn(missing_docs)]

omni_core::wire_enum! {
    /// Where a ticket stands: `new → open → pending → resolved → closed`.
    pub enum TicketStatus, error UnknownTicketStatus {
        /// Just created, by a customer's message or by an agent; nobody has worked it yet.
        New => "new",
        /// Being worked by an agent.
        Open => "open",
        /// Waiting on the customer.
        Pending => "pending",
        /// Answered; reopens if the customer writes again.
        Resolved => "resolved",
        /// Final: a new customer message starts a new ticket.
        Closed => "closed",
    }
}

omni_core::wire_enum! {
    /// How urgently a ticket needs an answer.
    pub enum Priority, error UnknownPriority {
        /// Can wait.
        Low => "low",
        /// The default.
        Medium => "medium",
        /// Needs attention soon.
        High => "high",
        /// Needs attention now.
        Urgent => "urgent",
    }
}

omni_core::wire_enum! {
    /// The customer's mood, as triage reads it.
    pub enum Sentiment, error UnknownSentiment {
        /// Pleased.
        Positive => "positive",
        /// Neither pleased nor upset.
        Neutral => "neutral",
        /// Upset.
        Negative => "negative",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for s in TicketStatus::ALL {
            assert_eq!(s.as_str().parse::<TicketStatus>().unwrap(), s);
        }
        for p in Priority::ALL {
            assert_eq!(
                serde_json::from_value::<Priority>(serde_json::to_value(p).unwrap()).unwrap(),
                p
            );
        }
        assert!(serde_json::from_str::<Sentiment>("\"angry\"").is_err());
    }
}
