#![no_main]
//! See `shipit::fuzzing::service_definition`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shipit::fuzzing::service_definition(data));
