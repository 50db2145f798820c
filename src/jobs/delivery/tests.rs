//! The delivery handler on the embedded backends, with wrapped stores,
//! queues and notifiers that stage the races it must survive.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

use async_trait::async_trait;
use bytes::Bytes;

use super::*;
use crate::{
    config::Settings,
    db::{JobStatus, NewImage},
    liveness::Liveness,
    messages::upload_body,
    startup::{Backends, job_handler},
    storage::BlobStore,
    testing::{Call, Fault, Hook, Tap},
    workers::Runner,
};
use tokio_util::task::TaskTracker;

/// Runs its function ahead of every read of the store: a delay, as a slow network
/// would have, or a step of a test's choreography.
struct BeforeRead(Box<dyn Fn() -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>);

#[async_trait]
impl Hook for BeforeRead {
    async fn before(&self, call: &Call<'_>) -> Result<(), Fault> {
        if call.step == "store.get" {
            (self.0)().await;
        }
        Ok(())
    }
}

/// The daemon's handler over the embedded backends, reading blobs with
/// `read_delay`, and one image queued.
async fn setup(
    dir: &std::path::Path,
    visibility_secs: u64,
    read_delay: Duration,
) -> (DeliveryHandler, Backends, i64, Arc<AtomicUsize>) {
    let before_read = Box::new(move || Box::pin(tokio::time::sleep(read_delay)) as _);
    setup_with(dir, visibility_secs, |inner| Tap::new(inner, Arc::new(BeforeRead(before_read)))).await
}

/// As [`setup`], with the blob store wrapped by `wrap`.
async fn setup_with(
    dir: &std::path::Path,
    visibility_secs: u64,
    wrap: impl FnOnce(Arc<dyn BlobStore>) -> Arc<dyn BlobStore>,
) -> (DeliveryHandler, Backends, i64, Arc<AtomicUsize>) {
    let mut settings = Settings { data_dir: dir.to_path_buf(), ..Settings::default() };
    settings.queue.visibility_timeout_secs = visibility_secs;
    settings.processing.workers = 1;
    let mut backends = Backends::build(&settings).await.unwrap();
    let jpeg = {
        let img = image::RgbImage::from_pixel(300, 200, image::Rgb([10, 200, 30]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut out).encode_image(&img).unwrap();
        out
    };
    let stored = backends.blobs.put("images/x-a.jpg", Bytes::from(jpeg), "binary/octet-stream").await.unwrap();
    let image = NewImage::stored("images/x-a.jpg".into(), stored);
    let id = backends.meta.insert_image(&image, None).await.unwrap();
    backends.queue.send(&upload_body(&image.into_row(id), "http://h/api/image/file/1")).await.unwrap();
    backends.blobs = wrap(backends.blobs.clone());
    let published = Arc::new(AtomicUsize::new(0));
    backends.notifier = Tap::new(backends.notifier.clone(), Arc::new(Counting(published.clone())));
    let images = crate::startup::images(&settings, &backends, "http://imaged.test".into());
    let handler = job_handler(&settings, &backends, images, &services(), &Default::default()).unwrap();
    (handler, backends, id, published)
}

/// A runner for the handler's heartbeats, never stopped.
fn services() -> Runner {
    Runner::new(Liveness::default(), CancellationToken::new(), TaskTracker::new())
}

#[tokio::test]
async fn heartbeats_keep_a_long_job_hidden_until_it_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let visibility = Duration::from_secs(2);
    let (handler, backends, id, _) = setup(dir.path(), visibility.as_secs(), Duration::from_secs(4)).await;
    let handler = Arc::new(handler);
    let delivery = handler.queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
    let received = Instant::now();
    let running = tokio::spawn({
        let handler = handler.clone();
        async move { handler.handle(delivery, CancellationToken::new()).await }
    });
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert!(received.elapsed() > visibility);
    assert!(handler.queue.receive(1, Duration::ZERO).await.unwrap().is_empty(), "still hidden past its timeout");
    running.await.unwrap();
    assert_eq!(backends.meta.job(id).await.unwrap().unwrap().status, JobStatus::Done);
    let stats = handler.queue.stats().await.unwrap();
    assert_eq!((stats.depth, stats.in_flight), (0, 0), "deleted once done");
}

