//! How long the retention choice takes for one repository of 10,000 images (the goal: under 50 ms).
//!
//!     cargo run --release --bin shipit-bench-retention [-- --images N --runs N]
//!
//! The repository is synthetic and deterministic: three environments with versions spread over
//! the images, fingerprint tags, a few untagged images, `latest`, and a hundred running digests.

use std::time::Instant;

use shipit::retention::{Image, Policy, Protected, decide};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse().unwrap_or_else(|_| {
                eprintln!("{name} takes a number, not {v:?}");
                std::process::exit(2)
            })
        })
        .unwrap_or(default)
}

fn main() {
    let n = arg("--images", 10_000);
    let runs = arg("--runs", 21).max(1);
    let envs = ["prod", "stage", "dev"];
    // A small linear congruential generator: the same repository on every run and machine.
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    let mut images = Vec::with_capacity(n);
    let mut protected = Protected::default();
    for i in 0..n {
        let digest = format!("sha256:{i:064x}");
        let mut tags = Vec::new();
        match next() % 20 {
            0 => {}
            r => {
                let env = envs[(r % 3) as usize];
                tags.push(format!("{env}-{}.{}.{}", i / 1000, (i / 10) % 100, i % 10));
                tags.push(format!("fp-{i:040x}"));
                if r == 1 {
                    tags.push(format!(
                        "{}-{}.0.{i}",
                        envs[((r + 1) % 3) as usize],
                        i / 1000
                    ));
                }
            }
        }
        if i == n - 1 {
            tags.push("latest".into());
        }
        if next() % 100 == 0 {
            protected.running.insert(digest.clone(), "prod/api".into());
        }
        images.push(Image { digest, tags });
    }
    let environments: Vec<String> = envs.iter().map(|e| e.to_string()).collect();
    let policy = Policy {
        environments: &environments,
        prune: &environments,
        retain: 10,
    };
    let mut times = Vec::with_capacity(runs);
    let mut removals = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let decisions = decide(&images, &protected, &policy);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        removals = decisions
            .iter()
            .filter(|d| !matches!(d, shipit::retention::Decision::Keep { .. }))
            .count();
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "retention choice for {n} images ({} running, retain 10 of 3 environments): {removals} removals",
        protected.running.len()
    );
    println!(
        "median {median:.2} ms, min {:.2} ms over {runs} runs",
        times[0]
    );
    println!(
        "goal < 50 ms: {}",
        if median < 50.0 { "met" } else { "not met" }
    );
}
