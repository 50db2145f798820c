//! `GET /api/events`: each change of an image's state pushed once, in
//! order, on every host; a reconnect resumes where it left off; streams
//! are capped per host and end when it stops.

use crate::common;

use std::collections::HashMap;

use chrono::Utc;
use common::{events::Sent, eventually, jpeg, settings, spawn};

/// Per image, the statuses its events gave, in order.
fn statuses(sent: &[Sent]) -> HashMap<i64, Vec<String>> {
    let mut by_image: HashMap<i64, Vec<String>> = HashMap::new();
    for s in sent {
        assert_eq!(s.event, "image", "{s:?}");
        let status = s.data["status"].as_str().unwrap().to_owned();
        by_image.entry(s.data["image_id"].as_i64().unwrap()).or_default().push(status);
    }
    by_image
}

#[actix_web::test]
async fn a_stream_sends_each_change_once_in_order_from_any_host_and_resumes_where_it_left_off() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path()).await;
    let worker = spawn(s.clone()).await;
    // A second host on the same backends, which makes nothing itself: its
    // stream shows what the first does.
    let mut second = s;
    second.queue.pollers = 0;
    let watcher = spawn(second).await;
    let mut stream = watcher.follow(None).await;
    let ready = stream.next().await.unwrap();
    assert_eq!(ready.event, "ready");
    let start = ready.id.expect("ready names where the stream starts");

    let good = worker.upload_ok("good.jpg", jpeg(64, 48)).await;
    let whole = jpeg(640, 480);
    let bad = worker.upload_ok("cut.jpg", whole[..whole.len() / 3].to_vec()).await;
    let mut ended = 0;
    let seen = stream
        .until(|s| {
            ended += usize::from(["done", "failed"].contains(&s.data["status"].as_str().unwrap_or("")));
            ended == 2
        })
        .await;
    let by_image = statuses(&seen);
    assert_eq!(by_image[&good], ["pending", "processing", "done"]);
    assert_eq!(by_image[&bad], ["pending", "processing", "failed"]);
    let ids: Vec<i64> = seen.iter().map(|s| s.id.unwrap()).collect();
    assert!(ids[0] > start && ids.windows(2).all(|w| w[0] < w[1]), "ids rise: {ids:?}");

    assert_eq!(worker.delete(&format!("/api/image/{good}")).await.status(), 200);
    let deleted = stream.next().await.unwrap();
    assert_eq!((deleted.data["image_id"].as_i64(), deleted.data["status"].as_str()), (Some(good), Some("deleted")));
    let seen = [seen, vec![deleted.clone()]].concat();

    // A reconnect with the id of the second event is sent what followed
    // it, as it was sent live, then goes on live.
    let mut resumed = watcher.follow(seen[1].id).await;
    for expected in &seen[2..] {
        assert_eq!(&resumed.next().await.unwrap(), expected);
    }
    let again = worker.upload_ok("again.jpg", jpeg(64, 48)).await;
    let live = resumed.next().await.unwrap();
    assert_eq!((live.data["image_id"].as_i64(), live.data["status"].as_str()), (Some(again), Some("pending")));
    assert!(live.id > deleted.id);

    // What the feed no longer holds cannot be replayed: start again.
    worker.backends.meta.prune_events((Utc::now() + chrono::Duration::seconds(1)).naive_utc()).await.unwrap();
    let mut stale = watcher.follow(Some(start)).await;
    let reset = stale.next().await.unwrap();
    assert_eq!(reset.event, "reset");
    assert!(reset.id >= live.id, "a reset names where the stream now stands");

    let bad_id = watcher.events(Some("yesterday")).await;
    assert_eq!(bad_id.status(), 400);
    assert!(bad_id.text().await.unwrap().contains("Last-Event-ID"));
    worker.finished(again).await;
    watcher.stop().await;
    worker.stop().await;
}

#[actix_web::test]
async fn streams_are_capped_per_host_and_end_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path()).await;
    s.http.max_event_streams = 2;
    let app = spawn(s).await;
    let refused_before = refused(&app).await;
    let mut first = app.follow(None).await;
    let mut second = app.follow(None).await;
    assert_eq!(first.next().await.unwrap().event, "ready");
    assert_eq!(second.next().await.unwrap().event, "ready");

    let third = app.events(None).await;
    assert_eq!(third.status(), 503);
    assert!(third.headers().contains_key("retry-after"));
    assert_eq!(refused(&app).await, refused_before + 1.0);
    assert!(gauge(&app, "imaged_http_event_streams").await >= 2.0);

    // A client that goes away gives its place back.
    // The server finds out when a write fails: the second keep-alive after
    // the close, 15 to 30 s on.
    drop(first);
    eventually("a closed stream's permit comes back", || async { app.events(None).await.status() == 200 }).await;

    // Open streams do not hold the stop up: they end.
    app.begin_shutdown();
    while second.next().await.is_some() {}
    app.stop().await;
}

async fn refused(app: &common::TestApp) -> f64 {
    gauge(app, "imaged_http_event_streams_refused_total").await
}

/// A metric's value, 0 when not exported yet. The registry is the
/// process's: other tests' streams count too.
async fn gauge(app: &common::TestApp, name: &str) -> f64 {
    let text = app.client.get(format!("{}/metrics", app.metrics_address)).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}
