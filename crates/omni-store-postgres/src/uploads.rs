//! The messaging crate's [`UploadStore`] on PostgreSQL: files in a `bytea` column (see
//! the migration for the measurement against large objects).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use omni_core::{CompanyId, Scope, UploadId};
use omni_messaging::{MessagingError, NewUpload, Upload, UploadStore};
use tokio::sync::Semaphore;

use crate::Database;
use crate::messages::{store_error, unavailable};
use crate::schema::uploads;

/// Files read from the database at once, at most: a read holds a whole file (up to
/// 16 MiB), and a burst of downloads must not read hundreds together.
const READS_AT_ONCE: usize = 8;

/// Uploaded files in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgUploadStore {
    db: Database,
    reads: Arc<Semaphore>,
}

impl PgUploadStore {
    /// A store over the pool.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            reads: Arc::new(Semaphore::new(READS_AT_ONCE)),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = uploads, check_for_backend(diesel::pg::Pg))]
struct UploadRow {
    id: i64,
    company_id: i64,
    content_type: String,
    filename: Option<String>,
    size: i64,
    created_at: DateTime<Utc>,
}

impl From<UploadRow> for Upload {
    fn from(row: UploadRow) -> Self {
        Upload {
            id: UploadId::new(row.id),
            company_id: CompanyId::new(row.company_id),
            content_type: row.content_type,
            filename: row.filename,
            size: u64::try_from(row.size).unwrap_or_default(),
            created_at: row.created_at,
        }
    }
}

#[async_trait]
impl UploadStore for PgUploadStore {
    #[tracing::instrument(skip_all, fields(company_id = %upload.company_id()))]
    async fn save(&self, upload: &NewUpload) -> Result<Upload, MessagingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let size = i64::try_from(upload.bytes().len()).unwrap_or(i64::MAX);
        let row: UploadRow = diesel::insert_into(uploads::table)
            .values((
                uploads::company_id.eq(upload.company_id().get()),
                uploads::content_type.eq(upload.content_type()),
                uploads::filename.eq(upload.filename()),
                uploads::size.eq(size),
                uploads::data.eq(upload.bytes().as_ref()),
            ))
            .returning(UploadRow::as_returning())
            .get_result(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(row.into())
    }

    async fn find(&self, scope: Scope, ids: &[UploadId]) -> Result<Vec<Upload>, MessagingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let raw: Vec<i64> = ids.iter().map(|id| id.get()).collect();
        let mut query = uploads::table
            .filter(uploads::id.eq_any(raw))
            .select(UploadRow::as_select())
            .into_boxed();
        if let Scope::Company(company) = scope {
            query = query.filter(uploads::company_id.eq(company.get()));
        }
        let rows: Vec<UploadRow> = query.load(&mut conn).await.map_err(store_error)?;
        Ok(rows.into_iter().map(Upload::from).collect())
    }

    async fn content(&self, id: UploadId) -> Result<Option<(Upload, Bytes)>, MessagingError> {
        let _permit = self
            .reads
            .acquire()
            .await
            .map_err(|_| MessagingError::Unavailable("the upload store is closing".into()))?;
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let found: Option<(UploadRow, Vec<u8>)> = uploads::table
            .filter(uploads::id.eq(id.get()))
            .select((UploadRow::as_select(), uploads::data))
            .first(&mut conn)
            .await
            .optional()
            .map_err(store_error)?;
        Ok(found.map(|(row, data)| (row.into(), Bytes::from(data))))
    }

    async fn usage(&self, company: CompanyId) -> Result<u64, MessagingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        // `sum(bigint)` is numeric in PostgreSQL: cast back, none is 0.
        let bytes: i64 = uploads::table
            .filter(uploads::company_id.eq(company.get()))
            .select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "coalesce(sum(size), 0)::bigint",
            ))
            .first(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(u64::try_from(bytes).unwrap_or_default())
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, MessagingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        // Kept while a message attached it within the retention (see the migration).
        let deleted = diesel::delete(
            uploads::table
                .filter(uploads::created_at.lt(before))
                .filter(
                    uploads::last_used_at
                        .is_null()
                        .or(uploads::last_used_at.lt(before)),
                ),
        )
        .execute(&mut conn)
        .await
        .map_err(store_error)?;
        Ok(u64::try_from(deleted).unwrap_or_default())
    }
}
