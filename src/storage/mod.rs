//! `BlobStore`: where originals and thumbnails live. One trait, one file per
//! backend; the rest of the code holds an `Arc<dyn BlobStore>`.

mod fs;
mod s3;

use std::{ops::RangeInclusive, path::Path, pin::Pin, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::NaiveDateTime;
use futures_util::Stream;

pub use fs::FsStore;
pub use s3::S3Store;

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

/// S3's content type for objects stored without one; CloudX's `object_type`.
pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// What the store knows of an object, as S3's HEAD reports it.
#[derive(Debug, Clone)]
pub struct BlobMeta {
    pub size: u64,
    /// UTC, whole seconds.
    pub last_modified: NaiveDateTime,
    pub content_type: String,
    /// Changes whenever the bytes may have: S3's ETag; on the file store,
    /// the size and modification time in nanoseconds. A job records the tag
    /// it made its variants from, so new bytes under a key are made again.
    pub tag: String,
}

/// An object's bytes as they arrive, for answers that should not hold a
/// whole object in memory.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

pub struct BlobReader {
    pub meta: BlobMeta,
    pub body: ByteStream,
}

/// A PUT a client sends straight to the store: to `url`, with exactly
/// these headers (they are signed).
#[derive(Debug, Clone)]
pub struct PresignedPut {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<BlobMeta, StoreError>;
    /// Stores the contents of the file at `path` without reading it whole
    /// into memory; the store may move the file (the caller removes it if
    /// it is still there).
    async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<BlobMeta, StoreError>;
    /// The whole object (the pipeline decodes it from memory).
    async fn get(&self, key: &str) -> Result<Bytes, StoreError>;
    /// The object as a stream, with its metadata; only the bytes in `range`
    /// (inclusive, as HTTP's ranges are, and within the object) when one is
    /// given. The metadata is the whole object's either way.
    async fn open(&self, key: &str, range: Option<RangeInclusive<u64>>) -> Result<BlobReader, StoreError>;
    async fn head(&self, key: &str) -> Result<BlobMeta, StoreError>;
    /// Deleting a missing object succeeds, as on S3.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Every key under `prefix`, in no particular order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Readiness: the store can be reached.
    async fn check(&self) -> Result<(), StoreError>;
    /// A URL through which a client puts an object of exactly `size` bytes
    /// and `content_type` under `key`, until `expires_in` has passed; or
    /// `None` when the store takes no uploads but imaged's own.
    async fn presign_put(
        &self,
        _key: &str,
        _content_type: &str,
        _size: u64,
        _expires_in: Duration,
    ) -> Result<Option<PresignedPut>, StoreError> {
        Ok(None)
    }
}
