//! An image comes in: through the API (multipart or direct upload), or as
//! an object a bucket event announces.

use std::path::Path;

use super::{Images, LifecycleError};
use crate::{db::NewImage, imaging::Kind, storage::StoreError};

impl Images {
    /// Stores a received upload under `key`, records its row and pending
    /// job, and queues the job; the image id. Journaled until its row
    /// exists, so if imaged dies in between, the reconciler removes the
    /// blob. When the job cannot be queued, all is undone, so the client's
    /// retry starts clean; what cannot be undone now, the reconciler finishes.
    pub async fn accept(
        &self,
        key: String,
        file: &Path,
        content_type: &str,
        kind: Kind,
    ) -> Result<i64, LifecycleError> {
        self.meta.journal(&key).await?;
        let stored = self.blobs.put_file(&key, file, content_type).await?;
        let image = NewImage::stored(key, stored);
        let id = self.meta.insert_image(&image, Some(kind.mime())).await?;
        let row = image.into_row(id);
        if let Err(err) = self.queue.send(&self.upload_message(&row)).await {
            let _ = self.remove(&row).await;
            return Err(err.into());
        }
        Ok(id)
    }

    /// The image a job is for. An object that reached the queue without
    /// passing the API (a bucket event) gets its row here, from what the
    /// store reports of it; `None` when the object is gone.
    pub async fn adopt(&self, key: &str) -> Result<Option<i64>, LifecycleError> {
        if let Some(image) = self.meta.image_by_key(key).await? {
            return Ok(Some(image.id));
        }
        let head = match self.blobs.head(key).await {
            Err(StoreError::NotFound(_)) => return Ok(None),
            other => other?,
        };
        let image = NewImage::stored(key.to_owned(), head);
        Ok(Some(self.meta.insert_image(&image, None).await?))
    }
}
