//! What a client cannot do (forging download links is jobs.rs'):
//! break keys with odd names, read internals in error bodies, have
//! downloads sniffed, subscribe addresses no mail server takes, hold more
//! upload bytes than the cap, change anything without a token once tokens
//! are set; and what a drain promises: `/readyz` turns 503 at once, and a
//! hung request cannot hold the stop past the unit's timeout.

use crate::common;

use std::{
    io::Write,
    time::{Duration, Instant},
};

use common::{
    Daemon, api_only,
    faults::{FaultyStore, FlakyNotifier},
    jpeg, settings, spawn, spawn_on,
};
use imaged::startup::Backends;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

#[actix_web::test]
async fn any_file_name_is_stored_and_processed() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let cyrillic = format!("{}.jpg", "я".repeat(120));
    for name in [cyrillic.as_str(), "../..\\C:\\evil.jpg", "%0A%1B.jpg"] {
        let id = app.upload_ok(name, jpeg(64, 48)).await;
        let doc = app.finished(id).await;
        assert_eq!(doc["status"], "done", "{name:?}: {doc}");
        let key = app.json(&format!("/api/image/{id}")).await["object_key"].as_str().unwrap().to_owned();
        assert!(key.ends_with(".jpg") && !key.chars().any(char::is_control), "{key:?}");
        assert!(key.len() <= 255, "{} bytes", key.len());
        assert_eq!(app.get(&format!("/api/image/file/{id}")).await.status(), 200);
    }
    app.stop().await;
}

#[actix_web::test]
async fn an_outage_answers_503_with_retry_after_and_no_internals() {
    let dir = tempfile::tempdir().unwrap();
    let settings = api_only(dir.path()).await;
    let mut backends = Backends::build(&settings).await.unwrap();
    let store = FaultyStore::new();
    backends.blobs = store.wrap(backends.blobs.clone());
    let app = spawn_on(settings, backends).await;
    store.fail(true);

    let form = Form::new().part("upfile", Part::bytes(jpeg(64, 48)).file_name("a.jpg"));
    let response = app.client.post(app.url("/api/image")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = response.text().await.unwrap();
    assert!(body.contains(&format!("(request {id})")), "the body names the request: {body}");
    for internal in ["secret-dir", "os error", "Permission denied", "images/"] {
        assert!(!body.contains(internal), "{internal} in {body}");
    }

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(
        (&body["status"], &body["failures"]),
        (&"unavailable".into(), &serde_json::json!(["storage"])),
        "{body}"
    );

    store.fail(false);
    assert_eq!(app.get("/readyz").await.status(), 200, "ready again once the store answers");
    app.stop().await;
}

#[actix_web::test]
async fn nothing_served_is_sniffed_into_another_type() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let id = app.upload_ok("a.jpg", jpeg(64, 48)).await;
    app.finished(id).await;
    for path in [format!("/api/image/file/{id}"), format!("/api/image/{id}/thumbnail/128"), "/api/image".into()] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{path}");
    }
    app.stop().await;
}

#[actix_web::test]
async fn subscriptions_take_bare_addresses_only() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    for bad in ["Bob%20%3Cb@x.com%3E", "a@%5B1.2.3.4%5D", "a@localhost"] {
        let response = app.client.post(app.url(&format!("/api/notification/{bad}"))).send().await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        assert_eq!(response.json::<Value>().await.unwrap(), "Invalid e-mail address!");
    }
    let response = app.client.post(app.url("/api/notification/bob@example.com")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[actix_web::test]
async fn readyz_turns_503_as_soon_as_the_drain_begins() {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::embedded_settings(dir.path());
    let mut backends = Backends::build(&settings).await.unwrap();
    let store = FaultyStore::new();
    backends.blobs = store.wrap(backends.blobs.clone());
    let app = spawn_on(settings, backends).await;
    store.hold_reads();
    let id = app.upload_ok("a.jpg", jpeg(64, 48)).await;
    // The job has its message and waits on the held read: the drain waits for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.backends.queue.stats().await.unwrap().in_flight == 0 {
        assert!(Instant::now() < deadline, "the job did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.begin_shutdown();
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.json::<Value>().await.unwrap(), serde_json::json!({ "status": "draining" }));
    assert_eq!(app.get("/healthz").await.status(), 200, "still alive while draining");
    store.release();
    let queue = app.backends.queue.clone();
    app.stop().await;
    // Not yet admitted when the drain began, the job handed its message back.
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.depth, stats.in_flight), (1, 0), "image {id}'s message is back in the queue");
}

