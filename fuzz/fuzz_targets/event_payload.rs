#![no_main]
//! See `shipit::fuzzing::event_payload`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shipit::fuzzing::event_payload(data));
