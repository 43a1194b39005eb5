#![no_main]
//! See `shipit::fuzzing::tag_list`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shipit::fuzzing::tag_list(data));
