//! `BlobStore`: where originals and thumbnails live. One trait, one file per
//! backend; the rest of the code holds an `Arc<dyn BlobStore>`.

mod fs;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::NaiveDateTime;

pub use fs::FsStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("object key {0:?} is not allowed")]
    BadKey(String),
    /// Worth retrying: I/O, network, throttling.
    #[error("storage unavailable for {key}: {source}")]
    Unavailable { key: String, source: anyhow::Error },
}

/// What the store knows of an object, as S3's HEAD reports it.
#[derive(Debug, Clone)]
pub struct BlobMeta {
    pub size: u64,
    /// UTC, whole seconds.
    pub last_modified: NaiveDateTime,
    pub content_type: String,
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<BlobMeta, StoreError>;
    async fn get(&self, key: &str) -> Result<Bytes, StoreError>;
    async fn head(&self, key: &str) -> Result<BlobMeta, StoreError>;
    /// Deleting a missing object succeeds, as on S3.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Readiness: the store can be reached.
    async fn check(&self) -> Result<(), StoreError>;
}
