use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use omni_core::{CompanyId, IntegrationId};

use crate::{IntegrationConfig, IntegrationType, SealedSecret};

/// A company's connection to a channel (Twilio) or an AI service (Vera).
#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    /// The integration's id.
    pub id: IntegrationId,
    /// The company it belongs to.
    pub company_id: CompanyId,
    /// What it connects to.
    pub kind: IntegrationType,
    /// The non-secret configuration.
    pub config: IntegrationConfig,
    /// The sealed secrets, by name.
    pub secrets: BTreeMap<String, SealedSecret>,
    /// Whether it is in use; a disabled integration routes and sends nothing.
    pub enabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Integration {
    /// The names of the secrets that are set (their values are never shown).
    pub fn secrets_set(&self) -> Vec<&str> {
        self.secrets.keys().map(String::as_str).collect()
    }
}

/// An integration about to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIntegration {
    /// The company it belongs to.
    pub company_id: CompanyId,
    /// What it connects to.
    pub kind: IntegrationType,
    /// The non-secret configuration.
    pub config: IntegrationConfig,
    /// The sealed secrets, by name.
    pub secrets: BTreeMap<String, SealedSecret>,
    /// Whether it starts enabled.
    pub enabled: bool,
}

/// A stored integration's new state; the type never changes.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationChanges {
    /// The complete new non-secret configuration.
    pub config: IntegrationConfig,
    /// The complete new set of sealed secrets.
    pub secrets: BTreeMap<String, SealedSecret>,
    /// Whether it is enabled.
    pub enabled: bool,
}

/// What a credentials check found, in the three answers a tenant may learn: nothing about
/// a remote host's status or software passes through (that would make `verify` a probe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationOutcome {
    /// The provider accepted the credentials.
    Ok,
    /// The provider answered and refused them (or the configuration they go with).
    Refused,
    /// No usable answer: unreachable, timed out, refused by the outbound guard, or an
    /// answer that is not the provider's.
    Unreachable,
}

impl VerificationOutcome {
    /// `ok`, `refused` or `unreachable`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationOutcome::Ok => "ok",
            VerificationOutcome::Refused => "refused",
            VerificationOutcome::Unreachable => "unreachable",
        }
    }
}

/// The answer of a credentials check against the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Whether the provider accepted the credentials.
    pub ok: bool,
    /// Which of the three answers it is.
    pub outcome: VerificationOutcome,
    /// A sentence for the admin; never a remote host's status or body.
    pub detail: String,
}

impl Verification {
    /// The provider accepted the credentials.
    pub fn accepted(detail: impl Into<String>) -> Self {
        Self::of(VerificationOutcome::Ok, detail)
    }

    /// The provider refused them.
    pub fn refused(detail: impl Into<String>) -> Self {
        Self::of(VerificationOutcome::Refused, detail)
    }

    /// The provider could not be asked.
    pub fn unreachable(detail: impl Into<String>) -> Self {
        Self::of(VerificationOutcome::Unreachable, detail)
    }

    fn of(outcome: VerificationOutcome, detail: impl Into<String>) -> Self {
        Self {
            ok: outcome == VerificationOutcome::Ok,
            outcome,
            detail: detail.into(),
        }
    }
}
