use std::sync::Arc;

use chrono::Utc;
use mockall::predicate::eq;
use omni_core::{CompanyId, DisplayName, Page, PageRequest, Scope, UserId};

use super::*;
use crate::{
    AccessToken, Claims, MockPasswordHasher, MockTokenIssuer, MockUserRepository, PasswordHash,
};

const A: CompanyId = CompanyId::new(1);
const B: CompanyId = CompanyId::new(2);

fn user(id: i64, company: Option<CompanyId>, role: Role) -> User {
    User {
        id: UserId::new(id),
        company_id: company,
        email: Email::parse(&format!("u{id}@example.com")).unwrap(),
        name: DisplayName::parse("Someone").unwrap(),
        role,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        session_epoch: 0,
    }
}

fn caller(id: i64, company: Option<CompanyId>, role: Role) -> Principal {
    Principal::of(&user(id, company, role))
}

fn hasher() -> MockPasswordHasher {
    let mut h = MockPasswordHasher::new();
    h.expect_hash()
        .returning(|p| Ok(PasswordHash::new(format!("hashed:{}", p.expose()))));
    h.expect_verify().returning(|candidate, hash| {
        Ok(hash.is_some_and(|h| h.as_str() == format!("hashed:{candidate}")))
    });
    h
}

fn tokens() -> MockTokenIssuer {
    let mut t = MockTokenIssuer::new();
    t.expect_issue().returning(|u| {
        Ok(AccessToken {
            token: format!("token-for-{}", u.id),
            expires_in: 3600,
        })
    });
    t
}

fn service(users: MockUserRepository) -> IdentityService {
    IdentityService::new(
        Arc::new(users),
        Arc::new(hasher()),
        Arc::new(tokens()),
        true,
    )
}

fn registration() -> Registration {
    Registration {
        company_name: DisplayName::parse("Acme").unwrap(),
        name: DisplayName::parse("Ana").unwrap(),
        email: Email::parse("ana@acme.test").unwrap(),
        password: Password::parse("correct horse").unwrap(),
    }
}

fn new_user_input(role: Role, company: Option<CompanyId>) -> NewUserInput {
    NewUserInput {
        email: Email::parse("new@example.com").unwrap(),
        name: DisplayName::parse("New").unwrap(),
        password: Password::parse("new password").unwrap(),
        role,
        company_id: company,
    }
}

#[tokio::test]
async fn register_creates_company_and_admin_with_a_hashed_password() {
    let mut users = MockUserRepository::new();
    users
        .expect_create_company_with_admin()
        .withf(|company, email, name, hash| {
            company.as_str() == "Acme"
                && email.as_str() == "ana@acme.test"
                && name.as_str() == "Ana"
                && hash.as_str() == "hashed:correct horse"
        })
        .returning(|_, _, _, _| Ok(user(7, Some(A), Role::Admin)));
    let session = service(users).register(registration()).await.unwrap();
    assert_eq!(session.user.role, Role::Admin);
    assert_eq!(session.token.token, "token-for-7");
}

#[tokio::test]
async fn register_reports_a_duplicate_email() {
    let mut users = MockUserRepository::new();
    users
        .expect_create_company_with_admin()
        .returning(|_, _, _, _| Err(IdentityError::EmailTaken));
    let err = service(users).register(registration()).await.unwrap_err();
    assert!(matches!(err, IdentityError::EmailTaken));
}

#[tokio::test]
async fn register_can_be_switched_off() {
    let users = MockUserRepository::new();
    let s = IdentityService::new(
        Arc::new(users),
        Arc::new(hasher()),
        Arc::new(tokens()),
        false,
    );
    assert!(matches!(
        s.register(registration()).await,
        Err(IdentityError::RegistrationClosed)
    ));
}

#[tokio::test]
async fn login_answers_alike_for_unknown_email_and_wrong_password_after_the_same_work() {
    let mut users = MockUserRepository::new();
    users
        .expect_find_credentials()
        .returning(|email| match email.as_str() {
            "ana@acme.test" => Ok(Some((
                user(7, Some(A), Role::Admin),
                PasswordHash::new("hashed:right one".into()),
            ))),
            _ => Ok(None),
        });
    let mut h = MockPasswordHasher::new();
    // Every attempt, whatever is wrong with it, runs the hasher exactly once.
    h.expect_verify().times(4).returning(|candidate, hash| {
        Ok(hash.is_some_and(|h| h.as_str() == format!("hashed:{candidate}")))
    });
    let s = IdentityService::new(Arc::new(users), Arc::new(h), Arc::new(tokens()), true);
    let wrong_password = s.login("ana@acme.test", "wrong one").await.unwrap_err();
    let unknown = s.login("nobody@acme.test", "right one").await.unwrap_err();
    let malformed = s.login("not an email", "right one").await.unwrap_err();
    assert_eq!(wrong_password.to_string(), unknown.to_string());
    assert_eq!(unknown.to_string(), malformed.to_string());
    assert!(matches!(wrong_password, IdentityError::InvalidCredentials));
    let ok = s.login(" ANA@acme.test ", "right one").await.unwrap();
    assert_eq!(ok.user.id, UserId::new(7));
}

