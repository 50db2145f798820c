//! One queue delivery, start to finish: parse, heartbeat the visibility
//! while the pipeline runs, then delete, retry later or release.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use super::{JobError, Pipeline, message};
use crate::{
    queue::{Delivery, JobQueue, QueueError},
    telemetry::{JOBS_IN_FLIGHT, JOBS_TOTAL, QUEUE_MESSAGES_TOTAL},
};

/// The longest a failing message waits before it is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

pub struct Handler {
    pub queue: Arc<dyn JobQueue>,
    pub pipeline: Arc<Pipeline>,
    pub visibility: Duration,
    pub max_receives: u32,
}

fn count_message(result: &'static str) {
    metrics::counter!(QUEUE_MESSAGES_TOTAL, "result" => result).increment(1);
}

impl Handler {
    pub async fn handle(&self, delivery: Delivery, shutdown: CancellationToken) {
        metrics::gauge!(JOBS_IN_FLIGHT).increment(1.0);
        self.handle_inner(&delivery, &shutdown).await;
        metrics::gauge!(JOBS_IN_FLIGHT).decrement(1.0);
    }

    async fn handle_inner(&self, delivery: &Delivery, shutdown: &CancellationToken) {
        let job = match message::parse(&delivery.body) {
            Ok(job) => job,
            Err(reason) => {
                // Not deleted: after max_receives it lands in the dead letters,
                // where an operator can read it.
                tracing::warn!(reason, receive_count = delivery.receive_count, "message is not a job");
                count_message("invalid");
                return self.retry_later(delivery).await;
            }
        };
        let heartbeat = self.heartbeat(delivery);
        let result = self.pipeline.run(&job, shutdown).await;
        drop(heartbeat);
        match result {
            Ok(outcome) => {
                metrics::counter!(JOBS_TOTAL, "outcome" => outcome.label()).increment(1);
                self.delete(delivery).await;
            }
            Err(JobError::Abort(reason)) => {
                tracing::warn!(key = %job.object_key, reason, "job aborted");
                metrics::counter!(JOBS_TOTAL, "outcome" => "failed").increment(1);
                self.delete(delivery).await;
            }
            Err(JobError::Released) => {
                metrics::counter!(JOBS_TOTAL, "outcome" => "released").increment(1);
                count_message("released");
                if let Err(err) = self.queue.set_visibility(&delivery.receipt, Duration::ZERO).await {
                    tracing::warn!(error = %err, "could not release a message; it reappears after its timeout");
                }
            }
            Err(JobError::Retry(err)) => {
                metrics::counter!(JOBS_TOTAL, "outcome" => "retry").increment(1);
                tracing::warn!(key = %job.object_key, error = %err, attempt = delivery.receive_count, "job will be retried");
                if delivery.receive_count >= self.max_receives {
                    let reason = format!("gave up after {} attempts: {err:#}", delivery.receive_count);
                    if let Err(err) = self.pipeline.fail(&job, &reason).await {
                        tracing::error!(error = %err, "could not record the failure");
                    }
                }
                self.retry_later(delivery).await;
            }
        }
    }

    async fn delete(&self, delivery: &Delivery) {
        match self.queue.delete(&delivery.receipt).await {
            Ok(()) => count_message("deleted"),
            // The job is idempotent: if the message comes back it is redone.
            Err(err) => tracing::warn!(error = %err, "could not delete a finished message"),
        }
    }

    /// Hides the message for an exponential backoff; SQS (or the embedded
    /// queue) moves it to the dead letters after `max_receives`.
    async fn retry_later(&self, delivery: &Delivery) {
        count_message("retried");
        let backoff = Duration::from_secs(1 << delivery.receive_count.min(16)).min(MAX_BACKOFF);
        if let Err(err) = self.queue.set_visibility(&delivery.receipt, backoff).await {
            tracing::warn!(error = %err, "could not delay a message; it reappears after its timeout");
        }
    }

    /// Extends the message's visibility every third of the timeout while
    /// the job runs; stops when the returned guard is dropped.
    fn heartbeat(&self, delivery: &Delivery) -> tokio_util::sync::DropGuard {
        let stop = CancellationToken::new();
        let (queue, receipt, visibility) = (self.queue.clone(), delivery.receipt.clone(), self.visibility);
        let token = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(visibility / 3) => {}
                }
                match queue.set_visibility(&receipt, visibility).await {
                    Ok(()) => {}
                    Err(QueueError::StaleReceipt) => return,
                    Err(err) => tracing::warn!(error = %err, "heartbeat failed"),
                }
            }
        });
        stop.drop_guard()
    }
}
