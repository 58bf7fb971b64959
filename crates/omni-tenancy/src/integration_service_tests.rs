use chrono::Utc;
use mockall::predicate::eq;
use omni_core::{Scope, UserId};
use serde_json::json;

use super::*;
use crate::{MockCredentialVerifier, MockIntegrationRepository, MockSecretCipher, SealedSecret};

const A: CompanyId = CompanyId::new(1);
const B: CompanyId = CompanyId::new(2);
const SID: &str = "AC0123456789abcdef0123456789abcdef";

fn who(role: Role, company: Option<CompanyId>) -> Principal {
    Principal {
        user_id: UserId::new(1),
        company_id: company,
        role,
    }
}

/// A cipher that "seals" by reversing: enough to see that what is stored is not the input.
fn cipher() -> MockSecretCipher {
    let mut c = MockSecretCipher::new();
    c.expect_seal().returning(|_, _, s| {
        Ok(SealedSecret {
            key_id: "k1".into(),
            nonce: vec![0; 12],
            ciphertext: s.expose().bytes().rev().collect(),
        })
    });
    c.expect_open().returning(|_, _, sealed| {
        Ok(SecretString::new(
            String::from_utf8(sealed.ciphertext.iter().rev().copied().collect()).unwrap(),
        ))
    });
    c
}

