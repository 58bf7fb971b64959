use omni_ticketing::{Channel, Priority, Sentiment, TicketFact};

omni_core::wire_enum! {
    /// What a report's figures may be broken down by: the ticket's channel, category,
    /// priority or sentiment.
    pub enum Breakdown, error UnknownBreakdown {
        /// WhatsApp or SMS.
        Channel => "channel",
        /// The ticket's category.
        Category => "category",
        /// The ticket's priority.
        Priority => "priority",
        /// The customer's mood.
        Sentiment => "sentiment",
    }
}

/// The ticket's fields a fact is broken down by, as they were when it settled (see
/// [`crate::SETTLE_AFTER`]); each `None` when the ticket had no value, or was deleted
/// before.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dims {
    /// The ticket's channel.
    pub channel: Option<Channel>,
    /// Its category.
    pub category: Option<String>,
    /// Its priority.
    pub priority: Option<Priority>,
    /// The customer's mood.
    pub sentiment: Option<Sentiment>,
}

impl Dims {
    /// The fields of `ticket` as it is now: what a fact not settled yet counts under.
    pub fn of(ticket: &omni_ticketing::Ticket) -> Self {
        Self {
            channel: Some(ticket.channel),
            category: ticket.category.clone(),
            priority: Some(ticket.priority),
            sentiment: ticket.sentiment,
        }
    }

    /// The value of one breakdown (`None`: the ticket had none).
    pub fn value(&self, breakdown: Breakdown) -> Option<String> {
        match breakdown {
            Breakdown::Channel => self.channel.map(|c| c.as_str().to_owned()),
            Breakdown::Category => self.category.clone(),
            Breakdown::Priority => self.priority.map(|p| p.as_str().to_owned()),
            Breakdown::Sentiment => self.sentiment.map(|s| s.as_str().to_owned()),
        }
    }
}

/// A fact with the fields it is broken down by: what reports count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledFact {
    /// What happened.
    pub fact: TicketFact,
    /// The ticket's fields it counts under.
    pub dims: Dims,
}

/// One group of a breakdown: `category` = `billing`, or tickets without a category.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Group {
    /// What the figures are broken down by.
    pub breakdown: Breakdown,
    /// The value; `None` for tickets that had none.
    pub value: Option<String>,
}

impl Group {
    /// The group as stored: `category:billing`, `category:` for no value.
    pub fn to_text(&self) -> String {
        format!(
            "{}:{}",
            self.breakdown.as_str(),
            self.value.as_deref().unwrap_or("")
        )
    }

    /// A group read back from [`Group::to_text`].
    pub fn from_text(text: &str) -> Option<Self> {
        let (breakdown, value) = text.split_once(':')?;
        Some(Self {
            breakdown: breakdown.parse().ok()?,
            value: (!value.is_empty()).then(|| value.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_round_trip_through_text() {
        for group in [
            Group {
                breakdown: Breakdown::Category,
                value: Some("billing".into()),
            },
            Group {
                breakdown: Breakdown::Sentiment,
                value: None,
            },
        ] {
            assert_eq!(Group::from_text(&group.to_text()), Some(group));
        }
        assert_eq!(Group::from_text("colour:red"), None);
        assert_eq!(Group::from_text(""), None);
    }
}
