//! What a crash or an outage leaves half-done, finished by the reconciler:
//! a row whose message was never sent, a job whose message went to the
//! dead letters before its state could be written, a job that keeps
//! stalling, an original stored (or deleted) without its row, and a delete
//! whose request died.

use crate::common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{faults::FaultyStore, jpeg};
use imaged::{
    config::Settings,
    db::{JobState, JobStatus, NewImage},
    imaging::Format,
    jobs::Report,
    keys::variant_key,
    startup::{self, Backends},
    storage::{BlobStore, StoreError},
};

/// Settings whose reconciler looks every second for what is 4 s old.
async fn reconciling(dir: &std::path::Path) -> Settings {
    let mut s = common::settings(dir).await;
    s.reconcile.interval_secs = 1;
    s.reconcile.stuck_after_secs = 4;
    s.queue.visibility_timeout_secs = 3;
    s
}

/// Stores an original and writes its row, as an upload does, but sends no
/// message: what a crash between the row and the message leaves.
async fn stored_without_message(backends: &Backends, name: &str) -> i64 {
    let key = format!("images/{name}");
    let stored = backends.blobs.put(&key, Bytes::from(jpeg(640, 480)), "binary/octet-stream").await.unwrap();
    let image = NewImage::stored(key, stored);
    backends.meta.insert_image(&image, Some("image/jpeg")).await.unwrap()
}

#[actix_web::test]
async fn jobs_whose_messages_were_lost_end_done() {
    let dir = tempfile::tempdir().unwrap();
    let app = common::spawn(reconciling(dir.path()).await).await;
    let never_sent = stored_without_message(&app.backends, "never-sent.jpg").await;
    // Its message went to the dead letters while the database was down,
    // so the job could not be marked failed: it stays `processing`.
    let dead_lettered = stored_without_message(&app.backends, "dead-lettered.jpg").await;
    let processing = JobState::new(JobStatus::Processing);
    app.backends.meta.set_job(dead_lettered, &processing).await.unwrap();

    for id in [never_sent, dead_lettered] {
        let doc = app.finished(id).await;
        assert_eq!(doc["status"], "done", "image {id}: {doc}");
        assert_eq!(doc["thumbnails"].as_array().unwrap().len(), 3, "{doc}");
    }
    app.stop().await;
}

/// A reconciler for `backends` with no poller beside it, run pass by pass.
fn reconciler(settings: &Settings, backends: &Backends) -> imaged::jobs::Reconciler {
    let mut settings = settings.clone();
    settings.reconcile.stuck_after_secs = 1;
    settings.reconcile.max_requeues = 2;
    let images = startup::images(&settings, backends, "http://imaged.test".into());
    startup::reconciler(&settings, backends, images)
}

/// A pass once everything is more than a second old.
async fn pass_later(reconciler: &imaged::jobs::Reconciler) -> Report {
    tokio::time::sleep(Duration::from_millis(1100)).await;
    reconciler.pass().await.unwrap()
}

#[actix_web::test]
async fn a_job_that_keeps_stalling_is_failed_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::api_only(dir.path()).await;
    let backends = Backends::build(&settings).await.unwrap();
    let reconciler = reconciler(&settings, &backends);
    let id = stored_without_message(&backends, "poison.jpg").await;
    let processing = JobState::new(JobStatus::Processing);

    // Each time it is queued again, it starts and never finishes (as when
    // it brings imaged down).
    for _ in 0..2 {
        backends.meta.set_job(id, &processing).await.unwrap();
        assert_eq!(pass_later(&reconciler).await, Report { requeued: 1, ..Report::default() });
    }
    backends.meta.set_job(id, &processing).await.unwrap();
    assert_eq!(pass_later(&reconciler).await, Report { gave_up: 1, ..Report::default() });
    let job = backends.meta.job(id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.as_deref(), Some("gave up: stalled 3 times after it started"));
    assert_eq!(backends.queue.stats().await.unwrap().depth, 2, "one message per requeue");
    // A failed job is left alone.
    assert_eq!(pass_later(&reconciler).await, Report::default());
}