fn claims(epoch: i64) -> Claims {
    Claims {
        user_id: UserId::new(7),
        company_id: Some(A),
        role: Role::Admin,
        issued_at: Utc::now(),
        expires_at: Utc::now() + chrono::Duration::hours(1),
        session_epoch: epoch,
        token_id: "tok-1".into(),
    }
}

#[tokio::test]
async fn a_token_of_a_deleted_user_is_refused() {
    let mut users = MockUserRepository::new();
    users
        .expect_find_session()
        .withf(|id, token| *id == UserId::new(7) && token == "tok-1")
        .returning(|_, _| Ok(None));
    let mut t = MockTokenIssuer::new();
    t.expect_verify().returning(|_| Ok(claims(0)));
    let s = IdentityService::new(Arc::new(users), Arc::new(hasher()), Arc::new(t), true);
    assert!(matches!(
        s.authenticate("t").await,
        Err(IdentityError::Unauthenticated(_))
    ));
}

#[tokio::test]
async fn authentication_uses_the_role_the_database_holds_now() {
    let mut users = MockUserRepository::new();
    // The token says admin; the user has since been made an agent.
    users
        .expect_find_session()
        .returning(|_, _| Ok(Some((user(7, Some(A), Role::Agent), false))));
    let mut t = MockTokenIssuer::new();
    t.expect_verify().returning(|_| Ok(claims(0)));
    let s = IdentityService::new(Arc::new(users), Arc::new(hasher()), Arc::new(t), true);
    assert_eq!(
        s.authenticate("t").await.unwrap().principal.role,
        Role::Agent
    );
}

