//! Background work, done one way (garage's): every loop of the host is a
//! [`Worker`] that does one unit of work at a time and says what it expects
//! next, and one [`Runner`] starts the workers, names them, backs one off
//! after an error, stops them with the host, and reports what each is doing
//! to [`Liveness`] (so a wedged one stops the watchdog) and to the
//! `imaged_worker_state` metric.

use std::{panic::AssertUnwindSafe, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures_util::FutureExt;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    liveness::{Activity, Liveness, State},
    telemetry::{WORKER_ERRORS_TOTAL, WORKER_STATE},
};

/// The longest a failing worker waits before it tries again.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How much longer than its backoff a throttled worker may take to resume.
const RESUME_GRACE: Duration = Duration::from_secs(10);

/// What a worker expects to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// More work is at hand: `work` again at once.
    Busy,
    /// Nothing to do until [`Worker::wait_for_work`] says so.
    Idle,
    /// `work` again after this pause.
    Throttled(Duration),
    /// Finished: the worker stops.
    Done,
}

#[async_trait]
pub trait Worker: Send + 'static {
    fn name(&self) -> String;

    /// How long one call of [`Worker::work`] may take before the worker
    /// counts as wedged; `None` for work that has no such bound.
    fn deadline(&self) -> Option<Duration> {
        None
    }

    /// Does one unit of work. An error is logged and counted, and the
    /// worker is throttled for a backoff that grows with each error in a
    /// row. `stop` is cancelled when the host stops; work that can wait
    /// returns [`Next::Done`] then.
    async fn work(&mut self, stop: &CancellationToken) -> anyhow::Result<Next>;

    /// Waits until there may be work (a message, a free slot, the next
    /// interval): usually [`Next::Busy`], or [`Next::Done`] on `stop`.
    async fn wait_for_work(&mut self, stop: &CancellationToken) -> Next;
}

/// Starts workers on the host's stop token, in one tracker, so that the
/// drain waits for all of them.
#[derive(Clone)]
pub struct Runner {
    liveness: Liveness,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Runner {
    pub fn new(liveness: Liveness, stop: CancellationToken, tracker: TaskTracker) -> Self {
        Self { liveness, stop, tracker }
    }

    pub fn spawn(&self, worker: impl Worker) {
        let activity = self.liveness.worker(worker.name());
        // Exported from the start, so that `increase()` sees the first error.
        metrics::counter!(WORKER_ERRORS_TOTAL, "worker" => worker.name()).absolute(0);
        self.tracker.spawn(run(worker, activity, self.stop.clone()));
    }
}

async fn run(mut worker: impl Worker, activity: Arc<Activity>, stop: CancellationToken) {
    let name = worker.name();
    let mut failures = 0;
    let mut next = Next::Busy;
    loop {
        next = match next {
            Next::Busy => {
                report(&name, &activity, State::Busy, worker.deadline());
                match AssertUnwindSafe(worker.work(&stop)).catch_unwind().await {
                    Ok(Ok(next)) => {
                        failures = 0;
                        next
                    }
                    Ok(Err(err)) => backoff(&name, &mut failures, &format!("{err:#}")),
                    Err(_) => backoff(&name, &mut failures, "panicked"),
                }
            }
            Next::Throttled(pause) => {
                report(&name, &activity, State::BackingOff, Some(pause + RESUME_GRACE));
                rest(&stop, pause).await
            }
            Next::Idle => {
                report(&name, &activity, State::Idle, None);
                worker.wait_for_work(&stop).await
            }
            Next::Done => break,
        };
    }
    report(&name, &activity, State::Stopped, None);
}

/// Busy again after `pause`, or done when `stop` comes first: the wait of
/// a worker that works at intervals.
pub async fn rest(stop: &CancellationToken, pause: Duration) -> Next {
    tokio::select! {
        _ = stop.cancelled() => Next::Done,
        _ = tokio::time::sleep(pause) => Next::Busy,
    }
}

/// Logs and counts a failed unit of work; the pause before the next.
fn backoff(name: &str, failures: &mut u32, error: &str) -> Next {
    *failures += 1;
    let pause = (Duration::from_millis(500) * 2u32.pow((*failures - 1).min(8))).min(MAX_BACKOFF);
    tracing::error!(worker = name, error, ?pause, "background work failed; trying again after a pause");
    metrics::counter!(WORKER_ERRORS_TOTAL, "worker" => name.to_owned()).increment(1);
    Next::Throttled(pause)
}

fn report(name: &str, activity: &Activity, state: State, within: Option<Duration>) {
    activity.set(state, within);
    for s in State::ALL {
        let value = if s == state { 1.0 } else { 0.0 };
        metrics::gauge!(WORKER_STATE, "worker" => name.to_owned(), "state" => s.label()).set(value);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Mutex,
        atomic::{AtomicU32, Ordering},
    };

    use super::*;

    /// Fails its first `failures` units of work, then finishes.
    struct Flaky {
        failures: u32,
        calls: Arc<AtomicU32>,
        seen: Arc<Mutex<Vec<State>>>,
        liveness: Liveness,
    }

    #[async_trait]
    impl Worker for Flaky {
        fn name(&self) -> String {
            "flaky".into()
        }

        async fn work(&mut self, _stop: &CancellationToken) -> anyhow::Result<Next> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            if call < self.failures {
                anyhow::bail!("failure {call}");
            }
            Ok(Next::Idle)
        }

        async fn wait_for_work(&mut self, stop: &CancellationToken) -> Next {
            let stuck = self.liveness.stuck();
            self.seen.lock().unwrap().push(if stuck.is_empty() { State::Idle } else { State::Busy });
            stop.cancelled().await;
            Next::Done
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_worker_is_backed_off_longer_each_time_then_runs_on() {
        let liveness = Liveness::default();
        let (stop, tracker) = (CancellationToken::new(), TaskTracker::new());
        let calls = Arc::new(AtomicU32::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let flaky = Flaky { failures: 3, calls: calls.clone(), seen: seen.clone(), liveness: liveness.clone() };
        let started = tokio::time::Instant::now();
        Runner::new(liveness.clone(), stop.clone(), tracker.clone()).spawn(flaky);
        // Paused time runs ahead whenever every task waits: 0.5 + 1 + 2 s of backoff.
        while seen.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(3500) && waited < Duration::from_secs(4), "{waited:?}");
        assert_eq!(*seen.lock().unwrap(), [State::Idle], "idle, and not stuck");
        stop.cancel();
        tracker.close();
        tokio::time::timeout(Duration::from_secs(1), tracker.wait()).await.expect("stops with the host");
    }
}
