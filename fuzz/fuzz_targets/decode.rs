//! Any bytes through a job's image path: see `imaged::fuzz::decode` for
//! what must hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| imaged::fuzz::decode(bytes));
