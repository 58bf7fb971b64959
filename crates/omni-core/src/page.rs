//! Keyset pagination: `{data, next_cursor}` pages that stay correct while rows are inserted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

/// How many rows a page holds: 1 to [`Limit::MAX`], [`Limit::DEFAULT`] when unspecified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u16);

/// A page size out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit must be between 1 and {max}", max = Limit::MAX)]
pub struct LimitError;

impl Limit {
    /// The page size when the client names none.
    pub const DEFAULT: u16 = 50;
    /// The largest page a client may ask for.
    pub const MAX: u16 = 200;

    /// Checks a client's page size.
    pub fn new(n: i64) -> Result<Self, LimitError> {
        u16::try_from(n)
            .ok()
            .filter(|n| (1..=Self::MAX).contains(n))
            .map(Self)
            .ok_or(LimitError)
    }

    /// The page size.
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(Self::DEFAULT)
    }
}

/// Where the next page starts: the sort key and id of the last row already seen.
///
/// Clients treat it as an opaque string; it is base64url of a small text so that nothing
/// about the encoding leaks into the contract and it can change without breaking clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The timestamp the list is ordered by, for lists ordered by time.
    pub at: Option<DateTime<Utc>>,
    /// The id of the last row seen, the tie-breaker.
    pub id: i64,
}

/// A cursor string this server did not make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor is not one this server issued")]
pub struct CursorError;

impl Cursor {
    /// The opaque string handed to clients.
    pub fn encode(&self) -> String {
        let text = match self.at {
            Some(at) => format!("{}.{}", at.timestamp_micros(), self.id),
            None => format!("-.{}", self.id),
        };
        URL_SAFE_NO_PAD.encode(text)
    }

    /// Reads back a string made by [`Cursor::encode`].
    pub fn decode(s: &str) -> Result<Self, CursorError> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| CursorError)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| CursorError)?;
        let (at, id) = text.split_once('.').ok_or(CursorError)?;
        let id = id.parse().map_err(|_| CursorError)?;
        let at = match at {
            "-" => None,
            micros => {
                let micros = micros.parse().map_err(|_| CursorError)?;
                Some(DateTime::from_timestamp_micros(micros).ok_or(CursorError)?)
            }
        };
        Ok(Self { at, id })
    }
}

/// What a client asked for: a page size and where to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageRequest {
    /// Rows to return at most.
    pub limit: Limit,
    /// Start after this row; `None` for the first page.
    pub cursor: Option<Cursor>,
}

/// One page of a list, and where the next one starts (`None` on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The rows of this page.
    pub data: Vec<T>,
    /// The cursor of the next page, `None` when this is the last.
    pub next_cursor: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only proves that another
    /// page exists, which saves a count query.
    pub fn from_overfetch(
        mut rows: Vec<T>,
        limit: Limit,
        cursor_of: impl Fn(&T) -> Cursor,
    ) -> Self {
        let limit = usize::from(limit.get());
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(cursor_of)
        } else {
            None
        };
        Self {
            data: rows,
            next_cursor,
        }
    }

    /// Converts every row, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert_eq!(Limit::default().get(), 50);
        assert_eq!(Limit::new(1).unwrap().get(), 1);
        assert_eq!(Limit::new(200).unwrap().get(), 200);
        assert!(Limit::new(0).is_err());
        assert!(Limit::new(201).is_err());
        assert!(Limit::new(-5).is_err());
        assert!(Limit::new(i64::MAX).is_err());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
        for c in [
            Cursor {
                at: Some(at),
                id: 9,
            },
            Cursor { at: None, id: 12 },
        ] {
            assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        }
        for bad in ["", "!!", "bm9wZQ", "LS54"] {
            assert_eq!(Cursor::decode(bad), Err(CursorError), "{bad}");
        }
    }

    #[test]
    fn overfetch_reveals_the_next_page() {
        let limit = Limit::new(2).unwrap();
        let cursor = |n: &i64| Cursor { at: None, id: *n };
        let page = Page::from_overfetch(vec![5, 4, 3], limit, cursor);
        assert_eq!(page.data, vec![5, 4]);
        assert_eq!(page.next_cursor, Some(Cursor { at: None, id: 4 }));
        let last = Page::from_overfetch(vec![2, 1], limit, cursor);
        assert_eq!(last.next_cursor, None);
    }
}
