//! Outages of the production backends under load, with no restart of
//! imaged: MariaDB stopped for 20 s, then moto (S3, SQS, SNS) unreachable
//! for 20 s. Meanwhile requests answer 503 with `Retry-After` (never a
//! 500), `/readyz` turns 503, and jobs wait and are tried again; after it
//! is back, every accepted upload ends `done` (with its notice).
//!
//! The MariaDB stopped here is a private one (`scripts/services`), so
//! stopping it touches no other test; moto is reached through a proxy that
//! the test takes down, so it keeps its state.

use crate::common;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::{
    TestApp,
    aws::{Fixture, MAX_RECEIVE_COUNT, PrivateServices},
    embedded_settings, jpeg,
    proxy::Proxy,
    spawn,
};
use reqwest::multipart::{Form, Part};

const OUTAGE: Duration = Duration::from_secs(20);

/// What the load saw: accepted ids, and each answer's status with its
/// `Retry-After`.
#[derive(Default)]
struct Seen {
    accepted: Vec<i64>,
    answers: Vec<(u16, Option<String>)>,
}

/// Uploads every 100 ms until `stop`.
async fn load(url: String, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let photo = jpeg(800, 600);
    for i in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let form = Form::new().part("upfile", Part::bytes(photo.clone()).file_name(format!("load-{i}.jpg")));
        let response = client.post(&url).multipart(form).send().await.expect("imaged answers during the outage");
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        let body: serde_json::Value = response.json().await.unwrap();
        {
            let mut seen = seen.lock().unwrap();
            seen.answers.push((status, retry_after));
            if status == 200 {
                seen.accepted.push(body["id"].as_i64().unwrap());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the load, makes an outage with `down`, ends it with `up` after
/// [`OUTAGE`], and checks what clients saw. Returns the accepted ids and
/// how many uploads were refused, once uploads are accepted again.
async fn outage_under_load(app: &TestApp, down: impl FnOnce(), up: impl FnOnce(), failing: &str) -> (Vec<i64>, usize) {
    let (stop, seen) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Seen::default())));
    let loading = tokio::spawn(load(app.url("/api/image"), stop.clone(), seen.clone()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().accepted.len() < 5 {
        assert!(Instant::now() < deadline, "no uploads accepted before the outage");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = seen.lock().unwrap().answers.len();

    down();
    let stopped = Instant::now();
    while app.get("/readyz").await.status() != 503 {
        assert!(stopped.elapsed() < OUTAGE, "/readyz stayed 200 during the outage");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let readyz: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    while seen.lock().unwrap().answers[before..].iter().all(|(status, _)| *status != 503) {
        assert!(stopped.elapsed() < OUTAGE, "no upload was refused during the outage");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(OUTAGE.saturating_sub(stopped.elapsed())).await;
    up();

    let back = Instant::now();
    while app.get("/readyz").await.status() != 200 {
        assert!(back.elapsed() < Duration::from_secs(90), "/readyz did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let accepted_by_now = seen.lock().unwrap().accepted.len();
    while seen.lock().unwrap().accepted.len() < accepted_by_now + 5 {
        assert!(back.elapsed() < Duration::from_secs(90), "uploads were not accepted again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    loading.await.unwrap();

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let refused: Vec<_> = seen.answers.iter().filter(|(status, _)| *status != 200).collect();
    assert!(refused.iter().all(|(status, retry)| *status == 503 && retry.as_deref() == Some("5")), "{refused:?}");
    assert_eq!(readyz["status"], "unavailable", "{readyz}");
    assert!(readyz["failures"].as_array().unwrap().iter().any(|f| f == failing), "{readyz}");
    for &id in &seen.accepted {
        let doc = app.finished(id).await;
        assert_eq!(doc["status"], "done", "image {id}: {doc}");
    }
    (seen.accepted, refused.len())
}

#[actix_web::test]
async fn mariadb_stopped_for_20_s_under_load_then_everything_completes() {
    let dir = tempfile::tempdir().unwrap();
    let services = PrivateServices::start(&dir.path().join("services"));
    let fixture = Fixture::on(services.services.clone(), MAX_RECEIVE_COUNT).await;
    let mut settings = embedded_settings(dir.path());
    fixture.apply(&mut settings);
    settings.queue.visibility_timeout_secs = 5;
    settings.reconcile.interval_secs = 1;
    settings.reconcile.stuck_after_secs = 10;
    let app = spawn(settings).await;
    let (accepted, refused) =
        outage_under_load(&app, || services.stop_mariadb(), || services.start_mariadb(), "database").await;
    println!("MariaDB outage: {refused} uploads refused with 503, {} accepted, all done", accepted.len());
    app.stop().await;
}

#[actix_web::test]
async fn moto_unreachable_for_20_s_under_load_then_everything_completes_with_its_notices() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::create().await;
    let inbox = fixture.inbox().await;
    let proxy = Proxy::start(fixture.services.moto_url.trim_start_matches("http://")).await;
    let mut settings = embedded_settings(dir.path());
    fixture.apply(&mut settings);
    settings.aws.endpoint_url = proxy.url.clone();
    settings.queue.visibility_timeout_secs = 5;
    settings.reconcile.interval_secs = 1;
    settings.reconcile.stuck_after_secs = 10;
    let app = spawn(settings).await;
    let (accepted, refused) =
        outage_under_load(&app, || proxy.set_down(true), || proxy.set_down(false), "storage").await;

    // Each upload's notice was published, the ones done during the outage
    // included, once they could be.
    let mut keys = Vec::new();
    for id in &accepted {
        keys.push(app.json(&format!("/api/image/{id}")).await["object_key"].as_str().unwrap().to_owned());
    }
    let mut notices = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        notices.extend(fixture.drain(&inbox).await);
        let unsent: Vec<_> =
            keys.iter().filter(|key| !notices.iter().any(|n| n.contains(&format!("object_key: {key}\n")))).collect();
        if unsent.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no notice for {unsent:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "moto outage: {refused} uploads refused with 503, {} accepted, all done; {} notices for them",
        accepted.len(),
        notices.len()
    );
    app.stop().await;
}
