use std::sync::Arc;

use omni_core::{FieldError, IntegrationId, MessageId, Page, PageRequest, TicketId};
use omni_identity::{Principal, Role};
use omni_tenancy::{Integration, IntegrationService, TenancyError};
use omni_ticketing::Channel;

use crate::template_replies::TemplateCache;
use crate::{
    ChannelSender, IdempotencyKey, MediaBody, MediaFetcher, MediaRequest, MessageContent,
    MessageStore, MessagingError, NewOutbound, OutboundOutcome, OutboundRequest, SendError,
    SendStart, TemplateCatalog, TicketMessage, WebhookVerifier,
};

/// Why a send job did not finish: it should run again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeliverError(pub String);

/// The messaging use cases.
#[derive(Clone)]
pub struct MessagingService {
    pub(crate) store: Arc<dyn MessageStore>,
    pub(crate) integrations: IntegrationService,
    sender: Arc<dyn ChannelSender>,
    media: Arc<dyn MediaFetcher>,
    pub(crate) templates: Arc<dyn TemplateCatalog>,
    pub(crate) template_cache: Arc<TemplateCache>,
    pub(crate) webhooks: Arc<dyn WebhookVerifier>,
    status_callback_url: String,
}

pub(crate) fn tenancy(e: TenancyError) -> MessagingError {
    match e {
        TenancyError::NotFound => MessagingError::NotFound,
        TenancyError::Unavailable(cause) => MessagingError::Unavailable(cause),
        other => MessagingError::Unknown(Box::new(other)),
    }
}

impl MessagingService {
    /// The use cases; `sender` sends through the provider, `media` fetches attachments
    /// from it, `templates` reads its catalog of approved templates and `webhooks` checks
    /// its signatures; `status_callback_url` is where the provider reports delivery (the
    /// public URL of the webhook route).
    pub fn new(
        store: Arc<dyn MessageStore>,
        integrations: IntegrationService,
        sender: Arc<dyn ChannelSender>,
        media: Arc<dyn MediaFetcher>,
        templates: Arc<dyn TemplateCatalog>,
        webhooks: Arc<dyn WebhookVerifier>,
        status_callback_url: String,
    ) -> Self {
        Self {
            store,
            integrations,
            sender,
            media,
            templates,
            template_cache: Arc::default(),
            webhooks,
            status_callback_url,
        }
    }

