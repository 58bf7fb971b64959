crate::wire_enum! {
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
