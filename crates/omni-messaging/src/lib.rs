//! Omni messaging: the messages of a ticket, inbound from customers and outbound from
//! agents, and their delivery.
//!
//! Inbound processing, outbound dispatch, and the channel and event-publisher ports live
//! here.
#![warn(missing_docs)]

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for s in DeliveryStatus::ALL {
            assert_eq!(s.as_str().parse::<DeliveryStatus>().unwrap(), s);
        }
    }
}
