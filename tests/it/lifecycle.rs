//! An image's life on this run's backend set: new bytes under a key are
//! made again; a delete removes every variant the image ever had, whatever
//! the sizes are now, through the API and through a bucket delete event.

use crate::common;

use common::{TestApp, eventually, jpeg, settings, spawn};
use imaged::{config::Settings, messages::Event};
use serde_json::{Value, json};

/// The longest side of the thumbnail of `size`, as the thumbnails document lists it.
async fn thumbnail(app: &TestApp, id: i64, size: i64) -> (i64, i64) {
    let doc = app.json(&format!("/api/image/{id}/thumbnails")).await;
    let thumbnails = doc["thumbnails"].as_array().unwrap();
    let thumb = thumbnails.iter().find(|t| t["size"] == size).unwrap_or_else(|| panic!("no {size}: {doc}"));
    (thumb["width"].as_i64().unwrap(), thumb["height"].as_i64().unwrap())
}

/// The body a bucket sends when `key` is created or removed.
fn bucket_event(event: Event, key: &str) -> String {
    let name = match event {
        Event::Upload => "ObjectCreated:Put",
        Event::Delete => "ObjectRemoved:Delete",
    };
    json!({"Records": [{"eventSource": "aws:s3", "eventName": name, "s3": {"object": {"key": key}}}]}).to_string()
}

#[actix_web::test]
async fn new_bytes_under_a_key_are_made_again_and_the_row_follows_them() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let id = app.upload_ok("again.jpg", jpeg(800, 600)).await;
    assert_eq!(app.finished(id).await["status"], "done");
    assert_eq!(thumbnail(&app, id, 256).await, (256, 192));
    let key = app.json(&format!("/api/image/{id}")).await["object_key"].as_str().unwrap().to_owned();

    // Someone puts other bytes under the same key, and the bucket says so.
    let bytes = jpeg(300, 900);
    app.backends.blobs.put(&key, bytes.clone().into(), "binary/octet-stream").await.unwrap();
    app.backends.queue.send(&bucket_event(Event::Upload, &key)).await.unwrap();
    eventually("the thumbnails follow the new bytes", || async { thumbnail(&app, id, 256).await == (85, 256) }).await;
    let row = app.json(&format!("/api/image/{id}")).await;
    assert_eq!(row["object_size"], bytes.len(), "{row}");
    assert_eq!(thumbnail(&app, id, 128).await, (43, 128));
    assert_eq!(app.json("/api/image").await.as_array().unwrap().len(), 1, "still one row");

    // The same event again is a duplicate: nothing is made twice.
    app.drained().await;
    let before = app.json(&format!("/api/image/{id}/thumbnails")).await;
    app.backends.queue.send(&bucket_event(Event::Upload, &key)).await.unwrap();
    app.drained().await;
    assert_eq!(app.json(&format!("/api/image/{id}/thumbnails")).await, before);
    app.stop().await;
}

/// An image made with `sizes` 64 and 512 on `s`'s backends; its id and key,
/// once the app that made it has stopped.
async fn made_with_other_sizes(s: &Settings) -> (i64, String) {
    let mut then = s.clone();
    then.processing.sizes = vec![64, 512];
    let app = spawn(then).await;
    let id = app.upload_ok("sizes.jpg", jpeg(900, 700)).await;
    assert_eq!(app.finished(id).await["thumbnails"].as_array().unwrap().len(), 2);
    app.drained().await;
    let row: Value = app.json(&format!("/api/image/{id}")).await;
    app.stop().await;
    (id, row["object_key"].as_str().unwrap().to_owned())
}

#[actix_web::test]
async fn a_delete_after_the_sizes_changed_removes_every_variant_the_image_had() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path()).await;
    let (id, _) = made_with_other_sizes(&s).await;
    let app = spawn(s).await; // now 128, 256 and 1024
    assert_eq!(app.blob_keys().await.len(), 5, "the original, 2 sizes in 2 formats: {:?}", app.blob_keys().await);
    assert_eq!(app.delete(&format!("/api/image/{id}")).await.status(), 200);
    app.drained().await;
    assert!(app.blob_keys().await.is_empty(), "left: {:?}", app.blob_keys().await);
    app.stop().await;
}

#[actix_web::test]
async fn a_bucket_delete_after_the_sizes_changed_removes_every_variant_the_image_had() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path()).await;
    let (id, key) = made_with_other_sizes(&s).await;
    let app = spawn(s).await;
    // The original is deleted in the bucket, and the bucket says so.
    app.backends.blobs.delete(&key).await.unwrap();
    app.backends.queue.send(&bucket_event(Event::Delete, &key)).await.unwrap();
    eventually("the row is gone", || async { app.get(&format!("/api/image/{id}")).await.status() == 404 }).await;
    app.drained().await;
    assert!(app.blob_keys().await.is_empty(), "left: {:?}", app.blob_keys().await);
    app.stop().await;
}

/// Every change of an image's state is in the change feed, in order, once:
/// from the upload to done and the delete, and from the upload to failed.
#[actix_web::test]
async fn the_change_feed_records_each_step_of_an_images_life_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(settings(dir.path()).await).await;
    let made = app.upload_ok("kept.jpg", jpeg(320, 240)).await;
    assert_eq!(app.finished(made).await["status"], "done");
    assert_eq!(app.delete(&format!("/api/image/{made}")).await.status(), 200);
    let whole = jpeg(320, 240);
    let broken = app.upload_ok("cut.jpg", whole[..whole.len() / 3].to_vec()).await;
    assert_eq!(app.finished(broken).await["status"], "failed");

    let feed = app.backends.meta.events(0, 1000).await.unwrap();
    assert!(feed.windows(2).all(|w| w[0].seq < w[1].seq), "in order of seq: {feed:?}");
    let of = |id: i64| feed.iter().filter(|e| e.image_id == id).map(|e| e.status.as_str()).collect::<Vec<_>>();
    assert_eq!(of(made), ["pending", "processing", "done", "deleted"], "{feed:?}");
    assert_eq!(of(broken), ["pending", "processing", "failed"], "{feed:?}");
    let after = feed[2].seq;
    assert_eq!(app.backends.meta.events(after, 1000).await.unwrap(), feed[3..], "read on from a seq");
    assert_eq!(app.backends.meta.events(0, 2).await.unwrap(), feed[..2], "at most the limit");

    // Pruned by age: nothing is older than an hour; everything is older than a second from now.
    let now = chrono::Utc::now().naive_utc();
    assert_eq!(app.backends.meta.prune_events(now - chrono::Duration::hours(1)).await.unwrap(), 0);
    let all = app.backends.meta.prune_events(now + chrono::Duration::seconds(1)).await.unwrap();
    assert_eq!(all, feed.len() as u64);
    assert_eq!(app.backends.meta.events(0, 1000).await.unwrap(), []);
    app.stop().await;
}
