//! Builds through the engine's BuildKit: cache and secret mounts, parallel stages, the secret
//! nowhere in the pushed image, one image config per commit, the engine's cache left alone, and the
//! registry layer cache on an emptied engine.

use std::io::Read;

use crate::support::git::TestRepo;
use crate::support::shipit::{Run, run, shipit};
use crate::support::{busybox, registry, unique};

/// The anonymous registry, read raw: manifests, configs, layers.
struct Raw {
    host: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Raw {
    fn new() -> Raw {
        Raw {
            host: registry(),
            http: reqwest::Client::new(),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    fn get(&self, path: &str, accept: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
        self.rt.block_on(async {
            let resp = self
                .http
                .get(format!("http://{}{path}", self.host))
                .header("accept", accept)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "GET {path}");
            let headers = resp.headers().clone();
            (headers, resp.bytes().await.unwrap().to_vec())
        })
    }

    /// The manifest's digest, the config blob and every layer, uncompressed.
    fn image(&self, name: &str, tag: &str) -> (String, serde_json::Value, Vec<u8>, Vec<Vec<u8>>) {
        let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
        let (headers, body) = self.get(&format!("/v2/{name}/manifests/{tag}"), accept);
        let digest = headers["docker-content-digest"]
            .to_str()
            .unwrap()
            .to_string();
        let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let config_digest = manifest["config"]["digest"].as_str().unwrap();
        let (_, config) = self.get(&format!("/v2/{name}/blobs/{config_digest}"), "*/*");
        let mut layers = Vec::new();
        for layer in manifest["layers"].as_array().unwrap() {
            let (_, blob) = self.get(
                &format!("/v2/{name}/blobs/{}", layer["digest"].as_str().unwrap()),
                "*/*",
            );
            let mut tar = Vec::new();
            flate2::read::GzDecoder::new(&blob[..])
                .read_to_end(&mut tar)
                .unwrap();
            layers.push(tar);
        }
        (
            digest,
            serde_json::from_slice(&config).unwrap(),
            config,
            layers,
        )
    }

    /// Deletes the manifest `tag` points at (and so every tag on it).
    fn delete(&self, name: &str, tag: &str) {
        let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
        let (headers, _) = self.get(&format!("/v2/{name}/manifests/{tag}"), accept);
        let digest = headers["docker-content-digest"]
            .to_str()
            .unwrap()
            .to_string();
        self.rt.block_on(async {
            let resp = self
                .http
                .delete(format!("http://{}/v2/{name}/manifests/{digest}", self.host))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 202, "DELETE {name}@{digest}");
        });
    }
}

/// The engine through its API, for what a test does around shipit.
fn engine<T>(f: impl AsyncFnOnce(bollard::Docker) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        f(docker).await
    })
}

/// Every local image whose name starts with `prefix`.
fn local_images(prefix: &str) -> Vec<String> {
    engine(async |d| {
        d.list_images(None::<bollard::query_parameters::ListImagesOptions>)
            .await
            .unwrap()
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .filter(|t| t.contains(prefix))
            .collect()
    })
}

/// Held by the tests that empty the engine's build cache and by those that count on it.
static ENGINE_CACHE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn engine_cache() -> std::sync::MutexGuard<'static, ()> {
    ENGINE_CACHE.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a fresh runner has: none of this test's images and no build cache.
fn empty_the_engine(prefix: &str) {
    let images = local_images(prefix);
    engine(async |d| {
        for image in images {
            let _ = d
                .remove_image(
                    &image,
                    None::<bollard::query_parameters::RemoveImageOptions>,
                    None,
                )
                .await;
        }
        let all = bollard::query_parameters::PruneBuildOptionsBuilder::default()
            .all(true)
            .build();
        d.prune_build(Some(all)).await.unwrap();
    });
}

fn release(repo: &TestRepo, vars: &[(&str, &str)]) -> Run {
    // The commit released is the branch's tip (shipit refuses anything else).
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    let mut cmd = shipit(&repo.dir);
    cmd.args(["release", "--branch", "develop", "--all"]);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    run(cmd)
}

fn repo_with(prefix: &str, service: &str, dockerfile: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        &format!(
            "[project]\nregistry = \"oci://{}/{prefix}\"\n\n[services.api]\npath = \"api\"\n{service}",
            registry()
        ),
    );
    repo.write("api/Dockerfile", dockerfile);
    repo.write("api/src.txt", "one\n");
    std::fs::copy(busybox(), repo.dir.join("api/busybox")).unwrap();
    repo.commit("initial import");
    repo
}

const SECRET: &str = "npm_s3cr3t-value-4711";

