//! The job pipeline: fetch → probe → admit → decode/resize/encode (CPU
//! pool) → put → persist (one transaction) → notify. Idempotent: keys and
//! rows are derived from the source key, so a redelivery rewrites them.
//! What each step means for the image is the lifecycle's (`images`) to
//! record: the pipeline makes variants and sends notices, and removes
//! nothing itself.

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use super::JobError;
use crate::{
    db::{Completion, DbError, Made, MetaRepo, VariantRow},
    images::{Images, Outputs},
    imaging::{self, CpuPool},
    keys::variant_key,
    messages::{Event, Job},
    notify::Notifier,
    storage::{BlobMeta, BlobStore},
    telemetry::{self, PIXEL_BUDGET_BYTES, PIXEL_BUDGET_USED_BYTES},
};

/// What to make of each image.
#[derive(Debug, Clone)]
pub struct Spec {
    pub outputs: Outputs,
    pub quality: u8,
    pub max_pixels: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Permanent failure, recorded on the image.
    Failed,
    /// Nothing to do: the image was deleted before or while it ran.
    Skipped,
    /// Another delivery of the same job made these variants: no notice.
    Duplicate,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Duplicate => "duplicate",
        }
    }
}

pub struct Pipeline {
    pub images: Arc<Images>,
    pub blobs: Arc<dyn BlobStore>,
    pub meta: Arc<dyn MetaRepo>,
    pub notifier: Arc<dyn Notifier>,
    pub cpu: Arc<CpuPool>,
    pub spec: Arc<Spec>,
    /// Megapixels that may be decoded at once.
    budget: Arc<Semaphore>,
    budget_mp: u32,
}

/// Pixel-budget permits, released (and the gauge lowered) on drop.
struct Admission {
    _permit: OwnedSemaphorePermit,
    mp: u32,
}

impl Drop for Admission {
    fn drop(&mut self) {
        metrics::gauge!(PIXEL_BUDGET_USED_BYTES).decrement(budget_bytes(self.mp));
    }
}

/// The pixel budget counts megapixels of 4 bytes.
fn budget_bytes(mp: u32) -> f64 {
    f64::from(mp) * 4e6
}

impl Pipeline {
    pub fn new(
        images: Arc<Images>,
        blobs: Arc<dyn BlobStore>,
        meta: Arc<dyn MetaRepo>,
        notifier: Arc<dyn Notifier>,
        cpu: Arc<CpuPool>,
        spec: Spec,
        budget_mp: u32,
    ) -> Self {
        let budget = Arc::new(Semaphore::new(budget_mp as usize));
        metrics::gauge!(PIXEL_BUDGET_BYTES).set(budget_bytes(budget_mp));
        Self { images, blobs, meta, notifier, cpu, spec: Arc::new(spec), budget, budget_mp }
    }

    #[instrument(skip_all, fields(key = %job.object_key, event = ?job.event))]
    pub async fn run(&self, job: &Job, shutdown: &CancellationToken) -> Result<Outcome, JobError> {
        let outcome = match job.event {
            Event::Upload => self.upload(job, shutdown).await?,
            Event::Delete => {
                let forgotten = self.images.forget(&job.object_key, &[]).await?;
                self.notify_delete(job).await?;
                if forgotten { Outcome::Done } else { Outcome::Skipped }
            }
        };
        tracing::info!(outcome = outcome.label(), "job finished");
        Ok(outcome)
    }

    /// Records a permanent failure for the job's image (about the bytes
    /// tagged `source_tag`, when it read them) and says so in the notice.
    /// Also used when a transient error outlasts the retries.
    pub async fn fail(
        &self,
        job: &Job,
        cause: &'static str,
        reason: &str,
        source_tag: Option<&str>,
    ) -> Result<(), JobError> {
        tracing::warn!(key = %job.object_key, cause, reason, "job failed");
        telemetry::job_failed(cause);
        self.images.fail(&job.object_key, reason, source_tag).await?;
        match &job.notice {
            Some(notice) => self.notify(&format!("{notice}\nthumbnail_error: {reason}")).await,
            None => Ok(()),
        }
    }

    async fn upload(&self, job: &Job, shutdown: &CancellationToken) -> Result<Outcome, JobError> {
        let key = &job.object_key;
        let Some(image_id) = self.images.adopt(key).await? else {
            // The image is gone. An earlier delivery may have written some
            // of its variants before it stopped (a store or database error
            // after the delete): they go now, or nothing ever removes them.
            self.images.forget(key, &[]).await?;
            self.notify_all(job).await?;
            return Ok(Outcome::Skipped);
        };
        let source = match self.blobs.head(key).await {
            Ok(source) => source,
            Err(err) => return self.failed(job, err.into(), None).await,
        };
        let outcome = match self.make_variants(image_id, key, &source, shutdown).await {
            Ok(outcome) => outcome,
            Err(err) => return self.failed(job, err, Some(&source.tag)).await,
        };
        match outcome {
            Outcome::Done | Outcome::Duplicate => self.notify_once(job, image_id).await?,
            _ => self.notify_all(job).await?,
        }
        Ok(outcome)
    }

