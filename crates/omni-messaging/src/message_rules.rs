//! What may happen to a stored message, decided on the message as loaded.

use chrono::{DateTime, Utc};
use omni_ticketing::{ReplyRefused, Ticket};

use crate::{DeliveryStatus, MessagingError, StatusReport, TicketMessage};

impl TicketMessage {
    /// Whether the send job should hand this message to the provider: an agent's or the
    /// bot's message still waiting, with no provider id yet. A job may run twice; a message
    /// is sent once.
    pub fn awaits_send(&self) -> bool {
        !self.from_customer
            && DeliveryStatus::AWAITING_SEND.contains(&self.delivery_status)
            && self.whatsapp_message_id.is_none()
    }

    /// Whether a recorded outcome (a failure the provider reported) ended the attempts to
    /// send this message, so that queueing it again starts a new series. A message that is
    /// still `queued` may have reached the provider in an attempt whose outcome was lost:
    /// that attempt stays on record, so the next one asks the provider before sending.
    pub fn attempts_ended(&self) -> bool {
        matches!(
            self.delivery_status,
            DeliveryStatus::Failed | DeliveryStatus::Undelivered
        )
    }

    /// The message as a provider's delivery report leaves it, or `None` when the report
    /// changes nothing: it names another message (another company's, another sid, a
    /// customer's), or its status would not move this one forward (reports arrive out of
    /// order, and a late `sent` must not undo a `read`). The report's error replaces the
    /// message's, so a `failed` says why and a later success clears nothing it did not
    /// set. `updated_at` is left for the store to stamp.
    ///
    /// ```
    /// # use omni_messaging::{DeliveryStatus, StatusReport, TicketMessage};
    /// # fn check(sent: &TicketMessage, report: &StatusReport) {
    /// // `sent` holds the report's sid and is `sent`; the report says `read`.
    /// let read = sent.take_status(report).expect("read follows sent");
    /// assert_eq!(read.delivery_status, DeliveryStatus::Read);
    /// assert!(read.take_status(report).is_none(), "a repeat changes nothing");
    /// # }
    /// ```
    pub fn take_status(&self, report: &StatusReport) -> Option<TicketMessage> {
        let ours = !self.from_customer
            && self.company_id == report.company_id
            && self.whatsapp_message_id.as_deref() == Some(report.message_sid.as_str());
        if !ours || !self.delivery_status.may_become(report.status) {
            return None;
        }
        Some(TicketMessage {
            delivery_status: report.status,
            error_code: report.error_code,
            error_message: report.error_message.clone(),
            ..self.clone()
        })
    }

    /// Whether `ticket` lets this message go again at `now`: free text only within the
    /// channel's customer-service window ([`Ticket::accepts_resend`]); an approved template
    /// at any time, as it was written to go out after the window.
    pub fn resend_admitted_by(
        &self,
        ticket: &Ticket,
        now: DateTime<Utc>,
    ) -> Result<(), ReplyRefused> {
        match self.template {
            Some(_) => Ok(()),
            None => ticket.accepts_resend(now),
        }
    }

