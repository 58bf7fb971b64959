//! The statements of the webhook batch, each prepared once per connection.
//!
//! diesel never caches `sql_query` (its text may be built at run time) nor a multi-row
//! insert (its text grows with the rows), so every batch paid a parse, an analysis, a plan
//! and an extra round trip per statement: about an eighth of the database's time under
//! webhook load. These statements have fixed text, whatever the batch size — the rows
//! travel as arrays and `unnest` turns them back into rows — and a static query id, so each
//! connection prepares them once and then only binds and executes.

use std::sync::LazyLock;

use diesel::dsl::AsSelect;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{
    Array, BigInt, Integer, Jsonb, Nullable, SmallInt, Text, Timestamptz, Untyped,
};
use diesel::{QueryResult, SelectableHelper as _};

use crate::messages::MessageRow;
use crate::tickets::TicketRow;

use chrono::{DateTime, Utc};

/// The ticket columns the batch reads back, from `TicketRow` itself (one column list for
/// every statement), named rather than `tickets.*`: a prepared statement keeps its result
/// type, so a column added by a later migration while this process runs would make every
/// execution of a `*` statement fail.
static TICKET_COLUMNS: LazyLock<AsSelect<TicketRow, Pg>> = LazyLock::new(TicketRow::as_select);

fn ticket_columns(out: &mut AstPass<'_, '_, Pg>) -> QueryResult<()> {
    TICKET_COLUMNS.walk_ast(out.reborrow())
}

/// The message columns, from `MessageRow`, for the same reason.
static MESSAGE_COLUMNS: LazyLock<AsSelect<MessageRow, Pg>> = LazyLock::new(MessageRow::as_select);

fn message_columns(out: &mut AstPass<'_, '_, Pg>) -> QueryResult<()> {
    MESSAGE_COLUMNS.walk_ast(out.reborrow())
}

/// Declares a statement: its fields are its bind parameters, `walk` writes its text.
macro_rules! statement {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }
     |$self:ident, $out:ident| $walk:block) => {
        $(#[$doc])*
        pub(crate) struct $name<'a> {
            $(pub(crate) $field: $ty,)*
        }

        impl QueryFragment<Pg> for $name<'_> {
            fn walk_ast<'b>(&'b $self, mut $out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
                $walk
                Ok(())
            }
        }

        impl Query for $name<'_> {
            type SqlType = Untyped;
        }

        // Static: the cache keys the prepared statement by type.
        impl QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }
    };
}

