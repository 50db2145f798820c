//! One decorator for the tests' stand-ins of the four seams. [`Tap`] wraps
//! a backend and asks a [`Hook`] before each call whether it goes on (a
//! hook may first wait), or fails as an outage or for good; after a call
//! that succeeded, the hook sees it too. Every fault a test injects (fail
//! once, fail from now on, hold a write, count what was published) is a
//! hook, and no test writes a delegating backend of its own.

use std::{future::Future, ops::RangeInclusive, path::Path, sync::Arc, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::NaiveDateTime;

use crate::{
    backends::Backends,
    db::{
        Completion, DbError, Event, ImageRow, ImageStats, JobState, Listed, Made, MetaRepo, NewImage, PageQuery,
        StuckJob, VariantRow,
    },
    imaging::Format,
    notify::{Notifier, NotifyError, Subscription},
    queue::{Delivery, JobQueue, QueueError, QueueStats, Receipt},
    storage::{BlobMeta, BlobReader, BlobStore, PresignedPut, StoreError},
};

/// One call of a seam, as a hook sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The seam and method, e.g. `store.put`, `meta.delete_image`, `queue.send`.
    pub step: &'static str,
    /// What the call is about: an object key, a message body, a receipt,
    /// an address, a notice; "" for the others.
    pub subject: &'a str,
    /// `queue.set_visibility`: the timeout asked for.
    pub timeout: Option<Duration>,
}

impl<'a> Call<'a> {
    fn new(step: &'static str, subject: &'a str) -> Self {
        Self { step, subject, timeout: None }
    }

    fn with_timeout(step: &'static str, subject: &'a str, timeout: Duration) -> Self {
        Self { step, subject, timeout: Some(timeout) }
    }
}

/// How a hook fails a call.
#[derive(Debug, Clone)]
pub enum Fault {
    /// As an outage: worth retrying. The text is the backend's error.
    Outage(String),
    /// For good (the store: a key it cannot take); elsewhere, an outage.
    Permanent(String),
}

impl Fault {
    fn text(self) -> String {
        match self {
            Self::Outage(text) | Self::Permanent(text) => text,
        }
    }

    fn db(self) -> DbError {
        DbError(sqlx::Error::Protocol(self.text()))
    }

    fn store(self, key: &str) -> StoreError {
        match self {
            Self::Permanent(_) => StoreError::BadKey(key.to_owned()),
            Self::Outage(text) => StoreError::Unavailable { key: key.to_owned(), source: anyhow::anyhow!(text) },
        }
    }

    fn queue(self) -> QueueError {
        QueueError::Unavailable(anyhow::anyhow!(self.text()))
    }

    fn notify(self) -> NotifyError {
        NotifyError::Unavailable(anyhow::anyhow!(self.text()))
    }
}

#[async_trait]
pub trait Hook: Send + Sync {
    /// Before `call`: `Ok` lets it go on, `Err` fails it.
    async fn before(&self, _call: &Call<'_>) -> Result<(), Fault> {
        Ok(())
    }

    /// After `call` succeeded.
    fn after(&self, _call: &Call<'_>) {}
}

/// A seam's backend with a hook around each call.
pub struct Tap<T: ?Sized> {
    inner: Arc<T>,
    hook: Arc<dyn Hook>,
}

impl<T: ?Sized> Tap<T> {
    pub fn new(inner: Arc<T>, hook: Arc<dyn Hook>) -> Arc<Self> {
        Arc::new(Self { inner, hook })
    }

