//! Any queue body: a CloudX text body, an S3 or EventBridge event, or
//! garbage. Parsing never panics, and a job it gives names an object.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &str| {
    if let Ok(jobs) = imaged::jobs::message::parse(body) {
        for job in jobs {
            assert!(!job.object_key.is_empty(), "a job without a key from {body:?}");
        }
    }
});