    /// The message queued again, for a person's explicit "send again": only one that
    /// failed or never left. It is the one move against the forward-only order of delivery
    /// statuses, and it forgets the provider's id and error, so that the next report is
    /// read against the new attempt.
    ///
    /// ```
    /// # use omni_messaging::{DeliveryStatus, MessagingError, TicketMessage};
    /// # fn check(failed: &TicketMessage) -> Result<(), MessagingError> {
    /// let again = failed.requeue()?;
    /// assert_eq!(again.delivery_status, DeliveryStatus::Queued);
    /// assert!(again.whatsapp_message_id.is_none() && again.error_code.is_none());
    /// # Ok(()) }
    /// ```
    pub fn requeue(&self) -> Result<TicketMessage, MessagingError> {
        if self.from_customer {
            return Err(MessagingError::InboundNotSent);
        }
        let never_sent =
            self.delivery_status == DeliveryStatus::Queued && self.whatsapp_message_id.is_none();
        let failed = matches!(
            self.delivery_status,
            DeliveryStatus::Failed | DeliveryStatus::Undelivered
        );
        if !(never_sent || failed) {
            return Err(MessagingError::AlreadySent);
        }
        Ok(TicketMessage {
            delivery_status: DeliveryStatus::Queued,
            whatsapp_message_id: None,
            error_code: None,
            error_message: None,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_reported_failure_ends_a_series_of_attempts() {
        for (status, ended) in [
            (DeliveryStatus::Queued, false),
            (DeliveryStatus::Sending, false),
            (DeliveryStatus::Failed, true),
            (DeliveryStatus::Undelivered, true),
        ] {
            assert_eq!(
                message(status, None, false).attempts_ended(),
                ended,
                "{status:?}"
            );
        }
    }

    use chrono::Utc;
    use omni_core::{CompanyId, MessageId, TicketId};

    use super::*;

    fn message(status: DeliveryStatus, sid: Option<&str>, from_customer: bool) -> TicketMessage {
        TicketMessage {
            id: MessageId::new(1),
            ticket_id: TicketId::new(1),
            company_id: CompanyId::new(1),
            content: "Olá".into(),
            from_customer,
            whatsapp_number: "+5511987650001".parse().unwrap(),
            whatsapp_message_id: sid.map(str::to_owned),
            author_id: None,
            delivery_status: status,
            error_code: Some(63016),
            error_message: Some("outside the window".into()),
            media: vec![],
            template: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            retry: None,
        }
    }

    #[test]
    fn failed_and_never_sent_messages_go_again_with_a_clean_slate() {
        for m in [
            message(DeliveryStatus::Failed, Some("SM1"), false),
            message(DeliveryStatus::Undelivered, Some("SM1"), false),
            message(DeliveryStatus::Queued, None, false),
        ] {
            let again = m.requeue().unwrap();
            assert_eq!(again.delivery_status, DeliveryStatus::Queued);
            assert_eq!(again.whatsapp_message_id, None);
            assert_eq!((again.error_code, again.error_message), (None, None));
            assert_eq!(again.content, m.content);
        }
    }

    #[test]
    fn what_left_or_came_in_is_not_sent_again() {
        for status in [
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered,
            DeliveryStatus::Read,
        ] {
            assert!(matches!(
                message(status, Some("SM1"), false).requeue(),
                Err(MessagingError::AlreadySent)
            ));
        }
        // Handed over already, its report not in yet.
        assert!(matches!(
            message(DeliveryStatus::Queued, Some("SM1"), false).requeue(),
            Err(MessagingError::AlreadySent)
        ));
        assert!(matches!(
            message(DeliveryStatus::Received, Some("SM1"), true).requeue(),
            Err(MessagingError::InboundNotSent)
        ));
    }

    fn report(sid: &str, status: DeliveryStatus) -> StatusReport {
        StatusReport {
            company_id: CompanyId::new(1),
            message_sid: sid.into(),
            status,
            error_code: None,
            error_message: None,
        }
    }

    #[test]
    fn reports_move_a_sent_message_forward_only() {
        let sent = message(DeliveryStatus::Sent, Some("SM1"), false);
        let delivered = sent
            .take_status(&report("SM1", DeliveryStatus::Delivered))
            .unwrap();
        assert_eq!(delivered.delivery_status, DeliveryStatus::Delivered);
        // The report's error replaces the old one.
        assert_eq!(
            (delivered.error_code, delivered.error_message.as_deref()),
            (None, None)
        );
        let read = delivered
            .take_status(&report("SM1", DeliveryStatus::Read))
            .unwrap();
        // Late and repeated reports change nothing.
        for late in [
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered,
            DeliveryStatus::Read,
        ] {
            assert!(read.take_status(&report("SM1", late)).is_none(), "{late:?}");
        }
        let failed = StatusReport {
            error_code: Some(63016),
            error_message: Some("outside the window".into()),
            ..report("SM1", DeliveryStatus::Failed)
        };
        let failed = sent.take_status(&failed).unwrap();
        assert_eq!(failed.error_code, Some(63016));
    }

    #[test]
    fn reports_about_other_messages_change_nothing() {
        let sent = message(DeliveryStatus::Sent, Some("SM1"), false);
        assert!(
            sent.take_status(&report("SM2", DeliveryStatus::Read))
                .is_none()
        );
        let other_company = StatusReport {
            company_id: CompanyId::new(2),
            ..report("SM1", DeliveryStatus::Read)
        };
        assert!(sent.take_status(&other_company).is_none());
        let inbound = message(DeliveryStatus::Received, Some("SM1"), true);
        assert!(
            inbound
                .take_status(&report("SM1", DeliveryStatus::Read))
                .is_none()
        );
    }

    #[test]
    fn only_a_waiting_outbound_message_is_handed_to_the_provider() {
        assert!(message(DeliveryStatus::Queued, None, false).awaits_send());
        assert!(message(DeliveryStatus::Sending, None, false).awaits_send());
        assert!(!message(DeliveryStatus::Queued, Some("SM1"), false).awaits_send());
        assert!(!message(DeliveryStatus::Failed, None, false).awaits_send());
        assert!(!message(DeliveryStatus::Received, None, true).awaits_send());
    }
}
