//! Benchmark program for `shipit affected` (STYLE.md: benchmarks print ratios, they assert no timings).
//!
//! Builds a synthetic monorepo with `git fast-import` (103,005 files: 1,000 services, 50 libraries):
//! commit A is the whole tree, commit B changes about 5,000 files across about 100 services. Every
//! service has a multi-stage Dockerfile and a `.dockerignore`; one in ten builds from the root and
//! copies a shared folder, so `affected` reads and parses Dockerfiles as it would on a real
//! monorepo (those of the services a change could reach, the root-context ones always). Then it
//! times, in rotating order, two baselines, `git diff --name-only A B` (git's default, with rename
//! detection) and `git diff --name-only --no-renames A B` (the same listing shipit makes), against
//! `shipit affected --base A --head B --format json` on two shapes of the same repository's config,
//! and prints medians, ratios against both baselines, peak RSS and goals for each:
//!
//! - prefix: every glob is a plain folder (`proto/svc-0001/**`, `services/svc-0001/docs/**`);
//! - wildcard: the same, and every service also excludes a wildcard tail
//!   (`services/svc-0001/src/*/*.txt`), read from `bench/ci-wildcard.toml` through `--config`.
//!
//! Then shipit again (prefix globs), once with each speed trick of `shipit::fast` turned off
//! (`SHIPIT_TRICKS_OFF=NAME`), in the same rotation: what each trick buys is the difference of
//! medians it prints (`--no-tricks-off` leaves these runs out).
//!
//! Run it with:
//!
//!     cargo build --release --bin shipit --bin shipit-bench-affected
//!     target/release/shipit-bench-affected [--runs N] [--shipit PATH] [--keep DIR]

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: shipit-bench-affected [--runs N] [--shipit PATH] [--keep DIR] [--no-tricks-off]

  --runs N          timed runs of each command (default 15, after 2 warm-ups)
  --shipit PATH     the shipit binary (default: $SHIPIT_BIN, else target/release/shipit)
  --keep DIR        build the repository in DIR (absent or empty) and keep it, e.g. for profiling
  --no-tricks-off   do not also time shipit with each speed trick of shipit::fast turned off
  --help            print this help";

const SERVICES: usize = 1000;
const LIBS: usize = 50;
const WARMUPS: usize = 2;
/// The library B changes; lib-48 and lib-49 follow it in the `depends_on` chain and are affected too.
const CHANGED_LIB: usize = 47;
/// The config of the wildcard variant, committed next to ci.toml.
const WILDCARD_CONFIG: &str = "bench/ci-wildcard.toml";

type Res<T> = Result<T, String>;

/// Exit status: 0 done, 1 shipit's answer failed the sanity check, 2 bad arguments or a failed step.
fn main() {
    let code = parse_args().and_then(|opts| {
        let Some(opts) = opts else {
            println!("{USAGE}");
            return Ok(0);
        };
        let dir = opts.keep.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("shipit-bench-affected-{}", std::process::id()))
        });
        if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
            return Err(format!("{} exists and is not empty", dir.display()));
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let result = bench(&opts, &dir);
        if opts.keep.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    });
    std::process::exit(code.unwrap_or_else(|msg| {
        eprintln!("error: {msg}");
        2
    }));
}

struct Options {
    runs: usize,
    shipit: PathBuf,
    keep: Option<PathBuf>,
    /// Also time shipit with each speed trick off.
    tricks: bool,
}

/// The options, or None for `--help`.
fn parse_args() -> Res<Option<Options>> {
    let mut shipit = std::env::var_os("SHIPIT_BIN").map(PathBuf::from);
    let (mut runs, mut keep, mut tricks) = (15, None, true);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--runs" => {
                let v = value()?;
                let n = v.parse().ok().filter(|n| *n > 0);
                runs = n.ok_or(format!("--runs wants a number > 0, not {v:?}"))?;
            }
            "--shipit" => shipit = Some(PathBuf::from(value()?)),
            "--keep" => keep = Some(PathBuf::from(value()?)),
            "--no-tricks-off" => tricks = false,
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        }
    }
    // By default target/release/shipit, this program living in target/<profile>/.
    let shipit = match shipit {
        Some(path) => path,
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this program: {e}"))?
            .with_file_name("../release/shipit"),
    };
    if !shipit.is_file() {
        return Err(format!(
            "no shipit binary at {}: build it (cargo build --release --bin shipit) or pass --shipit",
            shipit.display()
        ));
    }
    Ok(Some(Options {
        runs,
        shipit,
        keep,
        tricks,
    }))
}

