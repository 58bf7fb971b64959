//! Omni reports: how a company's team is doing, in numbers a manager can trust.
//!
//! Reports count tickets' history ([`omni_ticketing::TicketFact`]), never their latest
//! state: a ticket resolved, reopened and resolved again counts two resolutions, each
//! timed from its latest opening. Facts fall on the company's days in its own
//! [`omni_tenancy::Timezone`]; times are also given in its business hours and held to its
//! SLA targets ([`ReportRules`]).
//!
//! So that a 90-day report of a company with a million tickets stays fast, facts are
//! counted into daily [`Tally`]s ("rollups", per agent and per [`Breakdown`] group) a
//! little after they happen ([`SETTLE_AFTER`]); a report adds the facts not counted yet.
//! [`overview_from_scratch`] computes the same report from the facts alone: the tallies
//! must agree with it. Durations are kept as histograms ([`Durations`]): medians and
//! percentiles are exact below 256 seconds and within 0.8 % above.
#![warn(missing_docs)]

mod breakdown;
mod durations;
mod error;
mod figures;
mod ports;
mod query;
mod service;
mod tally;

pub use breakdown::{Breakdown, Dims, Group, SettledFact, UnknownBreakdown};
pub use durations::Durations;
pub use error::ReportError;
pub use figures::{
    AgentFigures, AgentsReport, CsatFigures, Figures, GroupFigures, Overview, Period, SlaBreaches,
    TimeFigures,
};
#[cfg(feature = "mock")]
pub use ports::MockReportStore;
pub use ports::{Person, ReportData, ReportRead, ReportStore, Who};
pub use query::{AgentsQuery, DayRange, GroupBy, OverviewQuery, UnknownGroupBy};
pub use service::{ReportService, SETTLE_AFTER, overview_from_data, overview_from_scratch};
pub use tally::{ReportRules, Tally, TallyKey, fold};
