//! The messaging use cases against mocks of every port: what each decides before (or
//! instead of) calling the store and the provider.

use std::collections::BTreeMap;

use chrono::Utc;
use mockall::predicate::eq;
use omni_core::{CompanyId, IntegrationId, MessageId, PhoneNumber, Scope, TicketId, UserId};
use omni_identity::{Principal, Role};
use omni_tenancy::{
    Integration, IntegrationConfig, IntegrationType, MockCredentialVerifier,
    MockIntegrationRepository, MockSecretCipher, SealedSecret, SecretString, TwilioConfig,
};
use omni_ticketing::Channel;

use super::*;
use crate::{
    CustomerMessage, Delivery, DeliveryStatus, InboundOutcome, MockChannelSender, MockLinkSigner,
    MockMediaFetcher, MockMessageStore, MockTemplateCatalog, MockUploadStore, MockWebhookVerifier,
    ProviderStatus, SendStart, Sent, SignedWebhook, WebhookRefusal,
};

const A: CompanyId = CompanyId::new(1);
const CHANNEL: IntegrationId = IntegrationId::new(3);
const TICKET: TicketId = TicketId::new(7);
const PUBLIC: &str = "https://omni.test";
const CALLBACK: &str = "https://omni.test/ticket-messages/webhook";

fn phone(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s).unwrap()
}

fn agent() -> Principal {
    Principal {
        user_id: UserId::new(9),
        company_id: Some(A),
        role: Role::Agent,
    }
}