statement! {
    /// The messages of the batch already stored: (company, MessageSid) → id.
    SeenSids { companies: &'a [i64], sids: &'a [&'a str] }
    |self, out| {
        out.push_sql(
            "SELECT m.company_id, m.whatsapp_message_id AS sid, m.id FROM ticket_messages m \
             JOIN unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.companies)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(self.sids)?;
        out.push_sql(
            "::text[]) AS u(c, s) ON m.company_id = u.c AND m.whatsapp_message_id = u.s",
        );
    }
}

statement! {
    /// The customers' tickets that are not closed, locked in id order: concurrent batches
    /// take their common tickets in the same order and cannot deadlock.
    LockOpenTickets { companies: &'a [i64], phones: &'a [&'a str] }
    |self, out| {
        out.push_sql("SELECT ");
        ticket_columns(&mut out)?;
        out.push_sql(" FROM tickets JOIN (SELECT DISTINCT c, p FROM unnest(");
        out.push_bind_param::<Array<BigInt>, _>(self.companies)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(self.phones)?;
        out.push_sql(
            "::text[]) AS u(c, p)) u \
                 ON tickets.company_id = u.c AND tickets.customer_phone = u.p \
             WHERE tickets.status <> 'closed' ORDER BY tickets.id FOR UPDATE OF tickets",
        );
    }
}

statement! {
    /// Customers' messages appended to their open tickets; a MessageSid stored meanwhile by
    /// another transaction is skipped (and missing from what it returns).
    InsertInbound {
        companies: &'a [i64],
        tickets: &'a [i64],
        contents: &'a [&'a str],
        phones: &'a [&'a str],
        sids: &'a [&'a str],
        media: &'a [serde_json::Value],
    }
    |self, out| {
        out.push_sql(
            "INSERT INTO ticket_messages (company_id, ticket_id, content, from_customer, \
                 whatsapp_number, whatsapp_message_id, delivery_status, media) \
             SELECT c, t, b, true, n, s, 'received', m FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.companies)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(self.tickets)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(self.contents)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(self.phones)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(self.sids)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Jsonb>, _>(self.media)?;
        out.push_sql(
            "::jsonb[]) AS u(c, t, b, n, s, m) \
             ON CONFLICT (company_id, whatsapp_message_id) DO NOTHING \
             RETURNING id, company_id, ticket_id, content, from_customer, whatsapp_number, \
                 whatsapp_message_id, author_id, delivery_status, error_code, error_message, \
                 media, template, created_at, updated_at",
        );
    }
}

statement! {
    /// Moves each ticket's last activity to its newest message, takes the customer's latest
    /// profile name, the status and the reply window the domain decided, and returns the
    /// tickets as they now are.
    TouchTickets {
        ids: &'a [i64],
        ats: &'a [DateTime<Utc>],
        names: &'a [Option<&'a str>],
        statuses: &'a [&'a str],
        windows: &'a [Option<DateTime<Utc>>],
        resolved: &'a [Option<DateTime<Utc>>],
        reopened: &'a [Option<DateTime<Utc>>],
    }
    |self, out| {
        out.push_sql(
            "UPDATE tickets SET last_message_at = u.at, last_activity_at = u.at, \
                 customer_name = coalesce(u.name, tickets.customer_name), status = u.status, \
                 window_closes_at = u.closes, resolved_at = u.resolved, \
                 reopened_at = u.reopened, version = tickets.version + 1 \
             FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.ids)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Timestamptz>, _>(self.ats)?;
        out.push_sql("::timestamptz[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(self.names)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(self.statuses)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Timestamptz>>, _>(self.windows)?;
        out.push_sql("::timestamptz[], ");
        out.push_bind_param::<Array<Nullable<Timestamptz>>, _>(self.resolved)?;
        out.push_sql("::timestamptz[], ");
        out.push_bind_param::<Array<Nullable<Timestamptz>>, _>(self.reopened)?;
        out.push_sql(
            "::timestamptz[]) AS u(id, at, name, status, closes, resolved, reopened) \
             WHERE tickets.id = u.id RETURNING ",
        );
        ticket_columns(&mut out)?;
    }
}

statement! {
    /// Opens a ticket for each customer; one a concurrent transaction opened first is
    /// skipped (and missing from what it returns).
    InsertTickets {
        companies: &'a [i64],
        integrations: &'a [i64],
        phones: &'a [&'a str],
        names: &'a [Option<&'a str>],
        channels: &'a [&'a str],
    }
    |self, out| {
        out.push_sql(
            "INSERT INTO tickets (company_id, integration_id, customer_phone, customer_name, \
                 channel) \
             SELECT c, i, p, n, ch FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.companies)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(self.integrations)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(self.phones)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(self.names)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(self.channels)?;
        out.push_sql(
            "::text[]) AS u(c, i, p, n, ch) \
             ON CONFLICT (company_id, customer_phone) WHERE status <> 'closed' DO NOTHING \
             RETURNING ",
        );
        ticket_columns(&mut out)?;
    }
}

statement! {
    /// Enqueues jobs; a live job with the same kind and key makes its row a no-op.
    InsertJobs {
        companies: &'a [Option<i64>],
        kinds: &'a [&'a str],
        keys: &'a [String],
        payloads: &'a [serde_json::Value],
    }
    |self, out| {
        out.push_sql(
            "INSERT INTO jobs (company_id, kind, dedupe_key, payload) SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<Nullable<BigInt>>, _>(self.companies)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(self.kinds)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(self.keys)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Jsonb>, _>(self.payloads)?;
        out.push_sql(
            "::jsonb[]) \
             ON CONFLICT (kind, dedupe_key) \
                 WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running') DO NOTHING",
        );
    }
}

statement! {
    /// Appends facts to tickets' history (see `crate::facts`).
    InsertFacts {
        companies: &'a [i64],
        tickets: &'a [i64],
        kinds: &'a [&'a str],
        ats: &'a [DateTime<Utc>],
        sinces: &'a [Option<DateTime<Utc>>],
        agents: &'a [Option<i64>],
        scores: &'a [Option<i16>],
    }
    |self, out| {
        out.push_sql(
            "INSERT INTO ticket_facts (company_id, ticket_id, kind, at, since, agent_id, score) \
             SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.companies)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(self.tickets)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(self.kinds)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Timestamptz>, _>(self.ats)?;
        out.push_sql("::timestamptz[], ");
        out.push_bind_param::<Array<Nullable<Timestamptz>>, _>(self.sinces)?;
        out.push_sql("::timestamptz[], ");
        out.push_bind_param::<Array<Nullable<BigInt>>, _>(self.agents)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Nullable<SmallInt>>, _>(self.scores)?;
        out.push_sql("::smallint[])");
    }
}

statement! {
    /// Appends events to the log.
    InsertEvents {
        companies: &'a [i64],
        types: &'a [&'a str],
        tickets: &'a [Option<i64>],
        payloads: &'a [&'a serde_json::Value],
    }
    |self, out| {
        out.push_sql(
            "INSERT INTO events (company_id, type, ticket_id, payload) \
             SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.companies)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(self.types)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<BigInt>>, _>(self.tickets)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Jsonb>, _>(self.payloads)?;
        out.push_sql("::jsonb[])");
    }
}

