//! What a crash or an outage left half-done, finished: the reconciler
//! decides when (see `jobs::reconcile`), this says what.

use chrono::NaiveDateTime;

use super::{Images, LifecycleError};
use crate::db::{ImageRow, JobState, JobStatus};

impl Images {
    /// Queues the job of an image again.
    pub async fn requeue(&self, image: &ImageRow) -> Result<(), LifecycleError> {
        Ok(self.queue.send(&self.upload_message(image)).await?)
    }

    /// Fails a job that keeps stalling: it is what keeps killing imaged.
    pub async fn give_up(&self, id: i64, reason: String) -> Result<(), LifecycleError> {
        let state = JobState { error: Some(reason), ..JobState::new(JobStatus::Failed) };
        Ok(self.meta.set_job(id, &state).await?)
    }

    /// A key journaled long ago: if it still has no row, an upload stored
    /// its original and died before the row, or a delete removed the row
    /// and died before the blobs; they go now. True when something went.
    pub async fn remove_orphan(&self, key: &str) -> Result<bool, LifecycleError> {
        if self.meta.image_by_key(key).await?.is_some() {
            self.meta.unjournal(key).await?;
            return Ok(false);
        }
        tracing::info!(key, "removing an original that has no row");
        self.remove_blobs(key, true, &[]).await?;
        Ok(true)
    }

    /// Finishes the deletes marked before `before` and still not done: the
    /// request that marked one died, or its removal failed. How many.
    pub async fn finish_deletes(&self, before: NaiveDateTime, limit: u32) -> Result<u32, LifecycleError> {
        let mut finished = 0;
        for row in self.meta.stale_deletes(before, limit).await? {
            // Another host may be finishing it: one takes the mark.
            if self.meta.mark_delete(row.id, before).await? {
                tracing::info!(key = %row.object_key, "finishing a delete left half-done");
                self.delete_marked(&row).await?;
                finished += 1;
            }
        }
        Ok(finished)
    }
}