/// Generates the repository in `dir`, runs both commands and prints the report.
fn bench(opts: &Options, dir: &Path) -> Res<i32> {
    let started = Instant::now();
    let repo = generate(dir)?;
    let [modified, added, deleted, renamed] = repo.changes;
    println!("shipit affected benchmark");
    println!(
        "repo: {} files, {} services ({SERVICES} + {LIBS} libraries), {} changed files \
         ({modified} modified, {added} added, {deleted} deleted, {renamed} renamed); \
         generated in {:.1} s",
        repo.files,
        SERVICES + LIBS,
        repo.changes.iter().sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    if let Some(keep) = &opts.keep {
        println!("kept in {}: A = {}, B = {}", keep.display(), repo.a, repo.b);
    }

    // All run in the repository. Rounds rotate which goes first, so that none always runs right
    // after another has warmed a cache.
    let git_args = ["diff", "--name-only", &repo.a, &repo.b];
    let no_renames_args = ["diff", "--name-only", "--no-renames", &repo.a, &repo.b];
    let shipit_args = [
        "affected", "--base", &repo.a, "--head", &repo.b, "--format", "json",
    ];
    let wildcard_args = [
        "--config",
        WILDCARD_CONFIG,
        "affected",
        "--base",
        &repo.a,
        "--head",
        &repo.b,
        "--format",
        "json",
    ];
    // The four measured commands, then `shipit affected` (prefix globs) with each speed trick of
    // `shipit::fast` turned off in turn, unless `--no-tricks-off`.
    let mut commands: Vec<(&Path, &[&str], Option<&str>)> = vec![
        (Path::new("git"), &git_args, None),
        (Path::new("git"), &no_renames_args, None),
        (&opts.shipit, &shipit_args, None),
        (&opts.shipit, &wildcard_args, None),
    ];
    if opts.tricks {
        for trick in shipit::fast::TRICKS {
            commands.push((&opts.shipit, &shipit_args, Some(trick.name)));
        }
    }
    let n = commands.len();
    let mut samples: Vec<Vec<(Duration, u64)>> = vec![Vec::new(); n];
    let mut outputs: Vec<Vec<u8>> = vec![Vec::new(); n];
    for round in 0..WARMUPS + opts.runs {
        for which in (0..n).map(|k| (k + round) % n) {
            let (program, args, off) = commands[which];
            let mut cmd = Command::new(program);
            cmd.args(args).current_dir(dir);
            // Always set, so that every shipit run has the same environment size.
            cmd.env(shipit::env_vars::SHIPIT_TRICKS_OFF, off.unwrap_or(""));
            let (wall, max_rss_kb, stdout) = measure(cmd)?;
            if round >= WARMUPS {
                samples[which].push((wall, max_rss_kb));
            }
            outputs[which] = stdout;
        }
    }

    let runs = opts.runs;
    println!("runs: {runs} of each after {WARMUPS} warm-ups, in rotating order");
    let mut baselines = [0.0; 2];
    for (which, label) in [
        (0, "git diff --name-only A B            "),
        (1, "git diff --name-only --no-renames A B"),
    ] {
        let (med, min, rss) = summarize(&samples[which]);
        let names = String::from_utf8_lossy(&outputs[which]).lines().count();
        println!(
            "{label}  median {med:8.1} ms  min {min:8.1} ms  peak RSS {rss:6.1} MB  ({names} names)"
        );
        baselines[which] = med;
    }
    let mut failed = false;
    let variants = [
        ("prefix", 2, repo.expected[0]),
        ("wildcard", 3, repo.expected[1]),
    ];
    for (name, which, expected) in variants {
        let (med, min, rss) = summarize(&samples[which]);
        let ratio = med / baselines[0];
        let strict = med / baselines[1];
        println!(
            "shipit affected, {name:<8} globs         median {med:8.1} ms  min {min:8.1} ms  \
             peak RSS {rss:6.1} MB"
        );
        println!("  ratio median(shipit) / median(git diff): {ratio:.2}");
        println!("  ratio median(shipit) / median(git diff --no-renames): {strict:.2}");

        // Sanity: shipit must select something, and should select what the generator expects.
        let out = &outputs[which];
        let affected = serde_json::from_slice::<serde_json::Value>(out)
            .ok()
            .and_then(|json| Some(json.get("services")?.as_array()?.len()))
            .filter(|n| *n > 0);
        let Some(affected) = affected else {
            let start = String::from_utf8_lossy(&out[..out.len().min(300)]).into_owned();
            eprintln!(
                "error: no services in shipit's JSON ({name}, expected {expected}); it began: {start:?}"
            );
            failed = true;
            continue;
        };
        let note = match affected == expected {
            true => "as expected",
            false => "WARNING: the generator expects",
        };
        println!("  affected: shipit reported {affected} services ({note} {expected})");
        let met = |ok: bool| if ok { "met" } else { "not met" };
        println!("  goal ratio <= 1.5: {} ({ratio:.2})", met(ratio <= 1.5));
        let strict_goal = met(strict <= 1.5);
        println!("  goal ratio <= 1.5 against --no-renames: {strict_goal} ({strict:.2})");
        let rss_goal = met(rss < 100.0);
        println!("  goal shipit peak RSS < 100 MB: {rss_goal} ({rss:.1} MB)");
    }
    if opts.tricks {
        println!(
            "speed tricks (shipit::fast): shipit affected, prefix globs, with one trick off \
             ({}=NAME), against all on",
            shipit::env_vars::SHIPIT_TRICKS_OFF
        );
        let (on, _, _) = summarize(&samples[2]);
        let width = shipit::fast::TRICKS
            .iter()
            .map(|t| t.name.len())
            .max()
            .unwrap_or(0);
        for (k, trick) in shipit::fast::TRICKS.iter().enumerate() {
            let which = 4 + k;
            let (off, min, _) = summarize(&samples[which]);
            if outputs[which] != outputs[2] {
                eprintln!("error: with {} off shipit answered differently", trick.name);
                failed = true;
            }
            println!(
                "  {:<width$} off: median {off:8.1} ms  min {min:8.1} ms  buys {:+.1} ms",
                trick.name,
                off - on
            );
        }
    }
    Ok(i32::from(failed))
}

/// Median and min wall time in ms, and the peak RSS in MB, of a set of runs.
fn summarize(samples: &[(Duration, u64)]) -> (f64, f64, f64) {
    let mut ms: Vec<f64> = samples.iter().map(|(d, _)| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    let median = (ms[(n - 1) / 2] + ms[n / 2]) / 2.0;
    let max_rss_kb = samples.iter().map(|(_, kb)| *kb).max().unwrap_or(0);
    (median, ms[0], max_rss_kb as f64 / 1024.0)
}

/// Runs a command to completion, reading its stdout fully, and reaps it with wait4 for its own
/// peak RSS (ru_maxrss, in KB on Linux). Returns (wall time, peak RSS in KB, stdout); a failure
/// is an error that shows the command's stderr.
fn measure(mut cmd: Command) -> Res<(Duration, u64, Vec<u8>)> {
    let name = format!("{:?}", cmd.get_program());
    let start = Instant::now();
    let cmd = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {name}: {e}"))?;
    // stderr is read on a thread so that neither pipe can fill up and stall the child.
    let mut err_pipe = child.stderr.take().ok_or("no stderr pipe")?;
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let mut stdout = Vec::new();
    let read = child
        .stdout
        .take()
        .ok_or("no stdout pipe")?
        .read_to_end(&mut stdout);
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: the pid is our own child, not yet reaped; status and usage are valid for writes.
    while unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) } < 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("wait4 on {name}: {err}"));
        }
    }
    let wall = start.elapsed();
    let stderr = err_thread.join().unwrap_or_default();
    read.map_err(|e| format!("reading the output of {name}: {e}"))?;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        let stderr = String::from_utf8_lossy(&stderr);
        return Err(format!(
            "{name} failed (wait status {status:#x}):\n{}",
            stderr.trim_end()
        ));
    }
    Ok((wall, usage.ru_maxrss as u64, stdout))
}

