//! imaged's own job: `{"v": 1, "event": "upload" | "delete", "object_key": "..."}`.

use serde_json::Value;

use super::job::{Event, Job};

pub fn parse(value: &Value) -> Result<Job, String> {
    if value["v"] != 1 {
        return Err(format!("imaged job version {} is not supported (expected 1)", value["v"]));
    }
    let event = match value["event"].as_str().unwrap_or("upload") {
        "upload" => Event::Upload,
        "delete" => Event::Delete,
        other => return Err(format!("unknown event {other:?}")),
    };
    Job::without_notice(event, value["object_key"].as_str().ok_or("imaged job without object_key")?.to_owned())
}
