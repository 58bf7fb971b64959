//! The `limit` and `cursor` query parameters every list takes.

use omni_core::{Cursor, FieldError, Limit, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// `?limit=&cursor=` as clients send them.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page, 1 to 200 (50 when omitted).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page request, or a 422 naming the bad parameter.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let mut errors = Vec::new();
        let limit = match self.limit {
            None => Limit::default(),
            Some(n) => Limit::new(n).unwrap_or_else(|e| {
                errors.push(FieldError::new("limit", e.to_string()));
                Limit::default()
            }),
        };
        let cursor = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(raw) => Cursor::decode(raw)
                .map_err(|e| errors.push(FieldError::new("cursor", e.to_string())))
                .ok(),
        };
        if errors.is_empty() {
            Ok(PageRequest { limit, cursor })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// A page as clients receive it: `{data, next_cursor}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageResponse<T> {
    /// The rows.
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> PageResponse<T> {
    /// Converts a domain page, row by row.
    pub fn from_page<U>(page: omni_core::Page<U>, f: impl FnMut(U) -> T) -> Self {
        let next_cursor = page.next_cursor.map(|c| c.encode());
        Self {
            data: page.data.into_iter().map(f).collect(),
            next_cursor,
        }
    }
}
