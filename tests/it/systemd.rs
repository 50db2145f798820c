//! The sd_notify protocol, against a test socket in systemd's place: the
//! binary's READY, STATUS, WATCHDOG and STOPPING notifications, and the
//! watchdog pings stopping once a queue poller wedges.

use crate::common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use common::{Daemon, jpeg};
use imaged::{
    startup::{Application, Backends},
    systemd::Systemd,
    testing::{Call, Fault, Hook, Tap},
};
use tokio::net::UnixDatagram;

/// systemd's end of the notification socket.
struct Manager {
    socket: UnixDatagram,
    path: std::path::PathBuf,
}

impl Manager {
    fn bind(dir: &std::path::Path) -> Self {
        let path = dir.join("notify.sock");
        Self { socket: UnixDatagram::bind(&path).unwrap(), path }
    }

    /// The next notification, or None after 5 s of silence.
    async fn next(&self) -> Option<String> {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), self.socket.recv(&mut buf)).await.ok()?.unwrap();
        Some(String::from_utf8(buf[..n].to_vec()).unwrap())
    }

    /// Reads notifications until one satisfies `want`, for at most `within`.
    async fn until(&self, within: Duration, want: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        let mut seen = Vec::new();
        while started.elapsed() < within {
            match self.next().await {
                Some(message) if want(&message) => return message,
                Some(message) => seen.push(message),
                None => {}
            }
        }
        panic!("no such notification within {within:?}; got {seen:#?}");
    }
}

#[actix_web::test]
async fn the_daemon_notifies_ready_status_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let manager = Manager::bind(dir.path());
    let envs = [
        ("NOTIFY_SOCKET".to_owned(), manager.path.display().to_string()),
        ("WATCHDOG_USEC".to_owned(), "1000000".to_owned()),
    ];
    let mut daemon = Daemon::start(dir.path(), &envs);
    assert_eq!(manager.next().await.as_deref(), Some("READY=1\n"), "READY comes first");
    let first = manager.until(Duration::from_secs(10), |m| m.contains("WATCHDOG=1")).await;
    assert!(first.contains("STATUS=0 jobs finished, 0 running; queue: 0 waiting"), "{first}");

    let form = reqwest::multipart::Form::new()
        .part("upfile", reqwest::multipart::Part::bytes(jpeg(300, 200)).file_name("a.jpg"));
    let response = reqwest::Client::new().post(daemon.url("/api/image")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let after = manager.until(Duration::from_secs(60), |m| m.contains("STATUS=1 jobs finished")).await;
    assert!(after.contains("WATCHDOG=1"), "{after}");

    let status = daemon.stop();
    assert!(status.success(), "{status}\n{}", daemon.log_tail());
    let stopping = manager.until(Duration::from_secs(10), |m| m.contains("STOPPING=1")).await;
    assert!(stopping.contains("STATUS=draining: 0 jobs running"), "{stopping}");
}

/// Holds the queue's receives for ever, as a connection that hangs does.
struct Wedged;

#[async_trait]
impl Hook for Wedged {
    async fn before(&self, call: &Call<'_>) -> Result<(), Fault> {
        if call.step == "queue.receive" {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

#[actix_web::test]
async fn a_wedged_poller_stops_the_watchdog_pings() {
    let dir = tempfile::tempdir().unwrap();
    let manager = Manager::bind(dir.path());
    let settings = common::embedded_settings(dir.path());
    let mut backends = Backends::build(&settings).await.unwrap();
    backends.queue = Tap::new(backends.queue.clone(), Arc::new(Wedged));
    let app = Application::with_backends(settings, backends)
        .await
        .unwrap()
        .with_systemd(Systemd::new(manager.path.clone(), Some(Duration::from_secs(1))));
    let shutdown = app.shutdown_token();
    actix_rt::spawn(app.run_until_stopped());

    // The poller's receive (a 1 s long poll) is due back within 11 s.
    manager.until(Duration::from_secs(10), |m| m.contains("WATCHDOG=1")).await;
    let stuck = manager.until(Duration::from_secs(30), |m| m.contains("STATUS=stuck")).await;
    assert!(stuck.contains("queue poller 0 busy for"), "{stuck}");
    assert!(!stuck.contains("WATCHDOG=1"), "{stuck}");
    for _ in 0..4 {
        let later = manager.next().await.expect("the status line goes on");
        assert!(!later.contains("WATCHDOG=1"), "no ping once wedged: {later}");
    }
    shutdown.cancel();
}