#[test]
fn buildkit_builds_cache_and_secret_mounts_and_parallel_stages_and_the_secret_stays_out() {
    let prefix = unique("buildkit");
    let token = unique("meet");
    // Stages `one` and `two` wait for each other in a shared cache mount: they finish only when
    // the builder runs them at the same time.
    let dockerfile = format!(
        r#"FROM scratch AS base
COPY busybox /bin/busybox
SHELL ["/bin/busybox", "sh", "-c"]

FROM base AS one
RUN --mount=type=cache,id={token},target=/meet,sharing=shared busybox touch /meet/one && for i in $(busybox seq 1 300); do [ -e /meet/two ] && busybox touch /one && exit 0; busybox sleep 0.1; done; exit 1

FROM base AS two
RUN --mount=type=cache,id={token},target=/meet,sharing=shared busybox touch /meet/two && for i in $(busybox seq 1 300); do [ -e /meet/one ] && busybox touch /two && exit 0; busybox sleep 0.1; done; exit 1

FROM base
COPY --from=one /one /one
COPY --from=two /two /two
RUN --mount=type=secret,id=NPM_TOKEN busybox sha256sum /run/secrets/NPM_TOKEN > /secret.sha && busybox cat /run/secrets/NPM_TOKEN
COPY src.txt /src.txt
"#
    );
    let repo = repo_with(
        &prefix,
        "secrets = { NPM_TOKEN = \"env:SHIPIT_TEST_NPM_TOKEN\" }\n",
        &dockerfile,
    );
    let out = release(
        &repo,
        &[
            ("SHIPIT_TEST_NPM_TOKEN", SECRET),
            ("GITHUB_ACTIONS", "true"),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.transcript());

    // The secret reached the build (its hash is in the image) ...
    let raw = Raw::new();
    let (_, config, config_bytes, layers) = raw.image(&format!("{prefix}/api"), "stage-0.1.0");
    let files: Vec<String> = layers
        .iter()
        .flat_map(|l| {
            tar::Archive::new(&l[..])
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    for f in ["one", "two", "secret.sha", "src.txt"] {
        assert!(files.iter().any(|p| p == f), "{f} in {files:?}");
    }
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(SECRET.as_bytes()))
    };
    let in_layers = |needle: &[u8]| {
        layers
            .iter()
            .any(|l| l.windows(needle.len()).any(|w| w == needle))
    };
    assert!(in_layers(sha.as_bytes()), "the secret was mounted");
    // ... and is nowhere in it: no layer, not the config, not the history.
    assert!(!in_layers(SECRET.as_bytes()), "the secret is in a layer");
    assert!(
        !String::from_utf8_lossy(&config_bytes).contains(SECRET),
        "the secret is in the image config: {config}"
    );
    assert!(config["history"].as_array().is_some_and(|h| !h.is_empty()));
    // Not in the output but where Actions is told to mask it; the build printed it as ***.
    for line in out.stdout.lines().chain(out.stderr.lines()) {
        if line.contains(SECRET) {
            assert_eq!(
                line,
                format!("::add-mask::{SECRET}"),
                "{}",
                out.transcript()
            );
        }
    }
    assert!(
        out.stderr.contains("CACHED") || out.stderr.contains("DONE"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("#"),
        "decoded BuildKit steps: {}",
        out.stderr
    );
    // Labels cost no step: the history holds the Dockerfile's steps only.
    assert!(
        !config["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["created_by"].as_str().unwrap_or("").contains("LABEL")),
        "{config}"
    );
}

#[test]
fn a_failing_step_names_its_dockerfile_line() {
    let prefix = unique("failstep");
    let repo = repo_with(
        &prefix,
        "",
        "FROM scratch\nCOPY busybox /bin/busybox\n\nRUN [\"/bin/busybox\", \"false\"]\n",
    );
    let out = release(&repo, &[]);
    assert_eq!(out.code, 1, "{}", out.transcript());
    assert!(
        out.stderr
            .contains("Dockerfile:4: RUN [\"/bin/busybox\", \"false\"]"),
        "{}",
        out.stderr
    );
}

#[test]
fn two_builds_of_one_commit_have_one_image_config() {
    let dockerfile = "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox echo built > /built\"]\nCOPY src.txt /src.txt\n";
    let raw = Raw::new();
    let _cache = engine_cache();
    for cache in [false, true] {
        let prefix = unique("repro");
        let repo = repo_with(&prefix, &format!("cache = {cache}\n"), dockerfile);
        let name = format!("{prefix}/api");
        let first = release(&repo, &[("GITHUB_ACTIONS", "true")]);
        assert_eq!(first.code, 0, "{}", first.transcript());
        let (digest, mut config, _, _) = raw.image(&name, "stage-0.1.0");
        // Without the image in the registry the same commit builds again, a second later.
        raw.delete(&name, "stage-0.1.0");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = release(&repo, &[("GITHUB_ACTIONS", "true")]);
        assert_eq!(second.code, 0, "{}", second.transcript());
        let (again, mut config_again, _, _) = raw.image(&name, "stage-0.1.0");
        if cache {
            // BuildKit's inline cache metadata lists the cache records it knows at export, which
            // grow with every build: the one part of the config that differs.
            let key = "moby.buildkit.cache.v0";
            assert!(config.as_object_mut().unwrap().remove(key).is_some());
            assert!(config_again.as_object_mut().unwrap().remove(key).is_some());
            assert_eq!(config, config_again);
        } else {
            assert_eq!(config, config_again);
            assert_eq!(digest, again, "one manifest, so one config digest");
        }
        let created = config["config"]["Labels"]["org.opencontainers.image.created"]
            .as_str()
            .unwrap()
            .to_string();
        let commit_time = repo.git(&["log", "-1", "--format=%cI"]);
        let rfc3339 = &time::format_description::well_known::Rfc3339;
        assert_eq!(
            time::OffsetDateTime::parse(&created, rfc3339).unwrap(),
            time::OffsetDateTime::parse(&commit_time, rfc3339).unwrap(),
        );
        // shipit removed its own tags and nothing else: the engine's cache served the second build.
        assert!(
            local_images(&prefix).is_empty(),
            "{:?}",
            local_images(&prefix)
        );
        assert!(
            step_cached(&second.stderr, "echo built"),
            "{}",
            second.stderr
        );
    }
}

/// True when the build log says the step whose name contains `step` came from a cache.
fn step_cached(log: &str, step: &str) -> bool {
    let line = log
        .lines()
        .find(|l| l.starts_with('#') && l.contains(step))
        .unwrap_or_else(|| panic!("no step {step} in {log}"));
    let n = line.split_whitespace().next().unwrap();
    log.lines().any(|l| l == format!("{n} CACHED"))
}

#[test]
fn a_rebuild_on_an_emptied_engine_reuses_the_registry_layers() {
    let _cache = engine_cache();
    let prefix = unique("regcache");
    let dockerfile = "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox sleep 2 && /bin/busybox echo deps > /deps\"]\nCOPY src.txt /src.txt\n";
    let repo = repo_with(&prefix, "", dockerfile);
    let first = release(&repo, &[("GITHUB_ACTIONS", "true")]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    repo.change("api/src.txt", "two\n", "a one-file change");
    empty_the_engine(&prefix);
    let second = release(&repo, &[("GITHUB_ACTIONS", "true")]);
    assert_eq!(second.code, 0, "{}", second.transcript());
    // The dependency step came from the registry's inline cache; the changed COPY ran.
    let log = &second.stderr;
    assert!(step_cached(log, "busybox sleep 2"), "{log}");
    assert!(!step_cached(log, "COPY src.txt"), "{log}");
    assert!(log.contains(&format!("{prefix}/api:stage-0.1.0")), "{log}");

    // With `cache = false` the same rebuild runs the step again.
    let repo = repo_with(&format!("{prefix}-off"), "cache = false\n", dockerfile);
    let first = release(&repo, &[("GITHUB_ACTIONS", "true")]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    repo.change("api/src.txt", "two\n", "a one-file change");
    empty_the_engine(&prefix);
    let second = release(&repo, &[("GITHUB_ACTIONS", "true")]);
    assert_eq!(second.code, 0, "{}", second.transcript());
    assert!(
        !step_cached(&second.stderr, "busybox sleep 2"),
        "{}",
        second.stderr
    );
}

#[test]
fn the_registry_cache_pulls_with_the_registry_login_with_and_without_a_build_session_of_shipit() {
    let _cache = engine_cache();
    let (host, user, password) = crate::support::registry_auth();
    let dockerfile = "FROM scratch\nCOPY busybox /bin/busybox\nRUN --mount=type=secret,id=TOKEN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox sleep 1 && /bin/busybox echo deps > /deps\"]\nCOPY src.txt /src.txt\n";
    // With a secret the engine asks shipit's own session for the login; without, bollard's.
    for secrets in ["secrets = { TOKEN = \"env:SHIPIT_TEST_TOKEN\" }\n", ""] {
        let prefix = unique("authcache");
        let repo = TestRepo::new();
        repo.write(
            "ci.toml",
            &format!(
                "[project]\nregistry = \"oci://{host}/{prefix}\"\n\n[services.api]\npath = \"api\"\n{secrets}"
            ),
        );
        repo.write("api/Dockerfile", dockerfile);
        repo.write("api/src.txt", "one\n");
        std::fs::copy(busybox(), repo.dir.join("api/busybox")).unwrap();
        repo.commit("initial import");
        let vars = [
            ("GITHUB_ACTIONS", "true"),
            ("SHIPIT_REGISTRY_USERNAME", user.as_str()),
            ("SHIPIT_REGISTRY_PASSWORD", password.as_str()),
            ("SHIPIT_TEST_TOKEN", "t0ken-for-the-cache-test"),
        ];
        let first = release(&repo, &vars);
        assert_eq!(first.code, 0, "{}", first.transcript());
        repo.change("api/src.txt", "two\n", "a one-file change");
        empty_the_engine(&prefix);
        let second = release(&repo, &vars);
        assert_eq!(second.code, 0, "{}", second.transcript());
        assert!(
            step_cached(&second.stderr, "busybox sleep 1"),
            "{secrets}: {}",
            second.stderr
        );
    }
}
