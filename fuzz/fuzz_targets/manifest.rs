#![no_main]
//! See `shipit::fuzzing::manifest`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shipit::fuzzing::manifest(data));
