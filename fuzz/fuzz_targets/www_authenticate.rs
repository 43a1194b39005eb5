#![no_main]
//! See `shipit::fuzzing::www_authenticate`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shipit::fuzzing::www_authenticate(data));
