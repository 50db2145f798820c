//! Queue bodies, one leaf per format. imaged writes, and reads, the CloudX
//! plain-text body byte for byte (`cloudx`), so it can share a queue with a
//! CloudX app in both directions; it also reads the JSON events other
//! pipelines put on their queues: S3 notifications (`s3`), EventBridge S3
//! events (`eventbridge`), imaged's own job (`imaged`), and any of these
//! (or a CloudX body) inside an SNS envelope.

mod cloudx;
mod eventbridge;
mod imaged;
mod job;
mod s3;

use serde_json::Value;

pub use cloudx::{delete_body, upload_body};
pub use job::{Event, Job};

use crate::keys::VARIANT_PREFIX;

const UNKNOWN: &str =
    "unrecognised JSON message: expected an imaged job, an S3 or EventBridge event, or an SNS envelope of one";

/// Turns a body into its jobs (an S3 event may carry several, a test event
/// none), or says why it holds none.
pub fn parse(body: &str) -> Result<Vec<Job>, String> {
    parse_in(body, false)
}

fn parse_in(body: &str, in_envelope: bool) -> Result<Vec<Job>, String> {
    if !body.trim_start().starts_with('{') {
        return cloudx::parse(body).map(|job| vec![job]);
    }
    let value: Value = serde_json::from_str(body).map_err(|e| format!("not valid JSON: {e}"))?;
    let str_at = |path: &str| value.pointer(path).and_then(Value::as_str);
    let jobs = if str_at("/Type") == Some("Notification") {
        if in_envelope {
            return Err("nested SNS envelopes are not accepted".into());
        }
        return parse_in(str_at("/Message").ok_or("SNS envelope without a Message")?, true);
    } else if let Some(records) = value.get("Records") {
        s3::parse(records)?
    } else if str_at("/Event") == Some("s3:TestEvent") {
        Vec::new() // sent once when a bucket notification is set up
    } else if str_at("/source") == Some("aws.s3") {
        eventbridge::parse(&value)?
    } else if value.get("v").is_some() {
        vec![imaged::parse(&value)?]
    } else {
        return Err(UNKNOWN.into());
    };
    // imaged's own thumbnails land in the same bucket; processing their
    // events would make thumbnails of thumbnails, forever.
    Ok(jobs.into_iter().filter(|job| !job.object_key.starts_with(VARIANT_PREFIX)).collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys(body: &str) -> Vec<(Event, String)> {
        parse(body).unwrap().into_iter().map(|j| (j.event, j.object_key)).collect()
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
        assert!(parse(&body).unwrap().iter().all(|j| j.notice.is_none()));
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
        assert!(parse(r#"{"v": 2, "object_key": "a"}"#).unwrap_err().contains("version"));
    }

    #[test]
    fn sns_envelopes_unwrap_to_what_they_carry() {
        let s3 = json!({"Records": [s3_event("ObjectCreated:Post", "images/a.jpg")]}).to_string();
        let wrapped = json!({"Type": "Notification", "MessageId": "m", "Message": s3}).to_string();
        assert_eq!(keys(&wrapped), [(Event::Upload, "images/a.jpg".to_owned())]);
        let cloudx = "event_type: upload\nobject_key: images/b.jpg\nobject_type: binary/octet-stream";
        let wrapped = json!({"Type": "Notification", "Message": cloudx}).to_string();
        let jobs = parse(&wrapped).unwrap();
        assert_eq!(jobs[0].notice.as_deref(), Some(cloudx), "a CloudX body keeps its notice");
        let twice = json!({"Type": "Notification", "Message": wrapped}).to_string();
        assert!(parse(&twice).is_err());
    }

    #[test]
    fn other_json_is_refused_with_a_reason() {
        assert!(parse(r#"{"hello": 1}"#).unwrap_err().contains("unrecognised"));
        assert!(parse("{not json").unwrap_err().contains("JSON"));
        let no_key = json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {}}]}).to_string();
        assert!(parse(&no_key).unwrap_err().contains("s3.object.key"));
    }
}
