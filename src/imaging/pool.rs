//! The CPU pool. Decoding and resizing never run on an async thread: they
//! go to one rayon pool sized to the cores. A panic inside `rayon::spawn`
//! would abort the process, so each task is wrapped in `catch_unwind` and
//! its result (or the panic) comes back over a oneshot channel.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::Arc,
};

use tokio::sync::oneshot;

use crate::liveness::Activity;

#[derive(Debug, thiserror::Error)]
#[error("image worker panicked: {0}")]
pub struct PanicError(pub String);

pub struct CpuPool {
    pool: rayon::ThreadPool,
    /// Counts the tasks, so that a wedged pool stops the watchdog.
    progress: Arc<Activity>,
}

impl CpuPool {
    /// `threads` = 0 → one per core.
    pub fn new(threads: usize, progress: Arc<Activity>) -> anyhow::Result<Self> {
        let pool =
            rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("imaged-cpu-{i}")).build()?;
        Ok(Self { pool, progress })
    }

    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    pub async fn run<T, F>(&self, task: F) -> Result<T, PanicError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let running = self.progress.begin();
        self.pool.spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(task)).map_err(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                PanicError(message)
            });
            // Counted as finished before the caller can see the result.
            drop(running);
            let _ = tx.send(result);
        });
        rx.await.unwrap_or_else(|_| Err(PanicError("worker dropped the task".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_results_and_turns_panics_into_errors() {
        let liveness = crate::liveness::Liveness::default();
        let pool = CpuPool::new(1, liveness.counter("pool", std::time::Duration::from_secs(60))).unwrap();
        assert_eq!(pool.run(|| 2 + 2).await.unwrap(), 4);
        let err = pool.run(|| -> u32 { panic!("boom") }).await.unwrap_err();
        assert!(err.0.contains("boom"));
        assert_eq!(pool.run(|| 1).await.unwrap(), 1, "the pool survives a panic");
        assert_eq!(pool.progress.finished(), 3, "a panicked task counts as finished");
    }
}
