//! The CloudX plain-text body: six `name: value` lines, no trailing newline.

use chrono::NaiveDateTime;

use super::job::{Event, Job};
use crate::db::ImageRow;

/// The body CloudX sends after an upload: six lines, no trailing newline.
pub fn upload_body(image: &ImageRow, download_link: &str) -> String {
    format!(
        "event_type: upload\nobject_key: {}\nobject_type: {}\nlast_modified: {}+00:00\nobject_size: {}\ndownload_link: {}",
        image.object_key,
        image.object_type,
        python_datetime(image.last_modified),
        image.object_size,
        download_link
    )
}

/// The body CloudX sends after a delete: the naive time and an empty link.
pub fn delete_body(image: &ImageRow) -> String {
    format!(
        "event_type: delete\nobject_key: {}\nobject_type: {}\nlast_modified: {}\nobject_size: {}\ndownload_link: ",
        image.object_key,
        image.object_type,
        python_datetime(image.last_modified),
        image.object_size
    )
}

/// Python's `str(datetime)` for whole seconds.
fn python_datetime(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A CloudX body; its notice is the body itself, as CloudX sends it.
pub fn parse(body: &str) -> Result<Job, String> {
    let field = |name: &str| {
        body.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
    };
    let event = match field("event_type").as_deref() {
        Some("upload") => Event::Upload,
        Some("delete") => Event::Delete,
        Some(other) => return Err(format!("unknown event_type {other:?}")),
        None => return Err("not a CloudX image message: no event_type line".into()),
    };
    let object_key = field("object_key").filter(|k| !k.is_empty()).ok_or("message has no object_key")?;
    Ok(Job { event, object_key, notice: Some(body.to_owned()) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages;

    fn row() -> ImageRow {
        ImageRow {
            id: 1,
            object_key: "images/5a8ef527-2608-4275-8e33-ed8f1f11647b-t1.jpg".into(),
            object_type: "binary/octet-stream".into(),
            last_modified: chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap().and_hms_opt(5, 14, 53).unwrap(),
            object_size: 637,
        }
    }

    #[test]
    fn bodies_match_cloudx_byte_for_byte() {
        assert_eq!(
            upload_body(&row(), "http://ec2-host/api/image/file/1"),
            "event_type: upload\nobject_key: images/5a8ef527-2608-4275-8e33-ed8f1f11647b-t1.jpg\n\
             object_type: binary/octet-stream\nlast_modified: 2026-11-24 05:14:53+00:00\nobject_size: 637\n\
             download_link: http://ec2-host/api/image/file/1"
        );
        assert_eq!(
            delete_body(&row()),
            "event_type: delete\nobject_key: images/5a8ef527-2608-4275-8e33-ed8f1f11647b-t1.jpg\n\
             object_type: binary/octet-stream\nlast_modified: 2026-11-24 05:14:53\nobject_size: 637\n\
             download_link: "
        );
    }

    #[test]
    fn parses_what_it_writes() {
        let body = upload_body(&row(), "http://h/api/image/file/1");
        let job = messages::parse(&body).unwrap().remove(0);
        assert_eq!((job.event, job.object_key.as_str()), (Event::Upload, row().object_key.as_str()));
        assert_eq!(job.notice, Some(body));
        assert_eq!(messages::parse(&delete_body(&row())).unwrap()[0].event, Event::Delete);
        assert_eq!(
            messages::parse("event_type: upload\r\nobject_key: images/a.jpg\r\n").unwrap()[0].object_key,
            "images/a.jpg"
        );
    }

    #[test]
    fn refuses_other_bodies_with_a_reason() {
        assert!(messages::parse("hello").unwrap_err().contains("event_type"));
        assert!(messages::parse("event_type: resize\nobject_key: a").unwrap_err().contains("resize"));
        assert!(messages::parse("event_type: upload\nobject_key: ").unwrap_err().contains("object_key"));
    }
}
