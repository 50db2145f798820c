//! Jobs: what a queue message asks for, how it is carried out, and how
//! its failures are classified.

mod delivery;
mod error;
mod events;
pub mod message;
mod pipeline;
mod reconcile;

pub use delivery::DeliveryHandler;
pub use error::JobError;
pub use message::{Event, Job};
pub use pipeline::{Outcome, Pipeline, Spec};
pub use reconcile::{Reconciler, Report};
