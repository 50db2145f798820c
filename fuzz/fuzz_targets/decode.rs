//! The whole image path of a job, on any bytes: plan, decode, resize,
//! encode. It fails with a reason or makes thumbnails within their sizes;
//! it never panics. Images are capped at 4 MP to keep runs fast.
#![no_main]

use libfuzzer_sys::fuzz_target;

const SIZES: [u32; 2] = [64, 128];

fuzz_target!(|bytes: &[u8]| {
    let Ok(plan) = imaged::imaging::plan(bytes, &SIZES, 4_000_000) else { return };
    if let Ok(rendered) = imaged::imaging::render(bytes, &plan, &SIZES, 82) {
        for thumb in &rendered.thumbnails {
            assert!(thumb.width.max(thumb.height) <= thumb.size && thumb.width > 0 && thumb.height > 0);
            assert!(thumb.jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
        }
    }
});