/// What the generator made: the two commits, the file count, the changes (modified, added,
/// deleted, renamed), and how many services (libraries included) B should affect with the prefix
/// config and with the wildcard one.
#[derive(Default)]
struct Repo {
    a: String,
    b: String,
    files: usize,
    changes: [usize; 4],
    expected: [usize; 2],
}

/// Creates the repository in `dir` with fast-import, then checks B out: shipit reads ci.toml from
/// the work tree and checks that service paths exist. No identity or config is needed from the
/// user: the commits carry theirs in the stream.
fn generate(dir: &Path) -> Res<Repo> {
    let git = |args: &[&str]| -> Res<String> {
        let out = Command::new("git").args(args).current_dir(dir).output();
        let out = out.map_err(|e| format!("cannot run git: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.success() {
            true => Ok(String::from_utf8_lossy(&out.stdout).trim().to_string()),
            false => Err(format!(
                "git {} failed: {}",
                args.join(" "),
                stderr.trim_end()
            )),
        }
    };
    git(&["init", "-q", "-b", "main"])?;
    let mut import = Command::new("git");
    import
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped());
    let mut child = import
        .spawn()
        .map_err(|e| format!("cannot run git fast-import: {e}"))?;
    let mut repo = Repo::default();
    let stdin = child.stdin.take().ok_or("no pipe to git fast-import")?;
    let written = write_stream(BufWriter::new(stdin), &mut repo);
    let status = child.wait().map_err(|e| format!("git fast-import: {e}"))?;
    if !status.success() {
        return Err(format!("git fast-import failed ({status})"));
    }
    written.map_err(|e| format!("writing to git fast-import: {e}"))?;
    repo.a = git(&["rev-parse", "main~1"])?;
    repo.b = git(&["rev-parse", "main"])?;
    // Writing the 103,005 files is most of the generation time: check out with one worker a core.
    git(&["-c", "checkout.workers=0", "checkout", "-q", "-f", "main"])?;
    Ok(repo)
}

