//! Benchmark program for builds (STYLE.md: benchmarks print ratios, they assert no timings).
//!
//! Two figures, each measured in one run against a baseline of the same run:
//!
//! - `stage`: shipit's build stage (`shipit release --skip test`, the build stage's own time from
//!   its report line) against a plain build of the same Dockerfile and context on the same
//!   engine: the `docker build` program when it is installed (it builds with the legacy builder
//!   when no buildx plugin is there, `DOCKER_BUILDKIT=0`), and always a plain BuildKit build through
//!   the Engine API (`POST /build?version=2`, what `docker buildx build` sends). Each round changes
//!   one source file, so the steps after it run and the ones before are cached, for both. Goal <= 1.
//! - `cache`: a one-file source change rebuilt on an emptied engine (this benchmark's images and
//!   the whole build cache removed) with the registry cache (inline cache + `cache_from`) against
//!   the same rebuild with `cache = false`, for a Dockerfile whose dependency step sleeps 5 s.
//!   Goal <= 0.3. This removes the engine's build cache: do not run it beside other builds you
//!   care about.
//!
//! Run it so:
//!
//!     scripts/test --services-only > /tmp/svc.env &    # a registry on loopback, then:
//!     source /tmp/svc.env
//!     cargo build --release --bin shipit --bin shipit-bench-build
//!     target/release/shipit-bench-build [stage|cache] [--rounds N] [--registry HOST:PORT]
//!                                       [--shipit PATH]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;

const USAGE: &str = "\
usage: shipit-bench-build [stage|cache] [--rounds N] [--registry HOST:PORT] [--shipit PATH]

  stage                shipit's build stage against a plain build (default: both)
  cache                a rebuild on an emptied engine with the registry cache against without
  --rounds N           rounds (default 5 for stage, 3 for cache)
  --registry HOST:PORT a Distribution registry the Docker engine can push to
                       (default: $SHIPIT_TEST_REGISTRY, which scripts/test --services-only prints)
  --shipit PATH        the shipit binary (default: $SHIPIT_BIN, else target/release/shipit)
  --help               print this help";

const BUSYBOX: &str = "/bin/busybox";
const STAGE_DOCKERFILE: &str = r#"FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /deps && /bin/busybox echo deps > /deps/list"]
COPY src.txt /src.txt
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox cat /src.txt /deps/list > /app.txt"]
"#;
const CACHE_DOCKERFILE: &str = r#"FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox sleep 5 && /bin/busybox echo deps > /deps"]
COPY src.txt /src.txt
"#;

type Res<T> = Result<T, String>;

struct Options {
    what: Option<String>,
    rounds: Option<usize>,
    registry: String,
    shipit: PathBuf,
}

fn main() {
    let done = parse_args().and_then(|opts| match opts {
        Some(opts) => run(&opts),
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

fn parse_args() -> Res<Option<Options>> {
    let mut shipit = std::env::var_os("SHIPIT_BIN").map(PathBuf::from);
    let mut registry = std::env::var("SHIPIT_TEST_REGISTRY")
        .ok()
        .filter(|r| !r.is_empty());
    let (mut rounds, mut what) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "stage" | "cache" => what = Some(arg.clone()),
            "--rounds" => {
                let v = value()?;
                rounds = Some(
                    v.parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(format!("--rounds wants a number > 0, not {v:?}"))?,
                )
            }
            "--registry" => registry = Some(value()?),
            "--shipit" => shipit = Some(PathBuf::from(value()?)),
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        }
    }
    let registry = registry.ok_or(
        "no registry: pass --registry HOST:PORT, or start one with \
         `scripts/test --services-only > /tmp/svc.env &` and `source /tmp/svc.env`",
    )?;
    let shipit = match shipit {
        Some(path) => path,
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this program: {e}"))?
            .with_file_name("../release/shipit"),
    };
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
        what,
        rounds,
        registry,
        shipit,
    }))
}

fn run(opts: &Options) -> Res<()> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let docker =
        bollard::Docker::connect_with_defaults().map_err(|e| format!("no Docker engine: {e}"))?;
    let docker = rt
        .block_on(docker.negotiate_version())
        .map_err(|e| format!("no Docker engine: {e}"))?;
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let id = format!("{epoch}-{}", std::process::id());
    if opts.what.as_deref() != Some("cache") {
        stage(opts, &rt, &docker, &id)?;
    }
    if opts.what.as_deref() != Some("stage") {
        cache(opts, &rt, &docker, &id)?;
    }
    Ok(())
}

