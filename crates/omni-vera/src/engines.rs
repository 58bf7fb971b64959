//! The messaging crate's [`TriageEngines`]: Vera AI when the company configured it, always
//! backed by the built-in engine.

use std::sync::Arc;

use omni_messaging::TriageEngines;
use omni_tenancy::{SecretString, VeraConfig};
use omni_ticketing::Triage;

use crate::{FallbackTriage, VeraClient, VeraTriage};

/// Builds [`FallbackTriage`] engines over one shared Vera client.
#[derive(Clone)]
pub struct VeraEngines {
    vera: VeraClient,
}

impl VeraEngines {
    /// Engines asking Vera through `vera` (a guarded client: every company's base URL
    /// passes the outbound policy).
    pub fn new(vera: VeraClient) -> Self {
        Self { vera }
    }
}

impl TriageEngines for VeraEngines {
    fn engine(&self, vera: Option<(VeraConfig, SecretString)>) -> Arc<dyn Triage> {
        let primary = vera.map(|(config, key)| {
            Arc::new(VeraTriage::new(self.vera.clone(), config, key)) as Arc<dyn Triage>
        });
        Arc::new(FallbackTriage::new(primary))
    }
}
