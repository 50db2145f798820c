//! What every body format comes down to: one unit of work.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Make the variants of this object.
    Upload,
    /// The object is gone: remove its variants.
    Delete,
}

/// One unit of work, whatever body it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub event: Event,
    pub object_key: String,
    /// The text the notice publishes: for a CloudX body the body itself, as
    /// CloudX does; events from other pipelines had no notices and get none.
    pub notice: Option<String>,
}

impl Job {
    /// A job from a JSON event: those pipelines send no notices.
    pub fn without_notice(event: Event, object_key: String) -> Result<Self, String> {
        if object_key.is_empty() {
            return Err("event has an empty object key".into());
        }
        Ok(Self { event, object_key, notice: None })
    }
}
