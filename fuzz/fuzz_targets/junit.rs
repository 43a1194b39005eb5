#![no_main]
//! See `shipit::fuzzing::junit`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shipit::fuzzing::junit(data));