fn stored(id: i64, company: CompanyId) -> Integration {
    let parsed = IntegrationConfig::parse(
        IntegrationType::TwilioWhatsapp,
        &json!({"account_sid": SID, "auth_token": "old-token", "phone_number": "+14155550100"}),
        None,
    )
    .unwrap();
    Integration {
        id: IntegrationId::new(id),
        company_id: company,
        kind: IntegrationType::TwilioWhatsapp,
        config: parsed.config,
        secrets: BTreeMap::from([(
            "auth_token".to_owned(),
            SealedSecret {
                key_id: "k1".into(),
                nonce: vec![0; 12],
                ciphertext: b"nekot-dlo".to_vec(),
            },
        )]),
        enabled: true,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

/// A provider that says every number is the account's.
fn owning() -> MockCredentialVerifier {
    let mut v = MockCredentialVerifier::new();
    v.expect_owns_number().returning(|_, _| NumberCheck::Owned);
    v
}

fn service(
    repo: MockIntegrationRepository,
    verifier: MockCredentialVerifier,
) -> IntegrationService {
    IntegrationService::new(Arc::new(repo), Arc::new(cipher()), Arc::new(verifier))
}

fn twilio_input(company: Option<CompanyId>) -> IntegrationInput {
    IntegrationInput {
        kind: IntegrationType::TwilioWhatsapp,
        config: json!({"account_sid": SID, "auth_token": "secret-token", "phone_number": "+14155550100"}),
        enabled: None,
        company_id: company,
    }
}

#[tokio::test]
async fn agents_may_not_touch_integrations() {
    let s = service(
        MockIntegrationRepository::new(),
        MockCredentialVerifier::new(),
    );
    let agent = who(Role::Agent, Some(A));
    let id = IntegrationId::new(1);
    assert!(matches!(
        s.list(&agent, PageRequest::default()).await,
        Err(TenancyError::Forbidden(_))
    ));
    assert!(matches!(
        s.get(&agent, id).await,
        Err(TenancyError::Forbidden(_))
    ));
    assert!(matches!(
        s.create(&agent, twilio_input(None)).await,
        Err(TenancyError::Forbidden(_))
    ));
    assert!(matches!(
        s.update(&agent, id, IntegrationUpdateInput::default())
            .await,
        Err(TenancyError::Forbidden(_))
    ));
    assert!(matches!(
        s.delete(&agent, id).await,
        Err(TenancyError::Forbidden(_))
    ));
    assert!(matches!(
        s.verify(&agent, id).await,
        Err(TenancyError::Forbidden(_))
    ));
}

#[tokio::test]
async fn secrets_are_sealed_before_they_are_stored() {
    let mut repo = MockIntegrationRepository::new();
    repo.expect_insert()
        .withf(|new| {
            new.company_id == A
                && new.enabled
                && new.secrets["auth_token"].ciphertext == b"nekot-terces"
                && !new.config.to_json().to_string().contains("secret-token")
        })
        .returning(|new| {
            Ok(Integration {
                id: IntegrationId::new(3),
                company_id: new.company_id,
                kind: new.kind,
                config: new.config,
                secrets: new.secrets,
                enabled: new.enabled,
                created_at: Utc::now(),
                updated_at: Utc::now(),
            })
        });
    let s = service(repo, owning());
    let created = s
        .create(&who(Role::Admin, Some(A)), twilio_input(None))
        .await
        .unwrap();
    assert_eq!(created.secrets_set(), ["auth_token"]);
}

#[tokio::test]
async fn a_missing_secret_or_a_foreign_company_is_refused() {
    let s = service(
        MockIntegrationRepository::new(),
        MockCredentialVerifier::new(),
    );
    let admin = who(Role::Admin, Some(A));
    let mut input = twilio_input(None);
    input.config = json!({"account_sid": SID, "phone_number": "+14155550100"});
    match s.create(&admin, input).await {
        Err(TenancyError::Validation(e)) => assert_eq!(e[0].field, "config.auth_token"),
        other => panic!("{other:?}"),
    }
    match s.create(&admin, twilio_input(Some(B))).await {
        Err(TenancyError::Validation(e)) => assert_eq!(e[0].field, "company_id"),
        other => panic!("{other:?}"),
    }
    match s
        .create(&who(Role::Superadmin, None), twilio_input(None))
        .await
    {
        Err(TenancyError::Validation(e)) => assert_eq!(e[0].field, "company_id"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_update_keeps_omitted_secrets_and_reseals_given_ones() {
    let mut repo = MockIntegrationRepository::new();
    repo.expect_find()
        .with(eq(Scope::Company(A)), eq(IntegrationId::new(5)))
        .returning(|_, id| Ok(Some(stored(id.get(), A))));
    repo.expect_update()
        .withf(|_, _, c| c.secrets["auth_token"].ciphertext == b"nekot-dlo" && !c.enabled)
        .times(1)
        .returning(|_, id, c| {
            Ok(Some(Integration {
                config: c.config,
                secrets: c.secrets,
                enabled: c.enabled,
                ..stored(id.get(), A)
            }))
        });
    repo.expect_update()
        .withf(|_, _, c| c.secrets["auth_token"].ciphertext == b"nekot-wen")
        .times(1)
        .returning(|_, id, c| {
            Ok(Some(Integration {
                config: c.config,
                secrets: c.secrets,
                ..stored(id.get(), A)
            }))
        });
    let s = service(repo, owning());
    let admin = who(Role::Admin, Some(A));
    let id = IntegrationId::new(5);
    let disabled = s
        .update(
            &admin,
            id,
            IntegrationUpdateInput {
                kind: None,
                config: None,
                enabled: Some(false),
            },
        )
        .await
        .unwrap();
    assert!(!disabled.enabled);
    let rotated = s
        .update(
            &admin,
            id,
            IntegrationUpdateInput {
                kind: Some(IntegrationType::TwilioWhatsapp),
                config: Some(json!({"auth_token": "new-token"})),
                enabled: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(rotated.config, stored(5, A).config);
}

#[tokio::test]
async fn verify_opens_the_secrets_and_asks_the_provider() {
    let mut repo = MockIntegrationRepository::new();
    repo.expect_find()
        .returning(|scope, id| Ok(scope.includes(Some(A)).then(|| stored(id.get(), A))));
    let mut verifier = MockCredentialVerifier::new();
    verifier
        .expect_verify()
        .withf(|_, secrets| {
            secrets
                .twilio()
                .is_some_and(|t| t.auth_token.expose() == "old-token")
        })
        .returning(|_, _| Verification::refused("Authenticate"));
    let s = service(repo, verifier);
    let answer = s
        .verify(&who(Role::Admin, Some(A)), IntegrationId::new(5))
        .await
        .unwrap();
    assert!(!answer.ok);
    assert!(matches!(
        s.verify(&who(Role::Admin, Some(B)), IntegrationId::new(5))
            .await,
        Err(TenancyError::NotFound)
    ));
}

#[tokio::test]
async fn an_integration_keeps_its_type() {
    let mut repo = MockIntegrationRepository::new();
    repo.expect_find()
        .returning(|_, id| Ok(Some(stored(id.get(), A))));
    let s = service(repo, owning());
    let input = IntegrationUpdateInput {
        kind: Some(IntegrationType::VeraAi),
        config: None,
        enabled: None,
    };
    match s
        .update(&who(Role::Admin, Some(A)), IntegrationId::new(5), input)
        .await
    {
        Err(TenancyError::Validation(e)) => assert_eq!(e[0].field, "type"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn moving_where_a_secret_goes_takes_the_secret_again() {
    let mut repo = MockIntegrationRepository::new();
    repo.expect_find()
        .returning(|_, id| Ok(Some(stored(id.get(), A))));
    repo.expect_update()
        .withf(|_, _, c| c.secrets["auth_token"].ciphertext == b"nekot-rehto")
        .times(1)
        .returning(|_, id, c| {
            Ok(Some(Integration {
                config: c.config,
                secrets: c.secrets,
                ..stored(id.get(), A)
            }))
        });
    let s = service(repo, owning());
    let admin = who(Role::Admin, Some(A));
    let other_sid = "ACffffffffffffffffffffffffffffffff";
    let refused = s
        .update(
            &admin,
            IntegrationId::new(5),
            IntegrationUpdateInput {
                config: Some(json!({"account_sid": other_sid})),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    match refused {
        TenancyError::Validation(errors) => {
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].field, "config.auth_token");
        }
        other => panic!("{other:?}"),
    }
    let moved = s
        .update(
            &admin,
            IntegrationId::new(5),
            IntegrationUpdateInput {
                config: Some(json!({"account_sid": other_sid, "auth_token": "other-token"})),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.config.to_json()["account_sid"], other_sid);

    let vera = |url: &str| {
        IntegrationConfig::parse(
            IntegrationType::VeraAi,
            &json!({"base_url": url, "model": "m"}),
            None,
        )
        .unwrap()
        .config
    };
    let here = vera("https://vera.example.com/v1");
    assert_eq!(
        here.secrets_bound_to_changes(&vera("https://attacker.example/v1")),
        [SecretName::ApiKey]
    );
    assert!(here.secrets_bound_to_changes(&here.clone()).is_empty());
}

#[tokio::test]
async fn a_number_the_account_does_not_own_is_not_routed() {
    for (answer, expect) in [
        (NumberCheck::NotOwned, "config.phone_number"),
        (
            NumberCheck::Refused("Authenticate".into()),
            "config.auth_token",
        ),
        (NumberCheck::Unreachable("timed out".into()), "unavailable"),
    ] {
        let mut repo = MockIntegrationRepository::new();
        repo.expect_insert().never();
        let mut verifier = MockCredentialVerifier::new();
        let given = answer.clone();
        verifier
            .expect_owns_number()
            .withf(|_, secrets| {
                secrets
                    .twilio()
                    .is_some_and(|t| t.auth_token.expose() == "secret-token")
            })
            .times(1)
            .returning(move |_, _| given.clone());
        let s = service(repo, verifier);
        match s
            .create(&who(Role::Admin, Some(A)), twilio_input(None))
            .await
        {
            Err(TenancyError::Validation(e)) => assert_eq!(e[0].field, expect),
            Err(TenancyError::Unavailable(_)) => assert_eq!(expect, "unavailable"),
            other => panic!("{answer:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn ownership_is_asked_when_an_integration_starts_routing_or_routes_otherwise() {
    let mut repo = MockIntegrationRepository::new();
    repo.expect_find().returning(|_, id| {
        Ok(Some(Integration {
            enabled: false,
            ..stored(id.get(), A)
        }))
    });
    repo.expect_update().returning(|_, id, c| {
        Ok(Some(Integration {
            config: c.config,
            secrets: c.secrets,
            enabled: c.enabled,
            ..stored(id.get(), A)
        }))
    });
    let mut verifier = MockCredentialVerifier::new();
    // Only the enabling update asks (with the stored token, opened).
    verifier
        .expect_owns_number()
        .withf(|_, secrets| {
            secrets
                .twilio()
                .is_some_and(|t| t.auth_token.expose() == "old-token")
        })
        .times(1)
        .returning(|_, _| NumberCheck::NotOwned);
    let s = service(repo, verifier);
    let admin = who(Role::Admin, Some(A));
    let rename_while_disabled = IntegrationUpdateInput {
        config: Some(json!({"phone_number": "+14155550123"})),
        ..Default::default()
    };
    assert!(
        s.update(&admin, IntegrationId::new(5), rename_while_disabled)
            .await
            .is_ok()
    );
    let enable = IntegrationUpdateInput {
        enabled: Some(true),
        ..Default::default()
    };
    match s.update(&admin, IntegrationId::new(5), enable).await {
        Err(TenancyError::Validation(e)) => assert_eq!(e[0].field, "config.phone_number"),
        other => panic!("{other:?}"),
    }
}
