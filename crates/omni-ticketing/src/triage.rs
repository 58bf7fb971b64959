//! The triage port: what a triage engine reads and what it answers.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Priority, Sentiment};
use omni_tenancy::{Category, Locale};

/// What a triage engine reads about a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct TriageInput {
    /// The customer's messages so far, oldest first.
    pub messages: Vec<String>,
    /// The customer's name, if known.
    pub customer_name: Option<String>,
    /// The company's language.
    pub locale: Locale,
    /// The company's categories (always including `general`).
    pub categories: Vec<Category>,
}

/// A category a ticket may belong to, with the engine's confidence (0..1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuggestedCategory {
    /// The category's name.
    pub name: String,
    /// How sure the engine is, 0 to 1.
    pub confidence: f64,
}

/// A triage engine's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriageResult {
    /// One of the input's categories.
    pub category: String,
    /// How urgent the ticket is.
    pub priority: Priority,
    /// The customer's mood.
    pub sentiment: Sentiment,
    /// Its strength, -1 to 1.
    pub sentiment_score: f64,
    /// Categories ranked by confidence.
    pub suggested_categories: Vec<SuggestedCategory>,
    /// A first answer to send the customer, if the engine has one.
    pub reply: Option<String>,
    /// Which engine answered (`builtin`, `vera`).
    pub engine: String,
}

/// Why an engine gave no answer (the caller falls back to another).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("triage failed: {0}")]
pub struct TriageError(pub String);

/// A triage engine.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Triage: Send + Sync {
    /// Reads the ticket and answers.
    async fn triage(&self, input: &TriageInput) -> Result<TriageResult, TriageError>;
}
