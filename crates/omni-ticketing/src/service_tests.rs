use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use mockall::predicate::eq;
use omni_core::{DisplayName, Page};
use omni_tenancy::{Company, MockCompanyRepository};

use super::*;
use crate::MockTicketRepository;

const A: CompanyId = CompanyId::new(1);
const ME: UserId = UserId::new(10);
const OTHER: UserId = UserId::new(11);

fn who(role: Role) -> Principal {
    Principal {
        user_id: ME,
        company_id: Some(A),
        role,
    }
}

fn ticket(status: TicketStatus, assigned_to: Option<UserId>, version: i32) -> Ticket {
    Ticket {
        id: TicketId::new(7),
        company_id: A,
        integration_id: None,
        customer_phone: "+5511987650001".parse().unwrap(),
        customer_name: None,
        channel: Channel::Whatsapp,
        status,
        priority: Priority::Medium,
        category: None,
        sentiment: None,
        sentiment_score: None,
        suggested_categories: serde_json::json!([]),
        assigned_to,
        last_message_at: None,
        window_closes_at: None,
        last_activity_at: Utc::now(),
        first_response_at: None,
        resolved_at: None,
        reopened_at: None,
        survey_sent_at: None,
        suggested_reply: None,
        rating: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        version,
        hand_set: crate::HandSet::default(),
    }
}

