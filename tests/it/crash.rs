//! `kill -9` in the middle of 50 uploads and their jobs, then a restart:
//! every accepted image ends `done`, each with its variants once, and the
//! blob store and the rows agree: no row lacks its blob, no blob its row.

use crate::common;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{Daemon, jpeg};
use serde_json::Value;

const UPLOADS: usize = 50;
const CLIENTS: usize = 4;
const SIZES: [&str; 3] = ["1024", "128", "256"];
/// Each size's file extensions: JPEG and WebP.
const EXTENSIONS: [&str; 2] = ["jpg", "webp"];

/// A reconciler that looks every second for what is 4 s old.
fn envs() -> Vec<(String, String)> {
    [
        ("IMAGED__RECONCILE__INTERVAL_SECS", "1"),
        ("IMAGED__RECONCILE__STUCK_AFTER_SECS", "4"),
        ("IMAGED__QUEUE__VISIBILITY_TIMEOUT_SECS", "3"),
        ("IMAGED__QUEUE__WAIT_SECS", "1"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec()
}

/// Uploads `names` from `CLIENTS` clients at once; returns the ids of the
/// accepted ones by name. Stops at the first refused or broken upload.
async fn upload_all(base: String, names: Vec<String>, photo: Vec<u8>, accepted: Arc<Mutex<BTreeMap<String, i64>>>) {
    let names = Arc::new(Mutex::new(names));
    let clients = (0..CLIENTS).map(|_| {
        let (base, names, photo, accepted) = (base.clone(), names.clone(), photo.clone(), accepted.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let next = names.lock().unwrap().pop();
                let Some(name) = next else { return };
                let form = reqwest::multipart::Form::new()
                    .part("upfile", reqwest::multipart::Part::bytes(photo.clone()).file_name(name.clone()));
                let Ok(response) = client.post(format!("{base}/api/image")).multipart(form).send().await else {
                    return;
                };
                let Ok(body) = response.json::<Value>().await else { return };
                let Some(id) = body["id"].as_i64() else { return };
                accepted.lock().unwrap().insert(name, id);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    });
    futures_util::future::join_all(clients).await;
}

fn done_jobs(daemon: &Daemon) -> usize {
    daemon.log().lines().filter(|l| l.contains("\"job finished\"") && l.contains("\"outcome\":\"done\"")).count()
}

/// Every blob key under `dir`, temporaries included.
fn files(dir: &Path) -> Vec<String> {
    walkdir(dir).into_iter().map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned()).collect()
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.map(|e| e.unwrap().path()).flat_map(|p| if p.is_dir() { walkdir(&p) } else { vec![p] }).collect()
}

/// What the blob store holds that the rows do not explain, and what the
/// rows name that the store lacks.
fn disagreements(blobs: &[String], rows: &[Value]) -> (Vec<String>, Vec<String>) {
    let mut expected = BTreeSet::new();
    for row in rows {
        let key = row["object_key"].as_str().unwrap();
        expected.insert(key.to_owned());
        let name = key.strip_prefix("images/").unwrap();
        for size in SIZES {
            expected.extend(EXTENSIONS.map(|extension| format!("thumbnails/{name}/{size}.{extension}")));
        }
    }
    let held: BTreeSet<String> = blobs.iter().cloned().collect();
    (held.difference(&expected).cloned().collect(), expected.difference(&held).cloned().collect())
}

#[actix_web::test]
async fn kill_9_amid_50_uploads_then_a_restart_leaves_everything_done_and_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let photo = jpeg(1600, 1200);
    let names: Vec<String> = (0..UPLOADS).map(|i| format!("photo-{i:02}.jpg")).collect();
    let accepted = Arc::new(Mutex::new(BTreeMap::new()));

    let mut first = Daemon::start(dir.path(), &envs());
    // Half the batch, and its jobs under way; then the rest, killed midway.
    let (early, late) = names.split_at(UPLOADS / 2);
    upload_all(first.url(""), early.to_vec(), photo.clone(), accepted.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while done_jobs(&first) < 1 {
        assert!(Instant::now() < deadline, "no progress:\n{}", first.log_tail());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let uploading = tokio::spawn(upload_all(first.url(""), late.to_vec(), photo.clone(), accepted.clone()));
    while accepted.lock().unwrap().len() < UPLOADS / 2 + CLIENTS {
        assert!(Instant::now() < deadline, "no progress:\n{}", first.log_tail());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    let done_before = done_jobs(&first);
    uploading.await.unwrap();
    let accepted_before = accepted.lock().unwrap().len();
    assert!(done_before < accepted_before, "every accepted job was done before the kill: nothing was cut short");
    assert!(accepted_before < UPLOADS, "every upload was accepted before the kill: none was cut short");

    // After the restart, the clients send again what was not accepted.
    let second = Daemon::start(dir.path(), &envs());
    let rest: Vec<String> = names.iter().filter(|n| !accepted.lock().unwrap().contains_key(*n)).cloned().collect();
    upload_all(second.url(""), rest, photo, accepted.clone()).await;
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), UPLOADS, "every upload was accepted after the restart");

    let deadline = Instant::now() + Duration::from_secs(300);
    for &id in accepted.values() {
        let doc = second.done(id, deadline).await;
        assert_eq!(doc["thumbnails"].as_array().unwrap().len(), SIZES.len(), "{doc}");
    }

    // Uploads cut short may have left a row (which then also ends done) or
    // a blob without one (which the reconciler removes).
    let blobs_dir = dir.path().join("blobs");
    let (extra, missing) = loop {
        let rows: Vec<Value> = client.get(second.url("/api/image")).send().await.unwrap().json().await.unwrap();
        let (mut extra, missing) = disagreements(&files(&blobs_dir), &rows);
        // Half-written files; the killed daemon's folder is cleared, and the
        // running one's holds only its lock.
        extra.extend(files(&dir.path().join("blobs.incoming")).into_iter().filter(|f| !f.ends_with("/.lock")));
        let folders = std::fs::read_dir(dir.path().join("blobs.incoming")).unwrap().count();
        if folders != 1 {
            extra.push(format!("{folders} folders in blobs.incoming, not the running daemon's alone"));
        }
        if (extra.is_empty() && missing.is_empty()) || Instant::now() > deadline {
            for row in &rows {
                let doc = second.thumbnails(row["id"].as_i64().unwrap()).await;
                assert_eq!(doc["status"], "done", "every row ends done: {doc}");
            }
            break (extra, missing);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(extra.is_empty(), "blobs without a row (or half-written files): {extra:?}");
    assert!(missing.is_empty(), "rows without their blobs: {missing:?}");
    println!("kill -9: {accepted_before} of {UPLOADS} accepted and {done_before} done before the kill");
}
