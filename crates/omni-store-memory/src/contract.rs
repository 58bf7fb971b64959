//! The port contract: what every storage adapter must do, written once and run against each
//! (this crate's memory store and the PostgreSQL adapters).
//!
//! Each check takes fresh, empty [`Ports`] and fails by panicking, as a test does.
//! [`port_contract_tests!`](crate::port_contract_tests) makes one `#[tokio::test]` per
//! check:
//!
//! ```ignore
//! async fn fresh() -> omni_store_memory::contract::Ports { /* an empty store's ports */ }
//! omni_store_memory::port_contract_tests!(fresh());
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test suite: a failed expectation is a panic"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use omni_core::{
    CompanyId, DisplayName, EventLog, EventType, IntegrationId, MessageId, PageRequest,
    PhoneNumber, Scope, TicketId, UserId,
};
use omni_identity::{
    Email, IdentityError, NewUser, PasswordHash, Role, User, UserRepository, UserUpdate,
};
use omni_messaging::{
    DeliveryStatus, IdempotencyKey, Inbound, InboundOutcome, JobKind, JobQueue, MessageContent,
    MessageStore, MessagingError, NewOutbound, NewUpload, OutboundOutcome, SendStart, StatusReport,
    TemplateMessage, TicketMessage, UploadStore,
};
use omni_reports::ReportStore;
use omni_tenancy::{
    CompanyRepository, IntegrationConfig, IntegrationRepository, IntegrationType, NewIntegration,
    TenancyError, TwilioConfig,
};
use omni_ticketing::{
    Channel, FieldChange, NewTicket, Priority, Sentiment, SuggestedCategory, Ticket, TicketChanges,
    TicketFilter, TicketRepository, TicketStatus, TicketingError, TriageResult,
};

/// Every storage port, over one shared state (what one adapter changes, the others see).
#[derive(Clone)]
pub struct Ports {
    /// Users, sessions and WebSocket tickets.
    pub users: Arc<dyn UserRepository>,
    /// Companies.
    pub companies: Arc<dyn CompanyRepository>,
    /// Integrations.
    pub integrations: Arc<dyn IntegrationRepository>,
    /// Tickets.
    pub tickets: Arc<dyn TicketRepository>,
    /// Messages.
    pub messages: Arc<dyn MessageStore>,
    /// Uploaded files.
    pub uploads: Arc<dyn UploadStore>,
    /// The job queue.
    pub jobs: Arc<dyn JobQueue>,
    /// The event log.
    pub events: Arc<dyn EventLog>,
    /// Tickets' history and the reports' tallies.
    pub reports: Arc<dyn ReportStore>,
    /// Whatever the adapters need alive while the check runs (a test database, say);
    /// dropped with the ports.
    pub keep_alive: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl Ports {
    /// The ports of one memory store.
    pub fn memory() -> Self {
        let store = crate::MemoryStore::new();
        Self {
            users: Arc::new(store.clone()),
            companies: Arc::new(store.clone()),
            integrations: Arc::new(store.clone()),
            tickets: Arc::new(store.clone()),
            messages: Arc::new(store.clone()),
            uploads: Arc::new(store.clone()),
            jobs: Arc::new(store.clone()),
            events: Arc::new(store.clone()),
            reports: Arc::new(store),
            keep_alive: None,
        }
    }
}

/// One `#[tokio::test]` per contract check, each on the fresh ports `$fresh` (an expression
/// evaluated once per test, e.g. `fresh()` of an `async fn fresh() -> Ports`) resolves to.
#[macro_export]
macro_rules! port_contract_tests {
    ($fresh:expr) => {
        $crate::port_contract_tests!(@each $fresh;
            a_customer_message_opens_a_ticket_once_and_redeliveries_change_nothing,
            a_customer_reopens_a_resolved_ticket_and_a_closed_one_gives_way,
            replies_queue_a_send_and_replay_by_key_but_never_on_a_closed_ticket,
            replies_at_once_keep_the_first_recorded_as_the_first_response,
            whatsapp_replies_wait_for_the_customer_and_sms_does_not,
            a_template_goes_out_whenever_the_ticket_takes_replies,
            uploads_belong_to_their_company_and_go_with_age_or_the_company,
            an_upload_is_kept_while_a_message_attached_it_within_the_retention,
            delivery_reports_only_move_forward,
            reports_arriving_together_apply_one_after_another,
            reports_that_come_before_the_sends_answer_apply_with_it,
            resending_follows_the_domain,
            no_tenant_sees_another_tenants_rows,
            ticket_changes_check_the_version_and_triage_keeps_hand_set_fields,
            triage_queues_one_auto_reply_with_its_result_and_only_when_due,
            a_customer_has_one_open_ticket_and_assignees_come_from_the_company,
            ticket_lists_page_by_latest_activity_and_filter,
            jobs_are_leased_retried_released_and_capped_per_company,
            the_event_log_replays_one_company_between_cursors,
            users_have_unique_emails_and_a_company_keeps_an_admin,
            integration_numbers_are_unique_and_route_webhooks,
            deleting_a_company_takes_what_it_owned,
            a_send_attempt_is_on_record_before_the_provider_is_called,
            a_tickets_history_is_what_reports_count,
            a_satisfaction_question_goes_once_and_a_score_rates_without_reopening,
            the_latest_message_of_each_ticket_comes_in_one_call,
        );
    };
    (@each $fresh:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                $crate::contract::$check($fresh.await).await;
            }
        )*
    };
}

/// A company with its admin, and a WhatsApp number on Twilio.
struct Tenant {
    company: CompanyId,
    admin: User,
    integration: IntegrationId,
}

fn name(s: &str) -> DisplayName {
    DisplayName::parse(s).unwrap()
}

fn phone(s: &str) -> PhoneNumber {
    s.parse().unwrap()
}

async fn tenant(p: &Ports, n: u32) -> Tenant {
    let admin = p
        .users
        .create_company_with_admin(
            &name(&format!("Company {n}")),
            &Email::parse(&format!("admin{n}@example.com")).unwrap(),
            &name("Admin"),
            &PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        )
        .await
        .unwrap();
    let company = admin.company_id.unwrap();
    let integration = p
        .integrations
        .insert(NewIntegration {
            company_id: company,
            kind: IntegrationType::TwilioWhatsapp,
            config: IntegrationConfig::Twilio(TwilioConfig {
                account_sid: format!("AC{}", "0".repeat(32)),
                phone_number: phone(&format!("+1415555{n:04}")),
                messaging_service_sid: None,
            }),
            secrets: BTreeMap::new(),
            enabled: true,
        })
        .await
        .unwrap();
    Tenant {
        company,
        admin,
        integration: integration.id,
    }
}

fn inbound(t: &Tenant, sid: &str, customer: &str) -> Inbound {
    Inbound {
        company_id: t.company,
        integration_id: t.integration,
        channel: Channel::Whatsapp,
        message_sid: sid.into(),
        customer: phone(customer),
        customer_name: Some("Ana".into()),
        body: format!("pedido atrasado {sid}"),
        media: vec![],
    }
}

async fn stored(p: &Ports, message: &Inbound) -> (TicketMessage, Ticket, bool) {
    match p.messages.record_inbound(message).await.unwrap() {
        InboundOutcome::Stored {
            message,
            ticket,
            new_ticket,
        } => (message, ticket, new_ticket),
        other => panic!("expected a stored message, got {other:?}"),
    }
}