/// The libraries service `i` depends on: one for every service, a second for every even one.
fn service_deps(i: usize) -> Vec<usize> {
    let (first, second) = (i % LIBS, (i * 7 + 3) % LIBS);
    match i.is_multiple_of(2) && second != first {
        true => vec![first, second],
        false => vec![first],
    }
}

/// The 97 files of every service, relative to its directory.
fn service_files() -> Vec<String> {
    let mut files: Vec<String> = (0..60).map(|n| format!("src/mod_{n:02}.rs")).collect();
    files.push("src/gen/notes.txt".to_string());
    files.extend((0..20).map(|n| format!("tests/test_{n:02}.rs")));
    files.extend((0..5).map(|n| format!("docs/page_{n:02}.txt")));
    files.extend((0..5).map(|n| format!("config/cfg_{n:02}.yaml")));
    let top = [
        "Dockerfile",
        ".dockerignore",
        "README.md",
        "Cargo.toml",
        "build.sh",
        "Makefile",
    ];
    files.extend(top.map(String::from));
    files
}

/// Services built from the repository root (`context = "../.."`), copying their folder and the
/// shared protos: every tenth. None of them is changed by B (only their dependencies are).
fn root_context(i: usize) -> bool {
    i % 10 == 3
}

/// The shared folder the root-context services copy.
const SHARED: &[&str] = &["shared/proto/common.proto", "shared/proto/types.proto"];

