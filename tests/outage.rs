//! An outage of the production database under load, with no restart of
//! imaged: MariaDB stopped for 20 s. Meanwhile requests answer 503 with
//! `Retry-After` (never a 500), `/readyz` turns 503, and jobs wait and are
//! tried again; after it is back, every accepted upload ends `done`.
//!
//! The MariaDB and moto here are a private set (`scripts/services`), so
//! stopping them touches no other test.

mod common;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::{
    aws::{Fixture, MAX_RECEIVE_COUNT, PrivateServices},
    embedded_settings, jpeg, spawn,
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

    let (stop, seen) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Seen::default())));
    let loading = tokio::spawn(load(app.url("/api/image"), stop.clone(), seen.clone()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().accepted.len() < 5 {
        assert!(Instant::now() < deadline, "no uploads accepted before the outage");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = seen.lock().unwrap().answers.len();

    services.stop_mariadb();
    let stopped = Instant::now();
    while app.get("/readyz").await.status() != 503 {
        assert!(stopped.elapsed() < OUTAGE, "/readyz stayed 200 while the database was down");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let readyz: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    while seen.lock().unwrap().answers[before..].iter().all(|(status, _)| *status != 503) {
        assert!(stopped.elapsed() < OUTAGE, "no upload was refused while the database was down");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(OUTAGE.saturating_sub(stopped.elapsed())).await;
    services.start_mariadb();

    let back = Instant::now();
    while app.get("/readyz").await.status() != 200 {
        assert!(back.elapsed() < Duration::from_secs(60), "/readyz did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let accepted_by_now = seen.lock().unwrap().accepted.len();
    while seen.lock().unwrap().accepted.len() < accepted_by_now + 5 {
        assert!(back.elapsed() < Duration::from_secs(60), "uploads were not accepted again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    loading.await.unwrap();

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let refused: Vec<_> = seen.answers.iter().filter(|(status, _)| *status != 200).collect();
    assert!(refused.iter().all(|(status, retry)| *status == 503 && retry.as_deref() == Some("5")), "{refused:?}");
    for &id in &seen.accepted {
        let doc = app.finished(id).await;
        assert_eq!(doc["status"], "done", "image {id}: {doc}");
    }
    assert_eq!(readyz, serde_json::json!({"status": "unavailable", "failures": ["database"]}));
    println!("MariaDB outage: {} uploads refused with 503, {} accepted, all done", refused.len(), seen.accepted.len());
    app.stop().await;
}