async fn event_types_after(p: &Ports, cursor: i64) -> Vec<EventType> {
    p.events
        .after(cursor, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

async fn live_jobs(p: &Ports, kind: JobKind) -> i64 {
    p.jobs
        .counts()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == kind.as_str() && (c.status == "queued" || c.status == "running"))
        .map(|c| c.count)
        .sum()
}

async fn set_status(p: &Ports, ticket: &Ticket, to: TicketStatus) -> Ticket {
    let current = ticket_now(p, ticket.id).await;
    let changes = current.status_change(to, chrono::Utc::now());
    p.tickets
        .apply(Scope::All, current.id, current.version, &changes)
        .await
        .unwrap()
        .unwrap()
}

/// The admin's reply on `ticket`, as the store answers it.
async fn try_reply(
    p: &Ports,
    t: &Tenant,
    ticket: TicketId,
    key: Option<&str>,
) -> Result<OutboundOutcome, MessagingError> {
    p.messages
        .record_outbound(
            Scope::Company(t.company),
            &NewOutbound {
                ticket_id: ticket,
                author_id: Some(t.admin.id),
                content: "Já verificamos.".into(),
                idempotency_key: key.map(|k| IdempotencyKey::from_client(k).unwrap()),
                template: None,
                media: Vec::new(),
            },
        )
        .await
}

async fn reply(p: &Ports, t: &Tenant, ticket: TicketId, key: Option<&str>) -> OutboundOutcome {
    try_reply(p, t, ticket, key).await.unwrap()
}

/// The ticket as the store has it now.
async fn ticket_now(p: &Ports, id: TicketId) -> Ticket {
    p.tickets.find(Scope::All, id).await.unwrap().unwrap()
}

/// The message as the store has it now.
async fn message_now(p: &Ports, id: MessageId) -> TicketMessage {
    p.messages.find(Scope::All, id).await.unwrap().unwrap()
}

fn created(outcome: OutboundOutcome) -> TicketMessage {
    match outcome {
        OutboundOutcome::Created(m) => m,
        other => panic!("expected a new message, got {other:?}"),
    }
}

/// A new customer's message opens a ticket (announced, triaged once); their redelivered
/// message is a duplicate of the first; their next message joins the ticket.
pub async fn a_customer_message_opens_a_ticket_once_and_redeliveries_change_nothing(p: Ports) {
    let t = tenant(&p, 1).await;
    let start = p.events.latest_id().await.unwrap();
    let first = inbound(&t, "SM1", "+5511987650001");
    let (message, ticket, new_ticket) = stored(&p, &first).await;
    assert!(new_ticket);
    assert_eq!(ticket.status, TicketStatus::New);
    assert_eq!(ticket.integration_id, Some(t.integration));
    assert_eq!(ticket.customer_name.as_deref(), Some("Ana"));
    assert_eq!(ticket.last_message_at, Some(message.created_at));
    assert!(message.from_customer);
    assert_eq!(message.delivery_status, DeliveryStatus::Received);
    assert_eq!(message.ticket_id, ticket.id);
    assert_eq!(
        event_types_after(&p, start).await,
        [EventType::TicketCreated, EventType::MessageCreated]
    );
    assert_eq!(live_jobs(&p, JobKind::Triage).await, 1);

    let again = p.messages.record_inbound(&first).await.unwrap();
    assert_eq!(
        again,
        InboundOutcome::Duplicate {
            message_id: message.id
        }
    );
    let (next, same, new_ticket) = stored(&p, &inbound(&t, "SM2", "+5511987650001")).await;
    assert!(!new_ticket);
    assert_eq!(same.id, ticket.id);
    assert!(next.id.get() > message.id.get());
    assert_eq!(live_jobs(&p, JobKind::Triage).await, 1, "no second triage");
    let page = p
        .messages
        .list(Scope::All, ticket.id, PageRequest::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.data.len(), 2);
    assert_eq!(
        p.messages.customer_texts(ticket.id, 20).await.unwrap(),
        ["pedido atrasado SM1", "pedido atrasado SM2"]
    );
}

/// A message on a resolved ticket reopens it (and triage runs again); after a ticket is
/// closed, the customer's next message opens a new one.
pub async fn a_customer_reopens_a_resolved_ticket_and_a_closed_one_gives_way(p: Ports) {
    let t = tenant(&p, 1).await;
    let (_, ticket, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    set_status(&p, &ticket, TicketStatus::Resolved).await;
    let jobs = p
        .jobs
        .claim(&[JobKind::Triage], 10, Duration::from_secs(60), 10)
        .await
        .unwrap();
    for job in jobs {
        p.jobs.complete(&[job.id]).await.unwrap();
    }
    let cursor = p.events.latest_id().await.unwrap();
    let (_, reopened, new_ticket) = stored(&p, &inbound(&t, "SM2", "+5511987650001")).await;
    assert!(!new_ticket);
    assert_eq!(reopened.id, ticket.id);
    assert_eq!(reopened.status, TicketStatus::Open);
    assert_eq!(
        event_types_after(&p, cursor).await,
        [EventType::TicketUpdated, EventType::MessageCreated]
    );
    assert_eq!(live_jobs(&p, JobKind::Triage).await, 1, "triage again");

    set_status(&p, &reopened, TicketStatus::Closed).await;
    let (_, fresh, new_ticket) = stored(&p, &inbound(&t, "SM3", "+5511987650001")).await;
    assert!(new_ticket);
    assert_ne!(fresh.id, ticket.id);
    assert_eq!(fresh.status, TicketStatus::New);

    // The customer's history lists both, newest activity first: the open ticket and the
    // closed one.
    stored(&p, &inbound(&t, "SM4", "+5511987650002")).await;
    let of_customer = |statuses: Vec<TicketStatus>| {
        let p = p.clone();
        async move {
            let filter = TicketFilter {
                customer_phone: Some(phone("+5511987650001")),
                statuses,
                ..TicketFilter::default()
            };
            p.tickets
                .list(Scope::Company(t.company), &filter, PageRequest::default())
                .await
                .unwrap()
                .data
                .iter()
                .map(|t| t.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(of_customer(vec![]).await, [fresh.id, ticket.id]);
    assert_eq!(of_customer(vec![TicketStatus::Closed]).await, [ticket.id]);
    assert_eq!(of_customer(vec![TicketStatus::New]).await, [fresh.id]);
}

/// An agent's reply is queued with its send job and counts as the first response; the same
/// key replays it; a closed ticket takes no reply.
/// Agents answering one ticket at the same moment: the first reply recorded is its first
/// response, whichever finishes last.
pub async fn replies_at_once_keep_the_first_recorded_as_the_first_response(p: Ports) {
    let t = tenant(&p, 1).await;
    for n in 0..8u32 {
        let (_, ticket, _) = stored(
            &p,
            &inbound(&t, &format!("SM{n}"), &format!("+55119876500{n:02}")),
        )
        .await;
        let (a, b) = tokio::join!(
            reply(&p, &t, ticket.id, None),
            reply(&p, &t, ticket.id, None)
        );
        let (a, b) = (created(a), created(b));
        let first = if a.id < b.id { a } else { b };
        let after = ticket_now(&p, ticket.id).await;
        assert_eq!(
            after.first_response_at,
            Some(first.created_at),
            "ticket {n}"
        );
    }
}

/// WhatsApp's customer-service window: a ticket the customer has not written on takes no
/// free-form reply (and nothing is stored or queued for it); their message opens the window
/// for 24 hours; SMS has no window.
pub async fn whatsapp_replies_wait_for_the_customer_and_sms_does_not(p: Ports) {
    let t = tenant(&p, 1).await;
    let new = |channel: Channel, customer: &str| NewTicket {
        company_id: t.company,
        customer_phone: phone(customer),
        customer_name: None,
        channel,
        priority: Priority::Medium,
        category: None,
        assigned_to: None,
    };
    let whatsapp = p
        .tickets
        .insert(new(Channel::Whatsapp, "+5511987650001"))
        .await
        .unwrap();
    assert_eq!(whatsapp.window_closes_at, None);
    let sends_before = live_jobs(&p, JobKind::Send).await;
    let refused = try_reply(&p, &t, whatsapp.id, None).await;
    assert!(
        matches!(
            refused,
            Err(MessagingError::ReplyWindowClosed { closed_at: None })
        ),
        "{refused:?}"
    );
    assert_eq!(live_jobs(&p, JobKind::Send).await, sends_before);
    assert_eq!(ticket_now(&p, whatsapp.id).await.last_message_at, None);

    // A text by SMS joins the conversation but opens no WhatsApp window.
    let mut by_sms = inbound(&t, "SM0", "+5511987650001");
    by_sms.channel = Channel::Sms;
    let (_, joined, _) = stored(&p, &by_sms).await;
    assert_eq!((joined.id, joined.window_closes_at), (whatsapp.id, None));

    let (message, ticket, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    assert_eq!(
        ticket.id, whatsapp.id,
        "the customer's message joins the ticket"
    );
    assert_eq!(
        ticket.window_closes_at,
        Some(message.created_at + omni_ticketing::WHATSAPP_REPLY_WINDOW)
    );
    assert_eq!(ticket_now(&p, whatsapp.id).await, ticket);
    created(reply(&p, &t, whatsapp.id, None).await);

    let sms = p
        .tickets
        .insert(new(Channel::Sms, "+5511987650002"))
        .await
        .unwrap();
    created(reply(&p, &t, sms.id, None).await);
}

pub async fn a_template_goes_out_whenever_the_ticket_takes_replies(p: Ports) {
    let t = tenant(&p, 1).await;
    let ticket = p
        .tickets
        .insert(NewTicket {
            company_id: t.company,
            customer_phone: phone("+5511987650001"),
            customer_name: None,
            channel: Channel::Whatsapp,
            priority: Priority::Medium,
            category: None,
            assigned_to: None,
        })
        .await
        .unwrap();
    let template = TemplateMessage {
        content_sid: format!("HX{}", "1".repeat(32)),
        variables: BTreeMap::from([("1".to_owned(), "Ana".to_owned())]),
    };
    let with_template = |key: &str| NewOutbound {
        ticket_id: ticket.id,
        author_id: Some(t.admin.id),
        content: "Olá Ana, podemos ajudar?".into(),
        idempotency_key: Some(IdempotencyKey::from_client(key).unwrap()),
        template: Some(template.clone()),
        media: Vec::new(),
    };
    // The customer never wrote: free text waits, a template goes.
    assert!(matches!(
        try_reply(&p, &t, ticket.id, None).await,
        Err(MessagingError::ReplyWindowClosed { .. })
    ));
    let sent = created(
        p.messages
            .record_outbound(Scope::Company(t.company), &with_template("t-1"))
            .await
            .unwrap(),
    );
    assert_eq!(sent.template.as_ref(), Some(&template));
    assert_eq!(live_jobs(&p, JobKind::Send).await, 1);
    assert_eq!(
        p.messages
            .find(Scope::Company(t.company), sent.id)
            .await
            .unwrap()
            .unwrap(),
        sent,
        "stored with its template"
    );
    let now = ticket_now(&p, ticket.id).await;
    assert_eq!(now.first_response_at, Some(sent.created_at));
    assert_eq!(now.window_closes_at, None, "a template opens no window");

    // Refused for good, it may go again though the window is still closed.
    p.messages
        .mark_failed(sent.id, Some(63016), "outside the window")
        .await
        .unwrap();
    let again = p
        .messages
        .requeue(Scope::Company(t.company), sent.id)
        .await
        .unwrap();
    assert_eq!(again.delivery_status, DeliveryStatus::Queued);

    // A closed ticket takes no template either.
    set_status(&p, &now, TicketStatus::Closed).await;
    let refused = p
        .messages
        .record_outbound(Scope::Company(t.company), &with_template("t-2"))
        .await;
    assert!(
        matches!(refused, Err(MessagingError::TicketClosed)),
        "{refused:?}"
    );
}

pub async fn uploads_belong_to_their_company_and_go_with_age_or_the_company(p: Ports) {
    let a = tenant(&p, 1).await;
    let b = tenant(&p, 2).await;
    let photo = bytes::Bytes::from_static(b"\x89PNG a small picture");
    let kept = p
        .uploads
        .save(
            &NewUpload::parse(
                a.company,
                "image/png",
                Some("C:\\fotos\\caixa.png"),
                photo.clone(),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(kept.company_id, a.company);
    assert_eq!(kept.content_type, "image/png");
    assert_eq!(kept.filename.as_deref(), Some("caixa.png"));
    assert_eq!(kept.size, photo.len() as u64);
    let other = p
        .uploads
        .save(
            &NewUpload::parse(
                b.company,
                "application/pdf",
                None,
                bytes::Bytes::from_static(b"%PDF-1.7"),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    // A company finds its own files only; unknown ids are missing.
    let ids = [kept.id, other.id, omni_core::UploadId::new(999_999)];
    assert_eq!(
        p.uploads
            .find(Scope::Company(a.company), &ids)
            .await
            .unwrap(),
        std::slice::from_ref(&kept)
    );
    assert_eq!(p.uploads.find(Scope::All, &ids).await.unwrap().len(), 2);
    // Each company's files count against its own quota only.
    assert_eq!(p.uploads.usage(a.company).await.unwrap(), kept.size);
    assert_eq!(p.uploads.usage(b.company).await.unwrap(), other.size);
    assert_eq!(
        p.uploads.content(kept.id).await.unwrap(),
        Some((kept.clone(), photo))
    );
    // Age: nothing is older than a moment ago; everything is older than a moment ahead.
    let earlier = kept.created_at - chrono::TimeDelta::seconds(1);
    assert_eq!(p.uploads.prune(earlier).await.unwrap(), 0);
    // A deleted company's files go with it.
    assert!(p.companies.delete(Scope::All, b.company).await.unwrap());
    assert_eq!(p.uploads.content(other.id).await.unwrap(), None);
    let later = chrono::Utc::now() + chrono::TimeDelta::seconds(1);
    assert_eq!(p.uploads.prune(later).await.unwrap(), 1);
    assert_eq!(p.uploads.content(kept.id).await.unwrap(), None);
}

pub async fn an_upload_is_kept_while_a_message_attached_it_within_the_retention(p: Ports) {
    let t = tenant(&p, 1).await;
    let (_, ticket, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    let upload = p
        .uploads
        .save(
            &NewUpload::parse(
                t.company,
                "application/pdf",
                Some("boleto.pdf"),
                bytes::Bytes::from_static(b"%PDF-1.7 boleto"),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let sent = created(
        p.messages
            .record_outbound(
                Scope::Company(t.company),
                &NewOutbound {
                    ticket_id: ticket.id,
                    author_id: Some(t.admin.id),
                    content: String::new(),
                    idempotency_key: None,
                    template: None,
                    media: vec![omni_messaging::Media::uploaded(&upload)],
                },
            )
            .await
            .unwrap(),
    );
    assert_eq!(sent.media[0].upload, Some(upload.id));
    // Uploaded before the cut, attached after it: kept.
    let cut = upload.created_at + chrono::TimeDelta::milliseconds(10);
    assert!(cut < sent.created_at);
    assert_eq!(p.uploads.prune(cut).await.unwrap(), 0);
    assert!(p.uploads.content(upload.id).await.unwrap().is_some());
    let later = sent.created_at + chrono::TimeDelta::seconds(1);
    assert_eq!(p.uploads.prune(later).await.unwrap(), 1);
}

pub async fn replies_queue_a_send_and_replay_by_key_but_never_on_a_closed_ticket(p: Ports) {
    let t = tenant(&p, 1).await;
    let (_, ticket, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    let message = created(reply(&p, &t, ticket.id, Some("k-1")).await);
    assert_eq!(message.delivery_status, DeliveryStatus::Queued);
    assert!(!message.from_customer);
    assert_eq!(message.author_id, Some(t.admin.id));
    assert_eq!(message.whatsapp_number, ticket.customer_phone);
    assert_eq!(live_jobs(&p, JobKind::Send).await, 1);
    let after = ticket_now(&p, ticket.id).await;
    assert_eq!(after.first_response_at, Some(message.created_at));
    assert_eq!(after.last_message_at, Some(message.created_at));

    assert_eq!(
        reply(&p, &t, ticket.id, Some("k-1")).await,
        OutboundOutcome::Replayed(message.clone())
    );
    assert_eq!(
        live_jobs(&p, JobKind::Send).await,
        1,
        "a replay sends nothing"
    );

    // The bot's answer is not a first response.
    let (_, other, _) = stored(&p, &inbound(&t, "SM2", "+5511987650002")).await;
    let bot = p
        .messages
        .record_outbound(
            Scope::All,
            &NewOutbound {
                ticket_id: other.id,
                author_id: None,
                content: "Recebemos sua mensagem.".into(),
                idempotency_key: Some(IdempotencyKey::auto_reply(other.id)),
                template: None,
                media: Vec::new(),
            },
        )
        .await
        .unwrap();
    assert!(matches!(bot, OutboundOutcome::Created(_)));
    let other = ticket_now(&p, other.id).await;
    assert_eq!(other.first_response_at, None);

    let closed = set_status(&p, &after, TicketStatus::Closed).await;
    let refused = try_reply(&p, &t, closed.id, None).await;
    assert!(
        matches!(refused, Err(MessagingError::TicketClosed)),
        "{refused:?}"
    );
}

/// Provider reports move a message forward only; a sent message carries the provider's id.
pub async fn delivery_reports_only_move_forward(p: Ports) {
    let t = tenant(&p, 1).await;
    let (_, ticket, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    let message = created(reply(&p, &t, ticket.id, None).await);
    p.messages
        .mark_sent(message.id, "SMout1", DeliveryStatus::Sent)
        .await
        .unwrap();
    let delivery = p.messages.delivery(message.id).await.unwrap().unwrap();
    assert_eq!(delivery.message.delivery_status, DeliveryStatus::Sent);
    assert_eq!(
        delivery.message.whatsapp_message_id.as_deref(),
        Some("SMout1")
    );
    assert_eq!(delivery.integration_id, Some(t.integration));
    assert_eq!(delivery.channel, Channel::Whatsapp);
    let report = |status| StatusReport {
        company_id: t.company,
        message_sid: "SMout1".into(),
        status,
        error_code: None,
        error_message: None,
    };
    let cursor = p.events.latest_id().await.unwrap();
    let read = p.messages.apply_status(&report(DeliveryStatus::Read)).await;
    assert_eq!(read.unwrap().unwrap().delivery_status, DeliveryStatus::Read);
    for late in [DeliveryStatus::Delivered, DeliveryStatus::Sent] {
        assert_eq!(p.messages.apply_status(&report(late)).await.unwrap(), None);
    }
    assert_eq!(
        event_types_after(&p, cursor).await,
        [EventType::MessageStatusUpdated]
    );
    // Another company's report for the same id changes nothing.
    let other = tenant(&p, 2).await;
    let foreign = StatusReport {
        company_id: other.company,
        ..report(DeliveryStatus::Failed)
    };
    assert_eq!(p.messages.apply_status(&foreign).await.unwrap(), None);
    // A send outcome arriving after the message moved on changes nothing either.
    p.messages
        .mark_failed(message.id, Some(1), "late")
        .await
        .unwrap();
    let now = message_now(&p, message.id).await;
    assert_eq!(now.delivery_status, DeliveryStatus::Read);
}

/// Twilio may report on a message before Omni has recorded the sid its send was answered
/// with: such reports are kept, and applied in the order they came when the answer records
/// that sid — the message ends where the provider says, with one event per move. Another
/// company's early report on the same sid is not applied.
pub async fn reports_that_come_before_the_sends_answer_apply_with_it(p: Ports) {
    let t = tenant(&p, 1).await;
    let other = tenant(&p, 2).await;
    let (_, ticket, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    let message = created(reply(&p, &t, ticket.id, None).await);
    let report = |company, status| StatusReport {
        company_id: company,
        message_sid: "SMearly".into(),
        status,
        error_code: None,
        error_message: None,
    };
    for early in [
        report(t.company, DeliveryStatus::Delivered),
        report(other.company, DeliveryStatus::Failed),
        report(t.company, DeliveryStatus::Read),
    ] {
        assert_eq!(p.messages.apply_status(&early).await.unwrap(), None);
    }
    let cursor = p.events.latest_id().await.unwrap();
    p.messages
        .mark_sent(message.id, "SMearly", DeliveryStatus::Sent)
        .await
        .unwrap();
    let now = message_now(&p, message.id).await;
    assert_eq!(now.delivery_status, DeliveryStatus::Read);
    assert_eq!(now.whatsapp_message_id.as_deref(), Some("SMearly"));
    assert_eq!(
        event_types_after(&p, cursor).await,
        [
            EventType::MessageStatusUpdated,
            EventType::MessageStatusUpdated,
            EventType::MessageStatusUpdated
        ]
    );
    // Applied once: a later report moves on from there, and nothing is applied twice.
    assert_eq!(
        p.messages
            .apply_status(&report(t.company, DeliveryStatus::Delivered))
            .await
            .unwrap(),
        None
    );
}

/// Reports that arrive together — several on one message, beside a customer's message —
/// apply as they would one after another (the PostgreSQL store commits them in one
/// transaction): each message ends at the furthest status reported, with one event per
/// move, and the customer's message is stored as well.
pub async fn reports_arriving_together_apply_one_after_another(p: Ports) {
    let t = tenant(&p, 1).await;
    let (_, ticket, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    let a = created(reply(&p, &t, ticket.id, Some("a")).await);
    let b = created(reply(&p, &t, ticket.id, Some("b")).await);
    for (m, sid) in [(&a, "SMa"), (&b, "SMb")] {
        p.messages
            .mark_sent(m.id, sid, DeliveryStatus::Sending)
            .await
            .unwrap();
    }
    let report = |sid: &str, status| StatusReport {
        company_id: t.company,
        message_sid: sid.into(),
        status,
        error_code: None,
        error_message: None,
    };
    let cursor = p.events.latest_id().await.unwrap();
    let reports = [
        report("SMa", DeliveryStatus::Sent),
        report("SMa", DeliveryStatus::Read),
        report("SMa", DeliveryStatus::Delivered),
        report("SMb", DeliveryStatus::Delivered),
        report("SMb", DeliveryStatus::Delivered),
    ];
    let newcomer = inbound(&t, "SM2", "+5511987650002");
    let (r1, r2, r3, r4, r5, customer) = tokio::join!(
        p.messages.apply_status(&reports[0]),
        p.messages.apply_status(&reports[1]),
        p.messages.apply_status(&reports[2]),
        p.messages.apply_status(&reports[3]),
        p.messages.apply_status(&reports[4]),
        p.messages.record_inbound(&newcomer),
    );
    let answers: Vec<Option<TicketMessage>> = [r1, r2, r3, r4, r5]
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    // Each caller hears of its own report: the message it names, as it left it.
    for (report, answer) in reports.iter().zip(&answers) {
        if let Some(m) = answer {
            assert_eq!(
                m.whatsapp_message_id.as_deref(),
                Some(report.message_sid.as_str())
            );
            assert_eq!(m.delivery_status, report.status);
        }
    }
    let moves = answers.iter().filter(|a| a.is_some()).count();
    // SMa moves once or more (`read` last stops the rest), SMb once (the repeat is nothing).
    assert!((2..=4).contains(&moves), "{moves}");
    assert!(matches!(
        customer.unwrap(),
        InboundOutcome::Stored {
            new_ticket: true,
            ..
        }
    ));
    for (m, status) in [(&a, DeliveryStatus::Read), (&b, DeliveryStatus::Delivered)] {
        let now = message_now(&p, m.id).await;
        assert_eq!(now.delivery_status, status);
    }
    let types = event_types_after(&p, cursor).await;
    let status_events = types
        .iter()
        .filter(|t| **t == EventType::MessageStatusUpdated)
        .count();
    assert_eq!(status_events, moves, "{types:?}");
    assert!(types.contains(&EventType::TicketCreated), "{types:?}");
}

/// A failed message goes back to the queue with its send job; a sent or inbound one does
/// not; another tenant's message is not found.
pub async fn resending_follows_the_domain(p: Ports) {
    let t = tenant(&p, 1).await;
    let (inbound_message, ticket, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    let message = created(reply(&p, &t, ticket.id, None).await);
    let sends = p
        .jobs
        .claim(&[JobKind::Send], 10, Duration::from_secs(60), 10)
        .await
        .unwrap();
    for job in sends {
        p.jobs.complete(&[job.id]).await.unwrap();
    }
    p.messages
        .mark_failed(message.id, Some(63016), "outside the window")
        .await
        .unwrap();
    let scope = Scope::Company(t.company);
    let again = p.messages.requeue(scope, message.id).await.unwrap();
    assert_eq!(again.delivery_status, DeliveryStatus::Queued);
    assert_eq!(
        (again.error_code, again.error_message.as_deref()),
        (None, None)
    );
    assert_eq!(live_jobs(&p, JobKind::Send).await, 1);

    p.messages
        .mark_sent(message.id, "SMout1", DeliveryStatus::Sent)
        .await
        .unwrap();
    assert!(matches!(
        p.messages.requeue(scope, message.id).await,
        Err(MessagingError::AlreadySent)
    ));
    assert!(matches!(
        p.messages.requeue(scope, inbound_message.id).await,
        Err(MessagingError::InboundNotSent)
    ));
    let other = tenant(&p, 2).await;
    assert!(matches!(
        p.messages
            .requeue(Scope::Company(other.company), message.id)
            .await,
        Err(MessagingError::NotFound)
    ));
}

/// A company's scope reaches its own rows only, through every port.
pub async fn no_tenant_sees_another_tenants_rows(p: Ports) {
    let a = tenant(&p, 1).await;
    let b = tenant(&p, 2).await;
    let (message, ticket, _) = stored(&p, &inbound(&a, "SM1", "+5511987650001")).await;
    let theirs = Scope::Company(b.company);
    assert_eq!(p.tickets.find(theirs, ticket.id).await.unwrap(), None);
    assert!(
        p.tickets
            .list(theirs, &TicketFilter::default(), PageRequest::default())
            .await
            .unwrap()
            .data
            .is_empty()
    );
    assert_eq!(p.messages.find(theirs, message.id).await.unwrap(), None);
    assert_eq!(
        p.messages
            .list(theirs, ticket.id, PageRequest::default())
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        p.messages
            .record_outbound(
                theirs,
                &NewOutbound {
                    ticket_id: ticket.id,
                    author_id: Some(b.admin.id),
                    content: "x".into(),
                    idempotency_key: None,
                    template: None,
                    media: Vec::new(),
                },
            )
            .await,
        Err(MessagingError::NotFound)
    ));
    assert_eq!(p.users.find(theirs, a.admin.id).await.unwrap(), None);
    assert_eq!(
        p.integrations.find(theirs, a.integration).await.unwrap(),
        None
    );
    assert_eq!(p.companies.find(theirs, a.company).await.unwrap(), None);
    let users = p
        .users
        .list(theirs, None, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        users.data.iter().map(|u| u.id).collect::<Vec<_>>(),
        [b.admin.id]
    );
    assert!(!p.tickets.delete(theirs, ticket.id).await.unwrap());
    // The same customer writing to both companies has a ticket in each.
    let (_, in_b, new_ticket) = stored(&p, &inbound(&b, "SM1", "+5511987650001")).await;
    assert!(new_ticket);
    assert_eq!(in_b.company_id, b.company);
}

/// A change names the version it was made on; a stale version changes nothing. Fields a
/// person set stay as they set them when triage answers later.
pub async fn ticket_changes_check_the_version_and_triage_keeps_hand_set_fields(p: Ports) {
    let t = tenant(&p, 1).await;
    let (_, ticket, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    let changes = TicketChanges {
        category: Some(FieldChange {
            from: None,
            to: Some("shipping".into()),
        }),
        ..TicketChanges::default()
    };
    let stale = ticket.version - 1;
    assert_eq!(
        p.tickets
            .apply(Scope::All, ticket.id, stale, &changes)
            .await
            .unwrap(),
        None
    );
    let changed = p
        .tickets
        .apply(
            Scope::Company(t.company),
            ticket.id,
            ticket.version,
            &changes,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.version, ticket.version + 1);
    assert_eq!(changed.category.as_deref(), Some("shipping"));
    assert!(changed.hand_set.category && !changed.hand_set.priority);

    let cursor = p.events.latest_id().await.unwrap();
    let result = TriageResult {
        category: "billing".into(),
        priority: Priority::Urgent,
        sentiment: Sentiment::Negative,
        sentiment_score: -0.6,
        suggested_categories: vec![SuggestedCategory {
            name: "billing".into(),
            confidence: 0.8,
        }],
        reply: None,
        engine: "contract".into(),
    };
    let triaged = p
        .tickets
        .apply_triage(ticket.id, &result)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(triaged.category.as_deref(), Some("shipping"), "kept");
    assert_eq!(triaged.priority, Priority::Urgent);
    assert_eq!(triaged.sentiment, Some(Sentiment::Negative));
    assert_eq!(triaged.sentiment_score, Some(-0.6));
    assert_eq!(triaged.version, changed.version + 1);
    assert_eq!(
        event_types_after(&p, cursor).await,
        [EventType::TriageCompleted, EventType::TicketUpdated]
    );
    let found = ticket_now(&p, ticket.id).await;
    assert_eq!(found, triaged);
    assert_eq!(
        p.tickets
            .apply_triage(TicketId::new(i64::MAX), &result)
            .await
            .unwrap(),
        None
    );
}

/// Triage's result and its automatic reply are one unit of work: the reply is queued with
/// its send job when nobody has answered yet, once per ticket however often triage runs,
/// never on a ticket an agent answered or closed; without a reply asked for, none is sent.
pub async fn triage_queues_one_auto_reply_with_its_result_and_only_when_due(p: Ports) {
    let t = tenant(&p, 1).await;
    let result = TriageResult {
        category: "billing".into(),
        priority: Priority::High,
        sentiment: Sentiment::Negative,
        sentiment_score: -0.5,
        suggested_categories: vec![],
        reply: Some("Olá! Já vamos ver.".into()),
        engine: "contract".into(),
    };
    let text = MessageContent::parse("Olá! Já vamos ver.").unwrap();
    let (_, ticket, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    let sends_before = live_jobs(&p, JobKind::Send).await;
    let cursor = p.events.latest_id().await.unwrap();
    let first = p
        .messages
        .record_triage(ticket.id, &result, Some(text.clone()))
        .await
        .unwrap()
        .unwrap();
    let auto = first.reply.expect("a reply is due");
    assert_eq!(auto.content, "Olá! Já vamos ver.");
    assert_eq!(auto.author_id, None);
    assert_eq!(auto.delivery_status, DeliveryStatus::Queued);
    assert_eq!(first.ticket.category.as_deref(), Some("billing"));
    assert_eq!(first.ticket.priority, Priority::High);
    assert_eq!(first.ticket.last_message_at, Some(auto.created_at));
    assert_eq!(
        first.ticket.first_response_at, None,
        "not an agent's answer"
    );
    assert_eq!(first.ticket.version, ticket.version + 2);
    assert_eq!(
        first.ticket.suggested_reply, None,
        "the suggestion went out as the automatic reply"
    );
    assert_eq!(ticket_now(&p, ticket.id).await, first.ticket);
    assert_eq!(
        event_types_after(&p, cursor).await,
        [
            EventType::TriageCompleted,
            EventType::TicketUpdated,
            EventType::MessageCreated
        ]
    );
    // The ticket in `ticket.updated` is the ticket as the unit of work left it.
    let updated = p.events.after(cursor, 10).await.unwrap();
    assert_eq!(
        updated[1].payload["ticket"]["version"],
        serde_json::json!(first.ticket.version)
    );
    assert_eq!(live_jobs(&p, JobKind::Send).await, sends_before + 1);

    // Triage run again (a reopening, a job run twice): the result again, no second reply.
    let again = p
        .messages
        .record_triage(ticket.id, &result, Some(text.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.reply, None);
    assert_eq!(live_jobs(&p, JobKind::Send).await, sends_before + 1);

    // Answered by an agent, or closed: no reply. Not asked: none.
    let (_, answered, _) = stored(&p, &inbound(&t, "SM2", "+5511987650002")).await;
    created(reply(&p, &t, answered.id, None).await);
    let (_, closed, _) = stored(&p, &inbound(&t, "SM3", "+5511987650003")).await;
    set_status(&p, &closed, TicketStatus::Closed).await;
    let (_, unasked, _) = stored(&p, &inbound(&t, "SM4", "+5511987650004")).await;
    for (id, asked) in [
        (answered.id, Some(&text)),
        (closed.id, Some(&text)),
        (unasked.id, None),
    ] {
        let recorded = p
            .messages
            .record_triage(id, &result, asked.cloned())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(recorded.reply, None, "ticket {id}");
        assert_eq!(recorded.ticket.category.as_deref(), Some("billing"));
        // Not sent: it stays a suggestion for the agents.
        assert_eq!(
            ticket_now(&p, id).await.suggested_reply.as_deref(),
            Some("Olá! Já vamos ver."),
            "ticket {id}"
        );
    }
    assert_eq!(live_jobs(&p, JobKind::Send).await, sends_before + 2);
    assert_eq!(
        p.messages
            .record_triage(TicketId::new(i64::MAX), &result, Some(text.clone()))
            .await
            .unwrap(),
        None
    );
}

/// One ticket not closed per customer of a company; the assignee is one of its users.
pub async fn a_customer_has_one_open_ticket_and_assignees_come_from_the_company(p: Ports) {
    let t = tenant(&p, 1).await;
    let other = tenant(&p, 2).await;
    let new = |assigned_to: Option<UserId>| NewTicket {
        company_id: t.company,
        customer_phone: phone("+5511987650009"),
        customer_name: None,
        channel: Channel::Whatsapp,
        priority: Priority::High,
        category: None,
        assigned_to,
    };
    let refused = p.tickets.insert(new(Some(other.admin.id))).await;
    assert!(
        matches!(refused, Err(TicketingError::Validation(_))),
        "{refused:?}"
    );
    let cursor = p.events.latest_id().await.unwrap();
    let ticket = p.tickets.insert(new(Some(t.admin.id))).await.unwrap();
    assert_eq!(ticket.status, TicketStatus::New);
    assert_eq!(ticket.priority, Priority::High);
    assert_eq!(ticket.assigned_to, Some(t.admin.id));
    assert_eq!(
        event_types_after(&p, cursor).await,
        [EventType::TicketCreated]
    );
    let again = p.tickets.insert(new(None)).await;
    assert!(
        matches!(again, Err(TicketingError::OpenTicketExists { existing }) if existing == ticket.id.get()),
        "{again:?}"
    );
    let reassign = TicketChanges {
        assigned_to: Some(FieldChange {
            from: Some(t.admin.id),
            to: Some(other.admin.id),
        }),
        ..TicketChanges::default()
    };
    assert!(matches!(
        p.tickets
            .apply(Scope::All, ticket.id, ticket.version, &reassign)
            .await,
        Err(TicketingError::Validation(_))
    ));
    let missing = NewTicket {
        company_id: CompanyId::new(i64::MAX),
        ..new(None)
    };
    assert!(matches!(
        p.tickets.insert(missing).await,
        Err(TicketingError::NotFound)
    ));
}

/// Lists come newest activity first, in keyset pages, filtered as asked.
pub async fn ticket_lists_page_by_latest_activity_and_filter(p: Ports) {
    let t = tenant(&p, 1).await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        let (_, ticket, _) = stored(
            &p,
            &inbound(&t, &format!("SM{n}"), &format!("+551198765000{n}")),
        )
        .await;
        ids.push(ticket.id);
    }
    // The first customer writes again: their ticket is now the most recent.
    stored(&p, &inbound(&t, "SM9", "+5511987650001")).await;
    let scope = Scope::Company(t.company);
    let first = p
        .tickets
        .list(
            scope,
            &TicketFilter::default(),
            PageRequest {
                limit: omni_core::Limit::new(2).unwrap(),
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        first.data.iter().map(|t| t.id).collect::<Vec<_>>(),
        [ids[0], ids[2]]
    );
    let cursor = first.next_cursor.expect("a second page");
    let second = p
        .tickets
        .list(
            scope,
            &TicketFilter::default(),
            PageRequest {
                limit: omni_core::Limit::new(2).unwrap(),
                cursor: Some(cursor),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        second.data.iter().map(|t| t.id).collect::<Vec<_>>(),
        [ids[1]]
    );
    assert_eq!(second.next_cursor, None);

    let resolved = p.tickets.find(scope, ids[1]).await.unwrap().unwrap();
    set_status(&p, &resolved, TicketStatus::Resolved).await;
    let listed = |filter: TicketFilter| {
        let p = p.clone();
        async move {
            p.tickets
                .list(scope, &filter, PageRequest::default())
                .await
                .unwrap()
                .data
                .iter()
                .map(|t| t.id)
                .collect::<Vec<_>>()
        }
    };
    let by_status = TicketFilter {
        statuses: vec![TicketStatus::Resolved],
        ..TicketFilter::default()
    };
    assert_eq!(listed(by_status).await, [ids[1]]);
    let by_phone = TicketFilter {
        customer_phone: Some(phone("+5511987650003")),
        ..TicketFilter::default()
    };
    assert_eq!(listed(by_phone).await, [ids[2]]);
    let by_text = TicketFilter {
        text: Some("SM9".into()),
        ..TicketFilter::default()
    };
    assert_eq!(listed(by_text).await, [ids[0]]);
    let assigned_to_the_admin = TicketFilter {
        assignee: omni_ticketing::AssigneeFilter::User(t.admin.id),
        ..TicketFilter::default()
    };
    assert!(listed(assigned_to_the_admin).await.is_empty());
}

/// Claimed jobs are leased; a failure runs again after its delay; a released job runs again
/// at once without spending an attempt; one company cannot take every slot.
pub async fn jobs_are_leased_retried_released_and_capped_per_company(p: Ports) {
    let a = tenant(&p, 1).await;
    let b = tenant(&p, 2).await;
    for n in 1..=3 {
        stored(
            &p,
            &inbound(&a, &format!("SMa{n}"), &format!("+551198765000{n}")),
        )
        .await;
    }
    stored(&p, &inbound(&b, "SMb1", "+5511987650001")).await;
    let lease = Duration::from_secs(60);
    let claimed = p
        .jobs
        .claim(&[JobKind::Triage], 10, lease, 2)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3, "two of a's and b's one: {claimed:?}");
    assert!(
        claimed
            .iter()
            .all(|j| j.kind == JobKind::Triage && j.attempts == 1)
    );
    assert!(claimed.iter().all(|j| j.job.is_ok()));
    assert!(
        p.jobs
            .claim(&[JobKind::Triage], 10, lease, 2)
            .await
            .unwrap()
            .is_empty(),
        "a still has two running"
    );
    assert!(
        p.jobs
            .claim(&[JobKind::Send], 10, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let (first, second, third) = (claimed[0].id, claimed[1].id, claimed[2].id);
    assert!(p.jobs.extend(first, 1, lease).await.unwrap());
    assert!(
        !p.jobs.extend(first, 2, lease).await.unwrap(),
        "another attempt's"
    );
    assert!(
        !p.jobs
            .fail(first, "try later", Duration::from_secs(3600))
            .await
            .unwrap()
    );
    p.jobs.release(second).await.unwrap();
    // Completing a job given back meanwhile leaves it queued (a late completion from the
    // worker that gave it back must not end another's run).
    p.jobs.complete(&[second, third]).await.unwrap();
    assert!(
        !p.jobs.extend(third, 1, lease).await.unwrap(),
        "done is not held"
    );
    let again = p
        .jobs
        .claim(&[JobKind::Triage], 10, lease, 10)
        .await
        .unwrap();
    let ids: Vec<_> = again.iter().map(|j| j.id).collect();
    assert!(ids.contains(&second), "released runs at once: {again:?}");
    assert!(!ids.contains(&first), "failed waits for its delay");
    let released = again.iter().find(|j| j.id == second).unwrap();
    assert_eq!(released.attempts, 1, "a release spends no attempt");
    let counts = p.jobs.counts().await.unwrap();
    let of = |status: &str| {
        counts
            .iter()
            .filter(|c| c.kind == "triage" && c.status == status)
            .map(|c| c.count)
            .sum::<i64>()
    };
    assert_eq!(of("queued"), 1);
    assert_eq!(of("running"), i64::try_from(again.len()).unwrap());
    assert_eq!(of("done"), 0, "done jobs are not counted");
}

/// The log hands events out in order, and one company's events between two cursors.
pub async fn the_event_log_replays_one_company_between_cursors(p: Ports) {
    let a = tenant(&p, 1).await;
    let b = tenant(&p, 2).await;
    let start = p.events.latest_id().await.unwrap();
    stored(&p, &inbound(&a, "SM1", "+5511987650001")).await;
    stored(&p, &inbound(&b, "SM1", "+5511987650001")).await;
    stored(&p, &inbound(&a, "SM2", "+5511987650001")).await;
    let all = p.events.after(start, 100).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0].id.get() < w[1].id.get()));
    let end = p.events.latest_id().await.unwrap();
    assert_eq!(end, all.last().unwrap().id.get());
    let of_a = p
        .events
        .company_between(a.company, start, end, 100)
        .await
        .unwrap();
    assert_eq!(
        of_a.iter().map(|e| e.event_type).collect::<Vec<_>>(),
        [
            EventType::TicketCreated,
            EventType::MessageCreated,
            EventType::MessageCreated
        ]
    );
    assert!(of_a.iter().all(|e| e.company_id == a.company));
    let upto_first = p
        .events
        .company_between(a.company, start, all[1].id.get(), 100)
        .await
        .unwrap();
    assert_eq!(upto_first.len(), 2, "upto is inclusive");
    assert_eq!(p.events.after(start, 2).await.unwrap().len(), 2, "limit");
    assert_eq!(p.events.prune(Duration::from_secs(3600)).await.unwrap(), 0);
    assert!(p.events.pruned_through().await.unwrap() <= start);
}

/// E-mail addresses are unique; a company keeps at least one admin; a WebSocket ticket is
/// taken once; revoked tokens and ended sessions show in the session lookup.
pub async fn users_have_unique_emails_and_a_company_keeps_an_admin(p: Ports) {
    let t = tenant(&p, 1).await;
    let agent = |email: &str| NewUser {
        company_id: Some(t.company),
        email: Email::parse(email).unwrap(),
        name: name("Agent"),
        role: Role::Agent,
        password_hash: PasswordHash::new("hash".into()),
    };
    let bia = p.users.insert(agent("bia@example.com")).await.unwrap();
    assert!(matches!(
        p.users.insert(agent("admin1@example.com")).await,
        Err(IdentityError::EmailTaken)
    ));
    let (found, hash) = p
        .users
        .find_credentials(&Email::parse("bia@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, hash.as_str()), (bia.id, "hash"));
    assert!(matches!(
        p.users.delete(Scope::All, t.admin.id, true).await,
        Err(IdentityError::LastAdmin)
    ));
    let demote = UserUpdate {
        role: Some(Role::Agent),
        removes_an_admin: true,
        ..UserUpdate::default()
    };
    assert!(matches!(
        p.users.update(Scope::All, t.admin.id, demote).await,
        Err(IdentityError::LastAdmin)
    ));
    let renamed = p
        .users
        .update(
            Scope::Company(t.company),
            bia.id,
            UserUpdate {
                name: Some(name("Bia")),
                end_sessions: true,
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.name.as_str(), "Bia");
    assert_eq!(renamed.session_epoch, bia.session_epoch + 1);

    let session = omni_identity::Session {
        principal: omni_identity::Principal::of(&renamed),
        token_id: "tok-1".into(),
        session_epoch: renamed.session_epoch,
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
    };
    p.users.store_ticket("ws-1", &session, 30).await.unwrap();
    let grant = p.users.take_ticket("ws-1").await.unwrap().unwrap();
    assert_eq!((grant.user_id, grant.token_id.as_str()), (bia.id, "tok-1"));
    assert_eq!(p.users.take_ticket("ws-1").await.unwrap(), None, "once");

    let (_, revoked) = p
        .users
        .find_session(bia.id, "tok-1")
        .await
        .unwrap()
        .unwrap();
    assert!(!revoked);
    p.users
        .revoke_token(bia.id, "tok-1", session.expires_at)
        .await
        .unwrap();
    let (_, revoked) = p
        .users
        .find_session(bia.id, "tok-1")
        .await
        .unwrap()
        .unwrap();
    assert!(revoked);
    p.users.end_sessions(bia.id).await.unwrap();
    let (user, _) = p
        .users
        .find_session(bia.id, "tok-2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.session_epoch, renamed.session_epoch + 1);
    assert!(
        p.users
            .delete(Scope::Company(t.company), bia.id, false)
            .await
            .unwrap()
    );
    assert_eq!(p.users.find(Scope::All, bia.id).await.unwrap(), None);
}

/// A number belongs to one integration, by which webhooks find their company.
pub async fn integration_numbers_are_unique_and_route_webhooks(p: Ports) {
    let t = tenant(&p, 1).await;
    let other = tenant(&p, 2).await;
    let number = phone("+14155550001");
    let routed = p
        .integrations
        .find_by_phone(&number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((routed.id, routed.company_id), (t.integration, t.company));
    let taken = p
        .integrations
        .insert(NewIntegration {
            company_id: other.company,
            kind: IntegrationType::TwilioWhatsapp,
            config: routed.config.clone(),
            secrets: BTreeMap::new(),
            enabled: true,
        })
        .await;
    assert!(matches!(taken, Err(TenancyError::Conflict(_))), "{taken:?}");
    assert_eq!(
        p.integrations
            .channels(t.company)
            .await
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect::<Vec<_>>(),
        [t.integration]
    );
    let disabled = p
        .integrations
        .update(
            Scope::Company(t.company),
            t.integration,
            omni_tenancy::IntegrationChanges {
                config: routed.config.clone(),
                secrets: BTreeMap::new(),
                enabled: false,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!disabled.enabled);
    assert!(p.integrations.channels(t.company).await.unwrap().is_empty());
    assert!(
        !p.integrations
            .delete(Scope::Company(other.company), t.integration)
            .await
            .unwrap()
    );
    assert!(
        p.integrations
            .delete(Scope::All, t.integration)
            .await
            .unwrap()
    );
    assert_eq!(p.integrations.find_by_phone(&number).await.unwrap(), None);
}

/// A company's deletion takes its users, integrations and tickets with it.
pub async fn deleting_a_company_takes_what_it_owned(p: Ports) {
    let t = tenant(&p, 1).await;
    let keep = tenant(&p, 2).await;
    let (_, ticket, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    assert!(
        !p.companies
            .delete(Scope::Company(keep.company), t.company)
            .await
            .unwrap()
    );
    assert!(p.companies.delete(Scope::All, t.company).await.unwrap());
    assert_eq!(p.companies.find(Scope::All, t.company).await.unwrap(), None);
    assert_eq!(p.users.find(Scope::All, t.admin.id).await.unwrap(), None);
    assert_eq!(p.tickets.find(Scope::All, ticket.id).await.unwrap(), None);
    assert_eq!(
        p.integrations
            .find(Scope::All, t.integration)
            .await
            .unwrap(),
        None
    );
    assert!(
        p.companies
            .find(Scope::All, keep.company)
            .await
            .unwrap()
            .is_some()
    );
}

/// The first attempt to send is noted; a later one learns when the first began (its
/// worker died before recording an outcome); sending again by hand starts afresh.
pub async fn a_send_attempt_is_on_record_before_the_provider_is_called(p: Ports) {
    let t = tenant(&p, 1).await;
    let (_, ticket, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    let message = created(reply(&p, &t, ticket.id, None).await);
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    assert_eq!(
        p.messages.begin_send(message.id).await.unwrap(),
        Some(SendStart::First)
    );
    let Some(SendStart::Retaken { since }) = p.messages.begin_send(message.id).await.unwrap()
    else {
        panic!("a second attempt is a takeover");
    };
    assert!(since >= before && since <= chrono::Utc::now());
    assert_eq!(
        p.messages.begin_send(message.id).await.unwrap(),
        Some(SendStart::Retaken { since }),
        "the first start stays"
    );
    // Sending a never-sent message again by hand keeps the interrupted attempt on record.
    p.messages
        .requeue(Scope::Company(t.company), message.id)
        .await
        .unwrap();
    assert_eq!(
        p.messages.begin_send(message.id).await.unwrap(),
        Some(SendStart::Retaken { since })
    );
    p.messages
        .mark_failed(message.id, None, "refused")
        .await
        .unwrap();
    p.messages
        .requeue(Scope::Company(t.company), message.id)
        .await
        .unwrap();
    assert_eq!(
        p.messages.begin_send(message.id).await.unwrap(),
        Some(SendStart::First)
    );
    // A provider id belongs to one message of a company.
    assert!(!p.messages.sid_in_use(t.company, "SMone").await.unwrap());
    p.messages
        .mark_sent(message.id, "SMone", DeliveryStatus::Sent)
        .await
        .unwrap();
    assert!(p.messages.sid_in_use(t.company, "SMone").await.unwrap());
    let other = tenant(&p, 2).await;
    assert!(!p.messages.sid_in_use(other.company, "SMone").await.unwrap());
    let second = created(reply(&p, &t, ticket.id, None).await);
    assert!(
        p.messages
            .mark_sent(second.id, "SMone", DeliveryStatus::Sent)
            .await
            .is_err(),
        "a second message cannot take the id"
    );
    assert_eq!(
        p.messages
            .begin_send(MessageId::new(i64::MAX))
            .await
            .unwrap(),
        None
    );
}

/// Every change that reports count leaves a fact in the same unit of work: the opening,
/// an agent's first answer and each reply, each resolution timed from the latest opening
/// (a reopened ticket is no longer resolved), the deletion of a waiting ticket; another
/// company's history is not the company's.
pub async fn a_tickets_history_is_what_reports_count(p: Ports) {
    use omni_ticketing::FactKind::*;
    let t = tenant(&p, 1).await;
    let other = tenant(&p, 2).await;
    stored(&p, &inbound(&other, "SMX", "+5511987650009")).await;
    let (_, ticket, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    let first = created(reply(&p, &t, ticket.id, None).await);
    reply(&p, &t, ticket.id, None).await;
    let resolved = set_status(&p, &ticket, TicketStatus::Resolved).await;
    let first_resolution = resolved.resolved_at.expect("resolved");
    let (_, reopened, _) = stored(&p, &inbound(&t, "SM2", "+5511987650001")).await;
    assert_eq!(reopened.status, TicketStatus::Open);
    assert_eq!(
        reopened.resolved_at, None,
        "a reopened ticket is not resolved"
    );
    let reopened_at = reopened.reopened_at.expect("reopened");
    assert!(reopened_at >= first_resolution);
    let again = set_status(&p, &reopened, TicketStatus::Resolved).await;
    let (_, spam, _) = stored(&p, &inbound(&t, "SM3", "+5511987650002")).await;
    assert!(p.tickets.delete(Scope::All, spam.id).await.unwrap());

    let history = p.reports.history(t.company).await.unwrap();
    let kinds: Vec<_> = history
        .iter()
        .map(|f| (f.fact.ticket_id, f.fact.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            (ticket.id, Opened),
            (ticket.id, Replied),
            (ticket.id, FirstResponse),
            (ticket.id, Replied),
            (ticket.id, Resolved),
            (ticket.id, Reopened),
            (ticket.id, Resolved),
            (spam.id, Opened),
            (spam.id, Deleted),
        ]
    );
    let fact = |i: usize| &history[i].fact;
    assert_eq!(fact(2).at, first.created_at);
    assert_eq!(fact(2).since, Some(ticket.created_at));
    assert_eq!(fact(2).agent, Some(t.admin.id));
    assert_eq!(fact(4).since, Some(ticket.created_at));
    assert_eq!(fact(5).at, reopened_at);
    assert_eq!(fact(6).since, Some(reopened_at));
    assert_eq!(Some(fact(6).at), again.resolved_at);
    // Broken down by the ticket as it is (a deleted one has no fields left).
    assert_eq!(history[0].dims.channel, Some(Channel::Whatsapp));
    assert_eq!(history[0].dims.priority, Some(Priority::Medium));
    assert_eq!(history[8].dims.channel, None);
    let others = p.reports.history(other.company).await.unwrap();
    assert_eq!(others.len(), 1);
}

/// Resolving with the survey on queues its job; the question is recorded once whatever the
/// job's runs; the customer's score within a day rates the ticket without reopening it
/// (`ticket.rated`), anything else reopens it as usual.
pub async fn a_satisfaction_question_goes_once_and_a_score_rates_without_reopening(p: Ports) {
    use omni_ticketing::FactKind;
    let t = tenant(&p, 1).await;
    let (_, ticket, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    // Not resolved: nothing is due.
    let question = MessageContent::parse("De 1 a 5?").unwrap();
    assert!(
        p.messages
            .record_survey(ticket.id, question.clone())
            .await
            .unwrap()
            .is_none()
    );
    let current = ticket_now(&p, ticket.id).await;
    let mut changes = current.status_change(TicketStatus::Resolved, chrono::Utc::now());
    changes.ask_rating = true;
    p.tickets
        .apply(Scope::All, current.id, current.version, &changes)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live_jobs(&p, JobKind::Survey).await, 1);
    let asked = p
        .messages
        .record_survey(ticket.id, question.clone())
        .await
        .unwrap()
        .expect("the question");
    assert_eq!(asked.author_id, None);
    assert_eq!(asked.content, "De 1 a 5?");
    assert!(
        p.messages
            .record_survey(ticket.id, question)
            .await
            .unwrap()
            .is_none(),
        "once"
    );
    let after = ticket_now(&p, ticket.id).await;
    assert_eq!(after.survey_sent_at, Some(asked.created_at));

    // A reply that is no score ("pedido atrasado SM2") reopens the ticket as usual.
    let (_, reopened, _) = stored(&p, &inbound(&t, "SM2", "+5511987650001")).await;
    assert_eq!(reopened.status, TicketStatus::Open);
    assert_eq!(reopened.rating, None);

    let (_, second, _) = stored(&p, &inbound(&t, "SM3", "+5511987650002")).await;
    let current = ticket_now(&p, second.id).await;
    p.tickets
        .apply(
            Scope::All,
            current.id,
            current.version,
            &current.status_change(TicketStatus::Resolved, chrono::Utc::now()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        live_jobs(&p, JobKind::Survey).await,
        1,
        "not asked: survey off"
    );
    p.messages
        .record_survey(second.id, MessageContent::parse("Nota?").unwrap())
        .await
        .unwrap()
        .expect("due");
    let cursor = p.events.latest_id().await.unwrap();
    let mut score = inbound(&t, "SM4", "+5511987650002");
    score.body = "Ótimo, obrigado!".into();
    let (_, after, new_ticket) = stored(&p, &score).await;
    assert!(!new_ticket);
    assert_eq!(after.status, TicketStatus::Resolved);
    let rating = after.rating.clone().expect("rated");
    assert_eq!(rating.score, 5);
    assert_eq!(rating.comment.as_deref(), Some("Ótimo, obrigado!"));
    assert_eq!(
        event_types_after(&p, cursor).await,
        [EventType::MessageCreated, EventType::TicketRated]
    );
    assert_eq!(
        live_jobs(&p, JobKind::Triage).await,
        2,
        "a rating is not triaged"
    );
    let history = p.reports.history(t.company).await.unwrap();
    let rated_fact = history
        .iter()
        .find(|f| f.fact.kind == FactKind::Rated)
        .expect("a rated fact");
    assert_eq!(rated_fact.fact.score, Some(5));
    assert_eq!(
        history
            .iter()
            .filter(|f| f.fact.kind == FactKind::SurveySent)
            .count(),
        2
    );
}

/// An inbox's previews: the latest message of each ticket asked for, whoever wrote it, and
/// only from the company named with the ticket.
pub async fn the_latest_message_of_each_ticket_comes_in_one_call(p: Ports) {
    let t = tenant(&p, 1).await;
    let other = tenant(&p, 2).await;
    let (_, first, _) = stored(&p, &inbound(&t, "SM1", "+5511987650001")).await;
    stored(&p, &inbound(&t, "SM2", "+5511987650001")).await;
    let answer = created(reply(&p, &t, first.id, None).await);
    let (second_message, second, _) = stored(&p, &inbound(&t, "SM3", "+5511987650002")).await;
    let (_, elsewhere, _) = stored(&p, &inbound(&other, "SM4", "+5511987650003")).await;

    let mut latest = p
        .messages
        .latest(&[
            (t.company, first.id),
            (t.company, second.id),
            // Named with the wrong company: nothing.
            (t.company, elsewhere.id),
            (t.company, TicketId::new(i64::MAX)),
        ])
        .await
        .unwrap();
    latest.sort_by_key(|m| m.ticket_id);
    assert_eq!(
        latest.iter().map(|m| m.id).collect::<Vec<_>>(),
        [answer.id, second_message.id]
    );
    assert!(p.messages.latest(&[]).await.unwrap().is_empty());
}