/// A service's Dockerfile: a build stage that copies its context, or its folder and the shared
/// protos from the root context; the image takes the build stage's output only.
fn dockerfile(i: usize) -> String {
    let copy = match root_context(i) {
        true => format!("COPY services/svc-{i:04}/ ./\nCOPY shared/proto/ ./proto\n"),
        false => "COPY . .\n".to_string(),
    };
    format!(
        "# syntax=docker/dockerfile:1\nFROM rust:1 AS build\nWORKDIR /src\n{copy}\
         RUN --mount=type=cache,target=/usr/local/cargo/registry \\\n    cargo build --release\n\
         FROM scratch\nCOPY --from=build /src/target/release/app /app\nENTRYPOINT [\"/app\"]\n"
    )
}

/// What the services leave out of their image: their docs, and the generated notes.
const DOCKERIGNORE: &str = "README.md\ndocs\nsrc/gen\n";

/// A fast-import `M` of `path` with the given content.
fn put_text(out: &mut impl Write, path: &str, body: &str) -> std::io::Result<()> {
    write!(out, "M 100644 inline {path}\ndata {}\n{body}\n", body.len())
}

/// A fast-import `M` of `path` with small content unique to the path and version.
fn put(out: &mut impl Write, path: &str, version: u32) -> std::io::Result<()> {
    let body = format!("// {path}\npub const VERSION: u32 = {version};\n");
    write!(out, "M 100644 inline {path}\ndata {}\n{body}\n", body.len())
}

/// A commit on refs/heads/main with a fixed identity and date.
fn commit(out: &mut impl Write, mark: u32, time: u64, message: &str) -> std::io::Result<()> {
    let who = format!("Bench <bench@example.com> {time} +0000");
    writeln!(
        out,
        "commit refs/heads/main\nmark :{mark}\nauthor {who}\ncommitter {who}"
    )?;
    write!(out, "data {}\n{message}\n", message.len())
}