#[actix_web::test]
async fn a_pending_job_is_queued_again_only_while_nothing_waits_in_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::api_only(dir.path()).await;
    let backends = Backends::build(&settings).await.unwrap();
    let reconciler = reconciler(&settings, &backends);
    stored_without_message(&backends, "waiting.jpg").await;
    assert_eq!(pass_later(&reconciler).await, Report { requeued: 1, ..Report::default() });
    // Its message now waits in the queue (as behind a long backlog): no copies.
    for _ in 0..2 {
        assert_eq!(pass_later(&reconciler).await, Report::default());
    }
    assert_eq!(backends.queue.stats().await.unwrap().depth, 1);
    // The message is lost again; a job that never started is not a poison
    // pill, so it is queued again as often as that happens.
    for _ in 0..3 {
        for delivery in backends.queue.receive(10, Duration::ZERO).await.unwrap() {
            backends.queue.delete(&delivery.receipt).await.unwrap();
        }
        assert_eq!(pass_later(&reconciler).await, Report { requeued: 1, ..Report::default() });
    }
}

async fn gone(blobs: &dyn BlobStore, key: &str) -> bool {
    matches!(blobs.head(key).await, Err(StoreError::NotFound(_)))
}

#[actix_web::test]
async fn an_original_left_without_its_row_is_removed_with_its_variants() {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::api_only(dir.path()).await;
    let backends = Backends::build(&settings).await.unwrap();
    let reconciler = reconciler(&settings, &backends);
    // An upload stored its original (and a redelivered job a thumbnail),
    // then imaged died before the row was written.
    let orphan = "images/orphan.jpg";
    backends.meta.journal(orphan).await.unwrap();
    backends.blobs.put(orphan, Bytes::from(jpeg(64, 48)), "binary/octet-stream").await.unwrap();
    let variant = variant_key(orphan, 128, Format::Webp);
    backends.blobs.put(&variant, Bytes::from(jpeg(64, 48)), "image/webp").await.unwrap();
    // Another upload was journaled and did get its row.
    let kept = "images/kept.jpg";
    backends.meta.journal(kept).await.unwrap();
    stored_without_message(&backends, "kept.jpg").await;
    backends.meta.journal(kept).await.unwrap();

    assert_eq!(pass_later(&reconciler).await, Report { orphans_removed: 1, requeued: 1, ..Report::default() });
    assert!(gone(&*backends.blobs, orphan).await && gone(&*backends.blobs, &variant).await);
    assert!(backends.blobs.head(kept).await.is_ok(), "a journaled key with a row is kept");
    assert!(backends.meta.journaled(chrono::Utc::now().naive_utc(), 10).await.unwrap().is_empty());
}

#[actix_web::test]
async fn a_delete_the_store_could_not_finish_is_finished_later() {
    let dir = tempfile::tempdir().unwrap();
    let settings = reconciling(dir.path()).await;
    let mut backends = Backends::build(&settings).await.unwrap();
    let store = FaultyStore::new();
    backends.blobs = store.wrap(backends.blobs.clone());
    let app = common::spawn_on(settings, backends).await;
    let id = app.upload_ok("short-lived.jpg", jpeg(640, 480)).await;
    assert_eq!(app.finished(id).await["status"], "done");
    let key = app.json(&format!("/api/image/{id}")).await["object_key"].as_str().unwrap().to_owned();

    store.fail(true);
    let response = app.delete(&format!("/api/image/{id}")).await;
    store.fail(false);
    // The row is gone, so the image is: the blobs follow.
    assert_eq!(response.status(), 200);
    assert_eq!(app.get(&format!("/api/image/{id}")).await.status(), 404);
    assert!(app.backends.blobs.head(&key).await.is_ok(), "the store refused the delete");
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.blob_keys().await.iter().any(|k| k.contains("short-lived")) {
        assert!(Instant::now() < deadline, "left behind: {:?}", app.blob_keys().await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}

#[actix_web::test]
async fn a_delete_whose_request_died_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::api_only(dir.path()).await;
    let backends = Backends::build(&settings).await.unwrap();
    let reconciler = reconciler(&settings, &backends);
    let id = stored_without_message(&backends, "half-deleted.jpg").await;
    backends.meta.set_job(id, &JobState::new(JobStatus::Done)).await.unwrap();
    // A request took the delete, then imaged died before it sent anything.
    let now = chrono::Utc::now().naive_utc();
    assert!(backends.meta.mark_delete(id, now).await.unwrap());
    assert!(!backends.meta.mark_delete(id, now - chrono::Duration::seconds(60)).await.unwrap(), "it is taken");

    assert_eq!(pass_later(&reconciler).await, Report { deletes_finished: 1, ..Report::default() });
    assert!(backends.meta.image(id).await.unwrap().is_none());
    assert!(gone(&*backends.blobs, "images/half-deleted.jpg").await);
    let sent = backends.queue.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].body.starts_with("event_type: delete\nobject_key: images/half-deleted.jpg"), "{}", sent[0].body);
    assert_eq!(pass_later(&reconciler).await, Report::default(), "finished once");
}
