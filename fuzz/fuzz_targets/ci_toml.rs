#![no_main]
//! ci.toml text, validated against this repository (the files the reference ci.toml names exist).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fuzz/ is inside the repository");
    shipit::fuzzing::ci_toml(data, root);
});
