//! Benchmark program for promotion (STYLE.md: benchmarks print ratios, they assert no timings).
//!
//! Each round makes a fresh git repository with one image service (FROM scratch: a static busybox
//! and a payload of pseudo-random bytes unique to the round, so that its layer is new and really
//! pushed) and a registry prefix of its own. Then it times `shipit release --branch develop --all`
//! (build through the Docker engine, push `stage-X.Y.Z`) and, on the same commit,
//! `shipit release --branch main --all`, which finds the fingerprint in the registry and promotes:
//! it adds `prod-X.Y.Z` and `latest` to the same digest, with no build. It prints medians, mins and
//! the ratio of the medians. The images stay in the registry, under a prefix unique to each round.
//!
//!     scripts/test --services-only > /tmp/svc.env &    # a registry on loopback, then:
//!     source /tmp/svc.env
//!     cargo build --release --bin shipit --bin shipit-bench-promote
//!     target/release/shipit-bench-promote [--rounds N] [--payload-mb N] [--registry HOST:PORT]
//!                                         [--shipit PATH]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "\
usage: shipit-bench-promote [--rounds N] [--payload-mb N] [--registry HOST:PORT] [--shipit PATH]

  --rounds N           rounds of build+push then promotion (default 5)
  --payload-mb N       MB of pseudo-random bytes in each image (default 20)
  --registry HOST:PORT a Distribution registry the Docker engine can push to
                       (default: $SHIPIT_TEST_REGISTRY, which scripts/test --services-only prints)
  --shipit PATH        the shipit binary (default: $SHIPIT_BIN, else target/release/shipit)
  --help               print this help";

/// The static busybox copied into the image (Debian's busybox-static).
const BUSYBOX: &str = "/bin/busybox";
const DOCKERFILE: &str = "FROM scratch\nCOPY busybox /bin/busybox\nCOPY payload.bin /payload.bin\n";
const GOAL: f64 = 0.05;

type Res<T> = Result<T, String>;

/// Exit status: 0 done; 2 bad arguments or a failed step (shipit failing, or not saying
/// `released` then `promoted`).
fn main() {
    let done = parse_args().and_then(|opts| match opts {
        Some(opts) => bench(&opts),
        None => {
            println!("{USAGE}");
            Ok(())
        }
    });
    if let Err(msg) = done {
        eprintln!("error: {msg}");
        std::process::exit(2);
    }
}

struct Options {
    rounds: usize,
    payload_mb: usize,
    registry: String,
    shipit: PathBuf,
}

/// The options, or None for `--help`.
fn parse_args() -> Res<Option<Options>> {
    let mut shipit = std::env::var_os("SHIPIT_BIN").map(PathBuf::from);
    let mut registry = std::env::var("SHIPIT_TEST_REGISTRY")
        .ok()
        .filter(|r| !r.is_empty());
    let (mut rounds, mut payload_mb) = (5, 20);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        let mut number = || -> Res<usize> {
            let v = value()?;
            let n = v.parse().ok().filter(|n| *n > 0);
            n.ok_or(format!("{arg} wants a number > 0, not {v:?}"))
        };
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--rounds" => rounds = number()?,
            "--payload-mb" => payload_mb = number()?,
            "--registry" => registry = Some(value()?),
            "--shipit" => shipit = Some(PathBuf::from(value()?)),
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        }
    }
    let registry = registry.ok_or(
        "no registry: pass --registry HOST:PORT, or start one with \
         `scripts/test --services-only > /tmp/svc.env &` (needs root) and `source /tmp/svc.env`",
    )?;
    // By default target/release/shipit, this program living in target/<profile>/.
    let shipit = match shipit {
        Some(path) => path,
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this program: {e}"))?
            .with_file_name("../release/shipit"),
    };
    // Absolute: shipit runs in the temporary repositories.
    let shipit = std::fs::canonicalize(&shipit)
        .ok()
        .filter(|path| path.is_file())
        .ok_or(format!(
            "no shipit binary at {}: build it (cargo build --release --bin shipit) or pass --shipit",
            shipit.display()
        ))?;
    if !Path::new(BUSYBOX).is_file() {
        return Err(format!(
            "no static busybox at {BUSYBOX}: apt-get install busybox-static"
        ));
    }
    Ok(Some(Options {
        rounds,
        payload_mb,
        registry,
        shipit,
    }))
}

