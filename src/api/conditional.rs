//! Conditional and range requests (RFC 9110 §13 and §14) against a stored
//! object's validators: what a browser cache, a CDN or a resumed download
//! asks. One range at a time; a request for several gets the whole object,
//! as the RFC allows.

use std::{ops::RangeInclusive, time::SystemTime};

use actix_web::{
    HttpRequest,
    http::{
        Method,
        header::{
            self, ByteRangeSpec, EntityTag, Header, HttpDate, IfMatch, IfModifiedSince, IfNoneMatch, IfRange,
            IfUnmodifiedSince, Range,
        },
    },
};

use crate::storage::BlobMeta;

/// What identifies one version of an object's bytes.
pub struct Validators {
    /// Strong: the store's tag changes whenever the bytes may have.
    pub etag: EntityTag,
    pub last_modified: HttpDate,
    pub size: u64,
}

impl Validators {
    pub fn of(meta: &BlobMeta) -> Self {
        let modified = meta.last_modified.and_utc();
        Self {
            // S3 quotes its ETags; the file store's tags are bare.
            etag: EntityTag::new_strong(meta.tag.trim_matches('"').to_owned()),
            last_modified: HttpDate::from(SystemTime::from(modified)),
            size: meta.size,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// 304: the client's copy is current.
    NotModified,
    /// 412: a precondition of the client's failed.
    PreconditionFailed,
    /// 416: the one range asked lies outside the object.
    Unsatisfiable,
    /// 200: the whole object.
    Whole,
    /// 206: these bytes of it.
    Part(RangeInclusive<u64>),
}

/// Whether the request has a precondition or a range, so that its answer
/// depends on the object's validators, not only on its bytes.
pub fn asks(req: &HttpRequest) -> bool {
    [header::IF_MATCH, header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE, header::IF_UNMODIFIED_SINCE, header::RANGE]
        .iter()
        .any(|name| req.headers().contains_key(name))
}

/// The answer RFC 9110 §13.2.2 gives, in its order of evaluation.
pub fn decide(req: &HttpRequest, object: &Validators) -> Decision {
    let reading = matches!(*req.method(), Method::GET | Method::HEAD);
    if let Some(if_match) = typed::<IfMatch>(req) {
        let matched = match if_match {
            IfMatch::Any => true,
            IfMatch::Items(tags) => tags.iter().any(|tag| tag.strong_eq(&object.etag)),
        };
        if !matched {
            return Decision::PreconditionFailed;
        }
    } else if let Some(IfUnmodifiedSince(date)) = typed::<IfUnmodifiedSince>(req)
        && object.last_modified > date
    {
        return Decision::PreconditionFailed;
    }
    if let Some(if_none_match) = typed::<IfNoneMatch>(req) {
        let matched = match if_none_match {
            IfNoneMatch::Any => true,
            IfNoneMatch::Items(tags) => tags.iter().any(|tag| tag.weak_eq(&object.etag)),
        };
        if matched {
            return if reading { Decision::NotModified } else { Decision::PreconditionFailed };
        }
    } else if let Some(IfModifiedSince(date)) = typed::<IfModifiedSince>(req)
        && reading
        && object.last_modified <= date
    {
        return Decision::NotModified;
    }
    if req.method() != Method::GET {
        return Decision::Whole;
    }
    let current = match typed::<IfRange>(req) {
        None => true,
        Some(IfRange::EntityTag(tag)) => tag.strong_eq(&object.etag),
        // A date validates a range only when it is the object's own.
        Some(IfRange::Date(date)) => date == object.last_modified,
    };
    match typed::<Range>(req) {
        Some(Range::Bytes(specs)) if current && specs.len() == 1 => part(&specs[0], object.size),
        _ => Decision::Whole,
    }
}

fn part(spec: &ByteRangeSpec, size: u64) -> Decision {
    match spec.to_satisfiable_range(size) {
        Some((first, last)) => Decision::Part(first..=last),
        None => Decision::Unsatisfiable,
    }
}

/// The header, when the request has it and it parses; a malformed one is
/// ignored, as the RFC says of preconditions and ranges.
fn typed<H: Header>(req: &HttpRequest) -> Option<H> {
    if !req.headers().contains_key(H::name()) {
        return None;
    }
    H::parse(req).ok()
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn object() -> Validators {
        let meta = BlobMeta {
            size: 1000,
            last_modified: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap().naive_utc(),
            content_type: String::new(),
            tag: "\"abc\"".into(),
        };
        Validators::of(&meta)
    }

    fn decide_for(headers: &[(&str, &str)]) -> Decision {
        let mut req = TestRequest::get();
        for &(name, value) in headers {
            req = req.insert_header((name, value));
        }
        decide(&req.to_http_request(), &object())
    }

    const THEN: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
    const BEFORE: &str = "Tue, 14 Nov 2023 22:13:19 GMT";

    #[test]
    fn a_current_copy_is_not_sent_again() {
        assert_eq!(decide_for(&[("if-none-match", "\"abc\"")]), Decision::NotModified);
        assert_eq!(decide_for(&[("if-none-match", "W/\"abc\", \"x\"")]), Decision::NotModified);
        assert_eq!(decide_for(&[("if-none-match", "\"old\"")]), Decision::Whole);
        assert_eq!(decide_for(&[("if-modified-since", THEN)]), Decision::NotModified);
        assert_eq!(decide_for(&[("if-modified-since", BEFORE)]), Decision::Whole);
        // An entity tag wins over a date.
        assert_eq!(decide_for(&[("if-none-match", "\"old\""), ("if-modified-since", THEN)]), Decision::Whole);
    }

    #[test]
    fn failed_preconditions_are_412() {
        assert_eq!(decide_for(&[("if-match", "\"old\"")]), Decision::PreconditionFailed);
        assert_eq!(decide_for(&[("if-match", "W/\"abc\"")]), Decision::PreconditionFailed);
        assert_eq!(decide_for(&[("if-unmodified-since", BEFORE)]), Decision::PreconditionFailed);
        assert_eq!(decide_for(&[("if-match", "\"abc\"")]), Decision::Whole);
        assert_eq!(decide_for(&[("if-match", "*"), ("range", "bytes=0-9")]), Decision::Part(0..=9));
    }

    #[test]
    fn one_range_is_served_several_are_not() {
        assert_eq!(decide_for(&[("range", "bytes=10-19")]), Decision::Part(10..=19));
        assert_eq!(decide_for(&[("range", "bytes=-100")]), Decision::Part(900..=999));
        assert_eq!(decide_for(&[("range", "bytes=990-")]), Decision::Part(990..=999));
        assert_eq!(decide_for(&[("range", "bytes=990-5000")]), Decision::Part(990..=999));
        assert_eq!(decide_for(&[("range", "bytes=1000-")]), Decision::Unsatisfiable);
        assert_eq!(decide_for(&[("range", "bytes=0-1,5-6")]), Decision::Whole);
        assert_eq!(decide_for(&[("range", "pages=1-2")]), Decision::Whole);
        assert_eq!(decide_for(&[("range", "bytes=nonsense")]), Decision::Whole);
    }

    #[test]
    fn a_range_of_other_bytes_than_the_clients_gets_the_whole_object() {
        assert_eq!(decide_for(&[("range", "bytes=0-9"), ("if-range", "\"abc\"")]), Decision::Part(0..=9));
        assert_eq!(decide_for(&[("range", "bytes=0-9"), ("if-range", "\"old\"")]), Decision::Whole);
        assert_eq!(decide_for(&[("range", "bytes=0-9"), ("if-range", THEN)]), Decision::Part(0..=9));
        assert_eq!(decide_for(&[("range", "bytes=0-9"), ("if-range", BEFORE)]), Decision::Whole);
    }

    #[test]
    fn head_is_never_partial() {
        let req = TestRequest::default().method(Method::HEAD).insert_header(("range", "bytes=0-9"));
        assert_eq!(decide(&req.to_http_request(), &object()), Decision::Whole);
    }
}
