use omni_core::TicketId;

/// An idempotency key as stored: a client's `Idempotency-Key` and Omni's own keys live in
/// separate namespaces, so that no client can write a key Omni uses (and thereby suppress
/// an automatic reply, or read it back as a replay).
///
/// Keys are unique per (company, author): the same key from another agent is another
/// request; the same key from the same agent on another ticket is a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why a client's key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to 255 visible ASCII characters")]
pub struct InvalidIdempotencyKey;

impl IdempotencyKey {
    /// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters (surrounding spaces
    /// trimmed).
    pub fn from_client(raw: &str) -> Result<Self, InvalidIdempotencyKey> {
        let key = raw.trim();
        if key.is_empty()
            || key.len() > 255
            || !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return Err(InvalidIdempotencyKey);
        }
        Ok(Self(format!("c:{key}")))
    }

    /// The key of a ticket's one automatic reply.
    pub fn auto_reply(ticket: TicketId) -> Self {
        Self(format!("sys:auto-reply:{ticket}"))
    }

    /// The key of a ticket's one satisfaction question.
    pub fn survey(ticket: TicketId) -> Self {
        Self(format!("sys:survey:{ticket}"))
    }

    /// The stored form, namespace included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A key read back from the store.
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_keys_cannot_reach_omnis_namespace() {
        let ticket = TicketId::new(7);
        let own = IdempotencyKey::auto_reply(ticket);
        for raw in ["sys:auto-reply:7", "auto-reply:7", own.as_str()] {
            assert_ne!(IdempotencyKey::from_client(raw).unwrap(), own, "{raw}");
        }
        assert_eq!(
            IdempotencyKey::from_client("  abc ").unwrap().as_str(),
            "c:abc"
        );
        for bad in ["", "   ", "é", "a\nb", &"x".repeat(256)] {
            assert!(IdempotencyKey::from_client(bad).is_err(), "{bad:?}");
        }
    }
}
