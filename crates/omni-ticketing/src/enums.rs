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

omni_core::wire_enum! {
    /// Where the conversation happens.
    pub enum Channel, error UnknownChannel {
        /// WhatsApp, through Twilio.
        Whatsapp => "whatsapp",
        /// SMS, through Twilio.
        Sms => "sms",
    }
}