/// (a) shipit's build stage against a plain build of the same Dockerfile and context.
fn stage(
    opts: &Options,
    rt: &tokio::runtime::Runtime,
    docker: &bollard::Docker,
    id: &str,
) -> Res<()> {
    let rounds = opts.rounds.unwrap_or(5);
    println!("build stage benchmark: {rounds} rounds, each a one-file change after a warm-up");
    let dir = std::env::temp_dir().join(format!("shipit-bench-build-{id}"));
    let prefix = format!("bench-build-{id}");
    make_repo(opts, &dir, &prefix, STAGE_DOCKERFILE, "")?;
    let plain_dir = std::env::temp_dir().join(format!("shipit-bench-build-{id}-plain"));
    std::fs::create_dir_all(&plain_dir).map_err(|e| e.to_string())?;
    let cli = docker_cli();
    let (mut shipit, mut plain, mut legacy) = (Vec::new(), Vec::new(), Vec::new());
    let mut with_cache = Vec::new();
    let api = dir.join("services/api");
    for round in 0..=rounds {
        let src = format!("{prefix} round {round}\n");
        write(&api.join("src.txt"), src.as_bytes())?;
        git(&dir, &["add", "-A"])?;
        git(&dir, &["commit", "-q", "-m", "bench: a source change"])?;
        let s = shipit_build_seconds(opts, &dir, &[])?;
        // The same Dockerfile and context, each baseline with its own one-file change.
        for f in ["Dockerfile", "busybox"] {
            std::fs::copy(api.join(f), plain_dir.join(f)).map_err(|e| e.to_string())?;
        }
        write(
            &plain_dir.join("src.txt"),
            format!("plain {src}").as_bytes(),
        )?;
        let p = rt.block_on(plain_build(
            docker,
            &plain_dir,
            &format!("{prefix}-plain:{round}"),
            &[],
        ))?;
        // The same, with what the registry cache adds: inline cache metadata and a `cachefrom`.
        write(
            &plain_dir.join("src.txt"),
            format!("cached {src}").as_bytes(),
        )?;
        let cache_from = match round {
            0 => vec![],
            _ => vec![format!(
                "{}/{prefix}/api:stage-0.1.{}",
                opts.registry,
                round - 1
            )],
        };
        let c = rt.block_on(plain_build(
            docker,
            &plain_dir,
            &format!("{prefix}-plain-cache:{round}"),
            &cache_from,
        ))?;
        let l = match &cli {
            Some(cli) => {
                write(&plain_dir.join("src.txt"), format!("cli {src}").as_bytes())?;
                Some(cli_build(
                    cli,
                    &plain_dir,
                    &format!("{prefix}-cli:{round}"),
                )?)
            }
            None => None,
        };
        if round == 0 {
            println!("warm-up: shipit {s:.2} s, plain BuildKit {p:.2} s");
            continue;
        }
        print!(
            "round {round}/{rounds}: shipit build stage {s:6.2} s  plain BuildKit build {p:6.2} s  plain + registry cache {c:6.2} s"
        );
        with_cache.push(c);
        if let Some(l) = l {
            print!("  docker build (CLI) {l:6.2} s");
            legacy.push(l);
        }
        println!();
        shipit.push(s);
        plain.push(p);
    }
    rt.block_on(remove_images(docker, &prefix));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&plain_dir);
    let (s, p) = (median(&shipit), median(&plain));
    println!("median: shipit {s:.2} s, plain BuildKit build through the Engine API {p:.2} s");
    println!(
        "ratio shipit / plain BuildKit build: {:.2} (goal <= 1.0)",
        s / p
    );
    let c = median(&with_cache);
    println!(
        "ratio shipit / plain BuildKit build with BUILDKIT_INLINE_CACHE=1 and the same cachefrom ({c:.2} s): {:.2}",
        s / c
    );
    if !legacy.is_empty() {
        let l = median(&legacy);
        println!(
            "ratio shipit / `docker build` (the CLI here has no buildx: legacy builder): {:.2} (goal <= 1.0)",
            s / l
        );
    }
    Ok(())
}

/// (b) a one-file change rebuilt on an emptied engine, with the registry cache against without.
fn cache(
    opts: &Options,
    rt: &tokio::runtime::Runtime,
    docker: &bollard::Docker,
    id: &str,
) -> Res<()> {
    let rounds = opts.rounds.unwrap_or(3);
    println!(
        "registry cache benchmark: {rounds} rounds; a dependency step of 5 s, a one-file change, an emptied engine"
    );
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let mut times = Vec::new();
        for (cache, name) in [(true, "cache"), (false, "nocache")] {
            let dir = std::env::temp_dir().join(format!("shipit-bench-build-{id}-{name}-{round}"));
            let prefix = format!("bench-build-{id}-{name}-{round}");
            let extra = if cache { "" } else { "cache = false\n" };
            make_repo(opts, &dir, &prefix, CACHE_DOCKERFILE, extra)?;
            write(&dir.join("services/api/src.txt"), b"one\n")?;
            git(&dir, &["add", "-A"])?;
            git(&dir, &["commit", "-q", "-m", "bench: first"])?;
            shipit_build_seconds(opts, &dir, &[])?;
            write(&dir.join("services/api/src.txt"), b"two\n")?;
            git(&dir, &["add", "-A"])?;
            git(&dir, &["commit", "-q", "-m", "bench: a one-file change"])?;
            rt.block_on(empty_engine(docker, &prefix))?;
            times.push(shipit_build_seconds(opts, &dir, &[])?);
            let _ = std::fs::remove_dir_all(&dir);
        }
        println!(
            "round {round}/{rounds}: rebuild with the registry cache {:6.2} s  without {:6.2} s",
            times[0], times[1]
        );
        with.push(times[0]);
        without.push(times[1]);
    }
    let (w, n) = (median(&with), median(&without));
    println!("median: with the registry cache {w:.2} s, without {n:.2} s");
    println!("ratio with / without: {:.2} (goal <= 0.3)", w / n);
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Res<()> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn make_repo(opts: &Options, dir: &Path, prefix: &str, dockerfile: &str, extra: &str) -> Res<()> {
    let api = dir.join("services/api");
    std::fs::create_dir_all(&api).map_err(|e| format!("cannot create {}: {e}", api.display()))?;
    let toml = format!(
        "[project]\nregistry = \"oci://{}/{prefix}\"\n\n[services.api]\npath = \"services/api\"\n{extra}",
        opts.registry
    );
    write(&dir.join("ci.toml"), toml.as_bytes())?;
    write(&api.join("Dockerfile"), dockerfile.as_bytes())?;
    write(&api.join("src.txt"), b"initial\n")?;
    std::fs::copy(BUSYBOX, api.join("busybox"))
        .map_err(|e| format!("cannot copy {BUSYBOX}: {e}"))?;
    git(dir, &["init", "-q", "-b", "main"])?;
    git(dir, &["add", "-A"])?;
    git(dir, &["commit", "-q", "-m", "bench: one service"])
}

