use std::collections::BTreeMap;
use std::sync::Arc;

use omni_core::{CompanyId, FieldError, IntegrationId, Page, PageRequest};
use omni_identity::{Principal, Role};
use serde_json::Value;

use crate::{
    CredentialVerifier, Integration, IntegrationChanges, IntegrationConfig, IntegrationRepository,
    IntegrationSecrets, IntegrationType, NewIntegration, NumberCheck, SecretCipher, SecretName,
    SecretString, TenancyError, Verification,
};

/// A new integration as a request describes it.
#[derive(Debug, Clone)]
pub struct IntegrationInput {
    /// What it connects to.
    pub kind: IntegrationType,
    /// The `config` object, secrets included.
    pub config: Value,
    /// Whether it starts enabled (default true).
    pub enabled: Option<bool>,
    /// The company: an admin's own when omitted; required from a superadmin.
    pub company_id: Option<CompanyId>,
}

/// Changes to an integration: fields of `config` to change (omitted secrets keep their
/// value), and whether it is enabled.
#[derive(Debug, Clone, Default)]
pub struct IntegrationUpdateInput {
    /// The type, when the request repeats it; it must be the current one.
    pub kind: Option<IntegrationType>,
    /// Fields of the configuration to change.
    pub config: Option<Value>,
    /// Enable or disable it.
    pub enabled: Option<bool>,
}

/// The integration use cases: admins manage their company's integrations, the superadmin
/// anyone's; agents none. Secrets are sealed before they reach the repository and opened
/// only to verify credentials (and, later, to call the provider).
#[derive(Clone)]
pub struct IntegrationService {
    integrations: Arc<dyn IntegrationRepository>,
    cipher: Arc<dyn SecretCipher>,
    verifier: Arc<dyn CredentialVerifier>,
    confirm_numbers: bool,
}

fn admins_only(caller: &Principal) -> Result<(), TenancyError> {
    if caller.role == Role::Agent {
        return Err(TenancyError::Forbidden("only admins manage integrations"));
    }
    Ok(())
}

fn invalid(field: &str, message: &str) -> TenancyError {
    TenancyError::Validation(vec![FieldError::new(field, message)])
}

impl IntegrationService {
    /// The use cases over these ports.
    pub fn new(
        integrations: Arc<dyn IntegrationRepository>,
        cipher: Arc<dyn SecretCipher>,
        verifier: Arc<dyn CredentialVerifier>,
    ) -> Self {
        Self {
            integrations,
            cipher,
            verifier,
            confirm_numbers: true,
        }
    }

    /// The service that routes a number without asking the provider whether the account
    /// owns it: for trying Omni on a machine with no provider account (never in
    /// production — anyone could then claim another company's number).
    pub fn without_number_confirmation(mut self) -> Self {
        self.confirm_numbers = false;
        self
    }

    /// The integrations the caller may manage.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id))]
    pub async fn list(
        &self,
        caller: &Principal,
        page: PageRequest,
    ) -> Result<Page<Integration>, TenancyError> {
        admins_only(caller)?;
        self.integrations.list(caller.scope(), page).await
    }

    /// One integration the caller may manage.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, integration_id = %id))]
    pub async fn get(
        &self,
        caller: &Principal,
        id: IntegrationId,
    ) -> Result<Integration, TenancyError> {
        admins_only(caller)?;
        self.integrations
            .find(caller.scope(), id)
            .await?
            .ok_or(TenancyError::NotFound)
    }

