//! Omni's shared kernel.
//!
//! The small, dependency-free vocabulary every other Omni crate speaks: typed identifiers,
//! E.164 phone numbers, keyset pagination, the [`Clock`] port and the domain event types
//! that the event log and the WebSocket hub carry, and the ports ([`Clock`], [`EventLog`])
//! through which the other crates reach time and the log. Nothing here performs I/O.
#![warn(missing_docs)]

mod clock;
mod error;
mod event;
mod event_log;
mod ids;
mod name;
mod page;
mod phone;
mod priority;
mod scope;
mod wire_enum;

#[doc(hidden)]
pub use serde as __serde;
#[cfg(feature = "openapi")]
#[doc(hidden)]
pub use utoipa as __utoipa;

#[cfg(feature = "mock")]
pub use clock::MockClock;
pub use clock::{Clock, SystemClock};
pub use error::FieldError;
pub use event::{Event, EventType, NewEvent, UnknownEventType};
#[cfg(feature = "mock")]
pub use event_log::MockEventLog;
pub use event_log::{EventLog, EventLogError};
pub use ids::{CompanyId, EventId, IntegrationId, JobId, MessageId, TicketId, UploadId, UserId};
pub use name::{DisplayName, DisplayNameError};
pub use page::{Cursor, CursorError, Limit, LimitError, Page, PageRequest};
pub use phone::{PhoneNumber, PhoneNumberError};
pub use priority::{Priority, UnknownPriority};
pub use scope::Scope;