fn companies() -> MockCompanyRepository {
    let mut c = MockCompanyRepository::new();
    c.expect_find().returning(|_, id| {
        Ok(Some(Company {
            id,
            name: DisplayName::parse("Acme").unwrap(),
            settings: CompanySettings::default(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }))
    });
    c
}

fn service(tickets: MockTicketRepository) -> TicketService {
    TicketService::new(Arc::new(tickets), Arc::new(companies()))
}

fn applied(t: &Ticket, c: &TicketChanges) -> Ticket {
    let mut t = t.clone();
    if let Some(s) = &c.status {
        t.status = s.to;
    }
    if let Some(p) = &c.priority {
        t.priority = p.to;
    }
    if let Some(a) = &c.assigned_to {
        t.assigned_to = a.to;
    }
    if let Some(cat) = &c.category {
        t.category = cat.to.clone();
    }
    t.version += 1;
    t
}

#[tokio::test]
async fn an_illegal_move_names_the_allowed_ones() {
    let mut repo = MockTicketRepository::new();
    repo.expect_find()
        .returning(|_, _| Ok(Some(ticket(TicketStatus::Open, None, 1))));
    let s = service(repo);
    let input = TicketUpdateInput {
        status: Some(TicketStatus::New),
        ..Default::default()
    };
    match s.update(&who(Role::Agent), TicketId::new(7), input).await {
        Err(TicketingError::InvalidTransition { from, to, allowed }) => {
            assert_eq!((from, to), (TicketStatus::Open, TicketStatus::New));
            assert_eq!(allowed, TicketStatus::Open.allowed_next());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn only_changed_fields_are_applied_and_resolving_stamps_the_time() {
    let mut repo = MockTicketRepository::new();
    repo.expect_find()
        .returning(|_, _| Ok(Some(ticket(TicketStatus::Open, None, 3))));
    repo.expect_apply()
        .withf(|scope, _, version, c| {
            *scope == Scope::Company(A)
                && *version == 3
                && c.status
                    .as_ref()
                    .is_some_and(|s| s.to == TicketStatus::Resolved)
                && c.resolved_at.is_some()
                && c.priority.is_none()
        })
        .returning(|_, _, _, c| Ok(Some(applied(&ticket(TicketStatus::Open, None, 3), c))));
    let s = service(repo);
    let input = TicketUpdateInput {
        status: Some(TicketStatus::Resolved),
        priority: Some(Priority::Medium),
        ..Default::default()
    };
    assert_eq!(
        s.update(&who(Role::Agent), TicketId::new(7), input)
            .await
            .unwrap()
            .status,
        TicketStatus::Resolved
    );
}

#[tokio::test]
async fn a_stale_version_is_decided_again_on_the_fresh_ticket() {
    let reads = Arc::new(AtomicUsize::new(0));
    let mut repo = MockTicketRepository::new();
    let r = reads.clone();
    repo.expect_find().returning(move |_, _| {
        // The first read sees version 1; meanwhile someone else closed the ticket.
        Ok(Some(match r.fetch_add(1, Ordering::SeqCst) {
            0 => ticket(TicketStatus::Open, None, 1),
            _ => ticket(TicketStatus::Closed, None, 2),
        }))
    });
    repo.expect_apply()
        .with(
            eq(Scope::Company(A)),
            eq(TicketId::new(7)),
            eq(1),
            mockall::predicate::always(),
        )
        .returning(|_, _, _, _| Ok(None));
    let s = service(repo);
    let input = TicketUpdateInput {
        status: Some(TicketStatus::Pending),
        ..Default::default()
    };
    // Re-decided against the closed ticket, the move is illegal: never "closed → pending".
    assert!(matches!(
        s.update(&who(Role::Agent), TicketId::new(7), input).await,
        Err(TicketingError::InvalidTransition {
            from: TicketStatus::Closed,
            ..
        })
    ));
    assert_eq!(reads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn endless_contention_gives_up_with_a_retryable_error() {
    let mut repo = MockTicketRepository::new();
    repo.expect_find()
        .returning(|_, _| Ok(Some(ticket(TicketStatus::Open, None, 1))));
    repo.expect_apply()
        .times(MAX_ATTEMPTS)
        .returning(|_, _, _, _| Ok(None));
    let s = service(repo);
    let input = TicketUpdateInput {
        priority: Some(Priority::High),
        ..Default::default()
    };
    assert!(matches!(
        s.update(&who(Role::Agent), TicketId::new(7), input).await,
        Err(TicketingError::Contended)
    ));
}

#[tokio::test]
async fn agents_take_free_tickets_and_hand_on_their_own_only() {
    for (holder, to, role, allowed) in [
        (None, Some(ME), Role::Agent, true),         // take
        (None, Some(OTHER), Role::Agent, false),     // assign someone to a free one
        (Some(ME), Some(OTHER), Role::Agent, true),  // hand on
        (Some(ME), None, Role::Agent, true),         // let go
        (Some(OTHER), Some(ME), Role::Agent, false), // take another's
        (Some(OTHER), None, Role::Agent, false),     // unassign another's
        (Some(OTHER), Some(ME), Role::Admin, true),
        (None, Some(OTHER), Role::Admin, true),
    ] {
        let mut repo = MockTicketRepository::new();
        repo.expect_find()
            .returning(move |_, _| Ok(Some(ticket(TicketStatus::Open, holder, 1))));
        repo.expect_apply().returning(move |_, _, _, c| {
            Ok(Some(applied(&ticket(TicketStatus::Open, holder, 1), c)))
        });
        let s = service(repo);
        let input = TicketUpdateInput {
            assigned_to: Some(to),
            ..Default::default()
        };
        let result = s.update(&who(role), TicketId::new(7), input).await;
        assert_eq!(
            result.is_ok(),
            allowed,
            "{role:?}: {holder:?} → {to:?}: {result:?}"
        );
        if !allowed {
            assert!(matches!(result, Err(TicketingError::Forbidden(_))));
        }
    }
}

#[tokio::test]
async fn categories_come_from_the_company_settings() {
    let mut repo = MockTicketRepository::new();
    repo.expect_find()
        .returning(|_, _| Ok(Some(ticket(TicketStatus::Open, None, 1))));
    repo.expect_apply()
        .returning(|_, _, _, c| Ok(Some(applied(&ticket(TicketStatus::Open, None, 1), c))));
    repo.expect_insert()
        .returning(|_| Ok(ticket(TicketStatus::New, None, 1)));
    let s = service(repo);
    let set = |c: &str| TicketUpdateInput {
        category: Some(Some(c.to_owned())),
        ..Default::default()
    };
    assert_eq!(
        s.update(&who(Role::Agent), TicketId::new(7), set("billing"))
            .await
            .unwrap()
            .category
            .as_deref(),
        Some("billing")
    );
    assert!(matches!(
        s.update(&who(Role::Agent), TicketId::new(7), set("astrology"))
            .await,
        Err(TicketingError::Validation(_))
    ));
    let input = NewTicketInput {
        customer_phone: "+5511987650001".parse().unwrap(),
        customer_name: None,
        channel: None,
        priority: None,
        category: Some("astrology".into()),
        assigned_to: None,
        company_id: None,
    };
    assert!(matches!(
        s.create(&who(Role::Agent), input).await,
        Err(TicketingError::Validation(_))
    ));
}

#[tokio::test]
async fn lists_resolve_me_and_follow_the_scope() {
    let mut repo = MockTicketRepository::new();
    repo.expect_list()
        .withf(|scope, f, _| *scope == Scope::Company(A) && f.assignee == AssigneeFilter::User(ME))
        .returning(|_, _, _| {
            Ok(Page {
                data: vec![],
                next_cursor: None,
            })
        });
    let s = service(repo);
    let filter = TicketFilter {
        assignee: AssigneeFilter::Me,
        ..Default::default()
    };
    s.list(&who(Role::Agent), filter, PageRequest::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn only_admins_delete_and_others_tickets_are_not_found() {
    let mut repo = MockTicketRepository::new();
    repo.expect_delete()
        .with(eq(Scope::Company(A)), eq(TicketId::new(7)))
        .returning(|_, _| Ok(true));
    repo.expect_delete()
        .with(eq(Scope::Company(A)), eq(TicketId::new(8)))
        .returning(|_, _| Ok(false));
    repo.expect_find().returning(|_, _| Ok(None));
    let s = service(repo);
    assert!(matches!(
        s.delete(&who(Role::Agent), TicketId::new(7)).await,
        Err(TicketingError::Forbidden(_))
    ));
    s.delete(&who(Role::Admin), TicketId::new(7)).await.unwrap();
    assert!(matches!(
        s.delete(&who(Role::Admin), TicketId::new(8)).await,
        Err(TicketingError::NotFound)
    ));
    assert!(matches!(
        s.get(&who(Role::Agent), TicketId::new(8)).await,
        Err(TicketingError::NotFound)
    ));
}
