//! `shipit plan` against the real registries: a Distribution registry (anonymous, with basic auth,
//! with more than a thousand tags) and moto's ECR, seeded with images.

use serde_json::{Value, json};

use crate::support::git::TestRepo;
use crate::support::registry::{Ecr, Oci};
use crate::support::shipit::{Run, redact, run, shipit};
use crate::support::{moto, registry, registry_auth, registry_token, unique};

fn config(registry: &str) -> String {
    format!(
        r#"[project]
registry = "{registry}"

[global]
ignore = ["*.md"]

[services.api]
path = "services/api"
depends_on = ["common"]
test = "true"

[services.web]
path = "services/web"

[services.web.environments.prod]
build_args = {{ API_URL = "https://api.example.com" }}

[services.common]
path = "libs/common"
image = false
"#
    )
}

const DIRS: &[&str] = &["services/api", "services/web", "libs/common"];

/// The Dockerfiles of the image services, written (not committed): a plan refuses a build whose
/// Dockerfile is not in the commit, as the release does.
fn dockerfiles(repo: &TestRepo) {
    repo.write("services/web/Dockerfile", "FROM scratch\n# web\n");
    repo.write("services/api/Dockerfile", "FROM scratch\n");
}

fn repo(registry: &str) -> TestRepo {
    let repo = TestRepo::with_config(&config(registry), DIRS);
    dockerfiles(&repo);
    repo.change(
        "services/api/Dockerfile",
        "FROM scratch\n",
        "chore: dockerfiles",
    );
    repo
}

fn plan_with(repo: &TestRepo, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = shipit(&repo.dir);
    cmd.args(["plan", "--format", "json"]).args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    run(cmd)
}

fn plan(repo: &TestRepo, args: &[&str]) -> Value {
    let r = plan_with(repo, args, &[]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    r.json()
}

/// The plan of one service, by name.
fn service<'a>(plan: &'a Value, name: &str) -> &'a Value {
    plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {plan}"))
}