#[test]
fn a_hung_request_does_not_hold_the_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path(), &[]);
    // An upload that announces 10 MB and sends a few bytes, then hangs.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
    stream
        .write_all(
            b"POST /api/image HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n\
              Content-Length: 10000000\r\n\r\n--b\r\n\
              Content-Disposition: form-data; name=\"upfile\"; filename=\"a.jpg\"\r\n\r\n\xff\xd8",
        )
        .unwrap();
    stream.flush().unwrap();
    // Held once its spool file exists.
    let spool = dir.path().join("uploads.incoming");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir(&spool).map_or(0, |entries| entries.count()) == 0 {
        assert!(Instant::now() < deadline, "the upload never reached its handler:\n{}", daemon.log_tail());
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let status = daemon.stop();
    let took = started.elapsed();
    assert!(status.success(), "{status}");
    // HTTP gets 5 s for open requests; actix's own default was 30 s per server.
    assert!(took < Duration::from_secs(20), "stopping took {took:?} with a hung request");
    drop(stream);
}

/// How a job paused at a thumbnail write goes on after the delete.
#[derive(Clone, Copy)]
enum ThenTheJob {
    /// Writes the rest.
    Writes,
    /// Writes the held thumbnail, then fails on the next as in an outage;
    /// its next delivery finds the image gone.
    FailsAfterOne,
    /// Writes the held thumbnail, then fails on the next for good.
    AbortsAfterOne,
}

