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

#[tokio::test]
async fn a_token_of_a_deleted_user_is_refused() {
    let mut users = MockUserRepository::new();
    users
        .expect_find()
        .with(eq(Scope::All), eq(UserId::new(7)))
        .returning(|_, _| Ok(None));
    let mut t = MockTokenIssuer::new();
    t.expect_verify().returning(|_| {
        Ok(Claims {
            user_id: UserId::new(7),
            company_id: Some(A),
            role: Role::Admin,
            issued_at: Utc::now(),
            expires_at: Utc::now(),
        })
    });
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
        .expect_find()
        .returning(|_, _| Ok(Some(user(7, Some(A), Role::Agent))));
    let mut t = MockTokenIssuer::new();
    t.expect_verify().returning(|_| {
        Ok(Claims {
            user_id: UserId::new(7),
            company_id: Some(A),
            role: Role::Admin,
            issued_at: Utc::now(),
            expires_at: Utc::now(),
        })
    });
    let s = IdentityService::new(Arc::new(users), Arc::new(hasher()), Arc::new(t), true);
    assert_eq!(s.authenticate("t").await.unwrap().role, Role::Agent);
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
        .with(eq(Scope::Company(A)), eq(UserId::new(3)))
        .returning(|_, _| Ok(true));
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
