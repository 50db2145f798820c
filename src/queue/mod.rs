//! `JobQueue`: SQS semantics (receive count, visibility timeout, delete,
//! change visibility, dead letters) behind one trait, so the pipeline is
//! written and tested once for the embedded queue and for SQS.

mod embedded;
mod sqs;

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::telemetry;

pub use embedded::EmbeddedQueue;
pub use sqs::SqsQueue;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Worth retrying: network, database, throttling.
    #[error("queue unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
    /// The receipt no longer names a message this consumer holds.
    #[error("receipt is no longer valid")]
    StaleReceipt,
}

/// The handle that deletes or changes the visibility of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt(pub String);

#[derive(Debug, Clone)]
pub struct Delivery {
    pub body: String,
    pub receipt: Receipt,
    /// 1 on the first delivery.
    pub receive_count: u32,
    /// When the message was first sent (SQS `SentTimestamp`).
    pub sent_at: chrono::DateTime<chrono::Utc>,
}

/// A message in the dead letters, as `imaged dlq list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// The embedded queue's row id, or the SQS message id.
    pub id: String,
    pub body: String,
    pub receive_count: u32,
    pub sent_at: chrono::DateTime<chrono::Utc>,
}

/// How long a report (a metrics scrape, the systemd status line) waits
/// for [`JobQueue::stats`].
pub const STATS_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct QueueStats {
    /// Messages ready to be received.
    pub depth: u64,
    /// Received and not yet deleted or visible again.
    pub in_flight: u64,
    pub dead_letters: u64,
    /// Age of the oldest message; unknown on SQS (only CloudWatch has it).
    pub oldest_age_secs: Option<u64>,
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn send(&self, body: &str) -> Result<(), QueueError>;
    /// Up to `max` messages, waiting up to `wait` for the first (long poll).
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError>;
    /// As `receive`, for a poller that may be told to stop: returns early
    /// at `stop` where the queue can without losing what it took. SQS
    /// cannot (an abandoned long poll keeps the messages it took, hidden
    /// for their visibility timeout), so by default the receive runs on.
    async fn receive_until(
        &self,
        max: usize,
        wait: Duration,
        stop: &CancellationToken,
    ) -> Result<Vec<Delivery>, QueueError> {
        let _ = stop;
        self.receive(max, wait).await
    }
    async fn delete(&self, receipt: &Receipt) -> Result<(), QueueError>;
    /// Heartbeat (extend) or release (zero) a received message.
    async fn set_visibility(&self, receipt: &Receipt, timeout: Duration) -> Result<(), QueueError>;
    async fn stats(&self) -> Result<QueueStats, QueueError>;
    /// Deliveries a message gets before it goes to the dead letters: the
    /// last one is where a job that keeps failing is marked `failed`.
    fn max_receives(&self) -> u32;
}

/// What an operator does with the dead letters (`imaged dlq`); no job
/// needs it, so it is not part of [`JobQueue`].
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Up to `max` dead letters, oldest first where the queue knows; they
    /// stay where they are.
    async fn list(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError>;
    /// Moves up to `max` dead letters back to the queue as new messages
    /// (received 0 times); returns how many moved.
    async fn redrive(&self, max: usize) -> Result<usize, QueueError>;
}

/// Sets the queue gauges from the queue's own figures; on failure only
/// `imaged_queue_up` changes (to 0), so stale figures are recognisable.
pub async fn record_stats(queue: &dyn JobQueue) {
    match tokio::time::timeout(STATS_TIMEOUT, queue.stats()).await {
        Ok(Ok(stats)) => {
            metrics::gauge!(telemetry::QUEUE_UP).set(1.0);
            metrics::gauge!(telemetry::QUEUE_DEPTH).set(stats.depth as f64);
            metrics::gauge!(telemetry::QUEUE_IN_FLIGHT).set(stats.in_flight as f64);
            metrics::gauge!(telemetry::QUEUE_DEAD_LETTERS).set(stats.dead_letters as f64);
            if let Some(age) = stats.oldest_age_secs {
                metrics::gauge!(telemetry::QUEUE_OLDEST_AGE_SECONDS).set(age as f64);
            }
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "could not read the queue's figures");
            metrics::gauge!(telemetry::QUEUE_UP).set(0.0);
        }
        Err(_) => {
            tracing::warn!("reading the queue's figures timed out");
            metrics::gauge!(telemetry::QUEUE_UP).set(0.0);
        }
    }
}
