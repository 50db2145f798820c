//! The supervisor owns the queue pollers. actix's own `Supervisor`
//! restarts at once; this one restarts a failed poller after an
//! exponential backoff, so a queue outage is not a busy loop.

use std::time::Duration;

use actix::prelude::*;

use super::poller::{PollerDeps, PollerStopped, QueuePoller};
use crate::telemetry::POLLER_RESTARTS_TOTAL;

const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A poller that ran this long before failing starts its backoff afresh.
const HEALTHY_RUN: Duration = Duration::from_secs(120);

pub struct Supervisor {
    deps: PollerDeps,
    /// Consecutive failures of each poller.
    failures: Vec<u32>,
}

impl Supervisor {
    pub fn new(deps: PollerDeps, pollers: usize) -> Self {
        Self { deps, failures: vec![0; pollers] }
    }

    fn start_poller(&self, id: usize, ctx: &mut Context<Self>) {
        if !self.deps.shutdown.is_cancelled() {
            QueuePoller::new(id, self.deps.clone(), ctx.address().recipient()).start();
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        for id in 0..self.failures.len() {
            self.start_poller(id, ctx);
        }
        let shutdown = self.deps.shutdown.clone();
        ctx.spawn(async move { shutdown.cancelled().await }.into_actor(self).map(|_, _, ctx| ctx.stop()));
    }
}

impl Handler<PollerStopped> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: PollerStopped, ctx: &mut Self::Context) {
        let Some(failure) = msg.failure else { return };
        let failures = &mut self.failures[msg.id];
        *failures = if msg.ran_for >= HEALTHY_RUN { 1 } else { *failures + 1 };
        let delay = (Duration::from_millis(500) * 2u32.pow((*failures - 1).min(8))).min(MAX_BACKOFF);
        tracing::error!(poller = msg.id, failure, ?delay, "queue poller failed; restarting");
        metrics::counter!(POLLER_RESTARTS_TOTAL).increment(1);
        ctx.run_later(delay, move |act, ctx| act.start_poller(msg.id, ctx));
    }
}