fn git(dir: &Path, args: &[&str]) -> Res<()> {
    let mut cmd = Command::new("git");
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    for key in ["AUTHOR", "COMMITTER"] {
        cmd.env(format!("GIT_{key}_NAME"), "Bench")
            .env(format!("GIT_{key}_EMAIL"), "bench@example.com");
    }
    let out = cmd.output().map_err(|e| format!("cannot run git: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// Runs `shipit release --branch develop --all --skip test EXTRA` and returns its build stage's
/// seconds, read from the stage's report line (`  api  build  ok  1.2s  …`).
fn shipit_build_seconds(opts: &Options, dir: &Path, extra: &[&str]) -> Res<f64> {
    // shipit releases a branch's tip only.
    git(dir, &["branch", "-f", "develop", "HEAD"])?;
    let out = Command::new(&opts.shipit)
        .args(["release", "--branch", "develop", "--all", "--skip", "test"])
        .args(extra)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run shipit: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("shipit release failed:\n{stderr}"));
    }
    stderr
        .lines()
        .find_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                [_, "build", "ok", secs, ..] => secs.trim_end_matches('s').parse().ok(),
                _ => None,
            }
        })
        .ok_or(format!("no build stage line in shipit's output:\n{stderr}"))
}

/// The `docker` program, when it is installed.
fn docker_cli() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join("docker"))
        .find(|p| p.is_file())
}

fn cli_build(cli: &Path, dir: &Path, tag: &str) -> Res<f64> {
    let started = Instant::now();
    let out = Command::new(cli)
        .args(["build", "-q", "-t", tag, "."])
        .current_dir(dir)
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "docker build failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(started.elapsed().as_secs_f64())
}

/// What `docker buildx build` sends: the context as a tar, `POST /build?version=2`.
async fn plain_build(
    docker: &bollard::Docker,
    dir: &Path,
    tag: &str,
    cache_from: &[String],
) -> Res<f64> {
    let started = Instant::now();
    let mut tar = tar::Builder::new(Vec::new());
    tar.append_dir_all(".", dir).map_err(|e| e.to_string())?;
    let body = tar.into_inner().map_err(|e| e.to_string())?;
    let session = format!("bench-{}", std::process::id());
    let mut options = bollard::query_parameters::BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(tag)
        .version(bollard::query_parameters::BuilderVersion::BuilderBuildKit)
        .session(&session);
    if !cache_from.is_empty() {
        let args = std::collections::HashMap::from([("BUILDKIT_INLINE_CACHE", "1")]);
        options = options.buildargs(&args).cachefrom(&cache_from.to_vec());
    }
    let options = options.build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(body.into())));
    while let Some(item) = stream.next().await {
        item.map_err(|e| format!("plain build failed: {e}"))?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Removes the benchmark's images (by name) and the engine's whole build cache.
async fn empty_engine(docker: &bollard::Docker, prefix: &str) -> Res<()> {
    remove_images(docker, prefix).await;
    let all = bollard::query_parameters::PruneBuildOptionsBuilder::default()
        .all(true)
        .build();
    docker
        .prune_build(Some(all))
        .await
        .map_err(|e| format!("cannot prune the build cache: {e}"))?;
    Ok(())
}

async fn remove_images(docker: &bollard::Docker, prefix: &str) {
    let images = docker
        .list_images(None::<bollard::query_parameters::ListImagesOptions>)
        .await
        .unwrap_or_default();
    let names: Vec<String> = images
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .filter(|t| t.contains(prefix))
        .collect();
    for name in names {
        let _ = docker
            .remove_image(
                &name,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
