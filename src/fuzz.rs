//! The properties the `cargo fuzz` targets in `fuzz/` check, one function
//! per target. The targets call them on generated inputs (`scripts/fuzz`,
//! nightly); the test suite calls them on every seed in `fuzz/seeds`, so
//! the seeds and the regressions kept there are checked on stable by the
//! test command. Each panics when its property does not hold.

use crate::imaging::Format;

/// Any queue body: a CloudX text body, an S3 or EventBridge event, or
/// garbage. Parsing never panics, and a job it gives names an object.
pub fn message(body: &str) {
    if let Ok(jobs) = crate::messages::parse(body) {
        for job in jobs {
            assert!(!job.object_key.is_empty(), "a job without a key from {body:?}");
        }
    }
}

/// What an upload goes through before anything is stored or decoded: the
/// sniff of its first bytes and the header probe that plans the memory.
pub fn probe(bytes: &[u8]) {
    let sniffed = crate::imaging::sniff(bytes);
    if let Ok(plan) = crate::imaging::plan(bytes, &[128, 256, 1024], 50_000_000) {
        assert_eq!(Some(plan.probe.kind), sniffed, "the probe and the sniff disagree");
        assert!(u64::from(plan.probe.width) * u64::from(plan.probe.height) <= 50_000_000);
    }
}

/// The whole image path of a job, on any bytes: plan, decode, resize,
/// encode. It fails with a reason or makes thumbnails within their sizes;
/// it never panics. Images are capped at 4 MP to keep runs fast.
pub fn decode(bytes: &[u8]) {
    const SIZES: [u32; 2] = [64, 128];
    let Ok(plan) = crate::imaging::plan(bytes, &SIZES, 4_000_000) else { return };
    if let Ok(rendered) = crate::imaging::render(bytes, &plan, &SIZES, 82, &[Format::Jpeg, Format::Webp]) {
        for thumb in &rendered.thumbnails {
            assert!(thumb.width.max(thumb.height) <= thumb.size && thumb.width > 0 && thumb.height > 0);
            assert!(thumb.bytes(Format::Jpeg).is_some_and(|b| b.starts_with(&[0xFF, 0xD8])), "not a JPEG");
            assert!(
                thumb.bytes(Format::Webp).is_some_and(|b| b.starts_with(b"RIFF") && &b[8..12] == b"WEBP"),
                "not a WebP"
            );
        }
    }
}
