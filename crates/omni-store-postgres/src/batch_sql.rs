//! The statements of the webhook batch, each prepared once per connection.
//!
//! diesel never caches `sql_query` (its text may be built at run time) nor a multi-row
//! insert (its text grows with the rows), so every batch paid a parse, an analysis, a plan
//! and an extra round trip per statement: about an eighth of the database's time under
//! webhook load. These statements have fixed text, whatever the batch size — the rows
//! travel as arrays and `unnest` turns them back into rows — and a static query id, so each
//! connection prepares them once and then only binds and executes.

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text, Timestamptz, Untyped};

use chrono::{DateTime, Utc};

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

        // Static: the cache finds the prepared statement by type, without building the
        // text again.
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
        out.push_sql(
            "SELECT t.* FROM tickets t \
             JOIN (SELECT DISTINCT c, p FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.companies)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(self.phones)?;
        out.push_sql(
            "::text[]) AS u(c, p)) u ON t.company_id = u.c AND t.customer_phone = u.p \
             WHERE t.status <> 'closed' ORDER BY t.id FOR UPDATE OF t",
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
                 media, created_at, updated_at",
        );
    }
}

statement! {
    /// Moves each ticket's last activity to its newest message (and takes the customer's
    /// latest profile name), returning the tickets as they now are.
    TouchTickets {
        ids: &'a [i64],
        ats: &'a [DateTime<Utc>],
        names: &'a [Option<&'a str>],
    }
    |self, out| {
        out.push_sql(
            "UPDATE tickets t SET last_message_at = u.at, last_activity_at = u.at, \
                 customer_name = coalesce(u.name, t.customer_name), version = t.version + 1 \
             FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.ids)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Timestamptz>, _>(self.ats)?;
        out.push_sql("::timestamptz[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(self.names)?;
        out.push_sql("::text[]) AS u(id, at, name) WHERE t.id = u.id RETURNING t.*");
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
