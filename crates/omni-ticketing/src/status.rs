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

/// What a customer's new message does to their current ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerMessageOutcome {
    /// The ticket is being worked already (`new`, `open`): it stays as it is.
    Unchanged,
    /// The ticket was waiting or answered (`pending`, `resolved`): it reopens.
    Reopen,
    /// The ticket is `closed`: the message starts a new ticket.
    NewTicket,
}

impl TicketStatus {
    /// The statuses an agent may move a ticket in this status to. Nothing returns to
    /// `new`, and `closed` is final.
    pub const fn allowed_next(self) -> &'static [TicketStatus] {
        use TicketStatus::*;
        match self {
            // A new ticket may be taken, answered at once, or closed (spam).
            New => &[Open, Pending, Resolved, Closed],
            Open => &[Pending, Resolved, Closed],
            Pending => &[Open, Resolved, Closed],
            Resolved => &[Open, Closed],
            Closed => &[],
        }
    }

    /// Whether an agent may move a ticket from this status to `to`. Staying put is not a
    /// transition and is always accepted (an idempotent PUT changes nothing).
    pub fn can_become(self, to: TicketStatus) -> bool {
        self == to || self.allowed_next().contains(&to)
    }

    /// What a customer's message does to a ticket in this status.
    pub const fn on_customer_message(self) -> CustomerMessageOutcome {
        match self {
            TicketStatus::New | TicketStatus::Open => CustomerMessageOutcome::Unchanged,
            TicketStatus::Pending | TicketStatus::Resolved => CustomerMessageOutcome::Reopen,
            TicketStatus::Closed => CustomerMessageOutcome::NewTicket,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TicketStatus::*;
    use super::*;

    /// Every (from, to) pair, spelled out: `true` where an agent may make the move.
    #[test]
    fn the_state_machine_table() {
        let table: [(TicketStatus, [(TicketStatus, bool); 5]); 5] = [
            (
                New,
                [
                    (New, true),
                    (Open, true),
                    (Pending, true),
                    (Resolved, true),
                    (Closed, true),
                ],
            ),
            (
                Open,
                [
                    (New, false),
                    (Open, true),
                    (Pending, true),
                    (Resolved, true),
                    (Closed, true),
                ],
            ),
            (
                Pending,
                [
                    (New, false),
                    (Open, true),
                    (Pending, true),
                    (Resolved, true),
                    (Closed, true),
                ],
            ),
            (
                Resolved,
                [
                    (New, false),
                    (Open, true),
                    (Pending, false),
                    (Resolved, true),
                    (Closed, true),
                ],
            ),
            (
                Closed,
                [
                    (New, false),
                    (Open, false),
                    (Pending, false),
                    (Resolved, false),
                    (Closed, true),
                ],
            ),
        ];
        let mut pairs = 0;
        for (from, row) in table {
            for (to, allowed) in row {
                assert_eq!(from.can_become(to), allowed, "{from} → {to}");
                pairs += 1;
            }
        }
        assert_eq!(pairs, TicketStatus::ALL.len() * TicketStatus::ALL.len());
    }

    #[test]
    fn customers_reopen_waiting_tickets_and_start_over_after_closed() {
        assert_eq!(New.on_customer_message(), CustomerMessageOutcome::Unchanged);
        assert_eq!(
            Open.on_customer_message(),
            CustomerMessageOutcome::Unchanged
        );
        assert_eq!(
            Pending.on_customer_message(),
            CustomerMessageOutcome::Reopen
        );
        assert_eq!(
            Resolved.on_customer_message(),
            CustomerMessageOutcome::Reopen
        );
        assert_eq!(
            Closed.on_customer_message(),
            CustomerMessageOutcome::NewTicket
        );
    }

    #[test]
    fn nothing_returns_to_new_and_closed_is_final() {
        for s in TicketStatus::ALL {
            assert!(!s.allowed_next().contains(&New));
            assert!(
                !s.allowed_next().contains(&s),
                "staying is not a transition"
            );
        }
        assert!(Closed.allowed_next().is_empty());
    }
}