fn integration(enabled: bool) -> Integration {
    Integration {
        id: CHANNEL,
        company_id: A,
        kind: IntegrationType::TwilioWhatsapp,
        config: IntegrationConfig::Twilio(TwilioConfig {
            account_sid: "AC0123456789abcdef0123456789abcdef".into(),
            phone_number: phone("+14155550100"),
            messaging_service_sid: None,
        }),
        secrets: BTreeMap::from([(
            "auth_token".to_owned(),
            SealedSecret {
                key_id: "k1".into(),
                nonce: vec![0; 12],
                ciphertext: b"nekot".to_vec(),
            },
        )]),
        enabled,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn message(status: DeliveryStatus, ticket: TicketId) -> TicketMessage {
    TicketMessage {
        id: MessageId::new(11),
        ticket_id: ticket,
        company_id: A,
        content: "Olá".into(),
        from_customer: false,
        whatsapp_number: phone("+5511987650001"),
        whatsapp_message_id: None,
        author_id: Some(UserId::new(9)),
        delivery_status: status,
        error_code: None,
        error_message: None,
        media: vec![],
        template: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        retry: None,
    }
}

/// The ports a test sets expectations on; whatever it leaves alone must not be called.
#[derive(Default)]
struct Ports {
    store: MockMessageStore,
    repo: MockIntegrationRepository,
    sender: MockChannelSender,
    media: MockMediaFetcher,
    templates: MockTemplateCatalog,
    webhooks: MockWebhookVerifier,
    uploads: MockUploadStore,
    links: MockLinkSigner,
}

impl Ports {
    fn service(self) -> MessagingService {
        // "Opens" a sealed secret by reversing it: the sender must see the token in clear.
        let mut cipher = MockSecretCipher::new();
        cipher.expect_open().returning(|_, _, sealed| {
            Ok(SecretString::new(
                String::from_utf8(sealed.ciphertext.iter().rev().copied().collect()).unwrap(),
            ))
        });
        let integrations = IntegrationService::new(
            Arc::new(self.repo),
            Arc::new(cipher),
            Arc::new(MockCredentialVerifier::new()),
        );
        MessagingService::new(
            MessagingPorts {
                store: Arc::new(self.store),
                integrations,
                sender: Arc::new(self.sender),
                media: Arc::new(self.media),
                templates: Arc::new(self.templates),
                webhooks: Arc::new(self.webhooks),
                uploads: Arc::new(self.uploads),
                links: Arc::new(self.links),
            },
            PUBLIC,
        )
    }
}

#[tokio::test]
async fn a_reply_is_checked_before_anything_is_stored() {
    let s = Ports::default().service();
    match s
        .reply(&agent(), TICKET, Some("   "), &Attachments::default(), None)
        .await
    {
        Err(MessagingError::Validation(e)) => assert_eq!(e[0].field, "content"),
        other => panic!("{other:?}"),
    }
    let too_long = "a".repeat(crate::MAX_WHATSAPP_CHARS + 1);
    assert!(matches!(
        s.reply(
            &agent(),
            TICKET,
            Some(&too_long),
            &Attachments::default(),
            None
        )
        .await,
        Err(MessagingError::Validation(_))
    ));
    let lost = Principal {
        company_id: None,
        ..agent()
    };
    assert!(matches!(
        s.reply(&lost, TICKET, Some("Olá"), &Attachments::default(), None)
            .await,
        Err(MessagingError::Forbidden(_))
    ));
}

#[tokio::test]
async fn a_reply_is_stored_in_the_callers_scope_with_its_author() {
    let mut ports = Ports::default();
    ports
        .store
        .expect_record_outbound()
        .withf(|scope, o| {
            *scope == Scope::Company(A)
                && o.ticket_id == TICKET
                && o.author_id == Some(UserId::new(9))
                && o.content == "Olá"
        })
        .times(1)
        .returning(|_, _| {
            Ok(OutboundOutcome::Created(message(
                DeliveryStatus::Queued,
                TICKET,
            )))
        });
    let (m, replayed) = ports
        .service()
        .reply(
            &agent(),
            TICKET,
            Some("  Olá "),
            &Attachments::default(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(m.ticket_id, TICKET);
    assert!(!replayed);
}

#[tokio::test]
async fn a_replayed_key_answers_the_first_message_of_its_own_ticket_only() {
    let key = || IdempotencyKey::from_client("retry-1").unwrap();
    for (first_on, expect_replay) in [(TICKET, true), (TicketId::new(8), false)] {
        let mut ports = Ports::default();
        ports.store.expect_record_outbound().returning(move |_, _| {
            Ok(OutboundOutcome::Replayed(message(
                DeliveryStatus::Sent,
                first_on,
            )))
        });
        let answer = ports
            .service()
            .reply(
                &agent(),
                TICKET,
                Some("Olá"),
                &Attachments::default(),
                Some(key()),
            )
            .await;
        match answer {
            Ok((_, replayed)) => assert!(expect_replay && replayed),
            Err(MessagingError::KeyReused) => assert!(!expect_replay),
            Err(other) => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn resend_and_reads_use_the_callers_scope() {
    let mut ports = Ports::default();
    ports
        .store
        .expect_requeue()
        .with(eq(Scope::Company(A)), eq(MessageId::new(11)))
        .returning(|_, _| Err(MessagingError::AlreadySent));
    ports.store.expect_find().returning(|_, _| Ok(None));
    ports.store.expect_list().returning(|_, _, _| Ok(None));
    let s = ports.service();
    assert!(matches!(
        s.resend(&agent(), MessageId::new(11)).await,
        Err(MessagingError::AlreadySent)
    ));
    assert!(matches!(
        s.get(&agent(), MessageId::new(11)).await,
        Err(MessagingError::NotFound)
    ));
    assert!(matches!(
        s.list(&agent(), TICKET, omni_core::PageRequest::default())
            .await,
        Err(MessagingError::NotFound)
    ));
}

fn waiting(ports: &mut Ports, status: DeliveryStatus) {
    ports.store.expect_delivery().returning(move |_| {
        Ok(Some(Delivery {
            message: message(status, TICKET),
            integration_id: Some(CHANNEL),
            channel: Channel::Whatsapp,
        }))
    });
}

fn channels(ports: &mut Ports, found: Vec<Integration>) {
    ports
        .repo
        .expect_channels()
        .with(eq(A))
        .returning(move |_| Ok(found.clone()));
}

#[tokio::test]
async fn a_message_that_left_already_is_not_sent_again() {
    for status in [
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ] {
        let mut ports = Ports::default();
        waiting(&mut ports, status);
        ports.sender.expect_send().never();
        ports.service().deliver(MessageId::new(11)).await.unwrap();
    }
    let mut gone = Ports::default();
    gone.store.expect_delivery().returning(|_| Ok(None));
    gone.service().deliver(MessageId::new(11)).await.unwrap();
}

#[tokio::test]
async fn a_message_is_sent_with_the_opened_token_and_its_sid_recorded() {
    let mut ports = Ports::default();
    waiting(&mut ports, DeliveryStatus::Queued);
    channels(&mut ports, vec![integration(true)]);
    first_attempt(&mut ports);
    ports
        .sender
        .expect_send()
        .withf(|r| {
            r.secrets
                .twilio()
                .is_some_and(|t| t.auth_token.expose() == "token")
                && r.whatsapp
                && r.to == phone("+5511987650001")
                && r.status_callback == CALLBACK
        })
        .times(1)
        .returning(|_| {
            Ok(Sent {
                sid: "SM1".into(),
                status: DeliveryStatus::Sent,
            })
        });
    ports
        .store
        .expect_mark_sent()
        .with(eq(MessageId::new(11)), eq("SM1"), eq(DeliveryStatus::Sent))
        .times(1)
        .returning(|_, _, _| Ok(()));
    ports.service().deliver(MessageId::new(11)).await.unwrap();
}

#[tokio::test]
async fn a_refusal_fails_the_message_and_a_temporary_failure_retries_the_job() {
    let mut refused = Ports::default();
    waiting(&mut refused, DeliveryStatus::Queued);
    channels(&mut refused, vec![integration(true)]);
    first_attempt(&mut refused);
    refused.sender.expect_send().returning(|_| {
        Err(SendError::Permanent {
            code: Some(63016),
            message: "outside the window".into(),
        })
    });
    refused
        .store
        .expect_mark_failed()
        .with(
            eq(MessageId::new(11)),
            eq(Some(63016)),
            eq("outside the window"),
        )
        .times(1)
        .returning(|_, _, _| Ok(()));
    refused.service().deliver(MessageId::new(11)).await.unwrap();

    let mut flaky = Ports::default();
    waiting(&mut flaky, DeliveryStatus::Queued);
    channels(&mut flaky, vec![integration(true)]);
    first_attempt(&mut flaky);
    flaky
        .sender
        .expect_send()
        .returning(|_| Err(SendError::Retryable("503".into())));
    flaky.store.expect_mark_failed().never();
    flaky.store.expect_mark_sent().never();
    assert!(flaky.service().deliver(MessageId::new(11)).await.is_err());
}

fn first_attempt(ports: &mut Ports) {
    ports
        .store
        .expect_begin_send()
        .with(eq(MessageId::new(11)))
        .times(1)
        .returning(|_| Ok(Some(SendStart::First)));
    ports.sender.expect_find_sent().never();
}

fn retaken(ports: &mut Ports, since: chrono::DateTime<chrono::Utc>) {
    waiting(ports, DeliveryStatus::Queued);
    channels(ports, vec![integration(true)]);
    ports
        .store
        .expect_begin_send()
        .returning(move |_| Ok(Some(SendStart::Retaken { since })));
}

#[tokio::test]
async fn an_interrupted_send_is_asked_about_before_it_is_sent_again() {
    let since = chrono::Utc::now() - chrono::Duration::seconds(30);
    // The provider had it: its sid is recorded and nothing is sent.
    let mut had_it = Ports::default();
    retaken(&mut had_it, since);
    had_it
        .sender
        .expect_find_sent()
        .withf(move |r, at| *at == since && r.body == "Olá" && r.to == phone("+5511987650001"))
        .times(1)
        .returning(|_, _| {
            Ok(vec![Sent {
                sid: "SMfirst".into(),
                status: DeliveryStatus::Delivered,
            }])
        });
    had_it.store.expect_sid_in_use().returning(|_, _| Ok(false));
    had_it.sender.expect_send().never();
    had_it
        .store
        .expect_mark_sent()
        .with(
            eq(MessageId::new(11)),
            eq("SMfirst"),
            eq(DeliveryStatus::Delivered),
        )
        .times(1)
        .returning(|_, _, _| Ok(()));
    had_it.service().deliver(MessageId::new(11)).await.unwrap();

    // It never reached the provider: sent now.
    let mut lost = Ports::default();
    retaken(&mut lost, since);
    // The one message Twilio has with these words is another message's.
    lost.sender.expect_find_sent().returning(|_, _| {
        Ok(vec![Sent {
            sid: "SMother".into(),
            status: DeliveryStatus::Read,
        }])
    });
    lost.store
        .expect_sid_in_use()
        .withf(|_, sid| sid == "SMother")
        .returning(|_, _| Ok(true));
    lost.sender.expect_send().times(1).returning(|_| {
        Ok(Sent {
            sid: "SMsecond".into(),
            status: DeliveryStatus::Sending,
        })
    });
    lost.store
        .expect_mark_sent()
        .with(
            eq(MessageId::new(11)),
            eq("SMsecond"),
            eq(DeliveryStatus::Sending),
        )
        .times(1)
        .returning(|_, _, _| Ok(()));
    lost.service().deliver(MessageId::new(11)).await.unwrap();

    // The provider cannot say: try later, never guess.
    let mut unsure = Ports::default();
    retaken(&mut unsure, since);
    unsure
        .sender
        .expect_find_sent()
        .returning(|_, _| Err(SendError::Retryable("timed out".into())));
    unsure.sender.expect_send().never();
    unsure.store.expect_mark_sent().never();
    unsure.store.expect_mark_failed().never();
    assert!(unsure.service().deliver(MessageId::new(11)).await.is_err());

    // Even a refusal to answer is no outcome: no failure is recorded (a failed message
    // may be resent without the question).
    let mut refused = Ports::default();
    retaken(&mut refused, since);
    refused.sender.expect_find_sent().returning(|_, _| {
        Err(SendError::Permanent {
            code: Some(20003),
            message: "Authenticate".into(),
        })
    });
    refused.sender.expect_send().never();
    refused.store.expect_mark_failed().never();
    assert!(refused.service().deliver(MessageId::new(11)).await.is_err());
}

#[tokio::test]
async fn with_no_channel_left_the_message_fails_without_a_send() {
    let mut ports = Ports::default();
    waiting(&mut ports, DeliveryStatus::Queued);
    channels(&mut ports, vec![]);
    ports.sender.expect_send().never();
    ports
        .store
        .expect_mark_failed()
        .withf(|_, code, why| code.is_none() && why.contains("no enabled channel"))
        .times(1)
        .returning(|_, _, _| Ok(()));
    ports.service().deliver(MessageId::new(11)).await.unwrap();
}

fn signed() -> SignedWebhook<'static> {
    SignedWebhook {
        url: CALLBACK,
        body: b"To=%2B14155550100&Body=oi",
        signature: "c2lnbmVk",
        signing_settings: None,
    }
}

#[tokio::test]
async fn a_webhook_for_no_enabled_number_or_with_a_bad_signature_is_refused() {
    for found in [None, Some(integration(false))] {
        let mut ports = Ports::default();
        ports
            .repo
            .expect_find_by_phone()
            .returning(move |_| Ok(found.clone()));
        ports.webhooks.expect_is_signed().never();
        match ports
            .service()
            .authenticate(&phone("+14155550100"), &signed())
            .await
        {
            Err(MessagingError::Refused(WebhookRefusal::UnknownNumber)) => {}
            other => panic!("{other:?}"),
        }
    }
    let mut forged = Ports::default();
    forged
        .repo
        .expect_find_by_phone()
        .returning(|_| Ok(Some(integration(true))));
    forged
        .webhooks
        .expect_is_signed()
        .withf(|w, secrets| {
            w.signature == "c2lnbmVk"
                && secrets
                    .twilio()
                    .is_some_and(|t| t.auth_token.expose() == "token")
        })
        .times(1)
        .returning(|_, _| false);
    assert!(matches!(
        forged
            .service()
            .authenticate(&phone("+14155550100"), &signed())
            .await,
        Err(MessagingError::Refused(WebhookRefusal::BadSignature))
    ));
}

#[tokio::test]
async fn a_verified_message_is_cleaned_and_stored_for_its_integrations_company() {
    let mut ports = Ports::default();
    ports
        .repo
        .expect_find_by_phone()
        .returning(|_| Ok(Some(integration(true))));
    ports.webhooks.expect_is_signed().returning(|_, _| true);
    ports
        .store
        .expect_record_inbound()
        .withf(|i| {
            i.company_id == A
                && i.integration_id == CHANNEL
                && i.channel == Channel::Sms
                && i.body == "oi\ntudo bem"
                && i.customer_name
                    .as_ref()
                    .is_some_and(|n| n.chars().count() == 200)
        })
        .times(1)
        .returning(|_| {
            Ok(InboundOutcome::Duplicate {
                message_id: MessageId::new(1),
            })
        });
    ports
        .store
        .expect_apply_status()
        .withf(|r| r.company_id == A && r.message_sid == "SM1" && r.status == DeliveryStatus::Read)
        .times(1)
        .returning(|_| Ok(None));
    let s = ports.service();
    let from = s
        .authenticate(&phone("+14155550100"), &signed())
        .await
        .unwrap();
    assert_eq!(from.integration().id, CHANNEL);
    s.accept_inbound(
        &from,
        CustomerMessage {
            message_sid: "SM0".into(),
            customer: phone("+5511987650001"),
            customer_name: Some("Z\u{0}é".repeat(150)),
            whatsapp: false,
            body: "oi\u{0}\ntudo\u{7} bem".into(),
            media: vec![],
        },
    )
    .await
    .unwrap();
    s.apply_status(
        &from,
        ProviderStatus {
            message_sid: "SM1".into(),
            status: DeliveryStatus::Read,
            error_code: None,
            error_message: None,
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_signed_upload_url_works_until_it_expires_and_not_after() {
    let now = chrono::Utc::now();
    let mut ports = Ports::default();
    // Every signature checks out here: only the expiry can refuse.
    ports.links.expect_verify().return_const(true);
    ports.uploads.expect_content().times(1).returning(|id| {
        Ok(Some((
            crate::Upload {
                id,
                company_id: A,
                content_type: "image/png".into(),
                filename: None,
                size: 3,
                created_at: chrono::Utc::now(),
            },
            bytes::Bytes::from_static(b"png"),
        )))
    });
    let s = ports.service();
    let id = omni_core::UploadId::new(7);
    assert!(matches!(
        s.signed_upload(id, now.timestamp() - 1, "sig", now).await,
        Err(MessagingError::NotFound)
    ));
    let (upload, bytes) = s
        .signed_upload(id, now.timestamp() + 60, "sig", now)
        .await
        .unwrap();
    assert_eq!((upload.id, bytes.as_ref()), (id, &b"png"[..]));
}
