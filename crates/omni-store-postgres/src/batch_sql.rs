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

/// The ticket columns the batch reads back (those of `TicketRow`), named rather than `t.*`:
/// a prepared statement keeps its result type, so a column added by a later migration
/// while this process runs would make every execution of a `t.*` statement fail.
macro_rules! ticket_columns {
    () => {
        "t.id, t.company_id, t.integration_id, t.customer_phone, t.customer_name, t.channel, \
         t.status, t.priority, t.category, t.sentiment, t.sentiment_score, \
         t.suggested_categories, t.assigned_to, t.last_message_at, t.last_activity_at, \
         t.first_response_at, t.resolved_at, t.created_at, t.updated_at, t.version, \
         t.manual_fields"
    };
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
        out.push_sql(concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets t JOIN (SELECT DISTINCT c, p FROM unnest("
        ));
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
        out.push_sql(concat!(
            "::text[]) AS u(id, at, name) WHERE t.id = u.id RETURNING ",
            ticket_columns!()
        ));
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

    /// The five statements over a batch of `n` (1 or 2) rows, as cacheable texts.
    fn texts(n: usize) -> [String; 5] {
        let media = [serde_json::json!([]), serde_json::json!([])];
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
            }),
            cacheable_text(&InsertEvents {
                companies: &[1, 3][..n],
                types: &["message.created", "ticket.updated"][..n],
                tickets: &[Some(2), None][..n],
                payloads: &[&payload, &payload][..n],
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
        assert!(
            !one[1].contains("t.*") && !one[3].contains("t.*"),
            "{one:?}"
        );
        // Cached by type.
        const {
            assert!(SeenSids::HAS_STATIC_QUERY_ID);
            assert!(LockOpenTickets::HAS_STATIC_QUERY_ID);
            assert!(InsertInbound::HAS_STATIC_QUERY_ID);
            assert!(TouchTickets::HAS_STATIC_QUERY_ID);
            assert!(InsertEvents::HAS_STATIC_QUERY_ID);
        }
    }
}
