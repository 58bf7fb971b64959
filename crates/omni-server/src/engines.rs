//! The triage engines a company gets: Vera AI when configured, always backed by the
//! built-in engine.

use std::sync::Arc;

use omni_messaging::TriageEngines;
use omni_tenancy::{SecretString, VeraConfig};
use omni_ticketing::Triage;
use omni_vera::{FallbackTriage, VeraClient, VeraTriage};

/// Builds [`FallbackTriage`] engines over one shared Vera client.
pub struct Engines {
    /// The HTTP client for every company's Vera AI.
    pub vera: VeraClient,
}

impl TriageEngines for Engines {
    fn engine(&self, vera: Option<(VeraConfig, SecretString)>) -> Arc<dyn Triage> {
        let primary = vera.map(|(config, key)| {
            Arc::new(VeraTriage::new(self.vera.clone(), config, key)) as Arc<dyn Triage>
        });
        Arc::new(FallbackTriage::new(primary))
    }
}