#[tokio::test]
async fn on_shutdown_an_unstarted_job_hands_its_message_back() {
    let dir = tempfile::tempdir().unwrap();
    let (handler, backends, id, _) = setup(dir.path(), 60, Duration::ZERO).await;
    let delivery = handler.queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    handler.handle(delivery, shutdown).await;
    let again = handler.queue.receive(1, Duration::ZERO).await.unwrap();
    assert_eq!(again.len(), 1, "visible again at once, not after 60 s");
    assert_eq!(again[0].receive_count, 2);
    assert_ne!(backends.meta.job(id).await.unwrap().unwrap().status, JobStatus::Done);
}

/// Holds the queue's heartbeats (a visibility of `visibility`) in flight
/// until the message has been settled (any other visibility), or 2 s.
struct LateHeartbeat {
    visibility: Duration,
    heartbeat_sent: Arc<tokio::sync::Notify>,
    settling: tokio::sync::Notify,
}

#[async_trait]
impl Hook for LateHeartbeat {
    async fn before(&self, call: &Call<'_>) -> Result<(), Fault> {
        if call.step == "queue.set_visibility" && call.timeout == Some(self.visibility) {
            self.heartbeat_sent.notify_one();
            let _ = tokio::time::timeout(Duration::from_secs(2), self.settling.notified()).await;
        }
        Ok(())
    }

    fn after(&self, call: &Call<'_>) {
        if call.step == "queue.set_visibility" && call.timeout != Some(self.visibility) {
            self.settling.notify_one();
        }
    }
}

#[tokio::test]
async fn a_heartbeat_in_flight_cannot_hide_a_released_message_again() {
    let dir = tempfile::tempdir().unwrap();
    let heartbeat_sent = Arc::new(tokio::sync::Notify::new());
    let shutdown = CancellationToken::new();
    // Reads wait for the first heartbeat, then start the shutdown.
    let before_read = {
        let (heartbeat_sent, shutdown) = (heartbeat_sent.clone(), shutdown.clone());
        Box::new(move || {
            let (heartbeat_sent, shutdown) = (heartbeat_sent.clone(), shutdown.clone());
            Box::pin(async move {
                heartbeat_sent.notified().await;
                shutdown.cancel();
            }) as _
        })
    };
    let (mut handler, _backends, _id, _) =
        setup_with(dir.path(), 3, |inner| Tap::new(inner, Arc::new(BeforeRead(before_read)))).await;
    let late = LateHeartbeat { visibility: handler.visibility, heartbeat_sent, settling: tokio::sync::Notify::new() };
    handler.queue = Tap::new(handler.queue.clone(), Arc::new(late));
    handler.heartbeats = crate::jobs::Heartbeats::new(handler.queue.clone(), handler.visibility);
    services().spawn(handler.heartbeats.worker());
    let delivery = handler.queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
    // The first heartbeat goes out while the job reads; shutdown comes
    // before admission, so the message is released with the heartbeat
    // still in flight.
    handler.handle(delivery, shutdown).await;
    let again = handler.queue.receive(1, Duration::ZERO).await.unwrap();
    assert_eq!(again.len(), 1, "the released message is visible, not hidden again by a late heartbeat");
}

/// Counts what the notifier publishes.
struct Counting(Arc<AtomicUsize>);

#[async_trait]
impl Hook for Counting {
    fn after(&self, call: &Call<'_>) {
        if call.step == "notify.publish" {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn two_deliveries_of_one_message_make_one_set_of_variants_and_one_notice() {
    let dir = tempfile::tempdir().unwrap();
    let (handler, backends, id, published) = setup(dir.path(), 60, Duration::ZERO).await;
    let delivery = handler.queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
    // At once (SQS delivers at least once; two hosts may hold it) ...
    let twice = delivery.clone();
    tokio::join!(
        handler.handle(delivery, CancellationToken::new()),
        handler.handle(twice.clone(), CancellationToken::new())
    );
    // ... and once more, later.
    handler.handle(twice, CancellationToken::new()).await;
    assert_eq!(published.load(Ordering::SeqCst), 1, "one done notice");
    assert_eq!(backends.meta.job(id).await.unwrap().unwrap().status, JobStatus::Done);
    assert_eq!(backends.meta.variants(id).await.unwrap().len(), 3 * 2, "one set of variants: 3 sizes, JPEG and WebP");
}