/// A delete while the job is paused before its variant write number
/// `written + 1`, once the delete's own message is done; then the job goes
/// on. Either way nothing of the image stays: no row, no job, no thumbnail.
async fn delete_while_the_job_writes(written: usize, then: ThenTheJob) {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path()).await;
    let mut backends = Backends::build(&settings).await.unwrap();
    let store = FaultyStore::new();
    backends.blobs = store.wrap(backends.blobs.clone());
    let app = spawn_on(settings, backends).await;
    store.hold_variant_writes_after(written);
    let id = app.upload_ok("a.jpg", jpeg(640, 480)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !store.waiting() {
        assert!(Instant::now() < deadline, "the job did not reach thumbnail {}", written + 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.json(&format!("/api/image/{id}/thumbnails")).await["status"], "processing");
    assert_eq!(app.delete(&format!("/api/image/{id}")).await.status(), 200);
    // The delete's message is done: what the job writes next, only the job
    // can still remove.
    loop {
        let stats = app.backends.queue.stats().await.unwrap();
        if stats.depth + stats.in_flight == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the delete's message was not done: {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match then {
        ThenTheJob::Writes => {}
        ThenTheJob::FailsAfterOne => store.fail_variant_writes_after(1, false),
        ThenTheJob::AbortsAfterOne => store.fail_variant_writes_after(1, true),
    }
    store.release();
    app.drained().await;
    let stats = app.json("/api/stats").await;
    let none = serde_json::json!({"done": 0, "failed": 0, "pending": 0, "processing": 0});
    assert_eq!(stats["jobs"], none, "no phantom job: {stats}");
    assert_eq!(app.blob_keys().await, Vec::<String>::new(), "no orphan thumbnail");
    assert_eq!(app.get(&format!("/api/image/{id}")).await.status(), 404);
    app.stop().await;
}

#[actix_web::test]
async fn a_delete_before_the_jobs_first_thumbnail_leaves_nothing() {
    delete_while_the_job_writes(0, ThenTheJob::Writes).await;
}

#[actix_web::test]
async fn a_delete_between_the_jobs_thumbnails_leaves_nothing() {
    delete_while_the_job_writes(1, ThenTheJob::Writes).await;
}

/// The case that left `thumbnails/…/128.jpg` behind: the next delivery
/// found no row and skipped, and nothing removed what the first one wrote.
#[actix_web::test]
async fn a_delete_then_a_failed_thumbnail_write_leaves_nothing() {
    delete_while_the_job_writes(0, ThenTheJob::FailsAfterOne).await;
}

#[actix_web::test]
async fn a_delete_then_a_job_that_fails_for_good_leaves_nothing() {
    delete_while_the_job_writes(0, ThenTheJob::AbortsAfterOne).await;
}

#[actix_web::test]
async fn uploads_beyond_the_bytes_in_flight_get_503_until_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = api_only(dir.path()).await;
    settings.processing.max_upload_bytes = 300_000;
    settings.http.upload_bytes_in_flight = 300_000;
    // The budget is under test here, not the body's pace (security.rs).
    (settings.http.body_idle_secs, settings.http.body_deadline_secs) = (3600, 3600);
    let app = spawn(settings).await;
    let port = app.address.rsplit(':').next().unwrap().parse::<u16>().unwrap();

    // A slow client: 250 kB of a 350 kB upload, then nothing.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = "POST /api/image HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n\
                Content-Length: 350000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"upfile\"; filename=\"a.jpg\"\r\n\r\n";
    slow.write_all(head.as_bytes()).unwrap();
    slow.write_all(&vec![0xAB; 250_000]).unwrap();
    slow.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = app.client.get(format!("{}/metrics", app.metrics_address)).send().await.unwrap();
        let text = metrics.text().await.unwrap();
        let held = text
            .lines()
            .find_map(|l| l.strip_prefix("imaged_http_upload_in_flight_bytes "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if held >= 200_000.0 {
            break;
        }
        assert!(Instant::now() < deadline, "the slow upload was not received ({held} bytes held)");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Received into the spool, not into memory.
    let spooled = || spooled_bytes(&dir.path().join("uploads.incoming"));
    while spooled() < 200_000 {
        assert!(Instant::now() < deadline, "the slow upload is not in the spool ({} bytes there)", spooled());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let refused = app.upload("b.jpg", vec![0xCD; 100_000]).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    assert!(refused.text().await.unwrap().contains("too many uploads are being received"));

    drop(slow);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = app.upload("c.jpg", jpeg(64, 48)).await;
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 503, "only the budget may refuse it");
        assert!(Instant::now() < deadline, "the slow upload's bytes were never given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(spooled(), 0, "spool files go with their requests");
    app.stop().await;
}

/// Bytes in the files of `dir`.
fn spooled_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

#[actix_web::test]
async fn with_api_tokens_only_their_holders_change_anything() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path()).await;
    settings.http.api_tokens = "s3cret-one, s3cret-two".to_owned().into();
    let app = spawn(settings).await;
    let upload = |token: Option<&'static str>| {
        let form = Form::new().part("upfile", Part::bytes(jpeg(64, 48)).file_name("a.jpg"));
        let request = app.client.post(app.url("/api/image")).multipart(form);
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
        .send()
    };
    for token in [None, Some("s3cret"), Some("s3cret-one,s3cret-two")] {
        let refused = upload(token).await.unwrap();
        assert_eq!(refused.status(), 401, "{token:?}");
        assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    }
    let response = upload(Some("s3cret-two")).await.unwrap();
    assert_eq!(response.status(), 200);
    let id = response.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert_eq!(app.get("/api/image").await.status(), 200, "reads stay open");
    assert_eq!(app.delete(&format!("/api/image/{id}")).await.status(), 401);
    let subscribe = app.client.post(app.url("/api/notification/bob@example.com")).send().await.unwrap();
    assert_eq!(subscribe.status(), 401);
    let deleted =
        app.client.delete(app.url(&format!("/api/image/{id}"))).bearer_auth("s3cret-one").send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    app.stop().await;
}

#[actix_web::test]
async fn a_notice_that_could_not_be_sent_goes_out_on_the_next_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path()).await;
    let mut backends = Backends::build(&settings).await.unwrap();
    let notifier = FlakyNotifier::new(1);
    backends.notifier = notifier.wrap(backends.notifier.clone());
    let app = spawn_on(settings, backends).await;
    let id = app.upload_ok("noticed.jpg", jpeg(320, 240)).await;
    assert_eq!(app.finished(id).await["status"], "done");
    // The job was done when the publish failed; its message comes back
    // after a 2 s backoff, and that delivery sends the notice.
    let deadline = Instant::now() + Duration::from_secs(60);
    while notifier.published.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the notice was never sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.drained().await;
    let published = notifier.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1, "{published:?}");
    assert!(published[0].contains("-noticed.jpg\n"), "{published:?}");
    app.stop().await;
}