/// Runs the rounds and prints the report.
fn bench(opts: &Options) -> Res<()> {
    let (mb, rounds, registry) = (opts.payload_mb, opts.rounds, &opts.registry);
    println!("shipit promotion benchmark");
    println!("registry {registry}, payload {mb} MB per image, {rounds} rounds");
    // Unique across runs against the same registry: the start time and the pid.
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let id = format!("{epoch}-{}", std::process::id());
    let (mut builds, mut promotions) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let dir = std::env::temp_dir().join(format!("shipit-bench-promote-{id}-{round}"));
        let prefix = format!("bench-promote-{id}-{round}");
        // The release of main runs on the same commit, so it finds the fingerprint and promotes.
        let result = make_repo(opts, &dir, &prefix).and_then(|()| {
            let build = release(opts, &dir, "develop", "released")?;
            Ok((build, release(opts, &dir, "main", "promoted")?))
        });
        let _ = std::fs::remove_dir_all(&dir);
        let (build, promote) = result?;
        println!("round {round}/{rounds}: build+push {build:8.1} ms  promote {promote:8.1} ms");
        builds.push(build);
        promotions.push(promote);
    }
    let (build_med, build_min) = summarize(&builds);
    let (prom_med, prom_min) = summarize(&promotions);
    let ratio = prom_med / build_med;
    println!(
        "release --branch develop (build+push)  median {build_med:8.1} ms  min {build_min:8.1} ms"
    );
    println!(
        "release --branch main (promotion)      median {prom_med:8.1} ms  min {prom_min:8.1} ms"
    );
    println!("ratio median(promote) / median(build+push): {ratio:.4}");
    let met = if ratio <= GOAL { "met" } else { "not met" };
    println!("goal ratio <= {GOAL}: {met} ({ratio:.4})");
    Ok(())
}

/// A fresh repository in `dir` with ci.toml and the service `api`, committed.
fn make_repo(opts: &Options, dir: &Path, prefix: &str) -> Res<()> {
    let api = dir.join("services/api");
    std::fs::create_dir_all(&api).map_err(|e| format!("cannot create {}: {e}", api.display()))?;
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    let toml = format!(
        "[project]\nregistry = \"oci://{}/{prefix}\"\n\n[services.api]\npath = \"services/api\"\n",
        opts.registry
    );
    write(&dir.join("ci.toml"), toml.as_bytes())?;
    write(&api.join("Dockerfile"), DOCKERFILE.as_bytes())?;
    write(
        &api.join("payload.bin"),
        &payload(opts.payload_mb << 20, prefix),
    )?;
    std::fs::copy(BUSYBOX, api.join("busybox"))
        .map_err(|e| format!("cannot copy {BUSYBOX}: {e}"))?;
    // Random bytes do not compress: level 0 spares the time of trying.
    git(dir, &["init", "-q", "-b", "main"])?;
    git(dir, &["-c", "core.compression=0", "add", "-A"])?;
    git(dir, &["commit", "-q", "-m", "bench: one service"])
}

/// A git command in `dir`, with a fixed identity and date and none of the user's configuration.
fn git(dir: &Path, args: &[&str]) -> Res<()> {
    let who = [
        ("NAME", "Bench"),
        ("EMAIL", "bench@example.com"),
        ("DATE", "1700000000 +0000"),
    ];
    let mut cmd = Command::new("git");
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    for (key, value) in who {
        cmd.env(format!("GIT_AUTHOR_{key}"), value)
            .env(format!("GIT_COMMITTER_{key}"), value);
    }
    let out = cmd.output().map_err(|e| format!("cannot run git: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim_end()
        )),
    }
}

/// `bytes` pseudo-random bytes (splitmix64) seeded by the prefix, which is unique to the round.
fn payload(bytes: usize, prefix: &str) -> Vec<u8> {
    let fnv = |h: u64, b: u8| (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    let mut state = prefix.bytes().fold(0xcbf2_9ce4_8422_2325, fnv);
    let mut out = Vec::with_capacity(bytes + 8);
    while out.len() < bytes {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(bytes);
    out
}

/// Times `shipit release --branch BRANCH --all` in `dir`, without colours and without any
/// GITHUB_* variable (it must not think it runs in Actions); it must exit 0 and print `word`.
/// Returns the wall time in ms.
fn release(opts: &Options, dir: &Path, branch: &str, word: &str) -> Res<f64> {
    let mut cmd = Command::new(&opts.shipit);
    cmd.args(["release", "--branch", branch, "--all"]);
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GITHUB_") {
            cmd.env_remove(key);
        }
    }
    let start = Instant::now();
    let out = cmd.output();
    let wall = start.elapsed().as_secs_f64() * 1e3;
    let out = out.map_err(|e| format!("cannot run {}: {e}", opts.shipit.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !stdout.contains(word) {
        return Err(format!(
            "shipit release --branch {branch} --all should exit 0 and say `{word}`; it ended \
             with {}, and printed:\n{}\n{}",
            out.status,
            stdout.trim_end(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    Ok(wall)
}

/// Median and min.
fn summarize(samples: &[f64]) -> (f64, f64) {
    let mut ms = samples.to_vec();
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    ((ms[(n - 1) / 2] + ms[n / 2]) / 2.0, ms[0])
}
