//! The README's first command: `bash examples/demo.sh` releases for real (the engine builds, the
//! local registry receives), reruns as a no-op, promotes on main, and ends with the registry's tags.

use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn the_demo_releases_promotes_and_ends_with_the_registrys_tags() {
    let out = Command::new("bash")
        .arg("examples/demo.sh")
        .current_dir(ROOT)
        .env("SHIPIT_DEMO_BIN", env!("CARGO_BIN_EXE_shipit"))
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains("release itself is skipped"), "{stdout}");
    // develop: built and pushed; again: nothing; main: promoted, not rebuilt; then retention.
    assert!(stdout.contains("  billing  released  1.4.0"), "{stdout}");
    assert!(stdout.contains("  visits   released  0.1.0"), "{stdout}");
    assert!(stdout.contains("  visits   unchanged  0.1.0"), "{stdout}");
    assert!(stdout.contains("  visits   promoted  0.1.0"), "{stdout}");
    assert!(
        stdout.contains("→ clinic-a, clinic-b"),
        "the rollout shown by plan: {stdout}"
    );
    assert!(
        stdout.contains("(Rollout skipped: it needs ECS."),
        "{stdout}"
    );
    assert!(stdout.contains("$ shipit retain"), "{stdout}");
    // The last lines: the registry's tags, as the registry itself lists them.
    let tail: Vec<&str> = stdout.lines().rev().take(2).collect();
    assert!(
        tail[0].contains("demo/shipit-example/visits")
            && tail[0].contains("prod-0.1.0")
            && tail[0].contains("stage-0.1.0")
            && tail[0].contains("latest"),
        "{stdout}"
    );
    assert!(
        tail[1].contains("demo/shipit-example/billing") && tail[1].contains("prod-1.4.0"),
        "{stdout}"
    );
}
