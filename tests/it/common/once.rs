//! A fault-injection seam for every step: the database, the queue and the
//! blob store wrapped so that one named step (`"meta.insert_image"`,
//! `"queue.send"`, `"store.delete"`, ...) fails once, the first time it is
//! called, with the transient error an outage gives.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::NaiveDateTime;
use imaged::{
    db::{Completion, DbError, ImageRow, ImageStats, JobState, Made, MetaRepo, NewImage, StuckJob, VariantRow},
    queue::{Delivery, JobQueue, QueueError, QueueStats, Receipt},
    startup::Backends,
    storage::{BlobMeta, BlobReader, BlobStore, StoreError},
};

/// The step that is to fail, until it has.
#[derive(Default)]
pub struct Armed {
    step: Mutex<Option<&'static str>>,
    fired: Mutex<bool>,
    /// Every message body the queue took.
    sent: Mutex<Vec<String>>,
}

impl Armed {
    pub fn arm(&self, step: &'static str) {
        *self.step.lock().unwrap() = Some(step);
    }

    /// Whether the armed step was reached (and failed).
    pub fn fired(&self) -> bool {
        *self.fired.lock().unwrap()
    }

    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }

    fn trip(&self, step: &str) -> bool {
        let mut armed = self.step.lock().unwrap();
        if *armed != Some(step) {
            return false;
        }
        *armed = None;
        *self.fired.lock().unwrap() = true;
        true
    }
}

/// `backends` with every step able to fail once, and the switch.
pub fn wrap(backends: Backends) -> (Backends, Arc<Armed>) {
    let armed = Arc::new(Armed::default());
    let wrapped = Backends {
        meta: Arc::new(Meta(backends.meta, armed.clone())),
        blobs: Arc::new(Store(backends.blobs, armed.clone())),
        queue: Arc::new(Queue(backends.queue, armed.clone())),
        dead_letters: backends.dead_letters,
        notifier: backends.notifier,
    };
    (wrapped, armed)
}

struct Meta(Arc<dyn MetaRepo>, Arc<Armed>);
struct Store(Arc<dyn BlobStore>, Arc<Armed>);
struct Queue(Arc<dyn JobQueue>, Arc<Armed>);

impl Meta {
    fn fault(&self, step: &str) -> Result<(), DbError> {
        if self.1.trip(step) { Err(DbError(sqlx::Error::PoolTimedOut)) } else { Ok(()) }
    }
}

impl Store {
    fn fault(&self, step: &str, key: &str) -> Result<(), StoreError> {
        match self.1.trip(step) {
            true => Err(StoreError::Unavailable { key: key.to_owned(), source: anyhow::anyhow!("injected at {step}") }),
            false => Ok(()),
        }
    }
}

impl Queue {
    fn fault(&self, step: &str) -> Result<(), QueueError> {
        match self.1.trip(step) {
            true => Err(QueueError::Unavailable(anyhow::anyhow!("injected at {step}"))),
            false => Ok(()),
        }
    }
}

