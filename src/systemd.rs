//! The service manager's side: `READY=1`, `STOPPING=1`, a `STATUS=` line,
//! and watchdog pings sent only while every worker makes progress (see
//! [`crate::liveness`]). A wedged poller, job or CPU pool stops the pings,
//! and systemd restarts the service after `WatchdogSec`. Outside systemd
//! (no `NOTIFY_SOCKET`) every notification is a no-op.

use std::{
    os::{linux::net::SocketAddrExt, unix::net},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::{
    liveness::{Activity, Liveness},
    queue::{JobQueue, STATS_TIMEOUT},
    workers::{Next, Worker, rest},
};

/// How often the status line is refreshed when there is no watchdog.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// Where systemd listens for notifications and how often it wants a ping.
#[derive(Debug, Clone, Default)]
pub struct Systemd {
    socket: Option<PathBuf>,
    watchdog: Option<Duration>,
}

impl Systemd {
    /// As systemd passes them: `NOTIFY_SOCKET`, `WATCHDOG_USEC` (and `WATCHDOG_PID`).
    pub fn from_env() -> Self {
        Self { socket: std::env::var_os("NOTIFY_SOCKET").map(PathBuf::from), watchdog: sd_notify::watchdog_enabled() }
    }

    /// An explicit socket, as a test's stand-in for systemd.
    pub fn new(socket: PathBuf, watchdog: Option<Duration>) -> Self {
        Self { socket: Some(socket), watchdog }
    }

    pub fn notify(&self, states: &[NotifyState]) {
        let Some(socket) = &self.socket else { return };
        let message: String = states.iter().map(|s| format!("{s}\n")).collect();
        if let Err(err) = send(socket, message.as_bytes()) {
            tracing::warn!(error = %err, socket = %socket.display(), "could not notify systemd");
        }
    }

    /// The worker that refreshes the status line and pings the watchdog
    /// while no activity is stuck; `None` outside systemd.
    pub fn monitor(self, live: Liveness, jobs: Arc<Activity>, queue: Arc<dyn JobQueue>) -> Option<Monitor> {
        self.socket.as_ref()?;
        let every = self.watchdog.map_or(STATUS_EVERY, |interval| interval / 2);
        Some(Monitor { systemd: self, live, jobs, queue, every, was_stuck: false })
    }
}

/// Tells systemd how the service is doing, every half watchdog interval.
pub struct Monitor {
    systemd: Systemd,
    live: Liveness,
    jobs: Arc<Activity>,
    queue: Arc<dyn JobQueue>,
    every: Duration,
    was_stuck: bool,
}

#[async_trait]
impl Worker for Monitor {
    fn name(&self) -> String {
        "systemd monitor".into()
    }

    async fn work(&mut self, _stop: &CancellationToken) -> anyhow::Result<Next> {
        let stuck = self.live.stuck();
        let status = if stuck.is_empty() {
            status_line(&self.jobs, self.queue.as_ref()).await
        } else {
            format!("stuck: {}", stuck.join("; "))
        };
        if !stuck.is_empty() && !self.was_stuck {
            tracing::error!(stuck = %stuck.join("; "), "a worker is stuck: no more watchdog pings");
        }
        self.was_stuck = !stuck.is_empty();
        let mut states = vec![NotifyState::Status(&status)];
        if self.systemd.watchdog.is_some() && stuck.is_empty() {
            states.push(NotifyState::Watchdog);
        }
        self.systemd.notify(&states);
        Ok(Next::Idle)
    }

    async fn wait_for_work(&mut self, stop: &CancellationToken) -> Next {
        rest(stop, self.every).await
    }
}

/// E.g. "12 jobs finished, 2 running; queue: 3 waiting, 1 in flight, 0 dead letters".
async fn status_line(jobs: &Activity, queue: &dyn JobQueue) -> String {
    let jobs = format!("{} jobs finished, {} running", jobs.finished(), jobs.running());
    match tokio::time::timeout(STATS_TIMEOUT, queue.stats()).await {
        Ok(Ok(q)) => {
            format!("{jobs}; queue: {} waiting, {} in flight, {} dead letters", q.depth, q.in_flight, q.dead_letters)
        }
        _ => format!("{jobs}; queue: unreachable"),
    }
}

/// One datagram to the socket; a leading `@` names an abstract socket.
fn send(socket: &std::path::Path, message: &[u8]) -> std::io::Result<()> {
    let sock = net::UnixDatagram::unbound()?;
    let bytes = socket.as_os_str().as_encoded_bytes();
    match bytes.strip_prefix(b"@") {
        Some(name) => sock.send_to_addr(message, &net::SocketAddr::from_abstract_name(name)?)?,
        None => sock.send_to(message, socket)?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_the_socket_as_one_datagram() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = net::UnixDatagram::bind(&path).unwrap();
        Systemd::new(path, None).notify(&[NotifyState::Ready, NotifyState::Status("2 jobs finished")]);
        let mut buf = [0u8; 256];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), "READY=1\nSTATUS=2 jobs finished\n");
    }
}