#[test]
fn next_versions_follow_the_conventional_commits_of_the_range() {
    let prefix = unique("plan-versions");
    let oci = Oci::new(&registry(), None);
    oci.push(
        &format!("{prefix}/api"),
        "old",
        &["stage-1.2.0", "stage-1.10.0", "prod-7.0.0", "latest"],
    );
    let repo = repo(&format!("oci://{}/{prefix}", registry()));
    let base = repo.head();
    let fix = repo.change("services/api/a.rs", "1", "fix(api): a");
    let feat = repo.change("services/api/b.rs", "2", "feat(api): b");
    let breaking = repo.change("services/api/c.rs", "3", "refactor(api)!: c");
    for (head, expected) in [(&fix, "1.10.1"), (&feat, "1.11.0"), (&breaking, "2.0.0")] {
        let p = plan(
            &repo,
            &["--branch", "develop", "--base", &base, "--head", head],
        );
        let api = service(&p, "api");
        assert_eq!(api["last_version"], json!("1.10.0"));
        assert_eq!(api["next_version"], json!(expected), "{head}");
        assert_eq!(api["action"], json!("build"));
        assert_eq!(
            api["repository"],
            json!(format!("{}/{prefix}/api", registry()))
        );
        let tags: Vec<&str> = api["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(tags[0], format!("stage-{expected}"));
        assert!(tags[1].starts_with("fp-") && tags.len() == 2, "{tags:?}");
    }
    assert_eq!(
        plan(&repo, &["--branch", "develop", "--base", &base])["environment"],
        json!("stage")
    );
}

#[test]
fn a_library_fix_bumps_its_dependents_and_only_commits_that_touch_a_service_count() {
    let prefix = unique("plan-deps");
    let repo = repo(&format!("oci://{}/{prefix}", registry()));
    Oci::new(&registry(), None).push(&format!("{prefix}/api"), "old", &["stage-0.3.0"]);
    let base = repo.head();
    repo.change("services/web/x.js", "x", "feat(web): unrelated to api");
    repo.change("libs/common/lib.rs", "x", "fix(common): shared");
    let p = plan(&repo, &["--branch", "develop", "--base", &base]);
    assert_eq!(service(&p, "api")["next_version"], json!("0.3.1"));
    assert_eq!(
        service(&p, "api")["reasons"],
        json!([{"kind": "dependency", "service": "common"}])
    );
    assert_eq!(
        service(&p, "web")["next_version"],
        json!("0.1.0"),
        "no version yet: the initial one"
    );
    assert_eq!(service(&p, "common")["action"], json!("test"));
}

#[test]
fn the_same_inputs_skip_here_and_promote_elsewhere() {
    let prefix = unique("plan-promote");
    let oci = Oci::new(&registry(), None);
    let repo = repo(&format!("oci://{}/{prefix}", registry()));
    repo.change(
        "services/web/Dockerfile",
        "FROM scratch\n",
        "chore: web dockerfile",
    );
    let base = repo.rev("HEAD~2");
    let stage = plan(&repo, &["--branch", "develop", "--base", &base]);
    // Release it, as `shipit release` would: push an image with exactly the planned tags, and
    // the fingerprint label shipit writes (a skip or a promotion is checked against it).
    let mut digests = std::collections::BTreeMap::new();
    for name in ["api", "web"] {
        let s = service(&stage, name);
        assert_eq!(s["action"], json!("build"));
        let tags: Vec<&str> = s["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let fingerprint = s["fingerprint"].as_str().unwrap();
        digests.insert(
            name,
            oci.push_labelled(
                &format!("{prefix}/{name}"),
                name,
                &[("dev.shipit.fingerprint", fingerprint)],
                &tags,
            ),
        );
    }

    let again = plan(&repo, &["--branch", "develop", "--base", &base]);
    for name in ["api", "web"] {
        let s = service(&again, name);
        assert_eq!(s["action"], json!("skip"), "{name}: {s}");
        assert_eq!(s["next_version"], json!("0.1.0"));
        assert_eq!(s["tags"], json!([]));
        assert_eq!(s["digest"], json!(digests[name]));
    }

    let prod = plan(&repo, &["--branch", "main", "--base", &base]);
    let api = service(&prod, "api");
    assert_eq!(api["action"], json!("promote"));
    assert_eq!(api["digest"], json!(digests["api"]));
    assert_eq!(api["tags"], json!(["prod-0.1.0", "latest"]));
    // web is built with other build args for prod: other inputs, a new image.
    assert_eq!(service(&prod, "web")["action"], json!("build"));
}

#[test]
fn every_page_of_a_thousand_tags_is_read() {
    let prefix = unique("plan-pages");
    let oci = Oci::new(&registry(), None);
    let name = format!("{prefix}/api");
    oci.push(&name, "many", &["stage-0.0.0"]);
    let tags: Vec<String> = (1..=1001).map(|i| format!("stage-0.0.{i}")).collect();
    oci.tag(&name, "many", &tags);
    assert_eq!(oci.tags(&name).len(), 1002);
    let repo = repo(&format!("oci://{}/{prefix}", registry()));
    let p = plan(&repo, &["--branch", "develop", "--all"]);
    assert_eq!(service(&p, "api")["last_version"], json!("0.0.1001"));
    assert_eq!(service(&p, "api")["next_version"], json!("0.0.1002"));
}

#[test]
fn basic_auth_registries_take_credentials_from_the_environment() {
    let (host, user, password) = registry_auth();
    let prefix = unique("plan-auth");
    Oci::new(&host, Some((user.clone(), password.clone()))).push(
        &format!("{prefix}/api"),
        "x",
        &["stage-2.0.0"],
    );
    let repo = repo(&format!("oci://{host}/{prefix}"));
    let good = plan_with(
        &repo,
        &["--branch", "develop", "--all"],
        &[
            ("SHIPIT_REGISTRY_USERNAME", &user),
            ("SHIPIT_REGISTRY_PASSWORD", &password),
        ],
    );
    assert_eq!(good.code, 0, "{}", good.transcript());
    assert_eq!(service(&good.json(), "api")["next_version"], json!("2.0.1"));

    let anonymous = plan_with(&repo, &["--branch", "develop", "--all"], &[]);
    assert_eq!(anonymous.code, 2, "{}", anonymous.transcript());
    assert!(
        anonymous.stderr.contains("refused the credentials"),
        "{}",
        anonymous.stderr
    );
    assert!(
        anonymous.stderr.contains("SHIPIT_REGISTRY_USERNAME"),
        "{}",
        anonymous.stderr
    );

    let wrong = plan_with(
        &repo,
        &["--branch", "develop", "--all"],
        &[
            ("SHIPIT_REGISTRY_USERNAME", &user),
            ("SHIPIT_REGISTRY_PASSWORD", "wrong-password"),
        ],
    );
    assert_eq!(wrong.code, 2, "{}", wrong.transcript());
    assert!(
        !wrong.stderr.contains("wrong-password"),
        "a credential was printed: {}",
        wrong.stderr
    );
}

#[test]
fn bearer_token_registries_answer_the_challenge() {
    let (_, user, password) = registry_auth();
    let host = registry_token();
    let prefix = unique("plan-token");
    Oci::with_tokens(&host, &user, &password).push(
        &format!("{prefix}/api"),
        "x",
        &["stage-3.1.4", "fp-unrelated"],
    );
    let repo = repo(&format!("oci://{host}/{prefix}"));
    let creds = [
        ("SHIPIT_REGISTRY_USERNAME", user.as_str()),
        ("SHIPIT_REGISTRY_PASSWORD", password.as_str()),
    ];
    let good = plan_with(&repo, &["--branch", "develop", "--all"], &creds);
    assert_eq!(good.code, 0, "{}", good.transcript());
    assert_eq!(service(&good.json(), "api")["next_version"], json!("3.1.5"));
    assert_eq!(service(&good.json(), "web")["last_version"], json!(null));

    let wrong = plan_with(
        &repo,
        &["--branch", "develop", "--all"],
        &[creds[0], ("SHIPIT_REGISTRY_PASSWORD", "nope-nope")],
    );
    assert_eq!(wrong.code, 2, "{}", wrong.transcript());
    assert!(
        wrong.stderr.contains("the token service answered 401"),
        "{}",
        wrong.stderr
    );
}

#[test]
fn an_unreachable_registry_is_bad_input() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let repo = repo(&format!("oci://127.0.0.1:{port}/x"));
    let r = plan_with(&repo, &["--branch", "develop", "--all"], &[]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    insta::assert_snapshot!(
        redact(&r.transcript(), &[repo.dir.parent().unwrap()]).replace(&port.to_string(), "[PORT]")
    );
}

#[test]
fn ecr_through_moto() {
    let ecr = Ecr::new(&moto());
    let prefix = unique("plan-ecr");
    ecr.create_repository(&format!("{prefix}/api"));
    ecr.put(
        &format!("{prefix}/api"),
        "one",
        &["stage-0.9.0", "dev-3.0.0"],
    );
    ecr.put(&format!("{prefix}/api"), "two", &["stage-0.10.0"]);
    let toml = config("ecr").replace(
        "registry = \"ecr\"",
        &format!("registry = \"ecr\"\nrepository = \"{prefix}/{{service}}\""),
    );
    let repo = TestRepo::with_config(&toml, DIRS);
    dockerfiles(&repo);
    repo.commit("chore: dockerfiles");
    let vars = [
        ("AWS_ENDPOINT_URL", moto()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = plan_with(&repo, &["--branch", "develop", "--all"], &vars);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let p = r.json();
    assert_eq!(service(&p, "api")["last_version"], json!("0.10.0"));
    assert_eq!(service(&p, "api")["next_version"], json!("0.10.1"));
    assert!(
        service(&p, "api")["repository"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{prefix}/api"))
    );
    // No repository yet is a normal state: the first version.
    assert_eq!(service(&p, "web")["last_version"], json!(null));
    assert_eq!(service(&p, "web")["next_version"], json!("0.1.0"));

    let no_credentials: Vec<(&str, &str)> = vars
        .iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"))
        .copied()
        .collect();
    let r = plan_with(&repo, &["--branch", "develop", "--all"], &no_credentials);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(r.stderr.contains("no AWS credentials"), "{}", r.stderr);
}

#[test]
fn a_version_file_is_a_floor_and_must_hold_a_version() {
    let prefix = unique("plan-floor");
    let toml = config(&format!("oci://{}/{prefix}", registry())).replace(
        "depends_on = [\"common\"]",
        "depends_on = [\"common\"]\nversion_file = \"VERSION\"",
    );
    let repo = TestRepo::with_config(&toml, DIRS);
    dockerfiles(&repo);
    repo.change("services/api/VERSION", "2.5.0\n", "chore: version");
    Oci::new(&registry(), None).push(&format!("{prefix}/api"), "x", &["stage-1.0.0"]);
    let p = plan(&repo, &["--branch", "develop", "--all"]);
    assert_eq!(service(&p, "api")["next_version"], json!("2.5.0"));

    repo.change("services/api/VERSION", "two point six\n", "chore: oops");
    let r = plan_with(&repo, &["--branch", "develop", "--all"], &[]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    insta::assert_snapshot!(redact(&r.transcript(), &[repo.dir.parent().unwrap()]));
}

/// An image index (a multi-platform image, with an attestation first) is proven by the labels of
/// its first image: the right fingerprint promotes it, another one builds again.
#[test]
fn an_image_index_is_checked_through_its_first_images_labels() {
    let prefix = unique("plan-index");
    let oci = Oci::new(&registry(), None);
    let repo = repo(&format!("oci://{}/{prefix}", registry()));
    let stage = plan(&repo, &["--branch", "develop", "--all"]);
    let api = service(&stage, "api");
    let fingerprint = api["fingerprint"].as_str().unwrap().to_string();
    let name = format!("{prefix}/api");
    let push = |seed: &str, fp: &str| -> String {
        let labels = [("dev.shipit.fingerprint", fp)];
        oci.push_labelled(&name, seed, &labels, &[]);
        oci.push_labelled(&name, &format!("{seed}-att"), &[], &[]);
        let attestation = format!("{seed}-att");
        let none: &[(&str, &str)] = &[];
        let children = [
            (attestation.as_str(), none, "unknown"),
            (seed, &labels[..], "linux"),
        ];
        oci.push_index(
            &name,
            &children,
            &["stage-0.1.0", &format!("fp-{fingerprint}")],
        )
    };
    let index = push("right", &fingerprint);
    let prod = plan(&repo, &["--branch", "main", "--all"]);
    let api = service(&prod, "api");
    assert_eq!(api["action"], json!("promote"), "{api}");
    assert_eq!(api["digest"], json!(index));
    assert_eq!(prod["warnings"], json!([]));

    // The same tags moved to an index of another fingerprint's image: built again, and said.
    let other = push("wrong", "0000000000000000000000000000000000000000");
    assert_ne!(other, index);
    let prod = plan(&repo, &["--branch", "main", "--all"]);
    let api = service(&prod, "api");
    assert_eq!(api["action"], json!("build"), "{api}");
    assert_eq!(api["tags"], json!(["prod-0.1.0", "latest"]));
    assert!(
        prod["warnings"].to_string().contains("another fingerprint"),
        "{}",
        prod["warnings"]
    );
}

#[test]
fn offline_and_branches_without_an_environment() {
    let repo = repo("oci://127.0.0.1:1/never-asked");
    let p = plan(&repo, &["--branch", "develop", "--all", "--offline"]);
    assert_eq!(p["offline"], json!(true));
    assert_eq!(service(&p, "api")["action"], json!("unknown"));
    assert_eq!(service(&p, "api")["next_version"], json!(null));
    assert!(service(&p, "api")["fingerprint"].as_str().unwrap().len() == 40);

    let p = plan(&repo, &["--branch", "feature/x", "--all"]);
    assert_eq!(p["environment"], json!(null));
    assert!(
        p["services"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["action"] == "test")
    );
}

#[test]
fn plan_text_is_a_table() {
    let prefix = unique("plan-text");
    Oci::new(&registry(), None).push(&format!("{prefix}/api"), "x", &["stage-1.4.0"]);
    let repo = repo(&format!("oci://{}/{prefix}", registry()));
    let base = repo.head();
    repo.change("libs/common/x.rs", "x", "feat(common): x");
    let mut cmd = shipit(&repo.dir);
    cmd.args(["plan", "--branch", "develop", "--base", &base]);
    let r = run(cmd);
    let text = redact(&r.transcript(), &[repo.dir.parent().unwrap()])
        .replace(&registry(), "[REGISTRY]")
        .replace(&prefix, "[PREFIX]");
    insta::assert_snapshot!(text);
}

/// The keys for real repositories, against the Distribution registry: a service with its own
/// repository name, built from the repository root (`context = "/"`), with build args from a
/// dotenv file (only the names its Dockerfile's `ARG`s declare) and `test_only` globs.
#[test]
fn repository_root_context_build_args_file_and_test_only() {
    let prefix = unique("plan-keys");
    let config = format!(
        r#"[project]
registry = "oci://{}/{prefix}"

[services.api]
path = "services/api"
repository = "legacy-{{service}}"
context = "/"
build_args_file = "/.env"
test_only = ["tests/**"]
test = "true"
"#,
        registry()
    );
    let repo = TestRepo::with_config(&config, &["services/api/src", "services/api/tests"]);
    repo.write(
        "services/api/Dockerfile",
        "FROM scratch\nARG API_URL\nCOPY services/api/src /src\n",
    );
    repo.write(".env", "API_URL=https://one.example\nDB_PASSWORD=hunter2\n");
    let base = repo.commit("chore: api");
    let mut cmd = shipit(&repo.dir);
    cmd.arg("validate");
    let v = run(cmd);
    assert_eq!(v.code, 0, "{}", v.transcript());

    // Only a test changed: the tests run, no image.
    let tests = repo.change("services/api/tests/a.rs", "1", "test(api): a");
    let p = plan(&repo, &["--branch", "develop", "--base", &base]);
    let api = service(&p, "api");
    assert_eq!(api["action"], json!("test"), "{p}");
    assert_eq!(api["tags"], json!([]));

    // A source changed: an image, built from the root, in its own repository.
    let src = repo.change("services/api/src/main.rs", "1", "fix(api): a");
    let p = plan(&repo, &["--branch", "develop", "--base", &tests]);
    let api = service(&p, "api");
    assert_eq!(api["action"], json!("build"), "{p}");
    assert_eq!(
        api["repository"],
        json!(format!("{}/{prefix}/legacy-api", registry()))
    );
    assert_eq!(api["build"]["context"], json!("."));
    assert_eq!(api["build"]["dockerfile"], json!("services/api/Dockerfile"));
    assert_eq!(api["build"]["build_args_file"], json!(".env"));
    assert_eq!(
        api["build"]["build_args"],
        json!({"API_URL": "https://one.example"})
    );

    // The dotenv file is an input of the service, outside its path.
    repo.change(".env", "API_URL=https://two.example\n", "chore: api url");
    let p = plan(&repo, &["--branch", "develop", "--base", &src]);
    let api = service(&p, "api");
    assert_eq!(api["action"], json!("build"), "{p}");
    assert_eq!(
        api["build"]["build_args"],
        json!({"API_URL": "https://two.example"})
    );
    assert_eq!(api["reasons"][0]["file"], json!(".env"));
}
