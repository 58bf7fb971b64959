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

omni_core::wire_enum! {
    /// Where the conversation happens.
    pub enum Channel, error UnknownChannel {
        /// WhatsApp, through Twilio.
        Whatsapp => "whatsapp",
        /// SMS, through Twilio.
        Sms => "sms",
    }
}

/// How long after a customer's latest message WhatsApp lets a business answer in free
/// form (its customer-service window); afterwards only an approved template may go out,
/// and Twilio refuses anything else with error 63016.
pub const WHATSAPP_REPLY_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

impl Channel {
    /// The customer-service window of the channel, if it has one: free-form replies go
    /// out only within this long of the customer's latest message.
    pub fn reply_window(self) -> Option<chrono::TimeDelta> {
        match self {
            Channel::Whatsapp => Some(WHATSAPP_REPLY_WINDOW),
            Channel::Sms => None,
        }
    }
}
