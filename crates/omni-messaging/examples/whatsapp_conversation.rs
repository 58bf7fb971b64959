//! A whole WhatsApp conversation through Omni's domain crates, in one process, with no
//! database and no web framework: a customer's message arrives as Twilio posts it, the
//! built-in engine triages it and answers, an agent replies, Twilio reports the delivery,
//! and the event log shows what agent screens would have been told.
//!
//! `cargo run -p omni-messaging --example whatsapp_conversation` (`make test` runs it).
//!
//! The storage is `omni-store-memory`; an embedder with a database swaps in
//! `omni-store-postgres` (the same ports). Twilio is not called: this example's channel
//! prints what it would send, and its credential check says it checked nothing — an
//! embedder wires `omni_twilio::TwilioClient` for both.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use omni_core::{DisplayName, EventLog, Scope};
use omni_identity::{Email, PasswordHash, Principal, UserRepository};
use omni_messaging::{
    Attachments, ChannelSender, DeliveryStatus, InboundOutcome, JobHandler, JobKind, JobQueue,
    MediaBody, MediaError, MediaFetcher, MediaRequest, MessagingPorts, MessagingService,
    OutboundRequest, SendError, Sent, SignedWebhook, Template, TemplateCatalog, TemplateError,
    TriageEngines, TriageJob,
};
use omni_store_memory::MemoryStore;
use omni_tenancy::{
    CredentialVerifier, Integration, IntegrationConfig, IntegrationInput, IntegrationSecrets,
    IntegrationService, IntegrationType, NumberCheck, SecretString, VeraConfig, Verification,
};
use omni_ticketing::{TicketRepository, Triage};
use omni_twilio::{RawForm, SignatureAlgorithm, SignatureValidator, TwilioSignatures, Webhook};
use omni_vera::BuiltinTriage;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Where Twilio would call us back, and the URL it signs.
const PUBLIC_BASE: &str = "https://omni.example.com";
const PUBLIC_WEBHOOK: &str = "https://omni.example.com/ticket-messages/webhook";
/// The company's WhatsApp number on Twilio.
const OUR_NUMBER: &str = "+14155238886";
const AUTH_TOKEN: &str = "example-auth-token";

/// The channel: prints what it would send and answers as Twilio does (accepted, with an
/// id). An embedder uses `omni_twilio::TwilioClient`, which implements the same port.
struct PrintingChannel;

#[async_trait]
impl ChannelSender for PrintingChannel {
    async fn send(&self, request: &OutboundRequest) -> Result<Sent, SendError> {
        println!("  → to {}: {}", request.to.as_str(), request.body);
        Ok(Sent {
            sid: format!("SMexample{:04}", request.body.len()),
            status: DeliveryStatus::Sent,
        })
    }

    // Nothing here survives a crash, so no attempt is ever retaken.
    async fn find_sent(
        &self,
        _: &OutboundRequest,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Sent>, SendError> {
        Ok(Vec::new())
    }
}

/// No provider keeps files here: every attachment is gone. An embedder uses
/// `omni_twilio::TwilioClient` here too.
struct NoMedia;

#[async_trait]
impl MediaFetcher for NoMedia {
    async fn fetch(&self, _: &MediaRequest) -> Result<MediaBody, MediaError> {
        Err(MediaError::Gone)
    }
}

/// Nor does any provider list templates here. An embedder uses
/// `omni_twilio::TwilioClient` here too.
struct NoTemplates;

#[async_trait]
impl TemplateCatalog for NoTemplates {
    async fn approved(
        &self,
        _: &Integration,
        _: &IntegrationSecrets,
    ) -> Result<Vec<Template>, TemplateError> {
        Ok(Vec::new())
    }
}

/// No provider is reachable from this example: credentials and numbers are taken as
/// given, and `verify` says it could not ask.
struct OfflineChecks;

#[async_trait]
impl CredentialVerifier for OfflineChecks {
    async fn verify(&self, _: &IntegrationConfig, _: &IntegrationSecrets) -> Verification {
        Verification::unreachable("this example runs offline")
    }

