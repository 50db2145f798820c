//! Jobs: how what a queue message asks for is carried out, and how its
//! failures are classified.

mod delivery;
mod error;
mod pipeline;
mod reconcile;

pub use delivery::DeliveryHandler;
pub use error::JobError;
pub use pipeline::{Outcome, Pipeline, Spec};
pub use reconcile::{Reconciler, Report};
