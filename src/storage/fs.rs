//! Local-directory backend. Keys map to paths under the root; a key that
//! could escape the root is refused. Writes go to a temporary file and are
//! renamed into place, so a reader never sees half an object.

use std::{
    io::ErrorKind,
    path::{Component, Path, PathBuf},
};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{BlobMeta, BlobStore, StoreError};

/// S3's default for objects stored without a content type.
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    pub async fn open(root: PathBuf) -> anyhow::Result<Self> {
        tokio::fs::create_dir_all(&root).await?;
        Ok(Self { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let rel = Path::new(key);
        let safe = !key.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if safe { Ok(self.root.join(rel)) } else { Err(StoreError::BadKey(key.to_owned())) }
    }
}

fn io_error(key: &str, err: std::io::Error) -> StoreError {
    match err.kind() {
        ErrorKind::NotFound => StoreError::NotFound(key.to_owned()),
        _ => StoreError::Unavailable { key: key.to_owned(), source: err.into() },
    }
}

#[async_trait]
impl BlobStore for FsStore {
    async fn put(&self, key: &str, bytes: Bytes, _content_type: &str) -> Result<BlobMeta, StoreError> {
        let path = self.path(key)?;
        let tmp = path.with_file_name(format!(".{}.tmp", uuid::Uuid::new_v4()));
        let write = async {
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            tokio::fs::write(&tmp, &bytes).await?;
            tokio::fs::rename(&tmp, &path).await
        };
        if let Err(err) = write.await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io_error(key, err));
        }
        self.head(key).await
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path(key)?;
        tokio::fs::read(path).await.map(Bytes::from).map_err(|e| io_error(key, e))
    }

    async fn head(&self, key: &str) -> Result<BlobMeta, StoreError> {
        let meta = tokio::fs::metadata(self.path(key)?).await.map_err(|e| io_error(key, e))?;
        let modified: DateTime<Utc> = meta.modified().map_err(|e| io_error(key, e))?.into();
        let last_modified = DateTime::from_timestamp(modified.timestamp(), 0).unwrap_or(modified).naive_utc();
        Ok(BlobMeta { size: meta.len(), last_modified, content_type: DEFAULT_CONTENT_TYPE.into() })
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(err) if err.kind() != ErrorKind::NotFound => Err(io_error(key, err)),
            _ => Ok(()),
        }
    }

    async fn check(&self) -> Result<(), StoreError> {
        tokio::fs::metadata(&self.root).await.map(|_| ()).map_err(|e| io_error("/", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_head_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().to_path_buf()).await.unwrap();
        let meta = store.put("images/a b.jpg", Bytes::from_static(b"hello"), "image/jpeg").await.unwrap();
        assert_eq!(meta.size, 5);
        assert_eq!(meta.content_type, "binary/octet-stream");
        assert_eq!(store.get("images/a b.jpg").await.unwrap(), Bytes::from_static(b"hello"));
        store.delete("images/a b.jpg").await.unwrap();
        assert!(matches!(store.get("images/a b.jpg").await, Err(StoreError::NotFound(_))));
        store.delete("images/a b.jpg").await.expect("deleting twice is fine");
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().join("blobs")).await.unwrap();
        for key in ["../x", "/etc/passwd", "images/../../x", ""] {
            assert!(matches!(store.get(key).await, Err(StoreError::BadKey(_))), "{key}");
        }
    }
}
