//! Benchmark program for the build context (STYLE.md: benchmarks print ratios, they assert no
//! timings). A release builds from the committed tree; this compares the two ways of making that
//! true, on a generated repository whose build context holds `--files` files (and a few MB of
//! binary): packing the context from git objects (what shipit does), against packing the working
//! tree as before plus a clean-tree check of the context (libgit2 status, untracked and ignored
//! files included), the alternative. Prints medians and the ratio against the working-tree pack
//! alone (the old cost) measured in the same run.
//!
//!     cargo build --release --bin shipit-bench-context
//!     target/release/shipit-bench-context [--files N] [--rounds N]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use shipit::docker::context::{self, Committed};

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.email=b@example.com", "-c", "user.name=bench"])
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("error: git {args:?} failed");
        std::process::exit(2);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut files = 2000usize;
    let mut rounds = 7usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let n = |v: Option<String>| v.and_then(|v| v.parse().ok());
        match a.as_str() {
            "--files" => files = n(args.next()).unwrap_or(files),
            "--rounds" => rounds = n(args.next()).unwrap_or(rounds),
            _ => {
                println!("usage: shipit-bench-context [--files N] [--rounds N]");
                return;
            }
        }
    }
    let root = std::env::temp_dir().join(format!("shipit-bench-context-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap_or_default();
    git(&root, &["init", "-q", "-b", "main"]);
    let ctx = root.join("services/api");
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for i in 0..files {
        let dir = ctx.join(format!("src/m{}", i % 50));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let body: String = (0..64)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                format!("{seed:016x}\n")
            })
            .collect();
        std::fs::write(dir.join(format!("f{i}.rs")), body).unwrap_or_default();
    }
    let blob: Vec<u8> = (0..4_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(ctx.join("asset.bin"), blob).unwrap_or_default();
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY . /app\n").unwrap_or_default();
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "bench"]);
    let head = String::from_utf8_lossy(
        &Command::new("git")
            .current_dir(&root)
            .args(["rev-parse", "HEAD"])
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default(),
    )
    .trim()
    .to_string();
    let committed = Committed {
        root: root.clone(),
        commit: head,
        context: "services/api".into(),
        dockerfile: "services/api/Dockerfile".into(),
        artifacts: Vec::new(),
    };
    let (mut worktree, mut objects, mut checked) = (Vec::new(), Vec::new(), Vec::new());
    let mut sizes = (0, 0);
    for _ in 0..rounds {
        let t = Instant::now();
        let a = context::pack(&ctx, &ctx.join("Dockerfile")).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(2)
        });
        worktree.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let b = committed.pack().unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(2)
        });
        objects.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let _ = context::pack(&ctx, &ctx.join("Dockerfile"));
        let repo = git2::Repository::open(&root).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(2)
        });
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true)
            .include_ignored(true)
            .recurse_untracked_dirs(true)
            .pathspec("services/api");
        let dirty = repo.statuses(Some(&mut opts)).map(|s| s.len()).unwrap_or(1);
        checked.push(t.elapsed().as_secs_f64());
        assert_eq!(dirty, 0, "the generated tree is clean");
        sizes = (a.files, b.files);
    }
    let (w, o, c) = (median(worktree), median(objects), median(checked));
    println!(
        "context of {} files (+4 MB binary), {rounds} rounds, medians:",
        sizes.0
    );
    println!(
        "  working tree pack (before)               {:8.1} ms",
        w * 1e3
    );
    println!(
        "  git objects pack (shipit now)            {:8.1} ms   ratio {:.2}",
        o * 1e3,
        o / w
    );
    println!(
        "  working tree pack + clean-tree check     {:8.1} ms   ratio {:.2}",
        c * 1e3,
        c / w
    );
    let _ = std::fs::remove_dir_all(&root);
}
