//! What each background loop is doing, so that the systemd watchdog is fed
//! only while they make progress. Every loop's [`Activity`] says its state
//! (busy, idle, backing off, stopped), set by the runner of
//! [`crate::workers`]; a state may carry a deadline by which the loop must
//! have moved on. The job tasks and the CPU pool are [`Activity::begin`]
//! counters, busy while work is running and due to finish some of it
//! within their stall limit.

use std::{
    fmt,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for work that is not its own to give (a long poll, a free slot).
    Idle,
    Busy,
    /// Waiting before a retry, after a failure.
    BackingOff,
    Stopped,
}

impl State {
    pub const ALL: [State; 4] = [Self::Idle, Self::Busy, Self::BackingOff, Self::Stopped];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Busy => "busy",
            Self::BackingOff => "backing_off",
            Self::Stopped => "stopped",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Idle => "idle",
            Self::Busy => "busy",
            Self::BackingOff => "backing off",
            Self::Stopped => "stopped",
        })
    }
}

/// One loop or one kind of counted work.
pub struct Activity {
    name: String,
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    since: Instant,
    deadline: Option<Instant>,
    /// Counted work: running now, finished so far, and the stall limit.
    running: usize,
    finished: u64,
    stall: Duration,
}

impl Activity {
    fn new(name: String, stall: Duration) -> Self {
        let now = Instant::now();
        let inner = Inner { state: State::Idle, since: now, deadline: None, running: 0, finished: 0, stall };
        Self { name, inner: Mutex::new(inner) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The fields stay consistent whatever panicked while holding the lock.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Enters `state`; with `within`, the loop must leave it by then.
    pub fn set(&self, state: State, within: Option<Duration>) {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.state != state {
            inner.state = state;
            inner.since = now;
        }
        inner.deadline = within.map(|d| now + d);
    }

    /// Starts one piece of counted work; it finishes when the guard drops.
    /// While any runs, one must finish within the stall limit of the last.
    pub fn begin(self: &Arc<Self>) -> Running {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.running == 0 {
            inner.state = State::Busy;
            inner.since = now;
            inner.deadline = Some(now + inner.stall);
        }
        inner.running += 1;
        drop(inner);
        Running(self.clone())
    }

    /// How many pieces of counted work have finished.
    pub fn finished(&self) -> u64 {
        self.lock().finished
    }

    /// How many pieces of counted work are running.
    pub fn running(&self) -> usize {
        self.lock().running
    }

    fn report(&self, now: Instant) -> Report {
        let inner = self.lock();
        Report {
            name: self.name.clone(),
            state: inner.state.label(),
            for_secs: now.duration_since(inner.since).as_secs(),
            running: inner.running,
            finished: inner.finished,
            stuck: self.overdue_in(&inner, now).is_some(),
        }
    }

    /// Why this worker is stuck, if its deadline has passed.
    fn overdue(&self, now: Instant) -> Option<String> {
        self.overdue_in(&self.lock(), now)
    }

    fn overdue_in(&self, inner: &Inner, now: Instant) -> Option<String> {
        let deadline = inner.deadline?;
        (now > deadline).then(|| {
            let stuck = now.duration_since(inner.since).as_secs();
            match inner.running {
                0 => format!("{} {} for {stuck} s", self.name, inner.state),
                n => format!("{} {} for {stuck} s with {n} running and none finished", self.name, inner.state),
            }
        })
    }
}

/// What one worker is doing, as `/readyz` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub name: String,
    /// idle, busy, backing_off or stopped.
    pub state: &'static str,
    /// Seconds in this state.
    pub for_secs: u64,
    /// Counted work running now, and finished since the start.
    pub running: usize,
    pub finished: u64,
    /// Past the deadline of its state: the watchdog is no longer fed.
    pub stuck: bool,
}

/// Counted work in progress; dropping it records the progress.
pub struct Running(Arc<Activity>);

impl Drop for Running {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut inner = self.0.lock();
        inner.running -= 1;
        inner.finished += 1;
        if inner.running == 0 {
            inner.state = State::Idle;
            inner.since = now;
            inner.deadline = None;
        } else {
            inner.deadline = Some(now + inner.stall);
        }
    }
}

/// Every worker of the process.
#[derive(Clone, Default)]
pub struct Liveness {
    workers: Arc<Mutex<Vec<Arc<Activity>>>>,
}

impl Liveness {
    /// A loop that sets its own states.
    pub fn worker(&self, name: impl Into<String>) -> Arc<Activity> {
        self.register(Activity::new(name.into(), Duration::MAX))
    }

    /// Counted work that must finish something every `stall` while busy.
    pub fn counter(&self, name: impl Into<String>, stall: Duration) -> Arc<Activity> {
        self.register(Activity::new(name.into(), stall))
    }

    fn register(&self, worker: Activity) -> Arc<Activity> {
        let worker = Arc::new(worker);
        self.workers.lock().unwrap_or_else(|p| p.into_inner()).push(worker.clone());
        worker
    }

    /// What every worker is doing, for `/readyz`.
    pub fn report(&self) -> Vec<Report> {
        let now = Instant::now();
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner()).clone();
        workers.iter().map(|w| w.report(now)).collect()
    }

    /// The workers past their deadline, described; empty when all is well.
    pub fn stuck(&self) -> Vec<String> {
        let now = Instant::now();
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner()).clone();
        workers.iter().filter_map(|w| w.overdue(now)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_is_stuck_only_past_its_deadline() {
        let live = Liveness::default();
        let poller = live.worker("poller 0");
        poller.set(State::Busy, Some(Duration::from_secs(60)));
        assert!(live.stuck().is_empty());
        poller.set(State::Busy, Some(Duration::ZERO));
        std::thread::sleep(Duration::from_millis(5));
        let stuck = live.stuck();
        assert_eq!(stuck.len(), 1);
        assert!(stuck[0].starts_with("poller 0 busy for"), "{stuck:?}");
        poller.set(State::Idle, None);
        assert!(live.stuck().is_empty(), "idle without a deadline is never stuck");
    }

    #[test]
    fn counted_work_is_stuck_when_nothing_finishes_within_the_limit() {
        let live = Liveness::default();
        let jobs = live.counter("jobs", Duration::from_millis(20));
        let first = jobs.begin();
        let second = jobs.begin();
        assert!(live.stuck().is_empty());
        std::thread::sleep(Duration::from_millis(30));
        assert!(live.stuck()[0].contains("with 2 running and none finished"), "{:?}", live.stuck());
        drop(first);
        assert!(live.stuck().is_empty(), "a finished job is progress");
        drop(second);
        std::thread::sleep(Duration::from_millis(30));
        assert!(live.stuck().is_empty(), "nothing running is never stuck");
        assert_eq!(jobs.finished(), 2);
    }
}
