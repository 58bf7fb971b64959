use std::sync::Arc;

use omni_core::{FieldError, IntegrationId, MessageId, Page, PageRequest, TicketId};
use omni_identity::{Principal, Role};
use omni_tenancy::{Integration, IntegrationService, TenancyError};
use omni_ticketing::Channel;

use crate::template_replies::TemplateCache;
use crate::{
    Attachment, ChannelSender, IdempotencyKey, MediaBody, MediaError, MediaFetcher, MediaRequest,
    MessageContent, MessageStore, MessagingError, NewOutbound, OutboundOutcome, OutboundRequest,
    SendError, SendRetry, SendStart, TemplateCatalog, TicketMessage, WebhookVerifier,
};
use crate::{Attachments, LinkSigner, UploadStore};

/// Why a send job did not finish: it should run again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeliverError(pub String);

/// The ports the messaging use cases reach: where messages and uploads live, and the
/// provider's sides (sending, attachments, templates, webhook signatures).
pub struct MessagingPorts {
    /// Messages, with their events and jobs.
    pub store: Arc<dyn MessageStore>,
    /// The channels that send and receive, with their secrets.
    pub integrations: IntegrationService,
    /// Sends through the provider.
    pub sender: Arc<dyn ChannelSender>,
    /// Fetches customers' attachments from the provider.
    pub media: Arc<dyn MediaFetcher>,
    /// Reads the provider's catalog of approved templates.
    pub templates: Arc<dyn TemplateCatalog>,
    /// Checks the provider's webhook signatures.
    pub webhooks: Arc<dyn WebhookVerifier>,
    /// Keeps the files agents upload.
    pub uploads: Arc<dyn UploadStore>,
    /// Signs the URLs the provider fetches uploads from.
    pub links: Arc<dyn LinkSigner>,
}

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
    pub(crate) uploads: Arc<dyn UploadStore>,
    pub(crate) links: Arc<dyn LinkSigner>,
    /// Omni's public URL, as the provider reaches it.
    pub(crate) public_base_url: String,
    /// The most bytes of uploads a company keeps.
    pub(crate) upload_quota: u64,
}

pub(crate) fn tenancy(e: TenancyError) -> MessagingError {
    match e {
        TenancyError::NotFound => MessagingError::NotFound,
        TenancyError::Unavailable(cause) => MessagingError::Unavailable(cause),
        other => MessagingError::Unknown(Box::new(other)),
    }
}

impl MessagingService {
    /// The use cases on their ports; `public_base_url` is Omni's URL as the provider
    /// reaches it (where it reports delivery and fetches uploads).
    pub fn new(ports: MessagingPorts, public_base_url: &str) -> Self {
        Self {
            store: ports.store,
            integrations: ports.integrations,
            sender: ports.sender,
            media: ports.media,
            templates: ports.templates,
            template_cache: Arc::default(),
            webhooks: ports.webhooks,
            uploads: ports.uploads,
            links: ports.links,
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            upload_quota: crate::DEFAULT_UPLOAD_QUOTA,
        }
    }

    /// The most bytes of uploads a company keeps ([`crate::DEFAULT_UPLOAD_QUOTA`] unless
    /// set).
    pub fn with_upload_quota(mut self, bytes: u64) -> Self {
        self.upload_quota = bytes;
        self
    }