    /// Adds an integration; every secret of its type is required.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, kind = input.kind.as_str()))]
    pub async fn create(
        &self,
        caller: &Principal,
        input: IntegrationInput,
    ) -> Result<Integration, TenancyError> {
        admins_only(caller)?;
        let company_id = match (caller.role, input.company_id, caller.company_id) {
            (Role::Superadmin, Some(company), _) => company,
            (Role::Superadmin, None, _) => return Err(invalid("company_id", "is required")),
            (_, Some(asked), Some(own)) if asked != own => {
                return Err(invalid(
                    "company_id",
                    "must be your own company (or omitted)",
                ));
            }
            (_, _, Some(own)) => own,
            (_, _, None) => return Err(TenancyError::Forbidden("only admins manage integrations")),
        };
        let parsed = IntegrationConfig::parse(input.kind, &input.config, None)
            .map_err(TenancyError::Validation)?;
        let missing: Vec<FieldError> = input
            .kind
            .secret_names()
            .iter()
            .filter(|name| !parsed.secrets.contains_key(*name))
            .map(|name| FieldError::new(format!("config.{name}"), "is required"))
            .collect();
        if !missing.is_empty() {
            return Err(TenancyError::Validation(missing));
        }
        let enabled = input.enabled.unwrap_or(true);
        if enabled {
            let opened =
                IntegrationSecrets::assemble(input.kind, |name| parsed.secrets.get(&name).cloned())
                    .map_err(|name| invalid(&format!("config.{name}"), "is required"))?;
            self.confirm_number(&parsed.config, &opened).await?;
        }
        let secrets = self.seal_all(company_id, &parsed.secrets)?;
        let new = NewIntegration {
            company_id,
            kind: input.kind,
            config: parsed.config,
            secrets,
            enabled,
        };
        self.integrations.insert(new).await.map_err(|e| match e {
            TenancyError::NotFound => invalid("company_id", "no such company"),
            other => other,
        })
    }

    /// Changes an integration: `config` fields are laid over the stored ones; a secret
    /// omitted keeps its value.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, integration_id = %id))]
    pub async fn update(
        &self,
        caller: &Principal,
        id: IntegrationId,
        input: IntegrationUpdateInput,
    ) -> Result<Integration, TenancyError> {
        admins_only(caller)?;
        let scope = caller.scope();
        let current = self
            .integrations
            .find(scope, id)
            .await?
            .ok_or(TenancyError::NotFound)?;
        if input.kind.is_some_and(|kind| kind != current.kind) {
            return Err(invalid(
                "type",
                "an integration's type cannot change; create a new one",
            ));
        }
        let mut secrets = current.secrets.clone();
        let mut given = BTreeMap::new();
        let config = match &input.config {
            Some(patch) => {
                let parsed = IntegrationConfig::parse(current.kind, patch, Some(&current.config))
                    .map_err(TenancyError::Validation)?;
                let unconfirmed: Vec<FieldError> = current
                    .config
                    .secrets_bound_to_changes(&parsed.config)
                    .iter()
                    .filter(|name| !parsed.secrets.contains_key(*name))
                    .map(|name| {
                        FieldError::new(
                            format!("config.{name}"),
                            "is required again when the address it is sent to changes",
                        )
                    })
                    .collect();
                if !unconfirmed.is_empty() {
                    return Err(TenancyError::Validation(unconfirmed));
                }
                secrets.extend(self.seal_all(current.company_id, &parsed.secrets)?);
                given = parsed.secrets;
                parsed.config
            }
            None => current.config.clone(),
        };
        let enabled = input.enabled.unwrap_or(current.enabled);
        // Asked again whenever the integration starts routing, or routes on other terms.
        let routing_changes = !current.enabled || config != current.config || !given.is_empty();
        if enabled && routing_changes {
            let opened = self.open_with(&current, &given)?;
            self.confirm_number(&config, &opened).await?;
        }
        let changes = IntegrationChanges {
            config,
            secrets,
            enabled,
        };
        self.integrations
            .update(scope, id, changes)
            .await?
            .ok_or(TenancyError::NotFound)
    }

    /// Deletes an integration.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, integration_id = %id))]
    pub async fn delete(&self, caller: &Principal, id: IntegrationId) -> Result<(), TenancyError> {
        admins_only(caller)?;
        if self.integrations.delete(caller.scope(), id).await? {
            Ok(())
        } else {
            Err(TenancyError::NotFound)
        }
    }

    /// Asks the provider whether the integration's credentials work.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, integration_id = %id))]
    pub async fn verify(
        &self,
        caller: &Principal,
        id: IntegrationId,
    ) -> Result<Verification, TenancyError> {
        let integration = self.get(caller, id).await?;
        let secrets = self.secrets(&integration)?;
        Ok(self.verifier.verify(&integration.config, &secrets).await)
    }

