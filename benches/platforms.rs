//! Benchmark program for multi-platform images (STYLE.md: benchmarks print ratios, they assert no
//! timings).
//!
//! `shipit release` of a `FROM scratch` + `COPY` service with `platforms = ["linux/amd64",
//! "linux/arm64"]` (two builds, each read out of the engine and pushed by digest, then the index
//! and its tags) against the same service with no `platforms` (one build, the engine's push),
//! measured in the same run, round after round in turn, each round a one-file source change so
//! that both build and push something new. Prints each side's median wall time and the ratio.
//! Goal <= 2.2.
//!
//! Run it so:
//!
//!     scripts/test --services-only > /tmp/svc.env &    # a registry on loopback, then:
//!     source /tmp/svc.env
//!     cargo build --release --bin shipit --bin shipit-bench-platforms
//!     target/release/shipit-bench-platforms [--rounds N] [--registry HOST:PORT] [--shipit PATH]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "\
usage: shipit-bench-platforms [--rounds N] [--registry HOST:PORT] [--shipit PATH]

  --rounds N           rounds (default 5)
  --registry HOST:PORT a Distribution registry the Docker engine can push to
                       (default: $SHIPIT_TEST_REGISTRY, which scripts/test --services-only prints)
  --shipit PATH        the shipit binary (default: $SHIPIT_BIN, else target/release/shipit)
  --help               print this help";

const DOCKERFILE: &str = "FROM scratch\nCOPY busybox /bin/busybox\nCOPY src.txt /src.txt\n";
const BUSYBOX: &str = "/bin/busybox";

type Res<T> = Result<T, String>;

fn main() {
    if let Err(msg) = parse_args().and_then(|o| match o {
        Some((rounds, registry, shipit)) => run(rounds, &registry, &shipit),
        None => {
            println!("{USAGE}");
            Ok(())
        }
    }) {
        eprintln!("error: {msg}");
        std::process::exit(2);
    }
}

fn parse_args() -> Res<Option<(usize, String, PathBuf)>> {
    let mut rounds = 5;
    let mut registry = std::env::var("SHIPIT_TEST_REGISTRY").ok();
    let mut shipit = std::env::var_os("SHIPIT_BIN").map(PathBuf::from);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--help" | "-h" => return Ok(None),
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--rounds takes a number above 0")?
            }
            "--registry" => registry = Some(args.next().ok_or("--registry takes HOST:PORT")?),
            "--shipit" => shipit = Some(args.next().ok_or("--shipit takes a path")?.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let registry = registry.ok_or("no registry: pass --registry or set SHIPIT_TEST_REGISTRY")?;
    let shipit = shipit.unwrap_or_else(|| PathBuf::from("target/release/shipit"));
    if !shipit.is_file() {
        return Err(format!("{} is not built", shipit.display()));
    }
    Ok(Some((rounds, registry, shipit)))
}

fn sh(dir: &Path, program: &str, args: &[&str]) -> Res<()> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{program} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// A repository of one service, with or without `platforms`, on the branch `develop`.
fn repository(root: &Path, registry: &str, prefix: &str, platforms: bool) -> Res<PathBuf> {
    let dir = root.join(if platforms { "two" } else { "one" });
    let service = dir.join("services/api");
    std::fs::create_dir_all(&service).map_err(|e| e.to_string())?;
    let key = match platforms {
        true => "platforms = [\"linux/amd64\", \"linux/arm64\"]\n",
        false => "",
    };
    let write = |path: PathBuf, text: &str| std::fs::write(path, text).map_err(|e| e.to_string());
    write(
        dir.join("ci.toml"),
        &format!(
            "[project]\nregistry = \"oci://{registry}/{prefix}-{}\"\n{key}\n[services.api]\npath = \"services/api\"\n",
            if platforms { "two" } else { "one" }
        ),
    )?;
    write(service.join("Dockerfile"), DOCKERFILE)?;
    write(service.join("src.txt"), "first")?;
    std::fs::copy(BUSYBOX, service.join("busybox")).map_err(|e| format!("{BUSYBOX}: {e}"))?;
    sh(&dir, "git", &["init", "-q", "-b", "develop"])?;
    sh(&dir, "git", &["add", "-A"])?;
    sh(&dir, "git", &["commit", "-qm", "feat: first"])?;
    Ok(dir)
}

/// One release after a source change: its wall time in seconds.
fn round(dir: &Path, shipit: &Path, n: usize) -> Res<f64> {
    std::fs::write(dir.join("services/api/src.txt"), n.to_string()).map_err(|e| e.to_string())?;
    sh(dir, "git", &["commit", "-qam", &format!("fix: change {n}")])?;
    let started = Instant::now();
    let out = Command::new(shipit)
        .args(["release", "--branch", "develop", "--skip", "test"])
        .current_dir(dir)
        .output()
        .map_err(|e| e.to_string())?;
    let took = started.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "shipit release failed in {}: {}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(took)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run(rounds: usize, registry: &str, shipit: &Path) -> Res<()> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let root = std::env::temp_dir().join(format!("shipit-bench-platforms-{stamp}"));
    let prefix = format!("bench-platforms-{stamp}");
    let shipit = std::fs::canonicalize(shipit).map_err(|e| e.to_string())?;
    let one = repository(&root, registry, &prefix, false)?;
    let two = repository(&root, registry, &prefix, true)?;
    // A first release each, not measured: the engine's and the registry's first-time costs.
    round(&one, &shipit, 0)?;
    round(&two, &shipit, 0)?;
    let (mut single, mut double) = (Vec::new(), Vec::new());
    for n in 1..=rounds {
        single.push(round(&one, &shipit, n)?);
        double.push(round(&two, &shipit, n)?);
    }
    let (s, d) = (median(single), median(double));
    println!("one platform (engine push):           {s:.2}s median of {rounds}");
    println!("two platforms (by digest + an index): {d:.2}s median of {rounds}");
    println!("ratio two/one: {:.2} (goal <= 2.2)", d / s);
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
