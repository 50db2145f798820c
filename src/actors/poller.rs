//! A queue poller: waits for a free job slot, receives up to as many
//! messages as it can start, and hands each to a job task. It never runs
//! job work itself, so a long poll never blocks the arbiter.

use std::{
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{Duration, Instant},
};

use actix::prelude::*;
use futures_util::FutureExt;
use tokio::sync::Semaphore;
use tokio_util::{
    sync::CancellationToken,
    task::{TaskTracker, task_tracker::TaskTrackerToken},
};

use crate::{
    jobs::DeliveryHandler,
    liveness::{State, Worker},
    telemetry,
};

/// How much longer than its long poll a receive may take before the
/// poller counts as wedged (the SDK's own retries and timeouts fit in it).
pub const RECEIVE_GRACE: Duration = Duration::from_secs(10);

/// What every poller shares: the job handler, the host's job slots, and the
/// shutdown token and tracker that let shutdown wait for running jobs.
#[derive(Clone)]
pub struct PollerDeps {
    pub handler: Arc<DeliveryHandler>,
    /// Jobs this host may hold at once (received and not finished).
    pub slots: Arc<Semaphore>,
    pub batch_size: usize,
    pub wait: Duration,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
}

/// Sent to the supervisor when a poller stops; `failure` is None on shutdown.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PollerStopped {
    pub id: usize,
    pub failure: Option<String>,
    pub ran_for: Duration,
}

pub struct QueuePoller {
    id: usize,
    deps: PollerDeps,
    supervisor: Recipient<PollerStopped>,
    worker: Arc<Worker>,
    started: Instant,
    failure: Option<String>,
    /// Keeps the tracker open while this poller may still start jobs.
    _alive: TaskTrackerToken,
}

impl QueuePoller {
    pub fn new(id: usize, deps: PollerDeps, supervisor: Recipient<PollerStopped>, worker: Arc<Worker>) -> Self {
        let alive = deps.tracker.token();
        Self { id, deps, supervisor, worker, started: Instant::now(), failure: None, _alive: alive }
    }
}

impl Actor for QueuePoller {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let work = AssertUnwindSafe(poll(self.deps.clone(), self.worker.clone())).catch_unwind();
        ctx.spawn(work.into_actor(self).map(|result, act, ctx| {
            act.failure = match result {
                Ok(Ok(())) => None,
                Ok(Err(err)) => Some(format!("{err:#}")),
                Err(_) => Some("poller panicked".into()),
            };
            ctx.stop();
        }));
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let failure = self.failure.take();
        self.supervisor.do_send(PollerStopped { id: self.id, failure, ran_for: self.started.elapsed() });
    }
}

/// Runs until shutdown (Ok) or until the queue fails (Err, and the
/// supervisor restarts this poller after a backoff). Waiting for a free
/// slot is idle (the jobs' own progress is watched); a receive must return
/// within its long poll and [`RECEIVE_GRACE`].
async fn poll(deps: PollerDeps, worker: Arc<Worker>) -> anyhow::Result<()> {
    let stopped = || {
        worker.set(State::Stopped, None);
        Ok(())
    };
    loop {
        worker.set(State::Idle, None);
        let mut slots = tokio::select! {
            biased;
            _ = deps.shutdown.cancelled() => return stopped(),
            slot = deps.slots.clone().acquire_owned() => vec![slot?],
        };
        while slots.len() < deps.batch_size {
            let Ok(slot) = deps.slots.clone().try_acquire_owned() else { break };
            slots.push(slot);
        }
        worker.set(State::Busy, Some(deps.wait + RECEIVE_GRACE));
        let deliveries = tokio::select! {
            biased;
            _ = deps.shutdown.cancelled() => return stopped(),
            received = deps.handler.queue.receive(slots.len(), deps.wait) => received?,
        };
        if deliveries.is_empty() {
            continue;
        }
        let now = chrono::Utc::now();
        for delivery in &deliveries {
            telemetry::stage("receive", (now - delivery.sent_at).to_std().unwrap_or_default());
        }
        metrics::counter!(telemetry::QUEUE_MESSAGES_TOTAL, "result" => "received").increment(deliveries.len() as u64);
        for (delivery, slot) in deliveries.into_iter().zip(slots) {
            let (handler, shutdown) = (deps.handler.clone(), deps.shutdown.clone());
            deps.tracker.spawn(async move {
                handler.handle(delivery, shutdown).await;
                drop(slot);
            });
        }
    }
}
