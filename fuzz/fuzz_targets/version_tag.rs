#![no_main]
//! See `shipit::fuzzing::version`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shipit::fuzzing::version(data));
