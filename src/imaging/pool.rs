//! The CPU pool. Decoding and resizing never run on an async thread: they
//! go to one rayon pool sized to the cores. A panic inside `rayon::spawn`
//! would abort the process, so each task is wrapped in `catch_unwind` and
//! its result (or the panic) comes back over a oneshot channel.

use std::panic::{AssertUnwindSafe, catch_unwind};

use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
#[error("image worker panicked: {0}")]
pub struct PanicError(pub String);

pub struct CpuPool {
    pool: rayon::ThreadPool,
}

impl CpuPool {
    /// `threads` = 0 → one per core.
    pub fn new(threads: usize) -> anyhow::Result<Self> {
        let pool =
            rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("imaged-cpu-{i}")).build()?;
        Ok(Self { pool })
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
        self.pool.spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(task)).map_err(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                PanicError(message)
            });
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
        let pool = CpuPool::new(1).unwrap();
        assert_eq!(pool.run(|| 2 + 2).await.unwrap(), 4);
        let err = pool.run(|| -> u32 { panic!("boom") }).await.unwrap_err();
        assert!(err.0.contains("boom"));
        assert_eq!(pool.run(|| 1).await.unwrap(), 1, "the pool survives a panic");
    }
}
