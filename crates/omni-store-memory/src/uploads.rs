//! The messaging crate's `UploadStore` in memory.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use omni_core::{Scope, UploadId};
use omni_messaging::{MessagingError, NewUpload, Upload, UploadStore};

use crate::MemoryStore;
use crate::state::StoredUpload;

#[async_trait]
impl UploadStore for MemoryStore {
    async fn save(&self, upload: &NewUpload) -> Result<Upload, MessagingError> {
        let mut state = self.lock();
        if !state.companies.contains_key(&upload.company_id().get()) {
            return Err(MessagingError::NotFound);
        }
        let id = state.next_id();
        let kept = Upload {
            id: UploadId::new(id),
            company_id: upload.company_id(),
            content_type: upload.content_type().to_owned(),
            filename: upload.filename().map(str::to_owned),
            size: upload.bytes().len() as u64,
            created_at: Utc::now(),
        };
        state.uploads.insert(
            id,
            StoredUpload {
                upload: kept.clone(),
                bytes: upload.bytes().clone(),
                last_used_at: None,
            },
        );
        Ok(kept)
    }

    async fn find(&self, scope: Scope, ids: &[UploadId]) -> Result<Vec<Upload>, MessagingError> {
        let state = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| state.uploads.get(&id.get()))
            .filter(|u| scope.includes(Some(u.upload.company_id)))
            .map(|u| u.upload.clone())
            .collect())
    }

    async fn content(&self, id: UploadId) -> Result<Option<(Upload, Bytes)>, MessagingError> {
        Ok(self
            .lock()
            .uploads
            .get(&id.get())
            .map(|u| (u.upload.clone(), u.bytes.clone())))
    }

    async fn usage(&self, company: omni_core::CompanyId) -> Result<u64, MessagingError> {
        Ok(self
            .lock()
            .uploads
            .values()
            .filter(|u| u.upload.company_id == company)
            .map(|u| u.upload.size)
            .sum())
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, MessagingError> {
        let mut state = self.lock();
        let was = state.uploads.len();
        // Kept while a message attached it within the retention.
        state.uploads.retain(|_, u| {
            u.upload.created_at >= before || u.last_used_at.is_some_and(|at| at >= before)
        });
        Ok((was - state.uploads.len()) as u64)
    }
}
