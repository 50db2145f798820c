//! S3 event notifications, as a bucket sends them to SQS (or SNS).

use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::job::{Event, Job};

/// The `Records` of a notification; keys are URL-encoded, with `+` for a
/// space. Records that create or remove nothing are skipped.
pub fn parse(records: &Value) -> Result<Vec<Job>, String> {
    let records = records.as_array().ok_or("Records is not an array")?;
    let mut jobs = Vec::new();
    for record in records {
        let name = record["eventName"].as_str().unwrap_or_default();
        let event = if name.starts_with("ObjectCreated:") {
            Event::Upload
        } else if name.starts_with("ObjectRemoved:") {
            Event::Delete
        } else {
            continue; // restores, replication, lifecycle: nothing to make
        };
        let raw = record.pointer("/s3/object/key").and_then(Value::as_str).ok_or("S3 record without s3.object.key")?;
        let spaced = raw.replace('+', " ");
        let key = percent_decode_str(&spaced)
            .decode_utf8()
            .map_err(|_| format!("S3 key {raw:?} is not UTF-8 once decoded"))?
            .into_owned();
        jobs.push(Job::without_notice(event, key)?);
    }
    Ok(jobs)
}
