//! Graceful drain under load, on the binary: SIGTERM in the middle of 100
//! queued jobs, then a restart. Every image ends `done`, each job is
//! finished exactly once, both runs exit 0, and the drain fits in the
//! unit's `TimeoutStopSec`.

use crate::common;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use common::{Daemon, jpeg};
use serde_json::Value;

const JOBS: usize = 100;

/// Keys of the jobs a daemon's log says it finished as `done`.
fn finished(daemon: &Daemon) -> Vec<String> {
    daemon
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|json| json["fields"]["message"] == "job finished" && json["fields"]["outcome"] == "done")
        .map(|json| json["span"]["key"].as_str().expect("the job span names its key").to_owned())
        .collect()
}

/// `TimeoutStopSec` of the shipped unit.
fn unit_stop_timeout() -> Duration {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/imaged.service")).unwrap();
    let secs = unit.lines().find_map(|l| l.strip_prefix("TimeoutStopSec=")).expect("the unit sets TimeoutStopSec");
    Duration::from_secs(secs.trim().parse().expect("TimeoutStopSec in seconds"))
}

#[actix_web::test]
async fn sigterm_amid_100_jobs_then_a_restart_finishes_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    // A 4 MP photo: each job takes long enough that SIGTERM
    // finds most of the batch still queued.
    let photo = jpeg(2400, 1800);

    let mut api = Daemon::start(dir.path(), &[("IMAGED__QUEUE__POLLERS".into(), "0".into())]);
    let mut ids = Vec::new();
    for i in 0..JOBS {
        let form = reqwest::multipart::Form::new()
            .part("upfile", reqwest::multipart::Part::bytes(photo.clone()).file_name(format!("p{i}.jpg")));
        let response = client.post(api.url("/api/image")).multipart(form).send().await.unwrap();
        assert_eq!(response.status(), 200);
        ids.push(response.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    assert!(api.stop().success());

    let mut first = Daemon::start(dir.path(), &[]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while finished(&first).len() < 5 {
        assert!(Instant::now() < deadline, "no progress:\n{}", first.log_tail());
        std::thread::sleep(Duration::from_millis(20));
    }
    let stopping = Instant::now();
    let status = first.stop();
    let drain = stopping.elapsed();
    assert!(status.success(), "{status}\n{}", first.log_tail());
    let before = finished(&first);
    assert!(before.len() < JOBS, "SIGTERM came after the whole batch: the drain was not tested");
    assert!(drain < unit_stop_timeout(), "the drain took {drain:?}, longer than the unit's TimeoutStopSec");

    let mut second = Daemon::start(dir.path(), &[]);
    let deadline = Instant::now() + Duration::from_secs(300);
    for &id in &ids {
        second.done(id, deadline).await;
    }
    let status = second.stop();
    assert!(status.success(), "{status}\n{}", second.log_tail());

    let mut runs: HashMap<String, usize> = HashMap::new();
    for key in before.iter().chain(&finished(&second)) {
        *runs.entry(key.clone()).or_default() += 1;
    }
    assert_eq!(runs.len(), JOBS, "every job finished");
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "finished more than once: {twice:?}");
    println!("drain: {} of {JOBS} done before SIGTERM, drain took {drain:?}", before.len());
}