    /// A permanent error fails the job (about the bytes tagged `source_tag`,
    /// when it read them); any other is the caller's to retry.
    async fn failed(&self, job: &Job, err: JobError, source_tag: Option<&str>) -> Result<Outcome, JobError> {
        let JobError::Abort { cause, reason } = err else { return Err(err) };
        self.fail(job, cause, &reason, source_tag).await?;
        Ok(Outcome::Failed)
    }

    /// The notice of a job done: sent by the one delivery that claims it,
    /// and given back if it cannot be sent, so the next delivery sends it.
    async fn notify_once(&self, job: &Job, image_id: i64) -> Result<(), JobError> {
        let Some(notice) = &job.notice else { return Ok(()) };
        if !self.meta.claim_notice(image_id).await? {
            return Ok(());
        }
        self.send_claimed(notice, self.meta.release_notice(image_id)).await
    }

    /// A delete's notice: once per image, however many requests queued it
    /// and however often it is delivered. Claimed by its text (the image's
    /// key, time and size), and given back if it cannot be sent.
    async fn notify_delete(&self, job: &Job) -> Result<(), JobError> {
        let Some(notice) = &job.notice else { return Ok(()) };
        if !self.meta.claim_sent_notice(notice).await? {
            return Ok(());
        }
        self.send_claimed(notice, self.meta.release_sent_notice(notice)).await
    }

    /// Sends a notice this delivery claimed; when it cannot, `release`
    /// gives the claim back, so that a later delivery sends it.
    async fn send_claimed(
        &self,
        notice: &str,
        release: impl Future<Output = Result<(), DbError>>,
    ) -> Result<(), JobError> {
        let sent = self.notify(notice).await;
        if sent.is_err() {
            release.await?;
        }
        sent
    }

    /// The notice of an upload job whose object is gone: CloudX sends one
    /// whatever became of it.
    async fn notify_all(&self, job: &Job) -> Result<(), JobError> {
        match &job.notice {
            Some(notice) => self.notify(notice).await,
            None => Ok(()),
        }
    }

    /// Makes the variants of the bytes `source` describes, unless they are
    /// made already (a second delivery, or an event for bytes made before).
    async fn make_variants(
        &self,
        image_id: i64,
        key: &str,
        source: &BlobMeta,
        shutdown: &CancellationToken,
    ) -> Result<Outcome, JobError> {
        if self.images.is_made(image_id, source).await? {
            return Ok(Outcome::Duplicate);
        }
        let job_started = Instant::now();
        let bytes = self.blobs.get(key).await?;
        telemetry::stage("fetch", job_started.elapsed());
        let plan = imaging::plan(&bytes, &self.spec.outputs.sizes, self.spec.max_pixels)?;
        self.images.start(image_id, source, plan.probe.kind.mime()).await?;

        let admission = self.admit(plan.memory, shutdown).await?;
        let spec = self.spec.clone();
        let rendered = self
            .cpu
            .run(move || imaging::render(&bytes, &plan, &spec.outputs.sizes, spec.quality, &spec.outputs.formats))
            .await??;
        drop(admission);
        telemetry::stage("decode", rendered.decode);
        telemetry::stage("resize", rendered.resize);
        telemetry::stage("encode", rendered.encode);

        let started = Instant::now();
        // Every size in every format, written at once.
        let puts = rendered.thumbnails.into_iter().flat_map(|thumb| {
            thumb.encoded.into_iter().map(move |(format, bytes)| async move {
                let object_key = variant_key(key, thumb.size, format);
                let stored = self.blobs.put(&object_key, Bytes::from(bytes), format.mime()).await?;
                Ok::<_, JobError>(VariantRow {
                    size: i64::from(thumb.size),
                    format,
                    width: i64::from(thumb.width),
                    height: i64::from(thumb.height),
                    object_key,
                    object_size: stored.size as i64,
                })
            })
        });
        let variants = futures_util::future::try_join_all(puts).await?;
        telemetry::stage("put", started.elapsed());

        let started = Instant::now();
        let made = Made { variants: &variants, source, took: job_started.elapsed() };
        let completion = self.images.complete(image_id, key, &made).await?;
        telemetry::stage("persist", started.elapsed());
        Ok(match completion {
            Completion::Done => Outcome::Done,
            // The same objects, written twice with the same bytes.
            Completion::AlreadyDone => Outcome::Duplicate,
            Completion::Gone => Outcome::Skipped,
        })
    }

    /// Waits for pixel-budget permits, unless shutdown comes first. A job
    /// holds the memory its plan predicts, counted in megapixels of 4 bytes.
    async fn admit(&self, memory: u64, shutdown: &CancellationToken) -> Result<Admission, JobError> {
        let mp = memory.div_ceil(4_000_000).clamp(1, u64::from(self.budget_mp)) as u32;
        let permit = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Err(JobError::Released),
            permit = self.budget.clone().acquire_many_owned(mp) => permit,
        };
        let permit = permit.map_err(|_| JobError::Released)?;
        metrics::gauge!(PIXEL_BUDGET_USED_BYTES).increment(budget_bytes(mp));
        Ok(Admission { _permit: permit, mp })
    }

    async fn notify(&self, text: &str) -> Result<(), JobError> {
        let started = Instant::now();
        self.notifier.publish(text).await?;
        telemetry::stage("notify", started.elapsed());
        Ok(())
    }
}
