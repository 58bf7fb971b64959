//! The identity crate's [`UserRepository`] in memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use omni_core::{CompanyId, DisplayName, Page, PageRequest, Scope, UserId};
use omni_identity::{
    Email, IdentityError, NewUser, PasswordHash, Role, Session, TicketGrant, User, UserRepository,
    UserUpdate,
};
use omni_tenancy::{Company, CompanySettings};

use crate::MemoryStore;
use crate::state::page_by_id;
use crate::state::{State, WsTicket};

/// Inserts a user as the database would: e-mail addresses are unique, and the company
/// must exist.
fn insert_user(state: &mut State, new: NewUser) -> Result<User, IdentityError> {
    if state.users.values().any(|(u, _)| u.email == new.email) {
        return Err(IdentityError::EmailTaken);
    }
    if let Some(company) = new.company_id
        && !state.companies.contains_key(&company.get())
    {
        return Err(IdentityError::NotFound);
    }
    let now = Utc::now();
    let id = state.next_id();
    let user = User {
        id: UserId::new(id),
        company_id: new.company_id,
        email: new.email,
        name: new.name,
        role: new.role,
        created_at: now,
        updated_at: now,
        session_epoch: 0,
    };
    state.users.insert(id, (user.clone(), new.password_hash));
    Ok(user)
}

