//! JSON bodies: imaged's own job, S3 event notifications, EventBridge
//! S3 events, and any of these (or a CloudX body) inside an SNS envelope.
//! These pipelines send no notices, so their jobs carry none.

use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::{Event, Job, message};
use crate::keys::VARIANT_PREFIX;

const UNKNOWN: &str =
    "unrecognised JSON message: expected an imaged job, an S3 or EventBridge event, or an SNS envelope of one";

pub fn parse(body: &str) -> Result<Vec<Job>, String> {
    parse_json(body, false)
}

fn parse_json(body: &str, in_envelope: bool) -> Result<Vec<Job>, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("not valid JSON: {e}"))?;
    let str_at = |path: &str| value.pointer(path).and_then(Value::as_str);
    let jobs = if str_at("/Type") == Some("Notification") {
        if in_envelope {
            return Err("nested SNS envelopes are not accepted".into());
        }
        let inner = str_at("/Message").ok_or("SNS envelope without a Message")?;
        return if message::is_json(inner) { parse_json(inner, true) } else { message::parse(inner) };
    } else if let Some(records) = value.get("Records") {
        s3_records(records)?
    } else if str_at("/Event") == Some("s3:TestEvent") {
        Vec::new() // sent once when a bucket notification is set up
    } else if str_at("/source") == Some("aws.s3") {
        eventbridge(&value)?
    } else if value.get("v").is_some() {
        vec![imaged_job(&value)?]
    } else {
        return Err(UNKNOWN.into());
    };
    // imaged's own thumbnails land in the same bucket; processing their
    // events would make thumbnails of thumbnails, forever.
    Ok(jobs.into_iter().filter(|job| !job.object_key.starts_with(VARIANT_PREFIX)).collect())
}

fn job(event: Event, object_key: String) -> Result<Job, String> {
    if object_key.is_empty() {
        return Err("event has an empty object key".into());
    }
    Ok(Job { event, object_key, notice: None })
}

/// S3 notification records; keys are URL-encoded, with `+` for a space.
fn s3_records(records: &Value) -> Result<Vec<Job>, String> {
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
        jobs.push(job(event, key)?);
    }
    Ok(jobs)
}

/// EventBridge S3 events; keys arrive as they are.
fn eventbridge(value: &Value) -> Result<Vec<Job>, String> {
    let event = match value["detail-type"].as_str() {
        Some("Object Created") => Event::Upload,
        Some("Object Deleted") => Event::Delete,
        _ => return Ok(Vec::new()),
    };
    let key = value
        .pointer("/detail/object/key")
        .and_then(Value::as_str)
        .ok_or("EventBridge event without detail.object.key")?;
    Ok(vec![job(event, key.to_owned())?])
}

/// `{"v": 1, "event": "upload" | "delete", "object_key": "..."}`.
fn imaged_job(value: &Value) -> Result<Job, String> {
    if value["v"] != 1 {
        return Err(format!("imaged job version {} is not supported (expected 1)", value["v"]));
    }
    let event = match value["event"].as_str().unwrap_or("upload") {
        "upload" => Event::Upload,
        "delete" => Event::Delete,
        other => return Err(format!("unknown event {other:?}")),
    };
    job(event, value["object_key"].as_str().ok_or("imaged job without object_key")?.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys(body: &str) -> Vec<(Event, String)> {
        message::parse(body).unwrap().into_iter().map(|j| (j.event, j.object_key)).collect()
    }

    fn s3_event(name: &str, key: &str) -> Value {
        json!({"eventSource": "aws:s3", "eventName": name, "s3": {"bucket": {"name": "b"}, "object": {"key": key, "size": 1}}})
    }

    #[test]
    fn s3_notifications_decode_keys_and_split_records() {
        let body = json!({"Records": [
            s3_event("ObjectCreated:Put", "images/my+cat%281%29.jpg"),
            s3_event("ObjectRemoved:Delete", "images/old.jpg"),
            s3_event("ObjectRestore:Completed", "images/cold.jpg"),
        ]})
        .to_string();
        assert_eq!(
            keys(&body),
            [(Event::Upload, "images/my cat(1).jpg".to_owned()), (Event::Delete, "images/old.jpg".to_owned())]
        );
        assert!(message::parse(&body).unwrap().iter().all(|j| j.notice.is_none()));
    }

    #[test]
    fn test_events_and_own_thumbnails_are_dropped() {
        assert!(keys(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#).is_empty());
        let own = json!({"Records": [s3_event("ObjectCreated:Put", "thumbnails/a.jpg/128.jpg")]}).to_string();
        assert!(keys(&own).is_empty());
    }

    #[test]
    fn eventbridge_and_imaged_jobs() {
        let eb = json!({"source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "images/a b:c.jpg"}}});
        assert_eq!(keys(&eb.to_string()), [(Event::Upload, "images/a b:c.jpg".to_owned())]);
        let own = json!({"v": 1, "event": "delete", "object_key": "images/x.png"});
        assert_eq!(keys(&own.to_string()), [(Event::Delete, "images/x.png".to_owned())]);
        assert!(message::parse(r#"{"v": 2, "object_key": "a"}"#).unwrap_err().contains("version"));
    }

    #[test]
    fn sns_envelopes_unwrap_to_what_they_carry() {
        let s3 = json!({"Records": [s3_event("ObjectCreated:Post", "images/a.jpg")]}).to_string();
        let wrapped = json!({"Type": "Notification", "MessageId": "m", "Message": s3}).to_string();
        assert_eq!(keys(&wrapped), [(Event::Upload, "images/a.jpg".to_owned())]);
        let cloudx = "event_type: upload\nobject_key: images/b.jpg\nobject_type: binary/octet-stream";
        let wrapped = json!({"Type": "Notification", "Message": cloudx}).to_string();
        let jobs = message::parse(&wrapped).unwrap();
        assert_eq!(jobs[0].notice.as_deref(), Some(cloudx), "a CloudX body keeps its notice");
        let twice = json!({"Type": "Notification", "Message": wrapped}).to_string();
        assert!(message::parse(&twice).is_err());
    }

    #[test]
    fn other_json_is_refused_with_a_reason() {
        assert!(message::parse(r#"{"hello": 1}"#).unwrap_err().contains("unrecognised"));
        assert!(message::parse("{not json").unwrap_err().contains("JSON"));
        let no_key = json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {}}]}).to_string();
        assert!(message::parse(&no_key).unwrap_err().contains("s3.object.key"));
    }
}
