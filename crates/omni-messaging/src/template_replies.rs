//! The template use cases: listing a WhatsApp number's approved templates, and an agent's
//! message that sends one (how a business writes first, or after the 24-hour window).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use omni_core::{CompanyId, FieldError, IntegrationId};
use omni_identity::Principal;
use omni_tenancy::{Integration, IntegrationType};
use omni_ticketing::{Channel, Ticket};

use crate::service::tenancy;
use crate::{
    IdempotencyKey, MessagingError, MessagingService, NewOutbound, OutboundOutcome, Template,
    TemplateError, TemplateMessage, TicketMessage,
};

/// How long a catalog read from the provider is used before it is read again: templates
/// change when Meta approves one, which takes minutes to days; a list that is a few
/// minutes old costs an agent nothing, and `refresh` reads it at once.
pub const TEMPLATES_KEPT_FOR: Duration = Duration::from_secs(5 * 60);

/// How old a catalog must be before a message naming a template it lacks reads it again
/// (a template approved a moment ago): often enough for an agent, too seldom for unknown
/// ids to turn requests into calls to the provider.
const UNKNOWN_TEMPLATE_RECHECK: Duration = Duration::from_secs(30);

/// The youngest catalog a `refresh` reads again: a client asking over and over reaches the
/// provider at most this often.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(10);

/// A catalog and when it was read.
type Read = (Instant, Arc<[Template]>);

/// Which catalog: an integration as it was configured (a changed account or token is
/// another key, so templates of an account no longer used are never offered).
type Key = (IntegrationId, chrono::DateTime<chrono::Utc>);

/// Catalogs read from the provider, by integration (one per integration: a new read
/// replaces the old).
#[derive(Debug, Default)]
pub(crate) struct TemplateCache {
    entries: Mutex<HashMap<IntegrationId, (Key, Read)>>,
}

impl TemplateCache {
    fn younger_than(&self, integration: &Integration, age: Duration) -> Option<Arc<[Template]>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&integration.id)
            .filter(|(key, (read, _))| {
                *key == (integration.id, integration.updated_at) && read.elapsed() < age
            })
            .map(|(_, (_, templates))| templates.clone())
    }

    fn keep(&self, integration: &Integration, templates: Vec<Template>) -> Arc<[Template]> {
        let templates: Arc<[Template]> = templates.into();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(
            integration.id,
            (
                (integration.id, integration.updated_at),
                (Instant::now(), templates.clone()),
            ),
        );
        templates
    }
}

impl From<TemplateError> for MessagingError {
    fn from(e: TemplateError) -> Self {
        match e {
            TemplateError::NotSupported(why) => {
                MessagingError::Validation(vec![FieldError::new("template", why)])
            }
            TemplateError::Refused(_) | TemplateError::Unavailable(_) => {
                MessagingError::Templates(e)
            }
        }
    }
}

impl MessagingService {
    /// The approved templates of one of the caller's company's WhatsApp numbers, as the
    /// provider lists them: read at most every [`TEMPLATES_KEPT_FOR`], or now with
    /// `refresh`.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, integration_id = %id))]
    pub async fn templates(
        &self,
        caller: &Principal,
        id: IntegrationId,
        refresh: bool,
    ) -> Result<Arc<[Template]>, MessagingError> {
        let Some(company) = caller.company_id else {
            return Err(MessagingError::Forbidden("templates belong to a company"));
        };
        let integration = self
            .integrations
            .channel_for(company, Some(id), true)
            .await
            .map_err(tenancy)?
            .filter(|i| i.id == id && i.kind == IntegrationType::TwilioWhatsapp)
            .ok_or(MessagingError::NotFound)?;
        let max_age = if refresh {
            REFRESH_AT_MOST_EVERY
        } else {
            TEMPLATES_KEPT_FOR
        };
        self.catalog(&integration, max_age).await
    }

    /// The integration's catalog, read from the provider unless one younger than
    /// `max_age` is at hand.
    async fn catalog(
        &self,
        integration: &Integration,
        max_age: Duration,
    ) -> Result<Arc<[Template]>, MessagingError> {
        if let Some(templates) = self.template_cache.younger_than(integration, max_age) {
            return Ok(templates);
        }
        let secrets = self.integrations.secrets(integration).map_err(tenancy)?;
        let templates = self.templates.approved(integration, &secrets).await?;
        Ok(self.template_cache.keep(integration, templates))
    }

