//! An image goes: deleted through the API, or forgotten because its object
//! is gone from the store. Either way its blobs are removed here, and only
//! here.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use chrono::Utc;

use super::{Images, LifecycleError};
use crate::{
    db::{ImageRow, VariantRow},
    keys::{self, variant_key},
    messages,
};

/// A delete's mark older than this was left by a request that died: the
/// next request takes it over. A delete takes a message and a few removals.
const DELETE_LEASE: Duration = Duration::from_secs(60);
/// How long a request waits for another's delete of the same image.
const WAIT_FOR_OTHER: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

impl Images {
    /// The API's delete. Of the requests that delete one image at once, one
    /// takes it (marks it), announces it (the CloudX delete message), then
    /// removes it; the others wait for that and answer as it did. False when
    /// there was no such image.
    pub async fn delete(&self, id: i64) -> Result<bool, LifecycleError> {
        let deadline = Instant::now() + WAIT_FOR_OTHER;
        let mut waited = false;
        loop {
            let Some(row) = self.meta.image(id).await? else { return Ok(waited) };
            let stale_before = Utc::now().naive_utc() - DELETE_LEASE;
            if self.meta.mark_delete(id, stale_before).await? {
                self.delete_marked(&row).await?;
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Err(LifecycleError::DeleteUnderWay(id));
            }
            waited = true;
            tokio::time::sleep(POLL).await;
        }
    }

    /// Announces and removes an image whose delete this caller marked. The
    /// message goes first: when the queue fails, the mark is given back and
    /// nothing has changed (the client's retry does it all). Once it has
    /// gone, the delete is decided: a removal that fails leaves the mark
    /// stale, for the next request or the reconciler to finish.
    pub(super) async fn delete_marked(&self, row: &ImageRow) -> Result<(), LifecycleError> {
        if let Err(err) = self.queue.send(&messages::delete_body(row)).await {
            self.meta.unmark_delete(row.id).await?;
            return Err(err.into());
        }
        if let Err(err) = self.remove(row).await {
            self.meta.leave_delete(row.id).await?;
            return Err(err);
        }
        Ok(())
    }

    /// Removes an image: its row (with its job, variants and mark), then its
    /// original and every variant. The key is journaled first, so blobs a
    /// crash or a store outage leaves are removed by the reconciler: once
    /// the row is gone, the image is, and a store error is only logged.
    pub(super) async fn remove(&self, row: &ImageRow) -> Result<(), LifecycleError> {
        self.meta.journal(&row.object_key).await?;
        let recorded = self.meta.delete_image(row.id).await?.unwrap_or_default();
        if let Err(err) = self.remove_blobs(&row.object_key, true, &recorded).await {
            tracing::warn!(key = %row.object_key, error = %err, "blobs of a deleted image left for the reconciler");
        }
        Ok(())
    }

    /// The object under `key` is gone from the store (a bucket delete event,
    /// or a job that found it gone): its row and every variant go, with
    /// `made`, what a job wrote for it. False, and nothing removed, when the
    /// store has the object again (a re-upload under the same key).
    pub async fn forget(&self, key: &str, made: &[VariantRow]) -> Result<bool, LifecycleError> {
        match self.blobs.head(key).await {
            Ok(_) => return Ok(false),
            Err(crate::storage::StoreError::NotFound(_)) => {}
            Err(err) => return Err(err.into()),
        }
        self.meta.journal(key).await?;
        let mut variants = made.to_vec();
        if let Some(image) = self.meta.image_by_key(key).await? {
            variants.extend(self.meta.delete_image(image.id).await?.unwrap_or_default());
        }
        self.remove_blobs(key, false, &variants).await?;
        Ok(true)
    }

    /// Removes the original (when `original`) and every variant of `key`:
    /// those recorded, those of every size and format jobs make now (a running job may
    /// be writing them), and any other in the key's variant folder (made
    /// under other settings); then the key's journal entry.
    pub(super) async fn remove_blobs(
        &self,
        key: &str,
        original: bool,
        recorded: &[VariantRow],
    ) -> Result<(), LifecycleError> {
        if original {
            self.blobs.delete(key).await?;
        }
        let mut variants: BTreeSet<String> = recorded.iter().map(|v| v.object_key.clone()).collect();
        variants.extend(self.outputs.each().map(|(size, format)| variant_key(key, size, format)));
        let folder = keys::variant_folder(key);
        let listed = self.blobs.list(&folder).await?;
        variants.extend(listed.into_iter().filter(|listed| keys::is_variant_in(&folder, listed)));
        for variant in &variants {
            self.blobs.delete(variant).await?;
        }
        self.meta.unjournal(key).await?;
        Ok(())
    }
}
