#![no_main]
//! See `shipit::fuzzing::link_header`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shipit::fuzzing::link_header(data));
