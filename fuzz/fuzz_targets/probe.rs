//! What an upload goes through before anything is stored or decoded: the
//! sniff of its first bytes and the header probe that plans the memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let sniffed = imaged::imaging::sniff(bytes);
    if let Ok(plan) = imaged::imaging::plan(bytes, &[128, 256, 1024], 50_000_000) {
        assert_eq!(Some(plan.probe.kind), sniffed, "the probe and the sniff disagree");
        assert!(u64::from(plan.probe.width) * u64::from(plan.probe.height) <= 50_000_000);
    }
});
