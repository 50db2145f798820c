//! The reconciler finishes what a crash or an outage left half-done, so
//! nothing stays `pending` or `processing`, and no original outlives its row:
//!
//! - a job untouched for `stuck_after` is queued again: its message was
//!   never sent (a crash after the row was written), or went to the dead
//!   letters when the job's failure could not be recorded (a database
//!   outage). A job that started and stalled `max_requeues` times is failed:
//!   it is what keeps killing imaged. A job that never started is queued
//!   again only while no message waits in the queue: behind a backlog
//!   longer than `stuck_after`, its message is most likely waiting too,
//!   and copies would only lengthen the backlog.
//! - an original journaled that long ago and still without a row is removed
//!   with its variants: an upload stored it and crashed before its row, or a
//!   delete removed the row and crashed before the blobs.
//! - a delete marked that long ago and not finished is finished: the
//!   request that took it died, or its removal failed.
//!
//! What each repair does to the image is the lifecycle's (`images/repair.rs`);
//! this decides when.
//!
//! Re-enqueueing is safe because jobs are idempotent: a job that was only
//! slow finds its variants made and is a `duplicate`. docs/design.md says
//! why this, and not an outbox.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::{
    config::ReconcileSettings,
    db::{JobStatus, MetaRepo, StuckJob},
    images::Images,
    queue::JobQueue,
    telemetry::RECONCILED_TOTAL,
    workers::{Next, Worker, rest},
};

/// Rows looked at per kind and pass; the next pass takes the rest.
const BATCH: u32 = 100;
/// A pass longer than this is wedged: the watchdog stops.
const PASS_DEADLINE: Duration = Duration::from_secs(300);
/// Notices sent once by text are remembered this long: SQS keeps a message
/// at most 14 days.
const SENT_NOTICES_KEPT: Duration = Duration::from_secs(14 * 24 * 3600);
/// Changes stay in the change feed this long: a page that has been away
/// longer reads its first page again rather than resume.
const EVENTS_KEPT: Duration = Duration::from_secs(3600);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub requeued: u32,
    pub gave_up: u32,
    pub orphans_removed: u32,
    pub deletes_finished: u32,
    /// Delete notices claimed so long ago that no message carries them.
    pub notices_forgotten: u64,
    /// Changes older than the change feed keeps.
    pub events_forgotten: u64,
}

pub struct Reconciler {
    pub images: Arc<Images>,
    pub meta: Arc<dyn MetaRepo>,
    pub queue: Arc<dyn JobQueue>,
    pub settings: ReconcileSettings,
}

impl Reconciler {
    pub async fn pass(&self) -> anyhow::Result<Report> {
        let mut report = Report::default();
        let before = Utc::now().naive_utc() - Duration::from_secs(self.settings.stuck_after_secs);
        for key in self.meta.journaled(before, BATCH).await? {
            if self.images.remove_orphan(&key).await? {
                count("orphan_removed");
                report.orphans_removed += 1;
            }
        }
        let finished = self.images.finish_deletes(before, BATCH).await?;
        report.deletes_finished += finished;
        metrics::counter!(RECONCILED_TOTAL, "action" => "delete_finished").increment(u64::from(finished));
        // Past SQS's longest retention, no message can carry the notice again.
        let sent_before = Utc::now().naive_utc() - SENT_NOTICES_KEPT;
        report.notices_forgotten += self.meta.prune_sent_notices(sent_before).await?;
        report.events_forgotten += self.meta.prune_events(Utc::now().naive_utc() - EVENTS_KEPT).await?;
        let stuck = self.meta.stuck_jobs(before, BATCH).await?;
        // Asked only when a pending job is stuck; a queue that cannot tell
        // counts as one with a backlog.
        let backlog = stuck.iter().any(|job| job.status == JobStatus::Pending)
            && self.queue.stats().await.map_or(true, |stats| stats.depth > 0);
        for job in stuck {
            if job.status == JobStatus::Pending && backlog {
                continue;
            }
            if job.status == JobStatus::Processing && job.requeues >= self.settings.max_requeues {
                self.give_up(&job).await?;
                report.gave_up += 1;
            } else if self.meta.requeue_job(job.image.id, job.updated_at).await? {
                self.images.requeue(&job.image).await?;
                tracing::info!(key = %job.image.object_key, status = job.status.as_str(), "stuck job queued again");
                count("requeued");
                report.requeued += 1;
            }
        }
        Ok(report)
    }

    async fn give_up(&self, job: &StuckJob) -> anyhow::Result<()> {
        let reason = format!("gave up: stalled {} times after it started", job.requeues + 1);
        tracing::warn!(key = %job.image.object_key, reason, "stuck job failed");
        self.images.give_up(job.image.id, reason).await?;
        crate::telemetry::job_failed("gave_up");
        count("gave_up");
        Ok(())
    }
}

/// A pass, then `interval_secs` of rest. A pass that fails is logged and
/// tried again at the next one.
#[async_trait]
impl Worker for Reconciler {
    fn name(&self) -> String {
        "reconciler".into()
    }

    fn deadline(&self) -> Option<Duration> {
        Some(PASS_DEADLINE)
    }

    async fn work(&mut self, _stop: &CancellationToken) -> anyhow::Result<Next> {
        match self.pass().await {
            Ok(report) if report != Report::default() => tracing::info!(?report, "reconciled"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %format!("{err:#}"), "reconciling failed; trying again next pass"),
        }
        Ok(Next::Idle)
    }

    async fn wait_for_work(&mut self, stop: &CancellationToken) -> Next {
        rest(stop, Duration::from_secs(self.settings.interval_secs)).await
    }
}

fn count(action: &'static str) {
    metrics::counter!(RECONCILED_TOTAL, "action" => action).increment(1);
}
