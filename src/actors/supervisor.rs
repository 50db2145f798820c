//! The supervisor owns the queue pollers. actix's own `Supervisor`
//! restarts at once; this one restarts a failed poller after an
//! exponential backoff, so a queue outage is not a busy loop.

use std::{sync::Arc, time::Duration};

use actix::prelude::*;

use super::poller::{PollerDeps, PollerStopped, QueuePoller, RECEIVE_GRACE};
use crate::{
    liveness::{Liveness, State, Worker},
    telemetry::POLLER_RESTARTS_TOTAL,
};

const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A poller that ran this long before failing starts its backoff afresh.
const HEALTHY_RUN: Duration = Duration::from_secs(120);

pub struct Supervisor {
    deps: PollerDeps,
    /// Consecutive failures of each poller.
    failures: Vec<u32>,
    /// What each poller is doing, kept across its restarts.
    workers: Vec<Arc<Worker>>,
}

impl Supervisor {
    pub fn new(deps: PollerDeps, pollers: usize, liveness: &Liveness) -> Self {
        let workers = (0..pollers).map(|id| liveness.worker(format!("queue poller {id}"))).collect();
        Self { deps, failures: vec![0; pollers], workers }
    }

    fn start_poller(&self, id: usize, ctx: &mut Context<Self>) {
        if !self.deps.shutdown.is_cancelled() {
            let worker = self.workers[id].clone();
            QueuePoller::new(id, self.deps.clone(), ctx.address().recipient(), worker).start();
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        for id in 0..self.failures.len() {
            self.start_poller(id, ctx);
        }
        let shutdown = self.deps.shutdown.clone();
        ctx.spawn(async move { shutdown.cancelled().await }.into_actor(self).map(|_, _, ctx| ctx.stop()));
    }
}

impl Handler<PollerStopped> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: PollerStopped, ctx: &mut Self::Context) {
        let Some(failure) = msg.failure else { return };
        let failures = &mut self.failures[msg.id];
        *failures = if msg.ran_for >= HEALTHY_RUN { 1 } else { *failures + 1 };
        let delay = (Duration::from_millis(500) * 2u32.pow((*failures - 1).min(8))).min(MAX_BACKOFF);
        tracing::error!(poller = msg.id, failure, ?delay, "queue poller failed; restarting");
        self.workers[msg.id].set(State::BackingOff, Some(delay + RECEIVE_GRACE));
        metrics::counter!(POLLER_RESTARTS_TOTAL).increment(1);
        ctx.run_later(delay, move |act, ctx| act.start_poller(msg.id, ctx));
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicU32, Ordering},
        },
        time::Instant,
    };

    use async_trait::async_trait;
    use tokio::sync::Semaphore;
    use tokio_util::{sync::CancellationToken, task::TaskTracker};

    use super::*;
    use crate::{
        config::Settings,
        queue::{Delivery, JobQueue, QueueError, QueueStats, Receipt},
        startup::{Backends, job_handler},
    };

    /// A queue whose first `failures` receives fail, as in an outage.
    struct Outage {
        failures: u32,
        calls: AtomicU32,
        times: std::sync::Mutex<Vec<Instant>>,
    }

    #[async_trait]
    impl JobQueue for Outage {
        async fn send(&self, _: &str) -> Result<(), QueueError> {
            Ok(())
        }
        async fn receive(&self, _: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            self.times.lock().unwrap().push(Instant::now());
            if call < self.failures {
                return Err(QueueError::Unavailable(anyhow::anyhow!("queue outage")));
            }
            tokio::time::sleep(wait).await;
            Ok(Vec::new())
        }
        async fn delete(&self, _: &Receipt) -> Result<(), QueueError> {
            Ok(())
        }
        async fn set_visibility(&self, _: &Receipt, _: Duration) -> Result<(), QueueError> {
            Ok(())
        }
        async fn stats(&self) -> Result<QueueStats, QueueError> {
            Ok(QueueStats::default())
        }
        async fn dead_letters(&self, _: usize) -> Result<Vec<crate::queue::DeadLetter>, QueueError> {
            Ok(Vec::new())
        }
        async fn redrive(&self, _: usize) -> Result<usize, QueueError> {
            Ok(0)
        }
        fn max_receives(&self) -> u32 {
            5
        }
    }

    #[actix_rt::test]
    async fn a_failed_poller_is_restarted_after_a_growing_backoff() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings { data_dir: dir.path().to_path_buf(), ..Settings::default() };
        settings.processing.workers = 1;
        let mut backends = Backends::build(&settings).await.unwrap();
        let queue = Arc::new(Outage { failures: 3, calls: AtomicU32::new(0), times: Default::default() });
        backends.queue = queue.clone();
        let liveness = Liveness::default();
        let images = crate::startup::images(&settings, &backends, "http://imaged.test".into());
        let handler = job_handler(&settings, &backends, images, &liveness).unwrap();
        let shutdown = CancellationToken::new();
        let deps = PollerDeps {
            handler: Arc::new(handler),
            slots: Arc::new(Semaphore::new(2)),
            batch_size: 10,
            wait: Duration::from_millis(50),
            shutdown: shutdown.clone(),
            tracker: TaskTracker::new(),
        };
        Supervisor::new(deps, 1, &liveness).start();

        let deadline = Instant::now() + Duration::from_secs(20);
        while queue.calls.load(Ordering::SeqCst) < 6 {
            assert!(Instant::now() < deadline, "the poller was not restarted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shutdown.cancel();
        let times = queue.times.lock().unwrap().clone();
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps[0] >= Duration::from_millis(500), "first restart waits 0.5 s: {gaps:?}");
        assert!(gaps[1] >= Duration::from_secs(1), "second waits 1 s: {gaps:?}");
        assert!(gaps[2] >= Duration::from_secs(2), "third waits 2 s: {gaps:?}");
    }
}