statement! {
    /// The outbound messages delivery reports name, locked in id order (concurrent batches
    /// cannot deadlock over them).
    LockSentMessages { companies: &'a [i64], sids: &'a [&'a str] }
    |self, out| {
        out.push_sql("SELECT ");
        message_columns(&mut out)?;
        out.push_sql(" FROM ticket_messages JOIN (SELECT DISTINCT c, s FROM unnest(");
        out.push_bind_param::<Array<BigInt>, _>(self.companies)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(self.sids)?;
        out.push_sql(
            "::text[]) AS u(c, s)) u \
                 ON ticket_messages.company_id = u.c AND ticket_messages.whatsapp_message_id = u.s \
             WHERE NOT ticket_messages.from_customer \
             ORDER BY ticket_messages.id FOR NO KEY UPDATE OF ticket_messages",
        );
    }
}

statement! {
    /// Writes the delivery status (and the provider's error) the domain decided for each
    /// message; returns each message's id and its new `updated_at`.
    SetStatuses {
        ids: &'a [i64],
        statuses: &'a [&'a str],
        codes: &'a [Option<i32>],
        messages: &'a [Option<&'a str>],
    }
    |self, out| {
        out.push_sql(
            "UPDATE ticket_messages SET delivery_status = u.status, error_code = u.code, \
                 error_message = u.message \
             FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.ids)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(self.statuses)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Integer>>, _>(self.codes)?;
        out.push_sql("::integer[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(self.messages)?;
        out.push_sql(
            "::text[]) AS u(id, status, code, message) WHERE ticket_messages.id = u.id \
             RETURNING ticket_messages.id, ticket_messages.updated_at",
        );
    }
}

statement! {
    /// Notes that a send of each message begins, keeping the first attempt's start; returns
    /// each message's id, when an earlier attempt began (none if this is the first) and when
    /// the first attempt began.
    /// Rows are locked in id order, so that two batches cannot wait on each other.
    BeginSends { ids: &'a [i64] }
    |self, out| {
        out.push_sql(
            "WITH before AS (SELECT id, send_started_at FROM ticket_messages WHERE id = ANY(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.ids)?;
        out.push_sql(
            "::bigint[]) ORDER BY id FOR NO KEY UPDATE) \
             UPDATE ticket_messages m SET send_started_at = coalesce(before.send_started_at, now()) \
             FROM before WHERE m.id = before.id \
             RETURNING m.id, before.send_started_at AS before, m.send_started_at AS started",
        );
    }
}

statement! {
    /// Records the provider's answer on each message still waiting to be sent (`awaiting`:
    /// the domain's statuses for it): its sid, or the failure; returns the messages it
    /// changed.
    FinishSends {
        ids: &'a [i64],
        statuses: &'a [&'a str],
        sids: &'a [Option<&'a str>],
        codes: &'a [Option<i32>],
        messages: &'a [Option<&'a str>],
        awaiting: &'a [&'a str],
    }
    |self, out| {
        out.push_sql(
            "UPDATE ticket_messages SET delivery_status = u.status, whatsapp_message_id = u.sid, \
                 error_code = u.code, error_message = u.message \
             FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.ids)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(self.statuses)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(self.sids)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Integer>>, _>(self.codes)?;
        out.push_sql("::integer[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(self.messages)?;
        out.push_sql(
            "::text[]) AS u(id, status, sid, code, message) \
             WHERE ticket_messages.id = u.id AND ticket_messages.delivery_status = ANY(",
        );
        out.push_bind_param::<Array<Text>, _>(self.awaiting)?;
        out.push_sql("::text[]) RETURNING ");
        message_columns(&mut out)?;
    }
}

/// The advisory-lock keys of the provider ids a transaction records (`recorded`: wanted
/// exclusive) and of those delivery reports look for that no message carries yet (`sought`,
/// with their companies: wanted shared), one row per key in key order, each with the ids
/// behind it (`ss`) and whether it is wanted exclusive (`x`). See [`LockSids`].
fn sid_keys<'b>(
    out: &mut AstPass<'_, 'b, Pg>,
    recorded: &'b [&'b str],
    companies: &'b [i64],
    sought: &'b [&'b str],
) -> QueryResult<()> {
    out.push_sql(
        " FROM (SELECT hashtextextended('sid:' || s, 0) AS k, bool_or(x) AS x, \
             array_agg(s) AS ss \
             FROM (SELECT s, true FROM unnest(",
    );
    out.push_bind_param::<Array<Text>, _>(recorded)?;
    out.push_sql("::text[]) AS r(s) UNION ALL SELECT u.s, false FROM unnest(");
    out.push_bind_param::<Array<BigInt>, _>(companies)?;
    out.push_sql("::bigint[], ");
    out.push_bind_param::<Array<Text>, _>(sought)?;
    out.push_sql(
        "::text[]) AS u(c, s) WHERE NOT EXISTS (SELECT 1 FROM ticket_messages m \
             WHERE m.company_id = u.c AND m.whatsapp_message_id = u.s \
             AND NOT m.from_customer)) AS a(s, x) \
         GROUP BY 1 ORDER BY 1) keys",
    );
    Ok(())
}

