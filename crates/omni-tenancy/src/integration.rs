omni_core::wire_enum! {
    /// The kinds of integration a company can configure.
    pub enum IntegrationType, error UnknownIntegrationType {
        /// WhatsApp through Twilio.
        TwilioWhatsapp => "twilio_whatsapp",
        /// SMS through Twilio.
        TwilioSms => "twilio_sms",
        /// Vera AI, an OpenAI-compatible triage service.
        VeraAi => "vera_ai",
    }
}

impl IntegrationType {
    /// Whether integrations of this type own a phone number (and so route webhooks).
    pub const fn has_phone_number(self) -> bool {
        matches!(
            self,
            IntegrationType::TwilioWhatsapp | IntegrationType::TwilioSms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_channels_have_phone_numbers() {
        assert!(IntegrationType::TwilioWhatsapp.has_phone_number());
        assert!(IntegrationType::TwilioSms.has_phone_number());
        assert!(!IntegrationType::VeraAi.has_phone_number());
        assert_eq!(
            "vera_ai".parse::<IntegrationType>().unwrap(),
            IntegrationType::VeraAi
        );
    }
}