    /// An agent's answer on a ticket — text, attachments (files the company uploaded,
    /// https links), or both — stored `queued` and sent by the worker. Returns the message
    /// and whether it is the replay of an earlier request with the same key.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, ticket_id = %ticket_id))]
    pub async fn reply(
        &self,
        caller: &Principal,
        ticket_id: TicketId,
        content: Option<&str>,
        attachments: &Attachments,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<(TicketMessage, bool), MessagingError> {
        if caller.company_id.is_none() && caller.role != Role::Superadmin {
            return Err(MessagingError::Forbidden("messages belong to a company"));
        }
        let mut errors = Vec::new();
        // A file may go alone; text without one is required.
        let content = match content.map(str::trim).filter(|c| !c.is_empty()) {
            None if !attachments.is_empty() => String::new(),
            None => {
                errors.push(FieldError::new(
                    "content",
                    "is required (or media, or a template)",
                ));
                String::new()
            }
            Some(text) => match MessageContent::parse(text) {
                Ok(c) => c.as_str().to_owned(),
                Err(e) => {
                    errors.push(FieldError::new("content", e));
                    String::new()
                }
            },
        };
        let media = match self.attachments(caller, attachments).await? {
            Ok(media) => media,
            Err(mut more) => {
                errors.append(&mut more);
                Vec::new()
            }
        };
        if !errors.is_empty() {
            return Err(MessagingError::Validation(errors));
        }
        let outbound = NewOutbound {
            ticket_id,
            author_id: Some(caller.user_id),
            content,
            idempotency_key,
            template: None,
            media,
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
        let mut message = self
            .store
            .find(caller.scope(), id)
            .await?
            .ok_or(MessagingError::NotFound)?;
        self.explain_waits(std::slice::from_mut(&mut message))
            .await?;
        Ok(message)
    }

    /// The latest message of each of `tickets` (tickets the caller has just been given),
    /// as an inbox previews it.
    pub async fn previews(
        &self,
        tickets: &[(omni_core::CompanyId, TicketId)],
    ) -> Result<Vec<(TicketId, crate::MessagePreview)>, MessagingError> {
        if tickets.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .store
            .latest(tickets)
            .await?
            .iter()
            .map(|m| (m.ticket_id, crate::MessagePreview::of(m)))
            .collect())
    }

    /// Fills in `retry` on the outbound messages still waiting whose last attempt failed:
    /// agents see why a reply has not left yet. Asks the store only when one waits.
    async fn explain_waits(&self, messages: &mut [TicketMessage]) -> Result<(), MessagingError> {
        let waiting: Vec<MessageId> = messages
            .iter()
            .filter(|m| m.awaits_send())
            .map(|m| m.id)
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        for (id, mut retry) in self.store.send_retries(&waiting).await? {
            // A reason to read at a glance; the whole text stays in the logs.
            if let Some((cut, _)) = retry
                .last_error
                .char_indices()
                .nth(SendRetry::REASON_LENGTH)
            {
                retry.last_error.truncate(cut);
                retry.last_error.push('…');
            }
            if let Some(m) = messages.iter_mut().find(|m| m.id == id) {
                m.retry = Some(retry);
            }
        }
        Ok(())
    }

    /// A ticket's messages, oldest first.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, ticket_id = %ticket))]
    pub async fn list(
        &self,
        caller: &Principal,
        ticket: TicketId,
        page: PageRequest,
    ) -> Result<Page<TicketMessage>, MessagingError> {
        let mut page = self
            .store
            .list(caller.scope(), ticket, page)
            .await?
            .ok_or(MessagingError::NotFound)?;
        self.explain_waits(&mut page.data).await?;
        Ok(page)
    }

    /// Attachment `n` (from 0) of a message the caller may see: a customer's, fetched from
    /// the provider with the credentials of the integration that received it (or the
    /// company's integration on the same channel, if that one is gone); an agent's upload,
    /// from where Omni keeps it; an agent's link, to be found at its URL.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, message_id = %id, n))]
    pub async fn media(
        &self,
        caller: &Principal,
        id: MessageId,
        n: usize,
    ) -> Result<Attachment, MessagingError> {
        let message = self.get(caller, id).await?;
        let Some(media) = message.media.get(n) else {
            return Err(MessagingError::NoSuchMedia(n));
        };
        if let Some(upload) = media.upload {
            let (upload, bytes) = self
                .uploads
                .content(upload)
                .await?
                .ok_or(MessagingError::Media(MediaError::Gone))?;
            return Ok(Attachment::Here(MediaBody::whole(
                &upload.content_type,
                bytes,
            )));
        }
        if let Some(link) = media.agent_link(message.from_customer) {
            return Ok(Attachment::Elsewhere(link.to_owned()));
        }
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
        Ok(Attachment::Here(
            self.media
                .fetch(&MediaRequest {
                    integration,
                    secrets,
                    url: media.url.clone(),
                })
                .await?,
        ))
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
            media_urls: message
                .media
                .iter()
                .map(|m| self.public_media_url(m))
                .collect(),
            template: message.template.clone(),
            status_callback: format!("{}/ticket-messages/webhook", self.public_base_url),
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
