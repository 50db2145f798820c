//! The queue side: what the API enqueues, how jobs end, and what survives
//! a restart or a crashed worker.

use crate::common;

use std::time::{Duration, Instant};

use common::{api_only, jpeg, settings, spawn};
use serde_json::Value;

#[actix_web::test]
async fn queued_bodies_match_cloudx_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = api_only(dir.path()).await;
    s.http.public_url = "http://ec2-1-2-3-4.compute.amazonaws.com".into();
    let app = spawn(s).await;
    let id = app.upload_ok("t1.jpg", jpeg(64, 48)).await;
    let meta = app.json(&format!("/api/image/{id}")).await;
    assert_eq!(app.delete(&format!("/api/image/{id}")).await.status(), 200);

    let messages = app.backends.queue.receive(10, Duration::ZERO).await.unwrap();
    let bodies: Vec<_> = messages.iter().map(|m| m.body.as_str()).collect();
    let stamp = chrono::NaiveDateTime::parse_from_str(meta["last_modified"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%SZ")
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S");
    let (key, size) = (meta["object_key"].as_str().unwrap(), meta["object_size"].as_u64().unwrap());
    let upload = format!(
        "event_type: upload\nobject_key: {key}\nobject_type: binary/octet-stream\nlast_modified: {stamp}+00:00\nobject_size: {size}\ndownload_link: http://ec2-1-2-3-4.compute.amazonaws.com/api/image/file/{id}"
    );
    let delete = format!(
        "event_type: delete\nobject_key: {key}\nobject_type: binary/octet-stream\nlast_modified: {stamp}\nobject_size: {size}\ndownload_link: "
    );
    assert_eq!(bodies, [upload.as_str(), delete.as_str()]);
    app.stop().await;
}

#[actix_web::test]
async fn download_links_off_ec2_use_the_listen_address_never_client_headers() {
    let dir = tempfile::tempdir().unwrap();
    let s = api_only(dir.path()).await;
    let app = spawn(s).await;
    let form = reqwest::multipart::Form::new()
        .part("upfile", reqwest::multipart::Part::bytes(jpeg(64, 48)).file_name("t1.jpg"));
    let response = app
        .client
        .post(app.url("/api/image"))
        .header("Host", "evil.example")
        .header("X-Forwarded-Host", "evil.example")
        .header("Forwarded", "host=evil.example;proto=https")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let messages = app.backends.queue.receive(1, Duration::ZERO).await.unwrap();
    let link = messages[0].body.lines().last().unwrap();
    assert_eq!(link, format!("download_link: {}/api/image/file/{id}", app.address));
    app.stop().await;
}

#[actix_web::test]
async fn a_truncated_jpeg_fails_with_a_reason_and_the_daemon_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let whole = jpeg(800, 600);
    let broken = whole[..whole.len() / 3].to_vec();
    let id = app.upload_ok("broken.jpg", broken).await;
    let doc = app.finished(id).await;
    assert_eq!(doc["status"], "failed", "{doc}");
    assert!(!doc["error"].as_str().unwrap_or_default().is_empty(), "{doc}");
    assert_eq!(doc["thumbnails"], serde_json::json!([]));

    let good = app.upload_ok("good.jpg", jpeg(400, 300)).await;
    assert_eq!(app.finished(good).await["status"], "done");
    let stats = app.backends.queue.stats().await.unwrap();
    assert_eq!((stats.depth, stats.in_flight, stats.dead_letters), (0, 0, 0), "both messages deleted");
    app.stop().await;
}

#[actix_web::test]
async fn a_redelivered_message_gives_the_same_result_not_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = api_only(dir.path()).await;
    let app = spawn(s.clone()).await;
    let id = app.upload_ok("twice.jpg", jpeg(1200, 800)).await;
    let taken = app.backends.queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
    app.backends.queue.set_visibility(&taken.receipt, Duration::ZERO).await.unwrap();
    let body = taken.body;
    app.backends.queue.send(&body).await.unwrap();
    app.backends.queue.send(&body).await.unwrap();
    app.stop().await;

    s.queue.pollers = 1;
    let app = spawn(s).await;
    let first = app.finished(id).await;
    app.drained().await;
    let second = app.json(&format!("/api/image/{id}/thumbnails")).await;
    assert_eq!(first["status"], "done");
    assert_eq!(first["thumbnails"], second["thumbnails"]);
    assert_eq!(second["thumbnails"].as_array().unwrap().len(), 3);
    assert_eq!(app.json("/api/image").await.as_array().unwrap().len(), 1);
    assert_eq!(app.blob_keys().await.len(), 7, "one original, three thumbnails in JPEG and WebP");
    app.stop().await;
}

#[actix_web::test]
async fn data_and_queued_jobs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = api_only(dir.path()).await;
    let app = spawn(s.clone()).await;
    let id = app.upload_ok("later.jpg", jpeg(640, 480)).await;
    assert_eq!(app.json(&format!("/api/image/{id}/thumbnails")).await["status"], "pending");
    let before = app.json("/api/image").await;
    app.stop().await;

    s.queue.pollers = 1;
    let app = spawn(s).await;
    assert_eq!(app.json("/api/image").await, before);
    assert_eq!(app.finished(id).await["status"], "done");
    app.stop().await;
}

