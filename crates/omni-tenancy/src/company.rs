use chrono::{DateTime, Utc};
use omni_core::{CompanyId, DisplayName};
use serde::Serialize;

use crate::CompanySettings;

/// A tenant: a business that serves its customers through Omni.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Company {
    /// The company's id.
    pub id: CompanyId,
    /// Its name.
    pub name: DisplayName,
    /// Locale, auto-reply and categories.
    pub settings: CompanySettings,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Changes to a company; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompanyUpdate {
    /// A new name.
    pub name: Option<DisplayName>,
    /// The complete new settings (already merged with the current ones). When they
    /// change what reports count by ([`CompanySettings::reports_differ_from`] the settings
    /// stored), the store has the company's reports counted again.
    pub settings: Option<CompanySettings>,
}