/// The fast-import stream: commit A (the whole tree), then commit B (the change).
fn write_stream(mut out: impl Write, repo: &mut Repo) -> std::io::Result<()> {
    let out = &mut out;
    commit(out, 1, 1_700_000_000, "A: the whole monorepo")?;
    let mut toml = String::from("[global]\ntriggers = [\"ci.toml\"]\nignore = [\"**/*.md\"]\n");
    let mut wild = toml.clone();
    for i in 0..SERVICES {
        let deps: Vec<_> = service_deps(i)
            .iter()
            .map(|l| format!("\"lib-{l:02}\""))
            .collect();
        let context = match root_context(i) {
            true => "context = \"../..\"\n",
            false => "",
        };
        let service = |exclude: &str| {
            format!(
                "\n[services.svc-{i:04}]\npath = \"services/svc-{i:04}\"\n\
                 include = [\"proto/svc-{i:04}/**\"]\nexclude = [{exclude}]\n\
                 depends_on = [{}]\n{context}",
                deps.join(", ")
            )
        };
        let docs = format!("\"services/svc-{i:04}/docs/**\"");
        toml += &service(&docs);
        wild += &service(&format!("{docs}, \"services/svc-{i:04}/src/*/*.txt\""));
        let files = service_files();
        for file in &files {
            let path = format!("services/svc-{i:04}/{file}");
            match file.as_str() {
                "Dockerfile" => put_text(out, &path, &dockerfile(i))?,
                ".dockerignore" => put_text(out, &path, DOCKERIGNORE)?,
                _ => put(out, &path, 1)?,
            }
        }
        put(out, &format!("proto/svc-{i:04}/api.proto"), 1)?;
        repo.files += files.len() + 1;
    }
    for l in 0..LIBS {
        let lib = format!("\n[services.lib-{l:02}]\npath = \"libs/lib-{l:02}\"\nimage = false\n");
        toml += &lib;
        wild += &lib;
        wild += &format!("exclude = [\"libs/lib-{l:02}/src/*/*.txt\"]\n");
        if l > 0 {
            let dep = format!("depends_on = [\"lib-{:02}\"]\n", l - 1);
            toml += &dep;
            wild += &dep;
        }
        let mut files: Vec<String> = (0..90).map(|n| format!("src/lib_{n:02}.rs")).collect();
        files.extend((0..8).map(|n| format!("tests/t_{n:02}.rs")));
        files.extend(["README.md".into(), "Cargo.toml".into()]);
        for file in &files {
            put(out, &format!("libs/lib-{l:02}/{file}"), 1)?;
        }
        repo.files += files.len();
    }
    write!(
        out,
        "M 100644 inline ci.toml\ndata {}\n{toml}\n",
        toml.len()
    )?;
    write!(
        out,
        "M 100644 inline {WILDCARD_CONFIG}\ndata {}\n{wild}\n",
        wild.len()
    )?;
    put(out, "README.md", 1)?;
    for file in SHARED {
        put(out, file, 1)?;
    }
    repo.files += 3 + SHARED.len();

    // Commit B. Every 10th service: 33 modified, 5 added, 5 deleted and 5 renamed files, plus its
    // README.md (ignored), a docs/ page (excluded) and src/gen/notes.txt (excluded by the wildcard
    // config). 20 other services change only their proto (affected through `include`), 20 only
    // README.md and 20 only docs/ (neither affected), 20 only src/gen/notes.txt (affected with the
    // prefix config only). lib-47 changes 10 files. Services depending on lib-47..49 are affected
    // through the chain.
    commit(out, 2, 1_700_003_600, "B: a change across ~100 services")?;
    writeln!(out, "from :1")?;
    let mut changes = [0; 4];
    for i in 0..SERVICES {
        let s = format!("services/svc-{i:04}");
        let mut hit = service_deps(i).iter().any(|&l| l >= CHANGED_LIB);
        let mut hit_prefix_only = false;
        if i % 10 == 0 {
            for n in 0..33 {
                put(out, &format!("{s}/src/mod_{n:02}.rs"), 2)?;
            }
            for n in 0..5 {
                put(out, &format!("{s}/src/new_{n:02}.rs"), 1)?;
                writeln!(out, "D {s}/tests/test_{n:02}.rs")?;
                let m = n + 5;
                writeln!(
                    out,
                    "R {s}/tests/test_{m:02}.rs {s}/tests/moved/test_{m:02}.rs"
                )?;
            }
            put(out, &format!("{s}/README.md"), 2)?;
            put(out, &format!("{s}/docs/page_00.txt"), 2)?;
            put(out, &format!("{s}/src/gen/notes.txt"), 2)?;
            changes = [
                changes[0] + 36,
                changes[1] + 5,
                changes[2] + 5,
                changes[3] + 5,
            ];
            hit = true;
        } else if i % 50 == 5 {
            put(out, &format!("proto/svc-{i:04}/api.proto"), 2)?;
            (changes[0], hit) = (changes[0] + 1, true);
        } else if i % 50 == 15 || i % 50 == 25 {
            let file = if i % 50 == 15 {
                "README.md"
            } else {
                "docs/page_01.txt"
            };
            put(out, &format!("{s}/{file}"), 2)?;
            changes[0] += 1;
        } else if i % 50 == 35 {
            put(out, &format!("{s}/src/gen/notes.txt"), 2)?;
            (changes[0], hit_prefix_only) = (changes[0] + 1, true);
        }
        repo.expected[0] += usize::from(hit || hit_prefix_only);
        repo.expected[1] += usize::from(hit);
    }
    for n in 0..10 {
        put(
            out,
            &format!("libs/lib-{CHANGED_LIB:02}/src/lib_{n:02}.rs"),
            2,
        )?;
    }
    changes[0] += 10;
    repo.changes = changes;
    repo.expected[0] += LIBS - CHANGED_LIB;
    repo.expected[1] += LIBS - CHANGED_LIB;
    writeln!(out, "done")?;
    out.flush()
}
