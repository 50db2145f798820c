//! Jobs: how what a queue message asks for is carried out, and how its
//! failures are classified.

mod delivery;
mod error;
mod heartbeat;
mod pipeline;
mod poller;
mod reconcile;

pub use delivery::DeliveryHandler;
pub use error::JobError;
pub use heartbeat::{HeartbeatWorker, Heartbeats};
pub use pipeline::{Outcome, Pipeline, Spec};
pub use poller::{PollerDeps, QueuePoller};
pub use reconcile::{Reconciler, Report};