    async fn around<R, E>(
        &self,
        call: Call<'_>,
        fault: impl FnOnce(Fault) -> E,
        run: impl Future<Output = Result<R, E>>,
    ) -> Result<R, E> {
        self.hook.before(&call).await.map_err(fault)?;
        let result = run.await;
        if result.is_ok() {
            self.hook.after(&call);
        }
        result
    }
}

/// `backends` with `hook` around every call of each seam.
pub fn tap(backends: Backends, hook: Arc<dyn Hook>) -> Backends {
    Backends {
        meta: Tap::new(backends.meta, hook.clone()),
        blobs: Tap::new(backends.blobs, hook.clone()),
        queue: Tap::new(backends.queue, hook.clone()),
        dead_letters: backends.dead_letters,
        notifier: Tap::new(backends.notifier, hook),
    }
}

#[async_trait]
impl MetaRepo for Tap<dyn MetaRepo> {
    async fn insert_image(&self, image: &NewImage, content_type: Option<&str>) -> Result<i64, DbError> {
        self.around(Call::new("meta.insert_image", ""), Fault::db, self.inner.insert_image(image, content_type)).await
    }
    async fn image(&self, id: i64) -> Result<Option<ImageRow>, DbError> {
        self.around(Call::new("meta.image", ""), Fault::db, self.inner.image(id)).await
    }
    async fn image_by_key(&self, key: &str) -> Result<Option<ImageRow>, DbError> {
        self.around(Call::new("meta.image_by_key", key), Fault::db, self.inner.image_by_key(key)).await
    }
    async fn images(&self) -> Result<Vec<ImageRow>, DbError> {
        self.around(Call::new("meta.images", ""), Fault::db, self.inner.images()).await
    }
    async fn delete_image(&self, id: i64) -> Result<Option<Vec<VariantRow>>, DbError> {
        self.around(Call::new("meta.delete_image", ""), Fault::db, self.inner.delete_image(id)).await
    }
    async fn job(&self, image_id: i64) -> Result<Option<JobState>, DbError> {
        self.around(Call::new("meta.job", ""), Fault::db, self.inner.job(image_id)).await
    }
    async fn set_job(&self, image_id: i64, state: &JobState) -> Result<(), DbError> {
        self.around(Call::new("meta.set_job", ""), Fault::db, self.inner.set_job(image_id, state)).await
    }
    async fn page(&self, query: &PageQuery) -> Result<Vec<Listed>, DbError> {
        self.around(Call::new("meta.page", ""), Fault::db, self.inner.page(query)).await
    }
    async fn is_made(&self, image_id: i64, source: &BlobMeta, wanted: &[(i64, Format)]) -> Result<bool, DbError> {
        self.around(Call::new("meta.is_made", ""), Fault::db, self.inner.is_made(image_id, source, wanted)).await
    }
    async fn complete_job(&self, image_id: i64, made: &Made<'_>) -> Result<Completion, DbError> {
        self.around(Call::new("meta.complete_job", ""), Fault::db, self.inner.complete_job(image_id, made)).await
    }
    async fn variants(&self, image_id: i64) -> Result<Vec<VariantRow>, DbError> {
        self.around(Call::new("meta.variants", ""), Fault::db, self.inner.variants(image_id)).await
    }
    async fn job_counts(&self) -> Result<Vec<(String, i64)>, DbError> {
        self.around(Call::new("meta.job_counts", ""), Fault::db, self.inner.job_counts()).await
    }
    async fn image_stats(&self) -> Result<ImageStats, DbError> {
        self.around(Call::new("meta.image_stats", ""), Fault::db, self.inner.image_stats()).await
    }
    async fn job_durations(&self, since: NaiveDateTime, limit: u32) -> Result<Vec<i64>, DbError> {
        self.around(Call::new("meta.job_durations", ""), Fault::db, self.inner.job_durations(since, limit)).await
    }
    async fn claim_notice(&self, image_id: i64) -> Result<bool, DbError> {
        self.around(Call::new("meta.claim_notice", ""), Fault::db, self.inner.claim_notice(image_id)).await
    }
    async fn release_notice(&self, image_id: i64) -> Result<(), DbError> {
        self.around(Call::new("meta.release_notice", ""), Fault::db, self.inner.release_notice(image_id)).await
    }
    async fn claim_sent_notice(&self, text: &str) -> Result<bool, DbError> {
        self.around(Call::new("meta.claim_sent_notice", text), Fault::db, self.inner.claim_sent_notice(text)).await
    }
    async fn release_sent_notice(&self, text: &str) -> Result<(), DbError> {
        self.around(Call::new("meta.release_sent_notice", text), Fault::db, self.inner.release_sent_notice(text)).await
    }
    async fn prune_sent_notices(&self, before: NaiveDateTime) -> Result<u64, DbError> {
        self.around(Call::new("meta.prune_sent_notices", ""), Fault::db, self.inner.prune_sent_notices(before)).await
    }
    async fn journal(&self, key: &str) -> Result<(), DbError> {
        self.around(Call::new("meta.journal", key), Fault::db, self.inner.journal(key)).await
    }
    async fn unjournal(&self, key: &str) -> Result<(), DbError> {
        self.around(Call::new("meta.unjournal", key), Fault::db, self.inner.unjournal(key)).await
    }
    async fn journaled(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<String>, DbError> {
        self.around(Call::new("meta.journaled", ""), Fault::db, self.inner.journaled(before, limit)).await
    }
    async fn stuck_jobs(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<StuckJob>, DbError> {
        self.around(Call::new("meta.stuck_jobs", ""), Fault::db, self.inner.stuck_jobs(before, limit)).await
    }
    async fn requeue_job(&self, image_id: i64, seen: NaiveDateTime) -> Result<bool, DbError> {
        self.around(Call::new("meta.requeue_job", ""), Fault::db, self.inner.requeue_job(image_id, seen)).await
    }
    async fn mark_delete(&self, image_id: i64, stale_before: NaiveDateTime) -> Result<bool, DbError> {
        self.around(Call::new("meta.mark_delete", ""), Fault::db, self.inner.mark_delete(image_id, stale_before)).await
    }
    async fn unmark_delete(&self, image_id: i64) -> Result<(), DbError> {
        self.around(Call::new("meta.unmark_delete", ""), Fault::db, self.inner.unmark_delete(image_id)).await
    }
    async fn leave_delete(&self, image_id: i64) -> Result<(), DbError> {
        self.around(Call::new("meta.leave_delete", ""), Fault::db, self.inner.leave_delete(image_id)).await
    }
    async fn stale_deletes(&self, before: NaiveDateTime, limit: u32) -> Result<Vec<ImageRow>, DbError> {
        self.around(Call::new("meta.stale_deletes", ""), Fault::db, self.inner.stale_deletes(before, limit)).await
    }
    async fn events(&self, after: i64, limit: u32) -> Result<Vec<Event>, DbError> {
        self.around(Call::new("meta.events", ""), Fault::db, self.inner.events(after, limit)).await
    }
    async fn event_span(&self) -> Result<Option<(i64, i64)>, DbError> {
        self.around(Call::new("meta.event_span", ""), Fault::db, self.inner.event_span()).await
    }
    async fn prune_events(&self, before: NaiveDateTime) -> Result<u64, DbError> {
        self.around(Call::new("meta.prune_events", ""), Fault::db, self.inner.prune_events(before)).await
    }
    async fn check(&self) -> Result<(), DbError> {
        self.around(Call::new("meta.check", ""), Fault::db, self.inner.check()).await
    }
}

#[async_trait]
impl BlobStore for Tap<dyn BlobStore> {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<BlobMeta, StoreError> {
        self.around(Call::new("store.put", key), |fault| fault.store(key), self.inner.put(key, bytes, content_type))
            .await
    }
    async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<BlobMeta, StoreError> {
        self.around(
            Call::new("store.put_file", key),
            |fault| fault.store(key),
            self.inner.put_file(key, path, content_type),
        )
        .await
    }
    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.around(Call::new("store.get", key), |fault| fault.store(key), self.inner.get(key)).await
    }
    async fn open(&self, key: &str, range: Option<RangeInclusive<u64>>) -> Result<BlobReader, StoreError> {
        self.around(Call::new("store.open", key), |fault| fault.store(key), self.inner.open(key, range)).await
    }
    async fn head(&self, key: &str) -> Result<BlobMeta, StoreError> {
        self.around(Call::new("store.head", key), |fault| fault.store(key), self.inner.head(key)).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.around(Call::new("store.delete", key), |fault| fault.store(key), self.inner.delete(key)).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.around(Call::new("store.list", prefix), |fault| fault.store(prefix), self.inner.list(prefix)).await
    }
    async fn check(&self) -> Result<(), StoreError> {
        self.around(Call::new("store.check", ""), |fault| fault.store(""), self.inner.check()).await
    }
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires_in: Duration,
    ) -> Result<Option<PresignedPut>, StoreError> {
        self.around(
            Call::new("store.presign_put", key),
            |fault| fault.store(key),
            self.inner.presign_put(key, content_type, size, expires_in),
        )
        .await
    }
}

#[async_trait]
impl JobQueue for Tap<dyn JobQueue> {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        self.around(Call::new("queue.send", body), Fault::queue, self.inner.send(body)).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.around(Call::new("queue.receive", ""), Fault::queue, self.inner.receive(max, wait)).await
    }
    async fn receive_until(
        &self,
        max: usize,
        wait: Duration,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Result<Vec<Delivery>, QueueError> {
        self.around(Call::new("queue.receive", ""), Fault::queue, self.inner.receive_until(max, wait, stop)).await
    }
    async fn delete(&self, receipt: &Receipt) -> Result<(), QueueError> {
        self.around(Call::new("queue.delete", &receipt.0), Fault::queue, self.inner.delete(receipt)).await
    }
    async fn set_visibility(&self, receipt: &Receipt, timeout: Duration) -> Result<(), QueueError> {
        self.around(
            Call::with_timeout("queue.set_visibility", &receipt.0, timeout),
            Fault::queue,
            self.inner.set_visibility(receipt, timeout),
        )
        .await
    }
    async fn stats(&self) -> Result<QueueStats, QueueError> {
        self.around(Call::new("queue.stats", ""), Fault::queue, self.inner.stats()).await
    }
    fn max_receives(&self) -> u32 {
        self.inner.max_receives()
    }
}

#[async_trait]
impl Notifier for Tap<dyn Notifier> {
    async fn publish(&self, message: &str) -> Result<(), NotifyError> {
        self.around(Call::new("notify.publish", message), Fault::notify, self.inner.publish(message)).await
    }
    async fn subscribe(&self, email: &str) -> Result<(), NotifyError> {
        self.around(Call::new("notify.subscribe", email), Fault::notify, self.inner.subscribe(email)).await
    }
    async fn unsubscribe(&self, email: &str) -> Result<(), NotifyError> {
        self.around(Call::new("notify.unsubscribe", email), Fault::notify, self.inner.unsubscribe(email)).await
    }
    async fn subscriptions(&self) -> Result<Vec<Subscription>, NotifyError> {
        self.around(Call::new("notify.subscriptions", ""), Fault::notify, self.inner.subscriptions()).await
    }
}