    /// An agent's answer on a ticket: stored `queued`, sent by the worker. Returns the
    /// message and whether it is the replay of an earlier request with the same key.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, ticket_id = %ticket_id))]
    pub async fn reply(
        &self,
        caller: &Principal,
        ticket_id: TicketId,
        content: &str,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<(TicketMessage, bool), MessagingError> {
        let content = MessageContent::parse(content)
            .map_err(|e| MessagingError::Validation(vec![FieldError::new("content", e)]))?;
        if caller.company_id.is_none() && caller.role != Role::Superadmin {
            return Err(MessagingError::Forbidden("messages belong to a company"));
        }
        let outbound = NewOutbound {
            ticket_id,
            author_id: Some(caller.user_id),
            content: content.as_str().to_owned(),
            idempotency_key,
            template: None,
        };
        match self
            .store
            .record_outbound(caller.scope(), &outbound)
            .await?
        {
            OutboundOutcome::Created(m) => Ok((m, false)),
            OutboundOutcome::Replayed(m) if m.ticket_id == ticket_id => Ok((m, true)),
            // Never another ticket's message: the client reused a key by mistake.
            OutboundOutcome::Replayed(_) => Err(MessagingError::KeyReused),
        }
    }

    /// Queues a failed or never-sent outbound message again.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, message_id = %id))]
    pub async fn resend(
        &self,
        caller: &Principal,
        id: MessageId,
    ) -> Result<TicketMessage, MessagingError> {
        self.store.requeue(caller.scope(), id).await
    }

    /// One message.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, message_id = %id))]
    pub async fn get(
        &self,
        caller: &Principal,
        id: MessageId,
    ) -> Result<TicketMessage, MessagingError> {
        self.store
            .find(caller.scope(), id)
            .await?
            .ok_or(MessagingError::NotFound)
    }

    /// A ticket's messages, oldest first.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, ticket_id = %ticket))]
    pub async fn list(
        &self,
        caller: &Principal,
        ticket: TicketId,
        page: PageRequest,
    ) -> Result<Page<TicketMessage>, MessagingError> {
        self.store
            .list(caller.scope(), ticket, page)
            .await?
            .ok_or(MessagingError::NotFound)
    }

    /// Attachment `n` (from 0) of a message the caller may see, fetched from the provider
    /// with the credentials of the integration that received it (or the company's
    /// integration on the same channel, if that one is gone).
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, message_id = %id, n))]
    pub async fn media(
        &self,
        caller: &Principal,
        id: MessageId,
        n: usize,
    ) -> Result<MediaBody, MessagingError> {
        let message = self.get(caller, id).await?;
        let Some(media) = message.media.get(n) else {
            return Err(MessagingError::NoSuchMedia(n));
        };
        let delivery = self
            .store
            .delivery(id)
            .await?
            .ok_or(MessagingError::NotFound)?;
        let integration = self
            .channel(
                message.company_id,
                delivery.integration_id,
                delivery.channel,
            )
            .await?
            .ok_or(MessagingError::NoChannel(delivery.channel.as_str()))?;
        let secrets = self.integrations.secrets(&integration).map_err(tenancy)?;
        Ok(self
            .media
            .fetch(&MediaRequest {
                integration,
                secrets,
                url: media.url.clone(),
            })
            .await?)
    }

    /// The send job: hands a queued message to the provider. A refusal is recorded on the
    /// message (`failed` with the provider's code) and ends the job; a temporary failure
    /// is an error, so that the job runs again later. A message that is no longer waiting
    /// (sent meanwhile, deleted) ends the job without sending: a job may run twice, a
    /// message is sent once.
    #[tracing::instrument(skip_all, fields(message_id = %id))]
    pub async fn deliver(&self, id: MessageId) -> Result<(), DeliverError> {
        let retry = |e: MessagingError| DeliverError(e.to_string());
        let Some(delivery) = self.store.delivery(id).await.map_err(retry)? else {
            return Ok(());
        };
        let message = &delivery.message;
        if !message.awaits_send() {
            return Ok(());
        }
        let integration = match self
            .channel(
                message.company_id,
                delivery.integration_id,
                delivery.channel,
            )
            .await
            .map_err(retry)?
        {
            Some(i) => i,
            None => {
                self.store
                    .mark_failed(
                        id,
                        None,
                        "the company has no enabled channel integration to send through",
                    )
                    .await
                    .map_err(retry)?;
                return Ok(());
            }
        };
        let secrets = self
            .integrations
            .secrets(&integration)
            .map_err(|e| DeliverError(e.to_string()))?;
        let request = OutboundRequest {
            integration,
            secrets,
            to: message.whatsapp_number.clone(),
            whatsapp: delivery.channel == Channel::Whatsapp,
            body: message.content.clone(),
            media_urls: message.media.iter().map(|m| m.url.clone()).collect(),
            template: message.template.clone(),
            status_callback: self.status_callback_url.clone(),
        };
        // The attempt is on record before the provider hears of it: a worker that takes
        // the job over after a crash knows to ask before sending again.
        let Some(start) = self.store.begin_send(id).await.map_err(retry)? else {
            return Ok(());
        };
        if let SendStart::Retaken { since } = start {
            // Unknown whether it went out: without the provider's answer, ask again later
            // (and never record a failure, which would let a resend skip the question).
            let candidates = self.sender.find_sent(&request, since).await.map_err(|e| {
                DeliverError(format!(
                    "could not ask the provider whether an interrupted send went out: {e}"
                ))
            })?;
            for sent in candidates {
                // The same words sent to the same customer by another message are not ours.
                if self
                    .store
                    .sid_in_use(message.company_id, &sent.sid)
                    .await
                    .map_err(retry)?
                {
                    continue;
                }
                tracing::info!(
                    "the provider had the message from an interrupted attempt; not sending it again"
                );
                return self
                    .store
                    .mark_sent(id, &sent.sid, sent.status)
                    .await
                    .map_err(retry);
            }
        }
        match self.sender.send(&request).await {
            Ok(sent) => self
                .store
                .mark_sent(id, &sent.sid, sent.status)
                .await
                .map_err(retry),
            Err(SendError::Permanent { code, message }) => self
                .store
                .mark_failed(id, code, &message)
                .await
                .map_err(retry),
            Err(SendError::Retryable(why)) => Err(DeliverError(why)),
        }
    }

    async fn channel(
        &self,
        company: omni_core::CompanyId,
        preferred: Option<IntegrationId>,
        channel: Channel,
    ) -> Result<Option<Integration>, MessagingError> {
        self.integrations
            .channel_for(company, preferred, channel == Channel::Whatsapp)
            .await
            .map_err(tenancy)
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