#[actix_web::test]
async fn a_received_but_unfinished_job_is_redone_after_the_visibility_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = api_only(dir.path()).await;
    s.queue.visibility_timeout_secs = 10;
    let app = spawn(s.clone()).await;
    let id = app.upload_ok("crash.jpg", jpeg(640, 480)).await;
    // A worker receives the message and dies without finishing it.
    let taken = app.backends.queue.receive(1, Duration::ZERO).await.unwrap();
    let taken_at = Instant::now();
    assert_eq!(taken.len(), 1);
    app.stop().await;

    s.queue.pollers = 1;
    let app = spawn(s).await;
    // Moments after the new poller starts, far inside the 10 s timeout.
    let doc: Value = app.json(&format!("/api/image/{id}/thumbnails")).await;
    assert_eq!(doc["status"], "pending", "still invisible to the new poller");
    assert_eq!(app.finished(id).await["status"], "done");
    assert!(taken_at.elapsed() >= Duration::from_secs(10), "redone only after the timeout");
    app.stop().await;
}

#[actix_web::test]
async fn an_object_announced_by_an_s3_event_gets_a_row_and_thumbnails() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let bytes = jpeg(500, 400);
    let key = "images/from lambda.jpg";
    app.backends.blobs.put(key, bytes.clone().into(), "image/jpeg").await.unwrap();
    let event = serde_json::json!({"Records": [{
        "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "uploads"}, "object": {"key": "images/from+lambda.jpg", "size": bytes.len()}},
    }]});
    app.backends.queue.send(&event.to_string()).await.unwrap();

    let mut listed = Value::Null;
    for _ in 0..300 {
        listed = app.json("/api/image").await;
        if !listed.as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listed[0]["object_key"], key);
    assert_eq!(listed[0]["object_size"], bytes.len());
    let id = listed[0]["id"].as_i64().unwrap();
    let doc = app.finished(id).await;
    assert_eq!(doc["status"], "done", "{doc}");
    assert_eq!(doc["thumbnails"][0]["width"], 128);
    app.stop().await;
}

#[actix_web::test]
async fn an_object_announced_four_times_at_once_gets_one_row_and_one_set_of_variants() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = api_only(dir.path()).await;
    let key = "images/announced-twice.jpg";
    let app = spawn(s.clone()).await;
    app.backends.blobs.put(key, jpeg(800, 600).into(), "binary/octet-stream").await.unwrap();
    let event = serde_json::json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": key}}}]});
    let cloudx = format!("event_type: upload\nobject_key: {key}\nobject_type: binary/octet-stream");
    for body in [event.to_string(), cloudx.clone(), event.to_string(), cloudx] {
        app.backends.queue.send(&body).await.unwrap();
    }
    app.stop().await;

    // Two pollers taking one message each: the announcements race.
    (s.queue.pollers, s.queue.batch_size) = (2, 1);
    let app = spawn(s).await;
    app.drained().await;
    let listed = app.json("/api/image").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "one row: {listed}");
    let doc = app.finished(listed[0]["id"].as_i64().unwrap()).await;
    assert_eq!(doc["status"], "done", "{doc}");
    assert_eq!(doc["thumbnails"].as_array().unwrap().len(), 3);
    assert_eq!(app.blob_keys().await.len(), 7, "the original and three thumbnails in JPEG and WebP");
    app.stop().await;
}

#[actix_web::test]
async fn two_pollers_handed_the_same_message_at_once_make_one_set_of_variants_and_one_notice() {
    use imaged::{db::JobStatus, liveness::Liveness, startup, workers::Runner};
    use tokio_util::{sync::CancellationToken, task::TaskTracker};

    let dir = tempfile::tempdir().unwrap();
    let settings = api_only(dir.path()).await;
    let mut backends = startup::Backends::build(&settings).await.unwrap();
    let notifier = common::faults::FlakyNotifier::new(0);
    backends.notifier = notifier.wrap(backends.notifier.clone());
    let app = common::spawn_on(settings.clone(), backends.clone()).await;
    let id = app.upload_ok("twice.jpg", jpeg(1200, 900)).await;
    let handler = || {
        let images = startup::images(&settings, &backends, "http://imaged.test".into());
        let services = Runner::new(Liveness::default(), CancellationToken::new(), TaskTracker::new());
        startup::job_handler(&settings, &backends, images, &services, &Liveness::default()).unwrap()
    };
    let (first, second) = (handler(), handler());
    let delivery = backends.queue.receive(1, Duration::from_secs(5)).await.unwrap().remove(0);
    // Two hosts hold the same delivery (SQS delivers at least once) ...
    tokio::join!(
        first.handle(delivery.clone(), CancellationToken::new()),
        second.handle(delivery.clone(), CancellationToken::new())
    );
    // ... and it comes once more, later.
    first.handle(delivery, CancellationToken::new()).await;

    assert_eq!(backends.meta.job(id).await.unwrap().unwrap().status, JobStatus::Done);
    assert_eq!(backends.meta.variants(id).await.unwrap().len(), 3 * 2, "one set of variants: 3 sizes, 2 formats");
    let published = notifier.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1, "one done notice: {published:?}");
    let thumbnails = app.blob_keys().await.into_iter().filter(|k| k.starts_with("thumbnails/")).count();
    assert_eq!(thumbnails, 3 * 2, "each variant stored once");
    app.stop().await;
}
