//! Fault-injection seams: a blob store that fails, or holds its reads, on
//! demand, around a real one; a notifier that fails its first publishes.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use async_trait::async_trait;
use bytes::Bytes;
use imaged::{
    notify::{Notifier, NotifyError, Subscription},
    storage::{BlobMeta, BlobReader, BlobStore, StoreError},
};
use tokio::sync::Semaphore;

/// What a failing store says: the kind of internals no client may see.
pub const INTERNAL: &str = "open /var/lib/imaged/secret-dir/x: Permission denied (os error 13)";

pub struct FaultyStore {
    inner: Arc<dyn BlobStore>,
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
    pub fn new(inner: Arc<dyn BlobStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
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

    fn fault(&self, key: &str) -> Result<(), StoreError> {
        match self.failing.load(Ordering::SeqCst) {
            true => Err(StoreError::Unavailable { key: key.to_owned(), source: anyhow::anyhow!(INTERNAL) }),
            false => Ok(()),
        }
    }
}

#[async_trait]
impl BlobStore for FaultyStore {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<BlobMeta, StoreError> {
        let variant = key.starts_with(imaged::keys::VARIANT_PREFIX);
        let free = variant
            && self.variant_writes_free.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if variant && !free && self.holding_variants.load(Ordering::SeqCst) {
            self.wait_at_gate().await;
        }
        let passes = |n: usize| n.checked_sub(1);
        if variant
            && self.failing_variants.load(Ordering::SeqCst)
            && self.variant_writes_before_failing.fetch_update(Ordering::SeqCst, Ordering::SeqCst, passes).is_err()
        {
            return Err(match self.failing_for_good.load(Ordering::SeqCst) {
                true => StoreError::BadKey(key.to_owned()),
                false => StoreError::Unavailable { key: key.to_owned(), source: anyhow::anyhow!(INTERNAL) },
            });
        }
        self.fault(key)?;
        self.inner.put(key, bytes, content_type).await
    }
    async fn put_file(&self, key: &str, path: &std::path::Path, content_type: &str) -> Result<BlobMeta, StoreError> {
        self.fault(key)?;
        self.inner.put_file(key, path, content_type).await
    }
    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        if self.holding.load(Ordering::SeqCst) {
            self.wait_at_gate().await;
        }
        self.fault(key)?;
        self.inner.get(key).await
    }
    async fn open(&self, key: &str) -> Result<BlobReader, StoreError> {
        self.fault(key)?;
        self.inner.open(key).await
    }
    async fn head(&self, key: &str) -> Result<BlobMeta, StoreError> {
        self.fault(key)?;
        self.inner.head(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.fault(key)?;
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.fault(prefix)?;
        self.inner.list(prefix).await
    }
    async fn check(&self) -> Result<(), StoreError> {
        self.fault("")?;
        self.inner.check().await
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
}

#[async_trait]
impl Notifier for FlakyNotifier {
    async fn publish(&self, message: &str) -> Result<(), NotifyError> {
        if self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(NotifyError::Unavailable(anyhow::anyhow!("topic unreachable")));
        }
        self.published.lock().unwrap().push(message.to_owned());
        Ok(())
    }
    async fn subscribe(&self, _: &str) -> Result<(), NotifyError> {
        Ok(())
    }
    async fn unsubscribe(&self, _: &str) -> Result<(), NotifyError> {
        Ok(())
    }
    async fn subscriptions(&self) -> Result<Vec<Subscription>, NotifyError> {
        Ok(Vec::new())
    }
}
