//! Each step of an upload, its job and its delete fails once (the
//! database, the queue or the blob store answering as in an outage): a
//! client that retries its 503s, as asked to, and the pollers and the
//! reconciler between them leave everything consistent — the image done
//! with its thumbnails, then gone with every object, row, job and message,
//! and the CloudX message of the upload and of the delete sent.

use crate::common;

use std::time::Duration;

use common::{TestApp, jpeg, once, spawn_on};
use imaged::startup::Backends;
use serde_json::{Value, json};

/// An upload as a client makes it: sent again after a 503.
async fn upload_retrying(app: &TestApp) -> i64 {
    for _ in 0..5 {
        let response = app.upload("photo.jpg", jpeg(640, 480)).await;
        match response.status().as_u16() {
            200 => return response.json::<Value>().await.unwrap()["id"].as_i64().unwrap(),
            503 => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("upload answered {other}: {:?}", response.text().await),
        }
    }
    panic!("five uploads answered 503");
}

/// A delete as a client makes it: sent again after a 503; a 404 then means
/// the first one got through.
async fn delete_retrying(app: &TestApp, id: i64) {
    let path = format!("/api/image/{id}");
    let mut refused = false;
    for _ in 0..5 {
        match app.delete(&path).await.status().as_u16() {
            200 => return,
            404 if refused => return,
            503 => refused = true,
            other => panic!("delete answered {other}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("five deletes answered 503");
}

/// Nothing left: no row, job, object or message, nothing dead-lettered.
async fn consistent(app: &TestApp) -> bool {
    let none = json!({"done": 0, "failed": 0, "pending": 0, "processing": 0});
    let stats = app.json("/api/stats").await;
    app.json("/api/image").await == json!([])
        && stats["jobs"] == none
        && stats["queue"]["depth"] == 0
        && stats["queue"]["in_flight"] == 0
        && stats["queue"]["dead_letters"] == 0
        && app.blob_keys().await.is_empty()
}

#[derive(Clone, Copy)]
enum Phase {
    /// Armed before the upload: its steps and its job's.
    Upload,
    /// Armed once the image is done: the delete's steps.
    Delete,
}

async fn fails_once(step: &'static str, phase: Phase) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = common::settings(dir.path()).await;
    s.queue.visibility_timeout_secs = 3;
    s.reconcile.interval_secs = 1;
    s.reconcile.stuck_after_secs = 4;
    let (backends, armed) = once::wrap(Backends::build(&s).await.unwrap());
    let app = spawn_on(s, backends).await;

    if let Phase::Upload = phase {
        armed.arm(step);
    }
    let id = upload_retrying(&app).await;
    let doc = app.finished(id).await;
    assert_eq!(doc["status"], "done", "{step}: {doc}");
    assert_eq!(doc["thumbnails"].as_array().unwrap().len(), 3, "{step}: {doc}");
    app.drained().await;
    // One image, its original and an object per thumbnail and format
    // (JPEG, WebP); whatever a failed try stored is removed by the reconciler.
    for _ in 0..300 {
        if app.blob_keys().await.len() == 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.json("/api/image").await.as_array().unwrap().len(), 1, "{step}");
    assert_eq!(app.blob_keys().await.len(), 7, "{step}: {:?}", app.blob_keys().await);

    if let Phase::Delete = phase {
        armed.arm(step);
    }
    delete_retrying(&app, id).await;
    let mut settled = false;
    for _ in 0..300 {
        if consistent(&app).await {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        settled,
        "{step}: not consistent within 30 s: {} {:?}",
        app.json("/api/stats").await,
        app.blob_keys().await
    );
    assert!(armed.fired(), "{step} was never reached");
    // The CloudX message of each, sent once it happened, whatever failed.
    let sent = armed.sent();
    for event in ["upload", "delete"] {
        let head = format!("event_type: {event}\n");
        assert!(sent.iter().any(|body| body.starts_with(&head)), "{step}: no {event} message in {sent:?}");
    }
    app.stop().await;
}

macro_rules! steps {
    ($($name:ident: $step:literal in $phase:ident,)*) => {$(
        #[actix_web::test]
        async fn $name() {
            fails_once($step, Phase::$phase).await;
        }
    )*};
}

steps! {
    upload_journal: "meta.journal" in Upload,
    upload_store: "store.put_file" in Upload,
    upload_row: "meta.insert_image" in Upload,
    upload_message: "queue.send" in Upload,
    job_receive: "queue.receive" in Upload,
    job_lookup: "meta.image_by_key" in Upload,
    job_made: "meta.is_made" in Upload,
    job_fetch: "store.get" in Upload,
    job_state: "meta.set_job" in Upload,
    job_thumbnail: "store.put" in Upload,
    job_record: "meta.complete_job" in Upload,
    job_notice: "meta.claim_notice" in Upload,
    job_settle: "queue.delete" in Upload,
    delete_lookup: "meta.image" in Delete,
    delete_mark: "meta.mark_delete" in Delete,
    delete_journal: "meta.journal" in Delete,
    delete_row: "meta.delete_image" in Delete,
    delete_objects: "store.delete" in Delete,
    delete_unjournal: "meta.unjournal" in Delete,
    delete_message: "queue.send" in Delete,
}
