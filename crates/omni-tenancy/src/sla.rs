use std::collections::BTreeMap;

use chrono::TimeDelta;
use omni_core::{FieldError, Priority};
use serde::{Deserialize, Serialize};

/// The targets for one priority's tickets, in minutes; either may be absent. They count in
/// business hours when the company has set them, in full otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaTarget {
    /// An agent's first answer within this many minutes of the ticket opening.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 525600))]
    pub first_response_minutes: Option<u32>,
    /// Resolved within this many minutes of (re)opening.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 525600))]
    pub resolution_minutes: Option<u32>,
}

/// Service-level targets per priority. A priority without targets is never in breach.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sla(BTreeMap<Priority, SlaTarget>);

impl Sla {
    /// Longest target: a year.
    pub const MAX_MINUTES: u32 = 525_600;

    /// Checks targets as a request gives them, naming each bad one under `field`.
    pub fn parse(
        targets: BTreeMap<Priority, SlaTarget>,
        field: &str,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        for (priority, target) in &targets {
            for (name, value) in [
                ("first_response_minutes", target.first_response_minutes),
                ("resolution_minutes", target.resolution_minutes),
            ] {
                if value.is_some_and(|m| m == 0 || m > Self::MAX_MINUTES) {
                    errors.push(FieldError::new(
                        format!("{field}.{priority}.{name}"),
                        format!("must be 1 to {} minutes (a year)", Self::MAX_MINUTES),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(Self(targets))
        } else {
            Err(errors)
        }
    }

    /// The target for a first answer to a ticket of `priority`, if any.
    pub fn first_response(&self, priority: Priority) -> Option<TimeDelta> {
        self.0
            .get(&priority)
            .and_then(|t| t.first_response_minutes)
            .map(|m| TimeDelta::minutes(m.into()))
    }

    /// The target for resolving a ticket of `priority`, if any.
    pub fn resolution(&self, priority: Priority) -> Option<TimeDelta> {
        self.0
            .get(&priority)
            .and_then(|t| t.resolution_minutes)
            .map(|m| TimeDelta::minutes(m.into()))
    }

    /// The targets, per priority.
    pub fn targets(&self) -> &BTreeMap<Priority, SlaTarget> {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_bounded_and_read_per_priority() {
        let json = serde_json::json!({
            "urgent": {"first_response_minutes": 15, "resolution_minutes": 240},
            "low": {"resolution_minutes": 0}
        });
        let raw: BTreeMap<Priority, SlaTarget> = serde_json::from_value(json).unwrap();
        let errors = Sla::parse(raw.clone(), "settings.sla").unwrap_err();
        assert_eq!(errors[0].field, "settings.sla.low.resolution_minutes");
        let mut raw = raw;
        raw.remove(&Priority::Low);
        let sla = Sla::parse(raw, "settings.sla").unwrap();
        assert_eq!(
            sla.first_response(Priority::Urgent),
            Some(TimeDelta::minutes(15))
        );
        assert_eq!(sla.resolution(Priority::Urgent), Some(TimeDelta::hours(4)));
        assert_eq!(sla.first_response(Priority::Low), None);
        assert!(serde_json::from_str::<BTreeMap<Priority, SlaTarget>>(r#"{"vip": {}}"#).is_err());
        for bad in [
            r#"{"low": {"first_response": 3}}"#,
            // An array of fields (`[3, 4]`) is refused where bodies are read, for every
            // struct (omni-server's `strict_json`).
            r#"{"low": null}"#,
        ] {
            assert!(
                serde_json::from_str::<BTreeMap<Priority, SlaTarget>>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