    /// An agent's approved template on a WhatsApp ticket (`ticket` as the caller may see
    /// it): checked against the catalog of the number that sends it — a template it does
    /// not list, or a variable missing, is a validation error naming each — then stored
    /// `queued` with the text the customer will read, and sent by the worker. It goes out
    /// whether or not the customer-service window is open. Returns the message and whether
    /// it replays an earlier request with the same key (a replay is answered before the
    /// catalog is asked: a retry succeeds even if the provider is down by then).
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, ticket_id = %ticket.id))]
    pub async fn send_template(
        &self,
        caller: &Principal,
        ticket: &Ticket,
        message: TemplateMessage,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<(TicketMessage, bool), MessagingError> {
        if let Some(key) = &idempotency_key
            && let Some(earlier) = self
                .store
                .keyed(ticket.company_id, Some(caller.user_id), key)
                .await?
        {
            return if earlier.ticket_id == ticket.id {
                Ok((earlier, true))
            } else {
                Err(MessagingError::KeyReused)
            };
        }
        let template = self
            .checked_template(
                ticket.company_id,
                ticket.integration_id,
                ticket.channel,
                &message,
            )
            .await?;
        self.queue_template(caller, ticket, &template, message, idempotency_key)
            .await
    }

    /// Stores a template message already checked against its catalog entry `template`.
    pub async fn queue_template(
        &self,
        caller: &Principal,
        ticket: &Ticket,
        template: &Template,
        message: TemplateMessage,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<(TicketMessage, bool), MessagingError> {
        template
            .check(&message)
            .map_err(MessagingError::Validation)?;
        let outbound = NewOutbound {
            ticket_id: ticket.id,
            author_id: Some(caller.user_id),
            content: template.render(&message),
            idempotency_key,
            template: Some(message),
            media: Vec::new(),
        };
        match self
            .store
            .record_outbound(caller.scope(), &outbound)
            .await?
        {
            OutboundOutcome::Created(m) => Ok((m, false)),
            OutboundOutcome::Replayed(m) if m.ticket_id == ticket.id => Ok((m, true)),
            OutboundOutcome::Replayed(_) => Err(MessagingError::KeyReused),
        }
    }

    /// The catalog entry of `message` on the company's WhatsApp number, once the message
    /// fills it, for a conversation about to open on `channel`: what opening one with a
    /// template checks before the ticket is stored.
    pub async fn check_template(
        &self,
        company: CompanyId,
        channel: Channel,
        message: &TemplateMessage,
    ) -> Result<Template, MessagingError> {
        self.checked_template(company, None, channel, message).await
    }

    /// The catalog's entry for `message` on the WhatsApp number that will send it
    /// (`preferred`, the ticket's, else the company's), once the message fills it.
    async fn checked_template(
        &self,
        company: CompanyId,
        preferred: Option<IntegrationId>,
        channel: Channel,
        message: &TemplateMessage,
    ) -> Result<Template, MessagingError> {
        if channel != Channel::Whatsapp {
            return Err(MessagingError::Validation(vec![FieldError::new(
                "template",
                "templates are WhatsApp's: this conversation's channel has none",
            )]));
        }
        let integration = self
            .integrations
            .channel_for(company, preferred, true)
            .await
            .map_err(tenancy)?
            .filter(|i| i.kind == IntegrationType::TwilioWhatsapp)
            .ok_or(MessagingError::NoChannel(Channel::Whatsapp.as_str()))?;
        let template = self.approved_template(&integration, message).await?;
        template
            .check(message)
            .map_err(MessagingError::Validation)?;
        Ok(template)
    }

    /// The catalog's entry for the message's template; a template approved since the
    /// catalog was read is found by reading it again (at most every
    /// [`UNKNOWN_TEMPLATE_RECHECK`]).
    async fn approved_template(
        &self,
        integration: &Integration,
        message: &TemplateMessage,
    ) -> Result<Template, MessagingError> {
        for max_age in [TEMPLATES_KEPT_FOR, UNKNOWN_TEMPLATE_RECHECK] {
            let catalog = self.catalog(integration, max_age).await?;
            if let Some(t) = catalog
                .iter()
                .find(|t| t.content_sid == message.content_sid)
            {
                return Ok(t.clone());
            }
        }
        Err(MessagingError::Validation(vec![FieldError::new(
            "template.content_sid",
            "is not an approved template of this WhatsApp number",
        )]))
    }
}