    async fn owns_number(&self, _: &IntegrationConfig, _: &IntegrationSecrets) -> NumberCheck {
        NumberCheck::NotApplicable
    }
}

/// Triage by the built-in engine only (Omni's default adds Vera AI when a company sets it
/// up: `omni_vera::VeraEngines`).
struct BuiltinOnly;

impl TriageEngines for BuiltinOnly {
    fn engine(&self, _: Option<(VeraConfig, SecretString)>) -> Arc<dyn Triage> {
        Arc::new(BuiltinTriage)
    }
}

/// Fails the example, so that `make test` does, when Omni did not do what it should.
fn expect(what: &str, holds: bool) -> Result<(), Error> {
    if holds {
        Ok(())
    } else {
        Err(format!("expected {what}").into())
    }
}

/// Runs every job that is due, as Omni's worker does.
async fn run_jobs(queue: &dyn JobQueue, handler: &JobHandler) -> Result<usize, Error> {
    let mut ran = 0;
    loop {
        let claimed = queue
            .claim(&JobKind::ALL, 16, Duration::from_secs(30), 16)
            .await?;
        if claimed.is_empty() {
            return Ok(ran);
        }
        for job in claimed {
            match job.job {
                Ok(work) => match handler.run(work).await {
                    Ok(()) => queue.complete(&[job.id]).await?,
                    Err(e) => {
                        queue.fail(job.id, &e.0, Duration::from_secs(5)).await?;
                    }
                },
                Err(unreadable) => {
                    queue
                        .fail(job.id, &unreadable.to_string(), Duration::ZERO)
                        .await?;
                }
            }
            ran += 1;
        }
    }
}

/// A form as Twilio posts it, and Twilio's signature of it.
fn twilio_post(fields: &[(&str, &str)]) -> (Vec<u8>, String) {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let signature = SignatureValidator::new(AUTH_TOKEN).compute(
        PUBLIC_WEBHOOK,
        fields,
        SignatureAlgorithm::HmacSha1,
    );
    (body.into_bytes(), signature)
}

/// Form encoding of one name or value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                char::from(b).to_string()
            }
            b' ' => "+".into(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// What Omni's webhook route does with a post: route it by our number, check Twilio's
/// signature, then store the message or apply the status.
async fn receive(
    messaging: &MessagingService,
    body: &[u8],
    signature: &str,
) -> Result<String, Error> {
    let raw = RawForm::decode(body);
    let number = raw.our_number()?;
    let webhook = SignedWebhook {
        url: PUBLIC_WEBHOOK,
        body,
        signature,
        signing_settings: None,
    };
    let verified = messaging.authenticate(&number, &webhook).await?;
    Ok(match raw.into_text()?.parse()? {
        Webhook::Inbound(message) => {
            match messaging.accept_inbound(&verified, message.into()).await? {
                InboundOutcome::Stored {
                    ticket, new_ticket, ..
                } => format!("stored on ticket {} (new: {new_ticket})", ticket.id),
                InboundOutcome::Duplicate { message_id } => {
                    format!("a redelivery of message {message_id}")
                }
            }
        }
        Webhook::Status(callback) => match callback.into_provider_status() {
            Some(report) => match messaging.apply_status(&verified, report).await? {
                Some(m) => format!("message {} is now {}", m.id, m.delivery_status.as_str()),
                None => "nothing to change".into(),
            },
            None => "a status Omni does not track".into(),
        },
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // One store behind every port.
    let store = MemoryStore::new();
    let cipher = Arc::new(omni_crypto::AesGcmCipher::new(&[7; 32], &[]));
    let integrations =
        IntegrationService::new(Arc::new(store.clone()), cipher, Arc::new(OfflineChecks));
    let messaging = MessagingService::new(
        MessagingPorts {
            store: Arc::new(store.clone()),
            integrations: integrations.clone(),
            sender: Arc::new(PrintingChannel),
            media: Arc::new(NoMedia),
            templates: Arc::new(NoTemplates),
            webhooks: Arc::new(TwilioSignatures),
            uploads: Arc::new(store.clone()),
            links: Arc::new(omni_crypto::HmacLinkSigner::derived_from(&[7; 32])),
        },
        PUBLIC_BASE,
    );
    let triage = TriageJob::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        integrations.clone(),
        Arc::new(BuiltinOnly),
    );
    let survey = omni_messaging::SurveyJob::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(store.clone()),
    );
    let worker = JobHandler::new(messaging.clone(), triage, survey);

    // A company, its admin, and its WhatsApp number on Twilio.
    let admin = store
        .create_company_with_admin(
            &DisplayName::parse("Loja da Ana")?,
            &Email::parse("ana@loja.example")?,
            &DisplayName::parse("Ana")?,
            &PasswordHash::new("(an argon2 hash from omni_crypto::Argon2Hasher)".into()),
        )
        .await?;
    let admin = Principal::of(&admin);
    integrations
        .create(
            &admin,
            IntegrationInput {
                kind: IntegrationType::TwilioWhatsapp,
                config: serde_json::json!({
                    "account_sid": format!("AC{}", "0".repeat(32)),
                    "auth_token": AUTH_TOKEN,
                    "phone_number": OUR_NUMBER,
                }),
                enabled: None,
                company_id: None,
            },
        )
        .await?;

    println!("A customer writes on WhatsApp:");
    let (body, signature) = twilio_post(&[
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("From", "whatsapp:+5511987650001"),
        ("To", &format!("whatsapp:{OUR_NUMBER}")),
        (
            "Body",
            "Olá, fui cobrado duas vezes no cartão! Preciso de ajuda urgente",
        ),
        ("ProfileName", "Bruno"),
    ]);
    println!("  {}", receive(&messaging, &body, &signature).await?);
    let again = receive(&messaging, &body, &signature).await?;
    println!("  Twilio redelivers it: {again}");
    expect(
        "a redelivery to be recognised",
        again.starts_with("a redelivery"),
    )?;
    let forged = receive(&messaging, &body, "bm90IHR3aWxpbw==").await;
    println!(
        "  A forged copy: {}",
        forged
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    );
    expect("a forged webhook to be refused", forged.is_err())?;

    println!("The worker triages it and sends the automatic answer:");
    run_jobs(&store, &worker).await?;
    let tickets =
        TicketRepository::list(&store, Scope::All, &Default::default(), Default::default()).await?;
    let ticket = tickets.data.first().ok_or("no ticket was opened")?;
    println!(
        "  ticket {}: {} / {} / {:?}",
        ticket.id,
        ticket.category.as_deref().unwrap_or("-"),
        ticket.priority.as_str(),
        ticket.sentiment.map(|s| s.as_str()),
    );
    expect(
        "triage to file it under billing",
        ticket.category.as_deref() == Some("billing"),
    )?;
    let answers = messaging
        .list(&admin, ticket.id, Default::default())
        .await?;
    expect(
        "an automatic answer",
        answers
            .data
            .iter()
            .any(|m| !m.from_customer && m.author_id.is_none()),
    )?;

    println!("An agent answers:");
    let (reply, _) = messaging
        .reply(
            &admin,
            ticket.id,
            Some("Bruno, já estornamos a segunda cobrança."),
            &Attachments::default(),
            None,
        )
        .await?;
    run_jobs(&store, &worker).await?;
    let sent = messaging.get(&admin, reply.id).await?;
    let sid = sent
        .whatsapp_message_id
        .clone()
        .ok_or("the reply was not sent")?;

    println!("Twilio reports it delivered:");
    let (body, signature) = twilio_post(&[
        ("MessageSid", &sid),
        ("MessageStatus", "delivered"),
        ("From", &format!("whatsapp:{OUR_NUMBER}")),
        ("To", "whatsapp:+5511987650001"),
    ]);
    println!("  {}", receive(&messaging, &body, &signature).await?);
    let delivered = messaging.get(&admin, reply.id).await?;
    expect(
        "the reply delivered",
        delivered.delivery_status == DeliveryStatus::Delivered,
    )?;

    println!("What agent screens were told, in order:");
    for event in EventLog::after(&store, 0, 100).await? {
        println!("  #{} {}", event.id, event.event_type);
    }
    Ok(())
}
