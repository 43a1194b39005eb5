#![no_main]
//! See `shipit::fuzzing::dockerignore`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shipit::fuzzing::dockerignore(data));
