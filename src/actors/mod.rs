//! Actors: the supervisor and the queue pollers it owns.

mod poller;
mod supervisor;

pub use poller::PollerDeps;
pub use supervisor::Supervisor;
