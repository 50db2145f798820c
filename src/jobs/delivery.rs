//! One queue delivery, start to finish: parse, keep the message hidden
//! while the pipeline runs (`heartbeat.rs`), then delete, retry later or
//! release.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use super::{JobError, Pipeline, heartbeat::Heartbeats};
use crate::messages::{self, Job};
use crate::{
    liveness::Activity,
    queue::{Delivery, JobQueue},
    telemetry::{self, JOBS_IN_FLIGHT, JOBS_TOTAL, QUEUE_MESSAGES_TOTAL},
};

/// The longest a failing message waits before it is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What becomes of a message once its jobs have run.
enum Settle {
    Delete,
    Retry,
    /// Hand it back at once: shutdown came before its job started.
    Release,
}

pub struct DeliveryHandler {
    pub queue: Arc<dyn JobQueue>,
    pub pipeline: Arc<Pipeline>,
    pub visibility: Duration,
    /// Keeps the messages in hand hidden while their jobs run.
    pub heartbeats: Arc<Heartbeats>,
    pub max_receives: u32,
    /// Counts the deliveries being handled, so that wedged jobs stop the watchdog.
    pub progress: Arc<Activity>,
}

fn count_message(result: &'static str) {
    metrics::counter!(QUEUE_MESSAGES_TOTAL, "result" => result).increment(1);
}

impl DeliveryHandler {
    pub async fn handle(&self, delivery: Delivery, shutdown: CancellationToken) {
        let _running = self.progress.begin();
        metrics::gauge!(JOBS_IN_FLIGHT).increment(1.0);
        self.handle_inner(&delivery, &shutdown).await;
        metrics::gauge!(JOBS_IN_FLIGHT).decrement(1.0);
    }

    async fn handle_inner(&self, delivery: &Delivery, shutdown: &CancellationToken) {
        let jobs = match messages::parse(&delivery.body) {
            Ok(jobs) => jobs,
            Err(reason) => {
                // Not deleted: after max_receives it lands in the dead letters,
                // where an operator can read it.
                tracing::warn!(reason, receive_count = delivery.receive_count, "message is not a job");
                count_message("invalid");
                return self.retry_later(delivery).await;
            }
        };
        let hold = self.heartbeats.hold(delivery.receipt.clone());
        let settle = self.run_jobs(&jobs, delivery, shutdown).await;
        hold.release().await;
        match settle {
            Settle::Delete => self.delete(delivery).await,
            Settle::Release => {
                count_message("released");
                if let Err(err) = self.queue.set_visibility(&delivery.receipt, Duration::ZERO).await {
                    tracing::warn!(error = %err, "could not release a message; it reappears after its timeout");
                }
            }
            Settle::Retry => self.retry_later(delivery).await,
        }
    }

    /// Runs a message's jobs in order; the first that must be retried or
    /// released decides for the whole message (the others are idempotent).
    async fn run_jobs(&self, jobs: &[Job], delivery: &Delivery, shutdown: &CancellationToken) -> Settle {
        for job in jobs {
            let outcome = match self.pipeline.run(job, shutdown).await {
                Ok(outcome) => outcome.label(),
                Err(JobError::Abort { cause, reason }) => {
                    tracing::warn!(key = %job.object_key, cause, reason, "job aborted");
                    telemetry::job_failed(cause);
                    "failed"
                }
                Err(JobError::Released) => {
                    metrics::counter!(JOBS_TOTAL, "outcome" => "released").increment(1);
                    return Settle::Release;
                }
                Err(JobError::Retry(err)) => {
                    metrics::counter!(JOBS_TOTAL, "outcome" => "retry").increment(1);
                    tracing::warn!(key = %job.object_key, error = %err, attempt = delivery.receive_count, "job will be retried");
                    if delivery.receive_count >= self.max_receives {
                        let reason = format!("gave up after {} attempts: {err:#}", delivery.receive_count);
                        if let Err(err) = self.pipeline.fail(job, "gave_up", &reason, None).await {
                            tracing::error!(error = %err, "could not record the failure");
                        }
                    }
                    return Settle::Retry;
                }
            };
            metrics::counter!(JOBS_TOTAL, "outcome" => outcome).increment(1);
        }
        Settle::Delete
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
}

#[cfg(test)]
mod tests;