#[async_trait]
impl MetaRepo for Meta {
    async fn insert_image(&self, image: &NewImage, content_type: Option<&str>) -> Result<i64, DbError> {
        self.fault("meta.insert_image")?;
        self.0.insert_image(image, content_type).await
    }
    async fn image(&self, id: i64) -> Result<Option<ImageRow>, DbError> {
        self.fault("meta.image")?;
        self.0.image(id).await
    }
    async fn image_by_key(&self, key: &str) -> Result<Option<ImageRow>, DbError> {
        self.fault("meta.image_by_key")?;
        self.0.image_by_key(key).await
    }
    async fn images(&self) -> Result<Vec<ImageRow>, DbError> {
        self.0.images().await
    }
    async fn delete_image(&self, id: i64) -> Result<Option<Vec<VariantRow>>, DbError> {
        self.fault("meta.delete_image")?;
        self.0.delete_image(id).await
    }
    async fn job(&self, image_id: i64) -> Result<Option<JobState>, DbError> {
        self.0.job(image_id).await
    }
    async fn set_job(&self, image_id: i64, state: &JobState) -> Result<(), DbError> {
        self.fault("meta.set_job")?;
        self.0.set_job(image_id, state).await
    }
    async fn is_made(&self, image_id: i64, source: &BlobMeta, sizes: &[i64]) -> Result<bool, DbError> {
        self.fault("meta.is_made")?;
        self.0.is_made(image_id, source, sizes).await
    }
    async fn complete_job(&self, image_id: i64, made: &Made<'_>) -> Result<Completion, DbError> {
        self.fault("meta.complete_job")?;
        self.0.complete_job(image_id, made).await
    }
    async fn variants(&self, image_id: i64) -> Result<Vec<VariantRow>, DbError> {
        self.0.variants(image_id).await
    }
    async fn job_counts(&self) -> Result<Vec<(String, i64)>, DbError> {
        self.0.job_counts().await
    }
    async fn image_stats(&self) -> Result<ImageStats, DbError> {
        self.0.image_stats().await
    }
    async fn job_durations(&self, since: NaiveDateTime, limit: u32) -> Result<Vec<i64>, DbError> {
        self.0.job_durations(since, limit).await
    }
    async fn claim_notice(&self, image_id: i64) -> Result<bool, DbError> {
        self.fault("meta.claim_notice")?;
        self.0.claim_notice(image_id).await
    }
    async fn release_notice(&self, image_id: i64) -> Result<(), DbError> {
        self.0.release_notice(image_id).await
    }
    async fn claim_sent_notice(&self, text: &str) -> Result<bool, DbError> {
        self.fault("meta.claim_sent_notice")?;
        self.0.claim_sent_notice(text).await
    }
    async fn release_sent_notice(&self, text: &str) -> Result<(), DbError> {
        self.0.release_sent_notice(text).await
    }
    async fn prune_sent_notices(&self, before: NaiveDateTime) -> Result<u64, DbError> {
        self.0.prune_sent_notices(before).await
    }
    async fn journal(&self, key: &str) -> Result<(), DbError> {
        self.fault("meta.journal")?;
        self.0.journal(key).await
    }
    async fn unjournal(&self, key: &str) -> Result<(), DbError> {
        self.fault("meta.unjournal")?;
        self.0.unjournal(key).await
    }
    async fn journaled(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<String>, DbError> {
        self.0.journaled(before, limit).await
    }
    async fn stuck_jobs(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<StuckJob>, DbError> {
        self.0.stuck_jobs(before, limit).await
    }
    async fn requeue_job(&self, image_id: i64, seen: NaiveDateTime) -> Result<bool, DbError> {
        self.0.requeue_job(image_id, seen).await
    }
    async fn mark_delete(&self, image_id: i64, stale_before: NaiveDateTime) -> Result<bool, DbError> {
        self.fault("meta.mark_delete")?;
        self.0.mark_delete(image_id, stale_before).await
    }
    async fn unmark_delete(&self, image_id: i64) -> Result<(), DbError> {
        self.0.unmark_delete(image_id).await
    }
    async fn leave_delete(&self, image_id: i64) -> Result<(), DbError> {
        self.0.leave_delete(image_id).await
    }
    async fn stale_deletes(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<ImageRow>, DbError> {
        self.0.stale_deletes(before, limit).await
    }
    async fn check(&self) -> Result<(), DbError> {
        self.0.check().await
    }
}

#[async_trait]
impl BlobStore for Store {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<BlobMeta, StoreError> {
        self.fault("store.put", key)?;
        self.0.put(key, bytes, content_type).await
    }
    async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<BlobMeta, StoreError> {
        self.fault("store.put_file", key)?;
        self.0.put_file(key, path, content_type).await
    }
    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.fault("store.get", key)?;
        self.0.get(key).await
    }
    async fn open(&self, key: &str) -> Result<BlobReader, StoreError> {
        self.0.open(key).await
    }
    async fn head(&self, key: &str) -> Result<BlobMeta, StoreError> {
        self.0.head(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.fault("store.delete", key)?;
        self.0.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.0.list(prefix).await
    }
    async fn check(&self) -> Result<(), StoreError> {
        self.0.check().await
    }
}

#[async_trait]
impl JobQueue for Queue {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        self.fault("queue.send")?;
        self.0.send(body).await?;
        self.1.sent.lock().unwrap().push(body.to_owned());
        Ok(())
    }
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.fault("queue.receive")?;
        self.0.receive(max, wait).await
    }
    async fn delete(&self, receipt: &Receipt) -> Result<(), QueueError> {
        self.fault("queue.delete")?;
        self.0.delete(receipt).await
    }
    async fn set_visibility(&self, receipt: &Receipt, timeout: Duration) -> Result<(), QueueError> {
        self.0.set_visibility(receipt, timeout).await
    }
    async fn stats(&self) -> Result<QueueStats, QueueError> {
        self.0.stats().await
    }
    fn max_receives(&self) -> u32 {
        self.0.max_receives()
    }
}