/// Refuses a change that would leave the user's company without an admin.
fn keep_an_admin(state: &State, id: UserId) -> Result<(), IdentityError> {
    let Some(company) = state.users.get(&id.get()).and_then(|(u, _)| u.company_id) else {
        return Ok(());
    };
    let admins = state
        .users
        .values()
        .filter(|(u, _)| u.company_id == Some(company) && u.role == Role::Admin)
        .count();
    if admins <= 1 {
        return Err(IdentityError::LastAdmin);
    }
    Ok(())
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn create_company_with_admin(
        &self,
        company_name: &DisplayName,
        email: &Email,
        name: &DisplayName,
        password_hash: &PasswordHash,
    ) -> Result<User, IdentityError> {
        let mut state = self.lock();
        if state.users.values().any(|(u, _)| &u.email == email) {
            return Err(IdentityError::EmailTaken);
        }
        let now = Utc::now();
        let company = state.next_id();
        state.companies.insert(
            company,
            Company {
                id: CompanyId::new(company),
                name: company_name.clone(),
                settings: CompanySettings::default(),
                created_at: now,
                updated_at: now,
            },
        );
        insert_user(
            &mut state,
            NewUser {
                company_id: Some(CompanyId::new(company)),
                email: email.clone(),
                name: name.clone(),
                role: Role::Admin,
                password_hash: password_hash.clone(),
            },
        )
    }

    async fn insert(&self, user: NewUser) -> Result<User, IdentityError> {
        insert_user(&mut self.lock(), user)
    }

    async fn find(&self, scope: Scope, id: UserId) -> Result<Option<User>, IdentityError> {
        Ok(self
            .lock()
            .users
            .get(&id.get())
            .filter(|(u, _)| scope.includes(u.company_id))
            .map(|(u, _)| u.clone()))
    }

    async fn find_credentials(
        &self,
        email: &Email,
    ) -> Result<Option<(User, PasswordHash)>, IdentityError> {
        Ok(self
            .lock()
            .users
            .values()
            .find(|(u, _)| &u.email == email)
            .cloned())
    }

    async fn list(
        &self,
        scope: Scope,
        company: Option<CompanyId>,
        page: PageRequest,
    ) -> Result<Page<User>, IdentityError> {
        Ok(page_by_id(
            &self.lock().users,
            page,
            |(u, _)| {
                (scope.includes(u.company_id) && (company.is_none() || u.company_id == company))
                    .then_some(u)
            },
            |u| u.id.get(),
        ))
    }

    async fn update(
        &self,
        scope: Scope,
        id: UserId,
        changes: UserUpdate,
    ) -> Result<Option<User>, IdentityError> {
        let mut state = self.lock();
        if changes.removes_an_admin {
            keep_an_admin(&state, id)?;
        }
        if let Some(email) = &changes.email
            && state
                .users
                .values()
                .any(|(u, _)| &u.email == email && u.id != id)
        {
            return Err(IdentityError::EmailTaken);
        }
        let Some((user, hash)) = state
            .users
            .get_mut(&id.get())
            .filter(|(u, _)| scope.includes(u.company_id))
        else {
            return Ok(None);
        };
        if let Some(email) = changes.email {
            user.email = email;
        }
        if let Some(name) = changes.name {
            user.name = name;
        }
        if let Some(role) = changes.role {
            user.role = role;
        }
        if let Some(new_hash) = changes.password_hash {
            *hash = new_hash;
        }
        user.session_epoch += i64::from(changes.end_sessions);
        user.updated_at = Utc::now();
        Ok(Some(user.clone()))
    }

    async fn delete(
        &self,
        scope: Scope,
        id: UserId,
        removes_an_admin: bool,
    ) -> Result<bool, IdentityError> {
        let mut state = self.lock();
        if removes_an_admin {
            keep_an_admin(&state, id)?;
        }
        let in_scope = state
            .users
            .get(&id.get())
            .is_some_and(|(u, _)| scope.includes(u.company_id));
        if !in_scope {
            return Ok(false);
        }
        state.users.remove(&id.get());
        // Their tickets become unassigned, as the database's `ON DELETE SET NULL` does.
        for ticket in state.tickets.values_mut() {
            if ticket.assigned_to == Some(id) {
                ticket.assigned_to = None;
            }
        }
        for stored in state.messages.values_mut() {
            if stored.message.author_id == Some(id) {
                stored.message.author_id = None;
            }
        }
        state.revoked.retain(|_, (user, _)| *user != id);
        state.ws_tickets.retain(|_, t| t.grant.user_id != id);
        Ok(true)
    }

    async fn find_session(
        &self,
        id: UserId,
        token_id: &str,
    ) -> Result<Option<(User, bool)>, IdentityError> {
        let state = self.lock();
        Ok(state
            .users
            .get(&id.get())
            .map(|(u, _)| (u.clone(), state.revoked.contains_key(token_id))))
    }

    async fn revoke_token(
        &self,
        user: UserId,
        token_id: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), IdentityError> {
        let mut state = self.lock();
        if !state.users.contains_key(&user.get()) {
            return Err(IdentityError::NotFound);
        }
        state
            .revoked
            .entry(token_id.to_owned())
            .or_insert((user, expires_at));
        Ok(())
    }

    async fn end_sessions(&self, user: UserId) -> Result<(), IdentityError> {
        if let Some((u, _)) = self.lock().users.get_mut(&user.get()) {
            u.session_epoch += 1;
        }
        Ok(())
    }

    async fn store_ticket(
        &self,
        ticket: &str,
        session: &Session,
        ttl_secs: u32,
    ) -> Result<(), IdentityError> {
        let mut state = self.lock();
        let user = session.principal.user_id;
        if !state.users.contains_key(&user.get()) {
            return Err(IdentityError::NotFound);
        }
        let now = Utc::now();
        // Expired tickets go when new ones come: nothing else would take them.
        state.ws_tickets.retain(|_, t| t.expires_at > now);
        state.ws_tickets.insert(
            ticket.to_owned(),
            WsTicket {
                grant: TicketGrant {
                    user_id: user,
                    token_id: session.token_id.clone(),
                    session_epoch: session.session_epoch,
                    token_expires_at: session.expires_at,
                },
                expires_at: now + chrono::Duration::seconds(i64::from(ttl_secs)),
            },
        );
        Ok(())
    }

    async fn take_ticket(&self, ticket: &str) -> Result<Option<TicketGrant>, IdentityError> {
        let taken = self.lock().ws_tickets.remove(ticket);
        Ok(taken.filter(|t| t.expires_at > Utc::now()).map(|t| t.grant))
    }
}
