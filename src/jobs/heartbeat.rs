//! The visibility of every message in hand, extended every third of its
//! timeout while its job runs: one worker for the host, rather than a task
//! per delivery. Releasing a message's hold waits for an extension of it in
//! flight, so none can land after the message is settled.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use tokio::{sync::Notify, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::{
    queue::{JobQueue, QueueError, Receipt},
    workers::{Next, Worker},
};

/// The messages whose visibility is kept up.
pub struct Heartbeats {
    queue: Arc<dyn JobQueue>,
    visibility: Duration,
    held: Mutex<HashMap<u64, Held>>,
    next_id: AtomicU64,
    changed: Notify,
}

struct Held {
    receipt: Receipt,
    due: Instant,
    /// Held while an extension of this message is in flight.
    busy: Arc<tokio::sync::Mutex<()>>,
}

impl Heartbeats {
    pub fn new(queue: Arc<dyn JobQueue>, visibility: Duration) -> Arc<Self> {
        Arc::new(Self { queue, visibility, held: Mutex::default(), next_id: AtomicU64::new(0), changed: Notify::new() })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Held>> {
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn every(&self) -> Duration {
        self.visibility / 3
    }

    /// Keeps `receipt`'s message hidden until [`Hold::release`].
    pub fn hold(self: &Arc<Self>, receipt: Receipt) -> Hold {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let held = Held { receipt, due: Instant::now() + self.every(), busy: Arc::default() };
        self.held().insert(id, held);
        self.changed.notify_one();
        Hold { beats: self.clone(), id }
    }

    /// The worker that sends the extensions.
    pub fn worker(self: &Arc<Self>) -> HeartbeatWorker {
        HeartbeatWorker(self.clone())
    }
}

/// A message kept hidden; release it once the message is settled.
pub struct Hold {
    beats: Arc<Heartbeats>,
    id: u64,
}

impl Hold {
    /// Stops extending the message, after an extension in flight.
    pub async fn release(self) {
        let held = self.beats.held().remove(&self.id);
        if let Some(held) = held {
            let _ = held.busy.lock().await;
        }
    }
}

pub struct HeartbeatWorker(Arc<Heartbeats>);

#[async_trait]
impl Worker for HeartbeatWorker {
    fn name(&self) -> String {
        "heartbeats".into()
    }

    /// Extends what is due; a queue call returns within its timeouts.
    fn deadline(&self) -> Option<Duration> {
        Some(self.0.every() + Duration::from_secs(30))
    }

    async fn work(&mut self, _stop: &CancellationToken) -> anyhow::Result<Next> {
        let beats = &self.0;
        let now = Instant::now();
        let due: Vec<(u64, Receipt, Arc<tokio::sync::Mutex<()>>)> = beats
            .held()
            .iter()
            .filter(|(_, held)| held.due <= now)
            .map(|(id, held)| (*id, held.receipt.clone(), held.busy.clone()))
            .collect();
        for (id, receipt, busy) in due {
            let _extending = busy.lock().await;
            if !beats.held().contains_key(&id) {
                continue; // released meanwhile: its message is settled
            }
            match beats.queue.set_visibility(&receipt, beats.visibility).await {
                Ok(()) => {}
                Err(QueueError::StaleReceipt) => {
                    beats.held().remove(&id);
                    continue;
                }
                Err(err) => tracing::warn!(error = %err, "heartbeat failed"),
            }
            if let Some(held) = beats.held().get_mut(&id) {
                held.due = Instant::now() + beats.every();
            }
        }
        Ok(Next::Idle)
    }

    /// Until the next extension is due, or a message is held; through the
    /// drain, until the host's services stop.
    async fn wait_for_work(&mut self, stop: &CancellationToken) -> Next {
        let next = self.0.held().values().map(|held| held.due).min();
        let until_due = async {
            match next {
                Some(due) => tokio::time::sleep_until(due).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => Next::Done,
            _ = self.0.changed.notified() => Next::Busy,
            _ = until_due => Next::Busy,
        }
    }
}
