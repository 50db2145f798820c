//! Faults on demand, as hooks around the real backends (`imaged::testing`):
//! a blob store that fails, or holds its reads or thumbnail writes; a
//! notifier that fails its first publishes and records what it publishes.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use async_trait::async_trait;
use imaged::{
    notify::Notifier,
    storage::BlobStore,
    testing::{Call, Fault, Hook, Tap},
};
use tokio::sync::Semaphore;

/// What a failing store says: the kind of internals no client may see.
pub const INTERNAL: &str = "open /var/lib/imaged/secret-dir/x: Permission denied (os error 13)";

pub struct FaultyStore {
    failing: AtomicBool,
    holding: AtomicBool,
    holding_variants: AtomicBool,
    /// Variant writes that pass before the hold applies.
    variant_writes_free: AtomicUsize,
    /// Whether thumbnail writes fail once `variant_writes_before_failing`
    /// passed, and whether for good (a bad key) or for now (an outage).
    failing_variants: AtomicBool,
    failing_for_good: AtomicBool,
    variant_writes_before_failing: AtomicUsize,
    waiting: AtomicUsize,
    gate: Semaphore,
}

impl FaultyStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            failing: false.into(),
            holding: false.into(),
            holding_variants: false.into(),
            variant_writes_free: 0.into(),
            failing_variants: false.into(),
            failing_for_good: false.into(),
            variant_writes_before_failing: 0.into(),
            waiting: 0.into(),
            gate: Semaphore::new(0),
        })
    }

    /// `inner` with these faults.
    pub fn wrap(self: &Arc<Self>, inner: Arc<dyn BlobStore>) -> Arc<dyn BlobStore> {
        Tap::new(inner, self.clone())
    }

    /// Every call fails (or works again), as in an outage.
    pub fn fail(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    /// Reads wait until [`FaultyStore::release`].
    pub fn hold_reads(&self) {
        self.holding.store(true, Ordering::SeqCst);
    }

    /// Writes of thumbnails wait until [`FaultyStore::release`].
    pub fn hold_variant_writes(&self) {
        self.holding_variants.store(true, Ordering::SeqCst);
    }

    /// Writes of thumbnails after the first `n` wait until released: a job
    /// paused between writing its variants.
    pub fn hold_variant_writes_after(&self, n: usize) {
        self.variant_writes_free.store(n, Ordering::SeqCst);
        self.hold_variant_writes();
    }

    /// Thumbnail writes after the next `n` fail: for good, or as in an outage.
    pub fn fail_variant_writes_after(&self, n: usize, for_good: bool) {
        self.variant_writes_before_failing.store(n, Ordering::SeqCst);
        self.failing_for_good.store(for_good, Ordering::SeqCst);
        self.failing_variants.store(true, Ordering::SeqCst);
    }

    /// Whether a held call is waiting.
    pub fn waiting(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }

    pub fn release(&self) {
        self.holding.store(false, Ordering::SeqCst);
        self.holding_variants.store(false, Ordering::SeqCst);
        self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    }

    async fn wait_at_gate(&self) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _ = self.gate.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Hook for FaultyStore {
    async fn before(&self, call: &Call<'_>) -> Result<(), Fault> {
        let variant_write = call.step == "store.put" && call.subject.starts_with(imaged::keys::VARIANT_PREFIX);
        if variant_write {
            let free = self.variant_writes_free.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if free.is_err() && self.holding_variants.load(Ordering::SeqCst) {
                self.wait_at_gate().await;
            }
            let passes = |n: usize| n.checked_sub(1);
            if self.failing_variants.load(Ordering::SeqCst)
                && self.variant_writes_before_failing.fetch_update(Ordering::SeqCst, Ordering::SeqCst, passes).is_err()
            {
                return Err(match self.failing_for_good.load(Ordering::SeqCst) {
                    true => Fault::Permanent(INTERNAL.into()),
                    false => Fault::Outage(INTERNAL.into()),
                });
            }
        }
        if call.step == "store.get" && self.holding.load(Ordering::SeqCst) {
            self.wait_at_gate().await;
        }
        match self.failing.load(Ordering::SeqCst) {
            true => Err(Fault::Outage(INTERNAL.into())),
            false => Ok(()),
        }
    }
}

/// A notifier that records what it publishes, and fails its first
/// `failures` publishes, as SNS during an outage.
pub struct FlakyNotifier {
    failures: AtomicUsize,
    pub published: std::sync::Mutex<Vec<String>>,
}

impl FlakyNotifier {
    pub fn new(failures: usize) -> Arc<Self> {
        Arc::new(Self { failures: failures.into(), published: Default::default() })
    }

    /// `inner` with these faults.
    pub fn wrap(self: &Arc<Self>, inner: Arc<dyn Notifier>) -> Arc<dyn Notifier> {
        Tap::new(inner, self.clone())
    }
}

#[async_trait]
impl Hook for FlakyNotifier {
    async fn before(&self, call: &Call<'_>) -> Result<(), Fault> {
        if call.step != "notify.publish" {
            return Ok(());
        }
        match self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
            Ok(_) => Err(Fault::Outage("topic unreachable".into())),
            Err(_) => Ok(()),
        }
    }

    fn after(&self, call: &Call<'_>) {
        if call.step == "notify.publish" {
            self.published.lock().unwrap().push(call.subject.to_owned());
        }
    }
}
