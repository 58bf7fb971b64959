omni_core::wire_enum! {
    /// Where a message stands on its way to or from the customer.
    ///
    /// Outbound messages move `queued → sending → sent → delivered → read`, or end in
    /// `failed`/`undelivered`; inbound messages are `received`.
    pub enum DeliveryStatus, error UnknownDeliveryStatus {
        /// An inbound message from the customer.
        Received => "received",
        /// Stored, waiting for the send worker.
        Queued => "queued",
        /// Handed to the provider, no answer yet.
        Sending => "sending",
        /// Accepted by the provider.
        Sent => "sent",
        /// Reached the customer's phone.
        Delivered => "delivered",
        /// Read by the customer.
        Read => "read",
        /// Refused by the provider; will not be retried by itself.
        Failed => "failed",
        /// The provider could not deliver it.
        Undelivered => "undelivered",
    }
}

impl DeliveryStatus {
    /// The statuses of an outbound message whose send has not ended: the outcome of a
    /// send (sent, or failed) may only be written on a message still in one of them, so
    /// that a provider's report that arrived first is not overwritten.
    pub const AWAITING_SEND: [DeliveryStatus; 2] =
        [DeliveryStatus::Queued, DeliveryStatus::Sending];

    /// How far along a message is. Twilio's callbacks arrive in any order; a status only
    /// replaces one of a lower rank, so `read` is never undone by a late `sent`.
    pub const fn rank(self) -> u8 {
        match self {
            DeliveryStatus::Received => 0,
            DeliveryStatus::Queued => 1,
            DeliveryStatus::Sending => 2,
            DeliveryStatus::Sent => 3,
            DeliveryStatus::Delivered | DeliveryStatus::Failed | DeliveryStatus::Undelivered => 4,
            DeliveryStatus::Read => 5,
        }
    }

    /// Whether a message in this status may move to `next`.
    pub fn may_become(self, next: DeliveryStatus) -> bool {
        self != DeliveryStatus::Received
            && next != DeliveryStatus::Received
            && next.rank() > self.rank()
    }

    /// Our status for a word of Twilio's (`accepted`, `scheduled`… count as `sending`).
    pub fn from_twilio(word: &str) -> Option<DeliveryStatus> {
        Some(match word {
            "queued" | "accepted" | "scheduled" | "sending" => DeliveryStatus::Sending,
            "sent" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            "read" => DeliveryStatus::Read,
            "failed" | "canceled" => DeliveryStatus::Failed,
            "undelivered" => DeliveryStatus::Undelivered,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryStatus::*;
    use super::*;

    #[test]
    fn statuses_only_move_forward() {
        assert!(Queued.may_become(Sending));
        assert!(Sent.may_become(Delivered));
        assert!(Delivered.may_become(Read));
        assert!(Sent.may_become(Undelivered));
        assert!(!Read.may_become(Sent));
        assert!(!Read.may_become(Delivered));
        assert!(!Delivered.may_become(Sent));
        assert!(
            !Delivered.may_become(Failed),
            "a delivered message did not fail"
        );
        assert!(
            !Received.may_become(Read),
            "inbound messages have no delivery"
        );
        let before_delivered: Vec<_> = DeliveryStatus::ALL
            .into_iter()
            .filter(|s| s.may_become(Delivered))
            .collect();
        assert_eq!(before_delivered, [Queued, Sending, Sent]);
        assert_eq!(DeliveryStatus::from_twilio("accepted"), Some(Sending));
        assert_eq!(DeliveryStatus::from_twilio("weird"), None);
    }

    /// Callbacks `read`, `sent`, `delivered` in that order end in `read`.
    #[test]
    fn out_of_order_callbacks_end_at_the_furthest() {
        let mut now = Sending;
        for next in [Read, Sent, Delivered] {
            if now.may_become(next) {
                now = next;
            }
        }
        assert_eq!(now, Read);
    }
}
