#![no_main]
//! See `shipit::fuzzing::task_definition`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shipit::fuzzing::task_definition(data));
