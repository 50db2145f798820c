//! Any queue body: see `imaged::fuzz::message` for what must hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &str| imaged::fuzz::message(body));
