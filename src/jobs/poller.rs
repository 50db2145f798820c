//! A queue poller: waits for a free job slot, receives up to as many
//! messages as it can start, and hands each to a job task. It never runs
//! job work itself, so a long poll never waits on a job.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::DeliveryHandler;
use crate::{
    telemetry,
    workers::{Next, Worker},
};

/// How much longer than its long poll a receive may take before the
/// poller counts as wedged (the SDK's own retries and timeouts fit in it).
pub const RECEIVE_GRACE: Duration = Duration::from_secs(10);

/// What every poller shares: the job handler, the host's job slots, and the
/// tracker that lets shutdown wait for running jobs.
#[derive(Clone)]
pub struct PollerDeps {
    pub handler: Arc<DeliveryHandler>,
    /// Jobs this host may hold at once (received and not finished).
    pub slots: Arc<Semaphore>,
    pub batch_size: usize,
    pub wait: Duration,
    pub tracker: TaskTracker,
}

pub struct QueuePoller {
    id: usize,
    deps: PollerDeps,
    /// Job slots taken for the next receive.
    held: Vec<OwnedSemaphorePermit>,
}

impl QueuePoller {
    pub fn new(id: usize, deps: PollerDeps) -> Self {
        Self { id, deps, held: Vec::new() }
    }
}

#[async_trait]
impl Worker for QueuePoller {
    fn name(&self) -> String {
        format!("queue poller {}", self.id)
    }

    /// A receive returns within its long poll and [`RECEIVE_GRACE`].
    fn deadline(&self) -> Option<Duration> {
        Some(self.deps.wait + RECEIVE_GRACE)
    }

    /// Receives a message per slot held and starts a job for each. An
    /// error of the queue is the runner's to back off from; the slots stay
    /// held for the next try.
    async fn work(&mut self, stop: &CancellationToken) -> anyhow::Result<Next> {
        if self.held.is_empty() {
            return Ok(Next::Idle);
        }
        if stop.is_cancelled() {
            return Ok(Next::Done);
        }
        // A receive under way is never dropped at a stop: the queue may
        // already have given it messages, which an abandoned request would
        // leave hidden for their whole visibility timeout. It ends early
        // where the queue allows; what it brings after the stop, the jobs
        // hand straight back.
        let queue = &self.deps.handler.queue;
        let deliveries = queue.receive_until(self.held.len(), self.deps.wait, stop).await?;
        if deliveries.is_empty() {
            return Ok(if stop.is_cancelled() { Next::Done } else { Next::Busy });
        }
        let now = chrono::Utc::now();
        for delivery in &deliveries {
            telemetry::stage("receive", (now - delivery.sent_at).to_std().unwrap_or_default());
        }
        metrics::counter!(telemetry::QUEUE_MESSAGES_TOTAL, "result" => "received").increment(deliveries.len() as u64);
        let slots: Vec<_> = self.held.drain(..deliveries.len()).collect();
        for (delivery, slot) in deliveries.into_iter().zip(slots) {
            let (handler, stop) = (self.deps.handler.clone(), stop.clone());
            self.deps.tracker.spawn(async move {
                handler.handle(delivery, stop).await;
                drop(slot);
            });
        }
        // Slots left over go back; waiting takes them again with any freed.
        self.held.clear();
        Ok(Next::Idle)
    }

    /// Waits for a free slot (the jobs' own progress is watched), then
    /// takes as many more as are free, up to a batch.
    async fn wait_for_work(&mut self, stop: &CancellationToken) -> Next {
        let slot = tokio::select! {
            biased;
            _ = stop.cancelled() => return Next::Done,
            slot = self.deps.slots.clone().acquire_owned() => slot,
        };
        let Ok(slot) = slot else { return Next::Done };
        self.held.push(slot);
        while self.held.len() < self.deps.batch_size {
            let Ok(slot) = self.deps.slots.clone().try_acquire_owned() else { break };
            self.held.push(slot);
        }
        Next::Busy
    }
}
