//! One cancellation token for the whole process, cancelled by SIGTERM or
//! SIGINT, and the systemd notifications around it (`READY=1`,
//! `STOPPING=1`, watchdog pings). Outside systemd the notifications are
//! no-ops.

use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGTERM or SIGINT.
pub fn cancel_on_signals(token: CancellationToken) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let signal = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            _ = token.cancelled() => return,
        };
        // Cancel before logging: nothing may stand between a signal and the stop.
        token.cancel();
        tracing::info!(signal, "shutting down");
    });
    Ok(())
}

pub fn notify_ready() {
    let _ = sd_notify::notify(&[NotifyState::Ready]);
}

pub fn notify_stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

/// Pings the systemd watchdog at half its interval until `token` is cancelled.
pub fn spawn_watchdog(token: CancellationToken) {
    let Some(interval) = sd_notify::watchdog_enabled() else { return };
    let every = interval / 2;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep(every) => { let _ = sd_notify::notify(&[NotifyState::Watchdog]); }
            }
        }
    });
}