    /// Refuses to route a number the provider account does not own.
    async fn confirm_number(
        &self,
        config: &IntegrationConfig,
        secrets: &IntegrationSecrets,
    ) -> Result<(), TenancyError> {
        if !self.confirm_numbers {
            return Ok(());
        }
        match self.verifier.owns_number(config, secrets).await {
            NumberCheck::Owned | NumberCheck::NotApplicable => Ok(()),
            NumberCheck::NotOwned => Err(invalid(
                "config.phone_number",
                "is not a number of this Twilio account (nor a sender of its Messaging Service)",
            )),
            NumberCheck::Refused(why) => Err(TenancyError::Validation(vec![FieldError::new(
                "config.auth_token",
                format!("was refused by the provider: {why}"),
            )])),
            NumberCheck::Unreachable(why) => Err(TenancyError::Unavailable(format!(
                "could not confirm the number with the provider: {why}"
            ))),
        }
    }

    /// A company's integrations (system use: triage looks for the company's Vera AI).
    #[tracing::instrument(skip_all, fields(company_id = %company))]
    pub async fn list_for_company(
        &self,
        company: CompanyId,
        page: PageRequest,
    ) -> Result<Vec<Integration>, TenancyError> {
        Ok(self
            .integrations
            .list(omni_core::Scope::Company(company), page)
            .await?
            .data)
    }

    /// The integration that owns `phone` (of any company): routes webhooks. No caller: it
    /// is Twilio calling, and the signature check that follows is what authenticates it.
    pub async fn by_phone(
        &self,
        phone: &omni_core::PhoneNumber,
    ) -> Result<Option<Integration>, TenancyError> {
        self.integrations.find_by_phone(phone).await
    }

    /// The channel to send a company's message through: `preferred` (the ticket's) when it
    /// is still enabled, else the company's first enabled one of the right kind (WhatsApp or
    /// SMS), else any enabled one.
    #[tracing::instrument(skip_all, fields(company_id = %company))]
    pub async fn channel_for(
        &self,
        company: CompanyId,
        preferred: Option<IntegrationId>,
        whatsapp: bool,
    ) -> Result<Option<Integration>, TenancyError> {
        let channels = self.integrations.channels(company).await?;
        let wanted = if whatsapp {
            IntegrationType::TwilioWhatsapp
        } else {
            IntegrationType::TwilioSms
        };
        let chosen = preferred
            .and_then(|id| channels.iter().find(|i| i.id == id))
            .or_else(|| channels.iter().find(|i| i.kind == wanted))
            .or_else(|| channels.first())
            .cloned();
        Ok(chosen)
    }

    /// The integration's secrets in clear, typed by its type, for the adapters that call
    /// the provider.
    pub fn secrets(&self, integration: &Integration) -> Result<IntegrationSecrets, TenancyError> {
        self.open_with(integration, &BTreeMap::new())
    }

    /// The integration's secrets, those in `given` (from the request being handled) in
    /// place of the stored ones.
    fn open_with(
        &self,
        integration: &Integration,
        given: &BTreeMap<SecretName, SecretString>,
    ) -> Result<IntegrationSecrets, TenancyError> {
        let mut failure = None;
        let assembled = IntegrationSecrets::assemble(integration.kind, |name| {
            if let Some(secret) = given.get(&name) {
                return Some(secret.clone());
            }
            let sealed = integration.secrets.get(name.as_str())?;
            match self.cipher.open(integration.company_id, name, sealed) {
                Ok(secret) => Some(secret),
                Err(e) => {
                    failure = Some(e);
                    None
                }
            }
        });
        match (assembled, failure) {
            (_, Some(e)) => Err(e),
            (Ok(secrets), None) => Ok(secrets),
            (Err(name), None) => Err(TenancyError::MissingSecret(name)),
        }
    }

    fn seal_all(
        &self,
        company: CompanyId,
        secrets: &BTreeMap<SecretName, SecretString>,
    ) -> Result<BTreeMap<String, crate::SealedSecret>, TenancyError> {
        secrets
            .iter()
            .map(|(&name, secret)| {
                Ok((
                    name.as_str().to_owned(),
                    self.cipher.seal(company, name, secret)?,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "integration_service_tests.rs"]
mod tests;
