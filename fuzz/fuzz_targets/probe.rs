//! Any upload's first bytes: see `imaged::fuzz::probe` for what must hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| imaged::fuzz::probe(bytes));