statement! {
    /// Serialises, until the end of the transaction, a send's answer recording a provider id
    /// (`recorded`: an exclusive lock) and the delivery reports looking for it (`sought`, with
    /// their companies: a shared lock, and only on ids no message carries yet). Without it a
    /// report could look for its message just before the answer commits, and the answer look
    /// for early reports just before the report's commits, and the report would be lost. A
    /// report whose message already carries the id has nothing to wait for (the answer
    /// committed) and takes no lock. Locks are taken in one order (by key), so that two
    /// transactions cannot wait on each other. Waits for each lock; the batch lanes use
    /// [`TryLockSids`] instead.
    LockSids { recorded: &'a [&'a str], companies: &'a [i64], sought: &'a [&'a str] }
    |self, out| {
        out.push_sql(
            "SELECT count(CASE WHEN x THEN pg_advisory_xact_lock(k) \
                 ELSE pg_advisory_xact_lock_shared(k) END)",
        );
        sid_keys(&mut out, self.recorded, self.companies, self.sought)?;
    }
}

statement! {
    /// [`LockSids`] without waiting: takes the locks that are free and returns the provider
    /// ids (`sid`) of those that are not, whose work the batch leaves out (it goes back to
    /// the queue for a later batch). A lane that waited here waited for the other lane's whole batch to commit: under
    /// the mix, where Twilio's `sent` often comes while its send's answer is being committed,
    /// that was a lane stalled 5 ms per batch on average.
    TryLockSids { recorded: &'a [&'a str], companies: &'a [i64], sought: &'a [&'a str] }
    |self, out| {
        out.push_sql("SELECT unnest(ss) AS sid");
        sid_keys(&mut out, self.recorded, self.companies, self.sought)?;
        out.push_sql(
            " WHERE NOT CASE WHEN x THEN pg_try_advisory_xact_lock(k) \
                 ELSE pg_try_advisory_xact_lock_shared(k) END",
        );
    }
}

statement! {
    /// Keeps delivery reports that named no message yet, of companies that exist, and
    /// drops those kept longer than `kept_for`.
    KeepEarlyReports {
        kept_for: diesel::data_types::PgInterval,
        companies: &'a [i64],
        sids: &'a [&'a str],
        statuses: &'a [&'a str],
        codes: &'a [Option<i32>],
        messages: &'a [Option<&'a str>],
    }
    |self, out| {
        out.push_sql(
            "WITH stale AS (DELETE FROM early_reports WHERE received_at < now() - ",
        );
        out.push_bind_param::<diesel::sql_types::Interval, _>(&self.kept_for)?;
        out.push_sql(
            ") INSERT INTO early_reports (company_id, whatsapp_message_id, status, error_code, \
                 error_message) \
             SELECT u.* FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.companies)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(self.sids)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(self.statuses)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Integer>>, _>(self.codes)?;
        out.push_sql("::integer[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(self.messages)?;
        // A company deleted meanwhile has no messages to wait for.
        out.push_sql(
            "::text[]) AS u(c, s, st, code, message) \
             WHERE EXISTS (SELECT 1 FROM companies WHERE companies.id = u.c)",
        );
    }
}

statement! {
    /// Takes (deletes and returns) the early reports naming these (company, sid) pairs.
    TakeEarlyReports { companies: &'a [i64], sids: &'a [&'a str] }
    |self, out| {
        out.push_sql("DELETE FROM early_reports e USING unnest(");
        out.push_bind_param::<Array<BigInt>, _>(self.companies)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(self.sids)?;
        out.push_sql(
            "::text[]) AS u(c, s) WHERE e.company_id = u.c AND e.whatsapp_message_id = u.s \
             RETURNING e.id, e.company_id, e.whatsapp_message_id AS sid, e.status, \
                 e.error_code, e.error_message",
        );
    }
}

statement! {
    /// Takes up to `limit` ready jobs of `kinds` — queued ones and expired leases, each
    /// read from its own index (`jobs_ready`, `jobs_leases`) in the order it keeps, so the
    /// claim reads a few rows however long the queue is — leaving no company more than
    /// `per_company` running at once, and leases them.
    ClaimJobs {
        kinds: &'a [&'a str],
        limit: i64,
        lease: diesel::data_types::PgInterval,
        per_company: i64,
    }
    |self, out| {
        out.push_sql(
            "WITH queued AS ( \
                 SELECT q.* FROM unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(self.kinds)?;
        out.push_sql(
            "::text[]) AS k(kind) CROSS JOIN LATERAL ( \
                     SELECT id, company_id, run_at FROM jobs \
                      WHERE status = 'queued' AND jobs.kind = k.kind AND run_at <= now() \
                      ORDER BY run_at, id LIMIT ",
        );
        out.push_bind_param::<BigInt, _>(&self.limit)?;
        out.push_sql(
            " * 8 FOR UPDATE SKIP LOCKED) q), \
             expired AS ( \
                 SELECT id, company_id, run_at FROM jobs \
                  WHERE status = 'running' AND locked_until < now() AND kind = ANY(",
        );
        out.push_bind_param::<Array<Text>, _>(self.kinds)?;
        out.push_sql(") ORDER BY locked_until LIMIT ");
        out.push_bind_param::<BigInt, _>(&self.limit)?;
        out.push_sql(
            " FOR UPDATE SKIP LOCKED), \
             ready AS (SELECT * FROM queued UNION ALL SELECT * FROM expired), \
             busy AS ( \
                 SELECT company_id, count(*) AS n FROM jobs \
                  WHERE status = 'running' AND locked_until >= now() AND kind = ANY(",
        );
        out.push_bind_param::<Array<Text>, _>(self.kinds)?;
        out.push_sql(
            ") AND company_id IN (SELECT company_id FROM ready) \
                  GROUP BY company_id), \
             chosen AS ( \
                 SELECT r.id FROM ( \
                     SELECT ready.*, row_number() OVER (PARTITION BY company_id ORDER BY run_at, id) AS k \
                       FROM ready) r \
                   LEFT JOIN busy b ON b.company_id = r.company_id \
                  WHERE r.company_id IS NULL OR r.k + coalesce(b.n, 0) <= ",
        );
        out.push_bind_param::<BigInt, _>(&self.per_company)?;
        out.push_sql(" ORDER BY r.run_at, r.id LIMIT ");
        out.push_bind_param::<BigInt, _>(&self.limit)?;
        out.push_sql(
            ") \
             UPDATE jobs SET status = 'running', locked_until = now() + ",
        );
        out.push_bind_param::<diesel::sql_types::Interval, _>(&self.lease)?;
        out.push_sql(
            ", attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM chosen) \
             RETURNING id, kind, payload, attempts, max_attempts",
        );
    }
}

statement! {
    /// Running jobs are done: their rows go. Kept as `done`, each cost another row version
    /// (and its index entries) on completion and a delete a day later, and left the table
    /// a day of history deep for every claim to walk past.
    CompleteJobs { ids: &'a [i64] }
    |self, out| {
        out.push_sql("DELETE FROM jobs WHERE id = ANY(");
        out.push_bind_param::<Array<BigInt>, _>(self.ids)?;
        // Only a job still running: one given back or taken over meanwhile is not done.
        out.push_sql(") AND status = 'running'");
    }
}

#[cfg(test)]
mod tests {
    use diesel::pg::PgQueryBuilder;
    use diesel::query_builder::QueryBuilder as _;

    use super::*;

    fn text(q: &impl QueryFragment<Pg>) -> String {
        let mut builder = PgQueryBuilder::default();
        q.to_sql(&mut builder, &Pg).expect("the statement renders");
        builder.finish()
    }

    /// The statement's text, once it is known diesel may cache it.
    fn cacheable_text(q: &impl QueryFragment<Pg>) -> String {
        assert!(
            q.is_safe_to_cache_prepared(&Pg)
                .expect("the statement answers")
        );
        text(q)
    }

    /// The statements over a batch of `n` (1 or 2) rows, as cacheable texts.
    fn texts(n: usize) -> [String; 18] {
        let media = [serde_json::json!([]), serde_json::json!([])];
        let keys = ["2".to_owned(), "4".to_owned()];
        let payload = serde_json::json!({});
        let now = Utc::now();
        [
            cacheable_text(&SeenSids {
                companies: &[1, 3][..n],
                sids: &["SM1", "SM2"][..n],
            }),
            cacheable_text(&LockOpenTickets {
                companies: &[1, 3][..n],
                phones: &["+5511", "+5512"][..n],
            }),
            cacheable_text(&InsertInbound {
                companies: &[1, 3][..n],
                tickets: &[2, 4][..n],
                contents: &["a", "b"][..n],
                phones: &["+5511", "+5512"][..n],
                sids: &["SM1", "SM2"][..n],
                media: &media[..n],
            }),
            cacheable_text(&TouchTickets {
                ids: &[2, 4][..n],
                ats: &[now, now][..n],
                names: &[None, Some("Ana")][..n],
                statuses: &["open", "new"][..n],
                windows: &[Some(now), None][..n],
                resolved: &[None, Some(now)][..n],
                reopened: &[Some(now), None][..n],
            }),
            cacheable_text(&InsertEvents {
                companies: &[1, 3][..n],
                types: &["message.created", "ticket.updated"][..n],
                tickets: &[Some(2), None][..n],
                payloads: &[&payload, &payload][..n],
            }),
            cacheable_text(&InsertTickets {
                companies: &[1, 3][..n],
                integrations: &[5, 6][..n],
                phones: &["+5511", "+5512"][..n],
                names: &[None, Some("Ana")][..n],
                channels: &["whatsapp", "sms"][..n],
            }),
            cacheable_text(&InsertJobs {
                companies: &[Some(1), None][..n],
                kinds: &["triage", "message.send"][..n],
                keys: &keys[..n],
                payloads: &media[..n],
            }),
            cacheable_text(&LockSentMessages {
                companies: &[1, 3][..n],
                sids: &["SM1", "SM2"][..n],
            }),
            cacheable_text(&SetStatuses {
                ids: &[2, 4][..n],
                statuses: &["sent", "failed"][..n],
                codes: &[None, Some(63016)][..n],
                messages: &[None, Some("outside the window")][..n],
            }),
            cacheable_text(&BeginSends { ids: &[2, 4][..n] }),
            cacheable_text(&FinishSends {
                ids: &[2, 4][..n],
                statuses: &["sent", "failed"][..n],
                sids: &[Some("SM1"), None][..n],
                codes: &[None, Some(63016)][..n],
                messages: &[None, Some("outside the window")][..n],
                awaiting: &["queued", "sending"][..n],
            }),
            cacheable_text(&LockSids {
                recorded: &["SM1", "SM2"][..n],
                companies: &[1, 3][..n],
                sought: &["SM3", "SM4"][..n],
            }),
            cacheable_text(&TryLockSids {
                recorded: &["SM1", "SM2"][..n],
                companies: &[1, 3][..n],
                sought: &["SM3", "SM4"][..n],
            }),
            cacheable_text(&KeepEarlyReports {
                kept_for: diesel::data_types::PgInterval::from_microseconds(1),
                companies: &[1, 3][..n],
                sids: &["SM1", "SM2"][..n],
                statuses: &["sent", "failed"][..n],
                codes: &[None, Some(63016)][..n],
                messages: &[None, Some("outside the window")][..n],
            }),
            cacheable_text(&TakeEarlyReports {
                companies: &[1, 3][..n],
                sids: &["SM1", "SM2"][..n],
            }),
            cacheable_text(&ClaimJobs {
                kinds: &["triage", "message.send"][..n],
                limit: i64::try_from(n).unwrap(),
                lease: diesel::data_types::PgInterval::from_microseconds(1),
                per_company: 8,
            }),
            cacheable_text(&CompleteJobs { ids: &[2, 4][..n] }),
            cacheable_text(&InsertFacts {
                companies: &[1, 3][..n],
                tickets: &[2, 4][..n],
                kinds: &["opened", "rated"][..n],
                ats: &[now, now][..n],
                sinces: &[None, Some(now)][..n],
                agents: &[None, Some(5)][..n],
                scores: &[None, Some(4)][..n],
            }),
        ]
    }

    // The point of this module: a statement whose text changed with the batch, or that
    // diesel refused to cache, would be parsed and planned again on every batch.
    #[test]
    fn each_statement_has_one_text_whatever_the_batch_and_may_be_cached() {
        let one = texts(1);
        assert_eq!(one, texts(2));
        assert!(
            one[2].starts_with("INSERT INTO ticket_messages"),
            "{}",
            one[2]
        );
        // Every statement that reads tickets back names TicketRow's own columns.
        for text in [&one[1], &one[3], &one[5]] {
            assert!(!text.contains('*'), "{text}");
            assert!(text.contains(r#""tickets"."manual_fields""#), "{text}");
        }
        // …and every one that reads messages back, MessageRow's.
        for text in [&one[7], &one[10]] {
            assert!(!text.contains('*'), "{text}");
            assert!(
                text.contains(r#""ticket_messages"."delivery_status""#),
                "{text}"
            );
        }
        // Cached by type.
        const {
            assert!(SeenSids::HAS_STATIC_QUERY_ID);
            assert!(LockOpenTickets::HAS_STATIC_QUERY_ID);
            assert!(InsertInbound::HAS_STATIC_QUERY_ID);
            assert!(TouchTickets::HAS_STATIC_QUERY_ID);
            assert!(InsertEvents::HAS_STATIC_QUERY_ID);
            assert!(InsertTickets::HAS_STATIC_QUERY_ID);
            assert!(InsertJobs::HAS_STATIC_QUERY_ID);
            assert!(LockSentMessages::HAS_STATIC_QUERY_ID);
            assert!(SetStatuses::HAS_STATIC_QUERY_ID);
            assert!(BeginSends::HAS_STATIC_QUERY_ID);
            assert!(FinishSends::HAS_STATIC_QUERY_ID);
            assert!(LockSids::HAS_STATIC_QUERY_ID);
            assert!(TryLockSids::HAS_STATIC_QUERY_ID);
            assert!(KeepEarlyReports::HAS_STATIC_QUERY_ID);
            assert!(TakeEarlyReports::HAS_STATIC_QUERY_ID);
            assert!(ClaimJobs::HAS_STATIC_QUERY_ID);
            assert!(CompleteJobs::HAS_STATIC_QUERY_ID);
            assert!(InsertFacts::HAS_STATIC_QUERY_ID);
        }
    }
}
