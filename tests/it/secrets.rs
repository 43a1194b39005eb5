//! No credential reaches any output: a whole release through a registry with basic auth, under
//! GitHub Actions, with a test that prints secrets and a test that fails printing them; then every
//! output (terminal, log files, `--report`, `GITHUB_OUTPUT`, the step summary) is searched for every
//! secret it used. And the ways a credential used to get out: the address in ci.toml, a ci.toml
//! that is a symlink to a credentials file, a token service or a `Link` on another host.

use std::path::Path;

use crate::support::git::TestRepo;
use crate::support::netfake::Server;
use crate::support::registry::Oci;
use crate::support::shipit::{run, shipit, shipit_run};
use crate::support::{busybox, registry_auth, unique};

/// Lines of stderr that are the runner's masking commands: consumed by GitHub Actions, never shown.
fn shown(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A message as one line: miette's wrapping (and its `│` margin) undone.
fn flat(stderr: &str) -> String {
    stderr
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn no_secret_of_a_whole_release_reaches_any_output() {
    let (host, user, password) = registry_auth();
    let prefix = unique("secrets");
    let tmp = tempfile::tempdir().unwrap();
    let aws_secret = "aws-secret-Q7xk2Lw9Zp";
    let session = "session-line-one-Hq3v\nsession-line-two-Jx8m";
    // Outside the repository: what a test may read and print (a fixture, a dumped config).
    let leak = tmp.path().join("leak.txt");
    std::fs::write(
        &leak,
        format!("registry password: {password}\naws: {aws_secret}\nsession-line-two-Jx8m\n"),
    )
    .unwrap();
    let seen_env = tmp.path().join("env-seen");
    let toml = format!(
        r#"[project]
registry = "oci://{host}/{prefix}"

[services.api]
path = "services/api"
test = "cat {leak}; env > {seen}"

[services.worker]
path = "services/worker"
test = "cat {leak} >&2; echo failing; exit 3"
"#,
        leak = leak.display(),
        seen = seen_env.display()
    );
    let repo = TestRepo::new();
    repo.write("ci.toml", &toml);
    for dir in ["services/api", "services/worker"] {
        repo.write(
            &format!("{dir}/Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\n",
        );
        std::fs::copy(busybox(), repo.dir.join(dir).join("busybox")).unwrap();
    }
    repo.commit("initial import");

    let output = tmp.path().join("github-output");
    let summary = tmp.path().join("step-summary");
    let report = tmp.path().join("report.json");
    let log_root = tmp.path().join("logs");
    std::fs::create_dir_all(&log_root).unwrap();
    // The commit released is the tip of the branch released.
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--branch", "develop", "--all", "--report"])
        .arg(&report)
        .env("TMPDIR", &log_root)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("SHIPIT_REGISTRY_USERNAME", &user)
        .env("SHIPIT_REGISTRY_PASSWORD", &password)
        .env("AWS_SECRET_ACCESS_KEY", aws_secret)
        .env("AWS_SESSION_TOKEN", session)
        .env("SHIPIT_LOG", "debug");
    let r = run(cmd);
    assert_eq!(r.code, 1, "worker's test fails: {}", r.transcript());
    // The release did run: api is in the registry, and the outputs were written.
    let oci = Oci::new(&host, Some((user.clone(), password.clone())));
    assert!(
        oci.tags(&format!("{prefix}/api"))
            .contains(&"stage-0.1.0".to_string())
    );
    let mut outputs = vec![
        ("stdout".to_string(), r.stdout.clone()),
        ("stderr".to_string(), shown(&r.stderr)),
    ];
    for path in [&output, &summary, &report] {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{} was written: {e}", path.display()));
        outputs.push((path.display().to_string(), text));
    }
    let logs = files_under(&log_root);
    assert!(logs.len() >= 2, "log files: {logs:?}");
    for path in logs {
        outputs.push((
            path.display().to_string(),
            String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned(),
        ));
    }
    // The failing test's output is there, masked.
    let all: String = outputs.iter().map(|(_, t)| t.as_str()).collect();
    assert!(all.contains("registry password: ****"), "{all}");
    assert!(all.contains("failing"), "{all}");
    let secrets = [
        password.as_str(),
        aws_secret,
        session,
        "session-line-one-Hq3v",
        "session-line-two-Jx8m",
    ];
    for (name, text) in &outputs {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret:?} is in {name}:\n{text}");
        }
    }
    // Each line of the multi-line secret was handed to the runner to mask.
    assert!(
        r.stderr.contains("::add-mask::session-line-one-Hq3v"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("::add-mask::session-line-two-Jx8m"),
        "{}",
        r.stderr
    );
    // The tests never saw shipit's credentials.
    let env_seen = std::fs::read_to_string(&seen_env).unwrap();
    for name in [
        "SHIPIT_REGISTRY_PASSWORD",
        "SHIPIT_REGISTRY_USERNAME",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        assert!(!env_seen.contains(name), "the test inherited {name}");
    }
}

#[test]
fn credentials_in_the_registry_address_are_never_echoed() {
    let repo = TestRepo::with_config(
        "[project]\nregistry = \"oci://deploy:s3cr3t-Pw-91@registry.example.com/team\"\n\n[services.api]\npath = \"services/api\"\n",
        &["services/api"],
    );
    for args in [
        &["validate"][..],
        &["plan", "--branch", "develop", "--all"][..],
    ] {
        let mut cmd = shipit(&repo.dir);
        cmd.args(args).env("GITHUB_ACTIONS", "true");
        let r = run(cmd);
        assert_eq!(r.code, 2, "{}", r.transcript());
        assert!(
            r.stderr.contains("credentials go in the environment"),
            "{}",
            r.stderr
        );
        assert!(
            !r.transcript().contains("s3cr3t-Pw-91"),
            "{}",
            r.transcript()
        );
        assert!(r.stderr.contains("::error title=shipit::"), "{}", r.stderr);
    }
}

#[test]
fn a_ci_toml_that_links_out_of_the_repository_is_refused_unread() {
    let tmp = tempfile::tempdir().unwrap();
    let credentials = tmp.path().join("credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_secret_access_key = wJalr-Secret-Key-77\n",
    )
    .unwrap();
    let repo = TestRepo::new();
    repo.write("services/api/README.txt", "api");
    repo.commit("initial import");
    std::os::unix::fs::symlink(&credentials, repo.dir.join("ci.toml")).unwrap();
    let r = shipit_run(&repo.dir, &["validate"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(r.stderr.contains("outside the repository"), "{}", r.stderr);
    assert!(
        !r.transcript().contains("wJalr-Secret-Key-77"),
        "{}",
        r.transcript()
    );

    // Not a regular file: refused too, without waiting on it.
    std::fs::remove_file(repo.dir.join("ci.toml")).unwrap();
    std::fs::create_dir(repo.dir.join("ci.toml")).unwrap();
    let r = shipit_run(&repo.dir, &["validate"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(r.stderr.contains("not a regular file"), "{}", r.stderr);

    // A symlink inside the repository is fine.
    std::fs::remove_dir(repo.dir.join("ci.toml")).unwrap();
    repo.write(
        "config/ci.toml",
        "[services.api]\npath = \"services/api\"\nimage = false\n",
    );
    std::os::unix::fs::symlink("config/ci.toml", repo.dir.join("ci.toml")).unwrap();
    let r = shipit_run(&repo.dir, &["validate"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
}

/// A registry that asks for basic auth, then names a next page (or a token service) elsewhere.
fn registry_pointing_at(elsewhere: String, bearer: bool) -> Server {
    Server::scripted(move |req, _addr| {
        let authorized = req.header("authorization").is_some();
        if !authorized {
            let challenge = if bearer {
                format!("Bearer realm=\"{elsewhere}/token\",service=\"x\"")
            } else {
                "Basic realm=\"x\"".to_string()
            };
            return (
                401,
                vec![("WWW-Authenticate".into(), challenge)],
                String::new(),
            );
        }
        if req.path.contains("tags/list") {
            let link = format!("<{elsewhere}/v2/team/api/tags/list?last=a>; rel=\"next\"");
            return (
                200,
                vec![
                    ("Link".into(), link),
                    ("Content-Type".into(), "application/json".into()),
                ],
                r#"{"name":"team/api","tags":["a"]}"#.into(),
            );
        }
        (404, vec![], String::new())
    })
}

#[test]
fn credentials_go_to_no_other_host_a_registry_names() {
    let recorder = Server::scripted(|_, _| (200, vec![], "{}".into()));
    let config = |host: &str| {
        format!(
            "[project]\nregistry = \"oci://{host}/team\"\n\n[services.api]\npath = \"services/api\"\n"
        )
    };
    // An absolute `Link` to another origin.
    let registry = registry_pointing_at(format!("http://{}", recorder.addr), false);
    let repo = TestRepo::with_config(&config(&registry.addr), &["services/api"]);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["plan", "--branch", "develop", "--all"])
        .env("SHIPIT_REGISTRY_USERNAME", "me")
        .env("SHIPIT_REGISTRY_PASSWORD", "link-Secret-5521");
    let r = run(cmd);
    assert_ne!(r.code, 0, "{}", r.transcript());
    assert!(r.stderr.contains("another host"), "{}", r.stderr);
    assert!(
        recorder
            .requests()
            .iter()
            .all(|q| q.header("authorization").is_none()),
        "credentials went to {}: {:?}",
        recorder.addr,
        recorder.requests()
    );

    // A redirect to another origin: followed, without the credentials.
    let target = format!("http://{}", recorder.addr);
    let redirecting = Server::scripted(move |req, _| {
        if req.header("authorization").is_none() {
            return (
                401,
                vec![("WWW-Authenticate".into(), "Basic realm=\"x\"".into())],
                String::new(),
            );
        }
        (
            307,
            vec![("Location".into(), format!("{target}{}", req.path))],
            String::new(),
        )
    });
    let repo = TestRepo::with_config(&config(&redirecting.addr), &["services/api"]);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["plan", "--branch", "develop", "--all"])
        .env("SHIPIT_REGISTRY_USERNAME", "me")
        .env("SHIPIT_REGISTRY_PASSWORD", "redirect-Secret-5523");
    let r = run(cmd);
    assert!(
        recorder
            .requests()
            .iter()
            .any(|q| q.path.contains("tags/list")),
        "the redirect was followed: {}",
        r.transcript()
    );
    assert!(
        recorder
            .requests()
            .iter()
            .all(|q| q.header("authorization").is_none()),
        "credentials went to {} with a redirect: {:?}",
        recorder.addr,
        recorder.requests()
    );

    // A token service on plain http, not on loopback.
    let registry = registry_pointing_at("http://token.example.invalid".into(), true);
    let repo = TestRepo::with_config(&config(&registry.addr), &["services/api"]);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["plan", "--branch", "develop", "--all"])
        .env("SHIPIT_REGISTRY_USERNAME", "me")
        .env("SHIPIT_REGISTRY_PASSWORD", "realm-Secret-5522");
    let r = run(cmd);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(r.stderr.contains("not on https"), "{}", r.stderr);
    assert!(!r.transcript().contains("realm-Secret-5522"));
}

#[test]
fn an_ecr_token_never_goes_in_clear_to_an_engine_on_another_machine() {
    let repo = TestRepo::with_config(
        "[project]\nregistry = \"ecr\"\n\n[services.api]\npath = \"services/api\"\n",
        &["services/api"],
    );
    repo.write("services/api/Dockerfile", "FROM scratch\n");
    repo.commit("a Dockerfile");
    // The commit released is the tip of the branch released.
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--branch", "develop", "--all"])
        .env("DOCKER_HOST", "tcp://192.0.2.10:2375")
        .env("AWS_ENDPOINT_URL", crate::support::moto())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    let (r, _) = crate::support::netfake::run_within(cmd, std::time::Duration::from_secs(60));
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(r.stderr.contains("would travel in clear"), "{}", r.stderr);
    assert!(r.stderr.contains("tcp://192.0.2.10:2375"), "{}", r.stderr);
}

#[test]
fn a_tls_engine_is_spoken_to_over_tls_only() {
    // A listener that records whether it was sent plain HTTP.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let first = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let got = first.clone();
    std::thread::spawn(move || {
        use std::io::Read;
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 4];
            if let Ok(n) = s.read(&mut buf) {
                got.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        }
    });
    let certs = tempfile::tempdir().unwrap();
    let repo = TestRepo::with_config(
        &format!(
            "[project]\nregistry = \"oci://{}/{}\"\n\n[services.api]\npath = \"services/api\"\n",
            crate::support::registry(),
            unique("tls")
        ),
        &["services/api"],
    );
    repo.write("services/api/Dockerfile", "FROM scratch\n");
    repo.commit("a Dockerfile");
    // The commit released is the tip of the branch released.
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--branch", "develop", "--all"])
        .env("DOCKER_HOST", format!("tcp://{addr}"))
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", certs.path());
    let (r, _) = crate::support::netfake::run_within(cmd, std::time::Duration::from_secs(60));
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr.contains("cannot reach the Docker engine"),
        "{}",
        r.stderr
    );
    let sent = first.lock().unwrap().clone();
    assert!(
        !sent.starts_with(b"GET") && !sent.starts_with(b"HEAD") && !sent.starts_with(b"POST"),
        "the engine was spoken to in plain HTTP: {:?}",
        String::from_utf8_lossy(&sent)
    );
}

#[test]
fn the_source_label_of_an_image_carries_no_credentials() {
    let prefix = unique("label");
    let host = crate::support::registry();
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        &format!("[project]\nregistry = \"oci://{host}/{prefix}\"\n\n[services.api]\npath = \"services/api\"\n"),
    );
    repo.write(
        "services/api/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    );
    std::fs::copy(busybox(), repo.dir.join("services/api/busybox")).unwrap();
    repo.commit("initial import");
    // No path after the host: the form the old string search let through whole.
    repo.git(&[
        "remote",
        "add",
        "origin",
        "https://ci-bot:ghp-label-Token-8841@git.example.com",
    ]);
    // The commit released is the tip of the branch released.
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--branch", "develop", "--all"]);
    let r = run(cmd);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(!r.transcript().contains("ghp-label-Token-8841"));
    let (_, labels) = Oci::new(&host, None).inspect(&format!("{prefix}/api"), "stage-0.1.0");
    let source = labels["org.opencontainers.image.source"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(source, "https://git.example.com/", "{labels}");
}

#[test]
fn every_line_of_a_multi_line_password_is_masked() {
    let tmp = tempfile::tempdir().unwrap();
    let password = "first-line-Kp29x\nsecond-line-Vw71q\nthird-line-Ze40m";
    let leak = tmp.path().join("leak.txt");
    std::fs::write(&leak, "second-line-Vw71q\nthird-line-Ze40m\n").unwrap();
    let report = tmp.path().join("report.json");
    let repo = TestRepo::with_config(
        &format!(
            "[services.lib]\npath = \"libs/lib\"\nimage = false\ntest = \"cat {}; exit 1\"\n",
            leak.display()
        ),
        &["libs/lib"],
    );
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--branch", "feature", "--all", "--report"])
        .arg(&report)
        .env("GITHUB_ACTIONS", "true")
        .env("SHIPIT_REGISTRY_USERNAME", "me")
        .env("SHIPIT_REGISTRY_PASSWORD", password);
    let r = run(cmd);
    assert_eq!(r.code, 1, "{}", r.transcript());
    for line in password.lines() {
        assert!(
            r.stderr.contains(&format!("::add-mask::{line}")),
            "{line} is masked: {}",
            r.stderr
        );
    }
    let report = std::fs::read_to_string(&report).unwrap();
    for (name, text) in [
        ("stdout", r.stdout.as_str()),
        ("stderr", &shown(&r.stderr)),
        ("report", &report),
    ] {
        for line in password.lines() {
            assert!(!text.contains(line), "{line} is in {name}:\n{text}");
        }
    }
    assert!(report.contains("****"), "{report}");
}

/// A repository whose services build (a `FROM scratch` image) and whose commit is the tip of
/// `develop` (stage) and of `main` (prod).
fn image_repo(toml: &str, services: &[&str]) -> TestRepo {
    let repo = TestRepo::new();
    repo.write("ci.toml", toml);
    for name in services {
        let dir = format!("services/{name}");
        repo.write(
            &format!("{dir}/Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\n",
        );
        std::fs::copy(busybox(), repo.dir.join(dir).join("busybox")).unwrap();
    }
    repo.commit("initial import");
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    repo
}

/// Every output of a release under GitHub Actions: stdout, stderr (without the runner's masking
/// commands), `GITHUB_OUTPUT`, the step summary, `--report` and every log file.
struct Outputs {
    tmp: tempfile::TempDir,
}

impl Outputs {
    fn new() -> Outputs {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("logs")).unwrap();
        Outputs { tmp }
    }

    fn release(
        &self,
        repo: &TestRepo,
        args: &[&str],
        vars: &[(&str, &str)],
    ) -> crate::support::shipit::Run {
        let mut cmd = shipit(&repo.dir);
        cmd.arg("release")
            .args(args)
            .arg("--report")
            .arg(self.tmp.path().join("report.json"))
            .env("TMPDIR", self.tmp.path().join("logs"))
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", self.tmp.path().join("github-output"))
            .env("GITHUB_STEP_SUMMARY", self.tmp.path().join("step-summary"));
        for (k, v) in vars {
            cmd.env(k, v);
        }
        run(cmd)
    }

    /// (where, text) of every output of `r` and of the files the release wrote.
    fn all(&self, r: &crate::support::shipit::Run) -> Vec<(String, String)> {
        let mut outputs = vec![
            ("stdout".to_string(), r.stdout.clone()),
            ("stderr".to_string(), shown(&r.stderr)),
        ];
        for name in ["github-output", "step-summary", "report.json"] {
            let path = self.tmp.path().join(name);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{} was written: {e}", path.display()));
            outputs.push((name.to_string(), text));
        }
        let logs = files_under(&self.tmp.path().join("logs"));
        assert!(!logs.is_empty(), "log files were written");
        for path in logs {
            outputs.push((
                path.display().to_string(),
                String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned(),
            ));
        }
        outputs
    }

    fn assert_nowhere(&self, r: &crate::support::shipit::Run, secret: &str) {
        for (name, text) in self.all(r) {
            assert!(!text.contains(secret), "{secret:?} is in {name}:\n{text}");
        }
    }
}

#[test]
fn a_build_secret_that_a_test_prints_reaches_no_output_passing_or_failing() {
    let secret = "npm-Token-Vq83kZ2m";
    let prefix = unique("secret-test");
    let toml = format!(
        r#"[project]
registry = "oci://{host}/{prefix}"

[services.api]
path = "services/api"
test = "echo token=$SHIPIT_TEST_NPM_TOKEN; echo token=$SHIPIT_TEST_NPM_TOKEN >&2"
secrets = {{ NPM_TOKEN = "env:SHIPIT_TEST_NPM_TOKEN" }}

[services.worker]
path = "services/worker"
test = "echo token=$SHIPIT_TEST_NPM_TOKEN; echo failing; exit 3"
secrets = {{ NPM_TOKEN = "env:SHIPIT_TEST_NPM_TOKEN" }}
"#,
        host = crate::support::registry()
    );
    let repo = image_repo(&toml, &["api", "worker"]);
    let outputs = Outputs::new();
    let r = outputs.release(
        &repo,
        &["--branch", "develop", "--all"],
        &[("SHIPIT_TEST_NPM_TOKEN", secret)],
    );
    assert_eq!(r.code, 1, "worker's test fails: {}", r.transcript());
    // Both tests ran and printed it, masked; api was released.
    let all: String = outputs.all(&r).iter().map(|(_, t)| t.as_str()).collect();
    assert!(all.contains("token=****"), "{all}");
    assert!(all.contains("failing"), "{all}");
    assert!(
        Oci::new(&crate::support::registry(), None)
            .tags(&format!("{prefix}/api"))
            .contains(&"stage-0.1.0".to_string())
    );
    outputs.assert_nowhere(&r, secret);
    // The runner was told to mask it before the first test.
    let mask = r
        .stderr
        .find(&format!("::add-mask::{secret}"))
        .unwrap_or_else(|| panic!("the runner masks it: {}", r.stderr));
    let first_test = r.stderr.find("::group::").unwrap_or(r.stderr.len());
    assert!(mask < first_test, "masked before any test: {}", r.stderr);
}

#[test]
fn the_secret_of_a_skipped_or_promoted_service_is_masked_too() {
    let secret = "skip-Secret-Jw41pR7c";
    let prefix = unique("secret-skip");
    let toml = format!(
        r#"[project]
registry = "oci://{host}/{prefix}"

[services.api]
path = "services/api"
test = "echo token=$SHIPIT_TEST_SKIP_TOKEN"

[services.api.environments.prod]
secrets = {{ NPM_TOKEN = "env:SHIPIT_TEST_SKIP_TOKEN" }}
"#,
        host = crate::support::registry()
    );
    let repo = image_repo(&toml, &["api"]);
    // Released to stage once, without the secret.
    let first = outputs_release(&repo, &["--branch", "develop", "--all"], &[]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    for (args, action) in [
        (&["--branch", "develop", "--all"][..], "unchanged"),
        (&["--branch", "main", "--all"][..], "released"),
    ] {
        let outputs = Outputs::new();
        let r = outputs.release(&repo, args, &[("SHIPIT_TEST_SKIP_TOKEN", secret)]);
        assert_eq!(r.code, 0, "{args:?}: {}", r.transcript());
        let all: String = outputs.all(&r).iter().map(|(_, t)| t.as_str()).collect();
        assert!(all.contains(action), "{args:?} {action}: {all}");
        assert!(all.contains("token=****"), "{args:?}: {all}");
        outputs.assert_nowhere(&r, secret);
    }
}

fn outputs_release(
    repo: &TestRepo,
    args: &[&str],
    vars: &[(&str, &str)],
) -> crate::support::shipit::Run {
    Outputs::new().release(repo, args, vars)
}

#[test]
fn a_build_arg_that_holds_a_secret_is_refused_before_anything_runs() {
    let secret = "arg-Secret-Ht62nB9x";
    let prefix = unique("secret-arg");
    let toml = format!(
        r#"[project]
registry = "oci://{host}/{prefix}"

[services.api]
path = "services/api"
test = "touch ../../tested"
build_args = {{ AUTH = "Bearer {secret}" }}
secrets = {{ NPM_TOKEN = "env:SHIPIT_TEST_ARG_TOKEN" }}
"#,
        host = crate::support::registry()
    );
    let repo = image_repo(&toml, &["api"]);
    for args in [
        &["release", "--branch", "develop", "--all"][..],
        &["release", "--branch", "develop", "--all", "--dry-run"][..],
        &["plan", "--branch", "develop", "--all"][..],
    ] {
        let mut cmd = shipit(&repo.dir);
        cmd.args(args).env("SHIPIT_TEST_ARG_TOKEN", secret);
        let r = run(cmd);
        assert_eq!(r.code, 2, "{args:?}: {}", r.transcript());
        assert!(
            flat(&r.stderr).contains(
                "the build arg `AUTH` of api holds the value of the build secret `NPM_TOKEN`"
            ),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!r.transcript().contains(secret), "{}", r.transcript());
        assert!(!repo.dir.join("tested").exists(), "no test ran");
    }
    let tags = Oci::new(&crate::support::registry(), None).tags(&format!("{prefix}/api"));
    assert!(tags.is_empty(), "nothing pushed: {tags:?}");
}

#[test]
fn plan_and_dry_run_refuse_an_unset_build_secret_as_the_release_does() {
    let prefix = unique("secret-unset");
    let toml = format!(
        r#"[project]
registry = "oci://{host}/{prefix}"

[services.api]
path = "services/api"
secrets = {{ NPM_TOKEN = "env:SHIPIT_TEST_NEVER_SET_TOKEN" }}
"#,
        host = crate::support::registry()
    );
    let repo = image_repo(&toml, &["api"]);
    for args in [
        &["plan", "--branch", "develop", "--all"][..],
        &["plan", "--branch", "develop", "--all", "--format", "json"][..],
        &["release", "--branch", "develop", "--all", "--dry-run"][..],
        &["release", "--branch", "develop", "--all"][..],
    ] {
        let mut cmd = shipit(&repo.dir);
        cmd.args(args).env_remove("SHIPIT_TEST_NEVER_SET_TOKEN");
        let r = run(cmd);
        assert_eq!(r.code, 2, "{args:?}: {}", r.transcript());
        assert!(
            flat(&r.stderr).contains(
                "the environment variable SHIPIT_TEST_NEVER_SET_TOKEN (the build secret `NPM_TOKEN` of api) is not set"
            ),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(r.stdout, "", "{args:?}: no plan is shown");
    }
}

#[test]
fn a_secret_inside_a_digest_leaves_the_digest_whole() {
    let prefix = unique("secret-digest");
    let toml = format!(
        "[project]\nregistry = \"oci://{}/{prefix}\"\n\n[services.api]\npath = \"services/api\"\n",
        crate::support::registry()
    );
    let repo = image_repo(&toml, &["api"]);
    let mut cmd = shipit(&repo.dir);
    cmd.args([
        "release", "--branch", "develop", "--all", "--format", "json",
    ]);
    let first = run(cmd);
    assert_eq!(first.code, 0, "{}", first.transcript());
    let digest = first.json()["results"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    // A credential that happens to be eight characters of the digest.
    let secret = &digest[30..38];
    let outputs = Outputs::new();
    let r = outputs.release(
        &repo,
        &["--branch", "develop", "--all", "--format", "json"],
        &[("AWS_SECRET_ACCESS_KEY", secret)],
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(
        r.json()["results"][0]["digest"],
        digest.as_str(),
        "{}",
        r.stdout
    );
    let output = std::fs::read_to_string(outputs.tmp.path().join("github-output")).unwrap();
    assert!(output.contains(&digest), "{output}");
    let report = std::fs::read_to_string(outputs.tmp.path().join("report.json")).unwrap();
    assert!(report.contains(&digest), "{report}");
}
