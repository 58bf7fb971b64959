//! Typed identifiers: a `TicketId` can never be passed where a `CompanyId` is expected.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "openapi", schema(value_type = i64, format = Int64))]
        pub struct $name(i64);

        impl $name {
            /// Wraps a raw database identifier.
            pub const fn new(raw: i64) -> Self {
                Self(raw)
            }

            /// The raw database identifier.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl From<i64> for $name {
            fn from(raw: i64) -> Self {
                Self(raw)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }
    };
}

id_type!(
    /// Identifies a company (a tenant).
    CompanyId
);
id_type!(
    /// Identifies a user of any role.
    UserId
);
id_type!(
    /// Identifies a ticket.
    TicketId
);
id_type!(
    /// Identifies a ticket message.
    MessageId
);
id_type!(
    /// Identifies a channel or AI integration.
    IntegrationId
);
id_type!(
    /// Identifies an entry of the event log; ids grow with time.
    EventId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_json() {
        let id: TicketId = "42".parse().unwrap();
        assert_eq!(id.get(), 42);
        assert_eq!(id.to_string(), "42");
        assert_eq!(serde_json::to_string(&id).unwrap(), "42");
        assert_eq!(serde_json::from_str::<TicketId>("42").unwrap(), id);
        assert!("4x".parse::<TicketId>().is_err());
    }
}
id_type!(
    /// Identifies a file an agent uploaded to send (`POST /media`).
    UploadId
);
id_type!(
    /// Identifies a durable job (a triage to run, a message to send).
    JobId
);