#[tokio::test]
async fn a_revoked_token_or_an_older_session_epoch_ends_the_session() {
    for (epoch_now, revoked, ok) in [(0, false, true), (0, true, false), (1, false, false)] {
        let mut users = MockUserRepository::new();
        users.expect_find_session().returning(move |_, _| {
            Ok(Some((
                User {
                    session_epoch: epoch_now,
                    ..user(7, Some(A), Role::Admin)
                },
                revoked,
            )))
        });
        let mut t = MockTokenIssuer::new();
        t.expect_verify().returning(|_| Ok(claims(0)));
        let s = IdentityService::new(Arc::new(users), Arc::new(hasher()), Arc::new(t), true);
        match s.authenticate("t").await {
            Ok(session) => {
                assert!(ok, "{epoch_now} {revoked}");
                assert_eq!(session.token_id, "tok-1");
                // An expired session fails the heartbeat check without asking the store.
                let later = session.expires_at + chrono::Duration::seconds(1);
                assert!(matches!(
                    s.check_session(&session, later).await,
                    Err(IdentityError::Unauthenticated("the token has expired"))
                ));
            }
            Err(IdentityError::Unauthenticated(why)) => {
                assert!(!ok, "{epoch_now} {revoked}");
                assert_eq!(why, "the session has ended");
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn a_ticket_works_once_and_only_while_its_session_holds() {
    let mut users = MockUserRepository::new();
    users
        .expect_find_session()
        .returning(|_, _| Ok(Some((user(7, Some(A), Role::Agent), false))));
    users
        .expect_store_ticket()
        .withf(|ticket, session, ttl| {
            ticket == "T" && session.token_id == "tok-1" && *ttl == WS_TICKET_TTL_SECS
        })
        .returning(|_, _, _| Ok(()));
    let mut taken = false;
    users.expect_take_ticket().returning(move |ticket| {
        let first = ticket == "T" && !taken;
        taken = true;
        Ok(first.then(|| crate::TicketGrant {
            user_id: UserId::new(7),
            token_id: "tok-1".into(),
            session_epoch: 0,
            token_expires_at: Utc::now() + chrono::Duration::hours(1),
        }))
    });
    let mut t = MockTokenIssuer::new();
    t.expect_verify().returning(|_| Ok(claims(0)));
    t.expect_new_ticket().returning(|| "T".into());
    let s = IdentityService::new(Arc::new(users), Arc::new(hasher()), Arc::new(t), true);
    let session = s.authenticate("t").await.unwrap();
    let ticket = s.ws_ticket(&session).await.unwrap();
    assert_eq!(ticket.expires_in, 30);
    let opened = s.redeem_ticket(&ticket.ticket).await.unwrap();
    assert_eq!(opened.token_id, session.token_id);
    assert_eq!(opened.principal.user_id, UserId::new(7));
    assert!(matches!(
        s.redeem_ticket(&ticket.ticket).await,
        Err(IdentityError::Unauthenticated(_))
    ));
    assert!(matches!(
        s.redeem_ticket("").await,
        Err(IdentityError::Unauthenticated(_))
    ));
}

#[tokio::test]
async fn forged_tokens_never_reach_the_repository() {
    let users = MockUserRepository::new();
    let mut t = MockTokenIssuer::new();
    t.expect_verify()
        .returning(|_| Err(IdentityError::Unauthenticated("invalid token")));
    let s = IdentityService::new(Arc::new(users), Arc::new(hasher()), Arc::new(t), true);
    assert!(matches!(
        s.authenticate("forged").await,
        Err(IdentityError::Unauthenticated(_))
    ));
}

#[tokio::test]
async fn lists_are_scoped_to_the_callers_company() {
    let mut users = MockUserRepository::new();
    users
        .expect_list()
        .with(eq(Scope::Company(A)), eq(None), eq(PageRequest::default()))
        .times(2)
        .returning(|_, _, _| {
            Ok(Page {
                data: vec![],
                next_cursor: None,
            })
        });
    users
        .expect_list()
        .with(eq(Scope::All), eq(Some(B)), eq(PageRequest::default()))
        .returning(|_, _, _| {
            Ok(Page {
                data: vec![],
                next_cursor: None,
            })
        });
    let s = service(users);
    s.list_users(
        &caller(1, Some(A), Role::Admin),
        None,
        PageRequest::default(),
    )
    .await
    .unwrap();
    s.list_users(
        &caller(2, Some(A), Role::Agent),
        None,
        PageRequest::default(),
    )
    .await
    .unwrap();
    s.list_users(
        &caller(3, None, Role::Superadmin),
        Some(B),
        PageRequest::default(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn another_tenants_user_is_not_found() {
    let mut users = MockUserRepository::new();
    users
        .expect_find()
        .with(eq(Scope::Company(A)), eq(UserId::new(9)))
        .returning(|_, _| Ok(None));
    let s = service(users);
    let admin = caller(1, Some(A), Role::Admin);
    assert!(matches!(
        s.get_user(&admin, UserId::new(9)).await,
        Err(IdentityError::NotFound)
    ));
    assert!(matches!(
        s.update_user(&admin, UserId::new(9), UserChanges::default())
            .await,
        Err(IdentityError::NotFound)
    ));
    assert!(matches!(
        s.delete_user(&admin, UserId::new(9)).await,
        Err(IdentityError::NotFound)
    ));
}

#[tokio::test]
async fn an_admin_adds_users_to_their_own_company_only() {
    let mut users = MockUserRepository::new();
    users
        .expect_insert()
        .withf(|u| {
            u.company_id == Some(A)
                && u.role == Role::Agent
                && u.password_hash.as_str() == "hashed:new password"
        })
        .returning(|u| {
            Ok(User {
                id: UserId::new(5),
                ..user(5, u.company_id, u.role)
            })
        });
    let s = service(users);
    let admin = caller(1, Some(A), Role::Admin);
    assert_eq!(
        s.create_user(&admin, new_user_input(Role::Agent, None))
            .await
            .unwrap()
            .company_id,
        Some(A)
    );
    assert!(
        s.create_user(&admin, new_user_input(Role::Agent, Some(A)))
            .await
            .is_ok()
    );
    match s
        .create_user(&admin, new_user_input(Role::Agent, Some(B)))
        .await
    {
        Err(IdentityError::Validation(e)) => assert_eq!(e[0].field, "company_id"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.create_user(&admin, new_user_input(Role::Superadmin, None))
            .await,
        Err(IdentityError::Forbidden(_))
    ));
}

#[tokio::test]
async fn an_agent_manages_no_one_but_themselves() {
    let mut users = MockUserRepository::new();
    users
        .expect_find()
        .returning(|_, id| Ok(Some(user(id.get(), Some(A), Role::Agent))));
    users
        .expect_update()
        .withf(|_, id, changes| {
            *id == UserId::new(2) && changes.name.is_some() && changes.role.is_none()
        })
        .returning(|_, id, _| Ok(Some(user(id.get(), Some(A), Role::Agent))));
    let s = service(users);
    let agent = caller(2, Some(A), Role::Agent);
    assert!(matches!(
        s.create_user(&agent, new_user_input(Role::Agent, None))
            .await,
        Err(IdentityError::Forbidden(_))
    ));
    let rename = UserChanges {
        name: Some(DisplayName::parse("Me").unwrap()),
        ..UserChanges::default()
    };
    assert!(
        s.update_user(&agent, UserId::new(2), rename.clone())
            .await
            .is_ok()
    );
    assert!(matches!(
        s.update_user(&agent, UserId::new(3), rename).await,
        Err(IdentityError::Forbidden(_))
    ));
    let promote = UserChanges {
        role: Some(Role::Admin),
        ..UserChanges::default()
    };
    assert!(matches!(
        s.update_user(&agent, UserId::new(2), promote).await,
        Err(IdentityError::Conflict(_))
    ));
    assert!(matches!(
        s.delete_user(&agent, UserId::new(3)).await,
        Err(IdentityError::Forbidden(_))
    ));
}

#[tokio::test]
async fn an_admin_cannot_lock_themselves_out() {
    let mut users = MockUserRepository::new();
    users
        .expect_find()
        .returning(|_, id| Ok(Some(user(id.get(), Some(A), Role::Admin))));
    let s = service(users);
    let admin = caller(1, Some(A), Role::Admin);
    let demote = UserChanges {
        role: Some(Role::Agent),
        ..UserChanges::default()
    };
    assert!(matches!(
        s.update_user(&admin, UserId::new(1), demote).await,
        Err(IdentityError::Conflict(_))
    ));
    assert!(matches!(
        s.delete_user(&admin, UserId::new(1)).await,
        Err(IdentityError::Conflict(_))
    ));
}

#[tokio::test]
async fn an_admin_changes_roles_and_passwords_of_their_users() {
    let mut users = MockUserRepository::new();
    users
        .expect_find()
        .returning(|_, id| Ok(Some(user(id.get(), Some(A), Role::Agent))));
    users
        .expect_update()
        .withf(|scope, _, c| {
            *scope == Scope::Company(A)
                && c.role == Some(Role::Admin)
                && c.password_hash.as_ref().map(PasswordHash::as_str) == Some("hashed:brand new pw")
        })
        .returning(|_, id, _| Ok(Some(user(id.get(), Some(A), Role::Admin))));
    users
        .expect_delete()
        .with(eq(Scope::Company(A)), eq(UserId::new(3)), eq(false))
        .returning(|_, _, _| Ok(true));
    let s = service(users);
    let admin = caller(1, Some(A), Role::Admin);
    let changes = UserChanges {
        role: Some(Role::Admin),
        password: Some(Password::parse("brand new pw").unwrap()),
        ..UserChanges::default()
    };
    assert_eq!(
        s.update_user(&admin, UserId::new(2), changes)
            .await
            .unwrap()
            .role,
        Role::Admin
    );
    let to_super = UserChanges {
        role: Some(Role::Superadmin),
        ..UserChanges::default()
    };
    assert!(matches!(
        s.update_user(&admin, UserId::new(2), to_super).await,
        Err(IdentityError::Validation(_))
    ));
    s.delete_user(&admin, UserId::new(3)).await.unwrap();
}

#[tokio::test]
async fn the_superadmin_places_users_in_a_named_company() {
    let mut users = MockUserRepository::new();
    users
        .expect_insert()
        .withf(|u| u.company_id == Some(B))
        .returning(|u| Ok(user(8, u.company_id, u.role)));
    users
        .expect_insert()
        .withf(|u| u.company_id == Some(CompanyId::new(99)))
        .returning(|_| Err(IdentityError::NotFound));
    let s = service(users);
    let root = caller(1, None, Role::Superadmin);
    assert!(
        s.create_user(&root, new_user_input(Role::Admin, Some(B)))
            .await
            .is_ok()
    );
    for (input, field) in [
        (new_user_input(Role::Admin, None), "company_id"),
        (new_user_input(Role::Superadmin, Some(B)), "company_id"),
        (
            new_user_input(Role::Agent, Some(CompanyId::new(99))),
            "company_id",
        ),
    ] {
        match s.create_user(&root, input).await {
            Err(IdentityError::Validation(e)) => assert_eq!(e[0].field, field),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn profile_of_a_vanished_user_is_unauthenticated() {
    let mut users = MockUserRepository::new();
    users.expect_find().returning(|_, _| Ok(None));
    let s = service(users);
    assert!(matches!(
        s.profile(&caller(1, Some(A), Role::Agent)).await,
        Err(IdentityError::Unauthenticated(_))
    ));
}

#[tokio::test]
async fn changing_password_email_or_role_ends_sessions_and_own_changes_take_the_password() {
    let mut users = MockUserRepository::new();
    users
        .expect_find()
        .returning(|_, id| Ok(Some(user(id.get(), Some(A), Role::Admin))));
    users.expect_find_credentials().returning(|e| {
        Ok(Some((
            user(1, Some(A), Role::Admin),
            PasswordHash::new(format!("hashed:right one {}", e.as_str())),
        )))
    });
    users.expect_update().returning(|_, id, c| {
        assert!(c.end_sessions, "{c:?}");
        Ok(Some(user(id.get(), Some(A), c.role.unwrap_or(Role::Admin))))
    });
    let mut hasher = MockPasswordHasher::new();
    hasher
        .expect_hash()
        .returning(|p| Ok(PasswordHash::new(format!("hashed:{}", p.expose()))));
    hasher.expect_verify().returning(|candidate, hash| {
        Ok(hash.is_some_and(|h| h.as_str().starts_with(&format!("hashed:{candidate} "))))
    });
    let s = IdentityService::new(
        Arc::new(users),
        Arc::new(hasher),
        Arc::new(MockTokenIssuer::new()),
        true,
    );
    let me = caller(1, Some(A), Role::Admin);
    let new_password = |current: Option<&str>| UserChanges {
        password: Some(Password::parse("brand new pw").unwrap()),
        current_password: current.map(str::to_owned),
        ..UserChanges::default()
    };
    for current in [None, Some("wrong one")] {
        match s
            .update_user(&me, UserId::new(1), new_password(current))
            .await
        {
            Err(IdentityError::Validation(e)) => assert_eq!(e[0].field, "current_password"),
            other => panic!("{other:?}"),
        }
    }
    assert!(
        s.update_user(&me, UserId::new(1), new_password(Some("right one")))
            .await
            .is_ok()
    );
    let new_email = UserChanges {
        email: Some(Email::parse("new@example.com").unwrap()),
        ..UserChanges::default()
    };
    assert!(matches!(
        s.update_user(&me, UserId::new(1), new_email).await,
        Err(IdentityError::Validation(_))
    ));
    // An admin resets someone else's password without theirs; their sessions end.
    assert!(
        s.update_user(&me, UserId::new(2), new_password(None))
            .await
            .is_ok()
    );
    let demote = UserChanges {
        role: Some(Role::Agent),
        ..UserChanges::default()
    };
    assert!(s.update_user(&me, UserId::new(2), demote).await.is_ok());
}

#[tokio::test]
async fn removing_an_admin_asks_the_store_to_keep_one() {
    let mut users = MockUserRepository::new();
    users.expect_find().returning(|_, id| {
        Ok(Some(user(
            id.get(),
            Some(A),
            if id.get() == 2 {
                Role::Admin
            } else {
                Role::Agent
            },
        )))
    });
    users
        .expect_update()
        .withf(|_, _, c| c.removes_an_admin && c.role == Some(Role::Agent))
        .returning(|_, _, _| Err(IdentityError::LastAdmin));
    users
        .expect_delete()
        .withf(|_, id, removes| *removes == (id.get() == 2))
        .returning(|_, id, _| {
            if id.get() == 2 {
                Err(IdentityError::LastAdmin)
            } else {
                Ok(true)
            }
        });
    let s = service(users);
    let root = caller(9, None, Role::Superadmin);
    let demote = UserChanges {
        role: Some(Role::Agent),
        ..UserChanges::default()
    };
    assert!(matches!(
        s.update_user(&root, UserId::new(2), demote).await,
        Err(IdentityError::LastAdmin)
    ));
    assert!(matches!(
        s.delete_user(&root, UserId::new(2)).await,
        Err(IdentityError::LastAdmin)
    ));
    assert!(s.delete_user(&root, UserId::new(3)).await.is_ok());
}
