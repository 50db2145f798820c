//! S3 events as EventBridge delivers them; keys arrive as they are.

use serde_json::Value;

use super::job::{Event, Job};

pub fn parse(value: &Value) -> Result<Vec<Job>, String> {
    let event = match value["detail-type"].as_str() {
        Some("Object Created") => Event::Upload,
        Some("Object Deleted") => Event::Delete,
        _ => return Ok(Vec::new()),
    };
    let key = value
        .pointer("/detail/object/key")
        .and_then(Value::as_str)
        .ok_or("EventBridge event without detail.object.key")?;
    Ok(vec![Job::without_notice(event, key.to_owned())?])
}
