use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use semver::Version;

use super::values::closest;
use super::*;
use indoc::indoc;
use test_case::test_case;

/// Parses `toml` in a temporary tree where every service path exists.
fn parse(toml: &str) -> Result<Config, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    for p in ["a", "b", "libs/c"] {
        std::fs::create_dir_all(dir.path().join(p)).unwrap();
    }
    Config::parse(
        toml,
        "ci.toml",
        Path::new("ci.toml"),
        dir.path(),
        Checks::Load,
    )
    .map_err(|e| match e {
        ConfigError::Invalid(p) => p.problems.iter().map(|p| p.message.clone()).collect(),
        other => vec![other.to_string()],
    })
}

#[test]
fn defaults() {
    let c = parse("[services.a]\npath = \"a\"\n").unwrap();
    assert_eq!(c.project.repository, "{service}");
    assert_eq!(c.project.registry, Registry::Ecr);
    assert_eq!(c.project.retain, 10);
    assert_eq!(c.project.initial_version, Version::new(0, 1, 0));
    let envs: Vec<_> = c
        .environments
        .iter()
        .map(|e| (e.name.as_str(), e.branch.as_str(), e.latest))
        .collect();
    assert_eq!(
        envs,
        [
            ("dev", "development", false),
            ("prod", "main", true),
            ("stage", "develop", false)
        ]
    );
    let a = &c.services[0];
    assert_eq!(
        (a.dockerfile.as_str(), a.context.as_str()),
        ("Dockerfile", ".")
    );
    assert_eq!((a.ecs_service.as_str(), a.container.as_str()), ("a", "a"));
    assert!(a.image);
}

#[test]
fn secrets_merge_like_build_args_and_cache_is_on_by_default() {
    let c = parse(indoc! {r#"
        [environments.prod]
        branch = "main"
        secrets = { A = "env:ENV_A", B = "env:ENV_B" }

        [services.a]
        path = "a"
        secrets = { B = "env:SERVICE_B" }
        environments.prod.secrets = { C = "env:PROD_C" }

        [services.b]
        path = "b"
        cache = false
    "#})
    .unwrap();
    let build = c.services[0].build(&c.environments[0]);
    assert_eq!(
        build.secrets.into_iter().collect::<Vec<_>>(),
        [
            ("A".to_string(), "env:ENV_A".to_string()),
            ("B".into(), "env:SERVICE_B".into()),
            ("C".into(), "env:PROD_C".into())
        ]
    );
    assert!(build.cache);
    assert!(!c.services[1].build(&c.environments[0]).cache);
}

#[test]
fn everything_resolves() {
    let c = parse(indoc! {r#"
        [project]
        repository = "clinic/{service}"
        registry = "oci://127.0.0.1:5000/team"
        retain = 3
        initial_version = "1.0.0"

        [environments.prod]
        branch = "main"
        latest = true
        clusters = ["x", "y"]
        rollout_timeout = "1m30s"
        poll_interval = "500ms"
        rollout_wait = "traffic-shifted"

        [services.a]
        path = "./a/"
        depends_on = ["c"]
        version_file = "VERSION"

        [services.a.environments.prod]
        dockerfile = "Dockerfile.prod"
        build_args = { URL = "https://example.com" }
        clusters = ["x"]

        [services.c]
        path = "libs/c"
        image = false
    "#})
    .unwrap();
    assert_eq!(
        c.project.registry,
        Registry::Oci {
            host: "127.0.0.1:5000".into(),
            prefix: Some("team".into())
        }
    );
    assert_eq!(c.environments[0].rollout_timeout, Duration::from_secs(90));
    assert_eq!(c.environments[0].poll_interval, Duration::from_millis(500));
    assert_eq!(
        c.environments[0].rollout_wait,
        crate::config::RolloutWait::TrafficShifted
    );
    let a = c.service("a").unwrap();
    assert_eq!(a.path, "a");
    assert_eq!(a.initial_version, Version::new(1, 0, 0));
    assert_eq!(
        a.environments["prod"].clusters.as_deref(),
        Some(&["x".to_string()][..])
    );
    assert_eq!(c.environment_for_branch("main").unwrap().name, "prod");
    assert!(c.environment_for_branch("feature").is_none());
}

#[test_case("[services.a]\npath = \"a\"\nimage = \"yes\"\n", "`services.a.image` must be true or false, not a string (\"yes\")"; "wrong type")]
#[test_case("[services.a]\n", "[services.a] has no `path`, which it must have"; "missing path")]
#[test_case("[project]\nrepository = \"Clinic/{service}\"\n", "not a valid image repository template"; "uppercase repository")]
#[test_case("[project]\nregistry = \"oci://host:port\"\n", "`port` is not a port"; "bad port")]
#[test_case("[project]\nregistry = \"oci://user:pw@host\"\n", "credentials go in the environment"; "credentials in the address")]
#[test_case("[project]\ninitial_version = \"1.0\"\n", "is not a version"; "short version")]
#[test_case("[environments.Prod]\nbranch = \"main\"\n", "cannot be a tag prefix"; "uppercase environment")]
#[test_case("[environments.a]\nbranch = \"main\"\nlatest = true\n[environments.b]\nbranch = \"dev\"\nlatest = true\n", "`latest` is set on both"; "two latest")]
#[test_case("[environments.a]\nbranch = \"main\"\nclusters = [\"x\", \"x\"]\n", "listed twice"; "repeated cluster")]
#[test_case("[environments.a]\nbranch = \"main\"\npoll_interval = \"0s\"\n", "is not a duration"; "zero duration")]
#[test_case("[environments.a]\nbranch = \"main\"\nrollout_wait = \"baked\"\n", "traffic-shifted"; "unknown rollout_wait")]
#[test_case("[services.A]\npath = \"a\"\n", "cannot name an image"; "uppercase service")]
#[test_case("[services.\"a..b\"]\npath = \"a\"\n", "service `a..b` would push to the image repository `a..b`, which is not a valid repository name: `..` in `a..b` is not a separator"; "double dot service")]
#[test_case("[services.\"a-.b\"]\npath = \"a\"\n", "`-.` in `a-.b` is not a separator"; "dash dot service")]
#[test_case("[services.a___b]\npath = \"a\"\n", "`___` in `a___b` is not a separator"; "three underscores service")]
#[test_case("[services.a-]\npath = \"a\"\n", "`a-` ends with a separator"; "trailing dash service")]
#[test_case("[project]\nrepository = \"team/x{service}\"\n[services._a]\npath = \"a\"\n", "cannot name an image"; "leading underscore service")]
#[test_case("[project]\nregistry = \"oci://h.example/team\"\nrepository = \"{service}_\"\n[services.a]\npath = \"a\"\n", "`service_` ends with a separator"; "template ending in a separator")]
#[test_case("[project]\nrepository = \"team..x/{service}\"\n", "not a valid image repository template: `..` in `team..x` is not a separator"; "double dot template")]
#[test_case("[project]\nregistry = \"oci://h.example/te__-am\"\n", "`__-` in `te__-am` is not a separator"; "bad prefix")]
#[test_case("[services.a]\npath = \"../a\"\n", "must stay inside the repository"; "path outside")]
#[test_case("[services.a]\npath = \"a\"\ndepends_on = [\"a\"]\n", "depends on itself"; "self dependency")]
#[test_case("[services.a]\npath = \"a\"\nversion_file = \"setup.py\"\n", "cannot read a version"; "unknown version file")]
#[test_case("[services.a]\npath = \"a\"\ndockerfile = \"/etc/Dockerfile\"\n", "must be a relative path"; "absolute dockerfile")]
#[test_case("[services.a]\npath = \"a\"\ndepends_on = [\"b\"]\n[services.b]\npath = \"b\"\ndepends_on = [\"a\"]\n", "cycle: a → b → a"; "cycle")]
#[test_case("[services.a]\npath = \"a\"\nsecrets = { NPM = \"NPM_TOKEN\" }\n", "is not a source"; "secret without env prefix")]
#[test_case("[services.a]\npath = \"a\"\nsecrets = { \"a b\" = \"env:X\" }\n", "is not a secret id"; "bad secret id")]
#[test_case("[global]\nignore = [\"**/*.md\", \"!**/ATTRIBUTION.md\"]\n", "`!**/ATTRIBUTION.md`: a pattern starting with `!` is not supported"; "negated ignore")]
#[test_case("[services.a]\npath = \"a\"\nexclude = [\"!a/keep\"]\n", "`!a/keep`: a pattern starting with `!` is not supported"; "negated exclude")]
#[test_case("[services.a]\npath = \"a\"\nrepository = \"Team/a\"\n", "`repository = \"Team/a\"` of service `a` is not a valid image repository"; "invalid service repository")]
#[test_case("[services.a]\npath = \"a\"\nrepository = \"b\"\n[services.b]\npath = \"b\"\n", "services `a` and `b` would both push to the image repository `b`"; "service repository taken")]
fn problems(toml: &str, expected: &str) {
    let problems = parse(toml).unwrap_err();
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "{expected:?} not in {problems:#?}"
    );
}

#[test_case("[services.a]\npath = \"a\"\ncontext = \"../../..\"\n", "`context` of service `a` leads outside the repository"; "context outside")]
#[test_case("[services.a]\npath = \"a\"\ndockerfile = \"../../Dockerfile\"\n", "`dockerfile` of service `a` leads outside"; "dockerfile outside")]
#[test_case("[services.a]\npath = \"a\"\ntask_definition = \"x/../../../td.json\"\n", "`task_definition` of service `a` leads outside"; "task definition outside")]
#[test_case("[services.a]\npath = \"a\"\n[services.a.environments.prod]\ndockerfile = \"../../D\"\n", "`dockerfile` of service `a` leads outside"; "environment dockerfile outside")]
fn paths_stay_inside_the_repository(toml: &str, expected: &str) {
    let toml = format!("[environments.prod]\nbranch = \"main\"\n{toml}");
    let problems = parse(&toml).unwrap_err();
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "{expected:?} not in {problems:#?}"
    );
}

#[test]
fn a_context_one_level_up_inside_the_repository_is_fine() {
    let c = parse("[services.a]\npath = \"libs/c\"\ncontext = \"..\"\n").unwrap();
    assert_eq!(c.services[0].context, "..");
    assert_eq!(c.services[0].join(&c.services[0].context), "libs");
}

#[test]
fn a_service_names_its_own_repository_and_the_root_as_its_context() {
    let c = parse(indoc! {r#"
        [project]
        repository = "team/{service}"
        [services.a]
        path = "a"
        repository = "legacy/{service}-api"
        [services.b]
        path = "libs/c"
        context = "/"
        [services.c]
        path = "libs/c"
        context = "/a"
    "#})
    .unwrap();
    let [a, b, cc] = [0, 1, 2].map(|i| &c.services[i]);
    assert_eq!(a.repository(&c.project), "legacy/a-api");
    assert_eq!(b.repository(&c.project), "team/b");
    assert_eq!(
        (b.context.as_str(), b.join(&b.context).as_str()),
        ("../..", ".")
    );
    assert_eq!(cc.join(&cc.context), "a");
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_repository_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("Dockerfile"), "FROM scratch").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("Dockerfile"),
        dir.path().join("a/Dockerfile"),
    )
    .unwrap();
    // Inside links are fine.
    std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("alias")).unwrap();
    let load = |toml: &str| {
        Config::parse(
            toml,
            "ci.toml",
            Path::new("ci.toml"),
            dir.path(),
            Checks::Load,
        )
        .map_err(|e| format!("{e:?}"))
    };
    let err = load("[services.x]\npath = \"escape\"\n").unwrap_err();
    assert!(
        err.contains("`path` of service `x` leads outside the repository through a symlink"),
        "{err}"
    );
    let err = load("[services.x]\npath = \"a\"\n").unwrap_err();
    assert!(
        err.contains("`dockerfile` of service `x` leads outside"),
        "{err}"
    );
    let err = load("[services.x]\npath = \"alias\"\ncontext = \"../escape/sub\"\n").unwrap_err();
    assert!(
        err.contains("`context` of service `x` leads outside"),
        "{err}"
    );
    std::fs::remove_file(dir.path().join("a/Dockerfile")).unwrap();
    assert!(load("[services.x]\npath = \"alias\"\n").is_ok());
}

/// A folder of many services is read whole rather than asked one name at a time: the answers
/// are the same, for folders, missing paths, files and symlinks out of the repository.
#[cfg(unix)]
#[test]
fn a_folder_of_many_services_is_checked_as_closely_as_one_service() {
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let services = dir.path().join("services");
    let mut toml = String::new();
    for i in 0..20 {
        std::fs::create_dir_all(services.join(format!("s{i:02}"))).unwrap();
        toml.push_str(&format!(
            "[services.s{i:02}]\npath = \"services/s{i:02}\"\n"
        ));
    }
    std::os::unix::fs::symlink(outside.path(), services.join("escape")).unwrap();
    std::os::unix::fs::symlink(services.join("s00"), services.join("alias")).unwrap();
    std::fs::write(services.join("file"), "").unwrap();
    for name in ["escape", "alias", "file", "missing"] {
        toml.push_str(&format!("[services.{name}]\npath = \"services/{name}\"\n"));
    }
    let err = Config::parse(
        &toml,
        "ci.toml",
        Path::new("ci.toml"),
        dir.path(),
        Checks::Load,
    )
    .map(|_| ())
    .unwrap_err();
    let ConfigError::Invalid(problems) = err else {
        panic!("{err:?}")
    };
    let messages: Vec<&str> = problems
        .problems
        .iter()
        .map(|p| p.message.as_str())
        .collect();
    let out = outside.path().canonicalize().unwrap();
    let out = out.display();
    assert_eq!(
        messages,
        [
            format!(
                "`path` of service `escape` leads outside the repository through a symlink: `services/escape` is {out}"
            ),
            format!(
                "`context` of service `escape` leads outside the repository through a symlink: `services/escape` is {out}"
            ),
            format!(
                "`dockerfile` of service `escape` leads outside the repository through a symlink: `services/escape/Dockerfile` is {out}"
            ),
            "`services/file` does not exist in the repository".to_string(),
            "`services/missing` does not exist in the repository".to_string(),
        ]
    );
}

/// Left for later or not, the checks find the same problems, in the same order.
#[cfg(unix)]
#[test]
fn checks_left_for_later_find_what_an_immediate_load_finds() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("Dockerfile"), "FROM scratch").unwrap();
    let dir = tempfile::tempdir().unwrap();
    for p in ["a", "b", "c"] {
        std::fs::create_dir_all(dir.path().join(p)).unwrap();
    }
    std::os::unix::fs::symlink(
        outside.path().join("Dockerfile"),
        dir.path().join("a/Dockerfile"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("Dockerfile"),
        dir.path().join("c/Dockerfile"),
    )
    .unwrap();
    let messages = |e: ConfigError| match e {
        ConfigError::Invalid(p) => p.problems.iter().map(|p| p.message.clone()).collect(),
        other => vec![other.to_string()],
    };
    let now = |toml: &str| {
        let file = dir.path().join("ci.toml");
        Config::parse(toml, "ci.toml", &file, dir.path(), Checks::Load).map_err(messages)
    };
    let later = |toml: &str| {
        let file = dir.path().join("ci.toml");
        std::fs::write(&file, toml).unwrap();
        let (config, mut later) =
            Config::load_checking_later(&file, dir.path()).map_err(messages)?;
        later.finish(&config).map_err(messages).map(|()| config)
    };
    // Only the symlinks: the load succeeds, and `finish` finds them.
    let paths_only =
        "[services.a]\npath = \"a\"\n[services.b]\npath = \"b\"\n[services.c]\npath = \"c\"\n";
    let found = now(paths_only).map(|_| ()).unwrap_err();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(later(paths_only).map(|_| ()).unwrap_err(), found);
    // With other problems between them: refused at once, in the same order.
    let mixed = "[services.a]\npath = \"a\"\n[services.b]\npath = \"b\"\ndepends_on = [\"x\"]\n[services.c]\npath = \"c\"\ninclude = [\"[\"]\n";
    let found = now(mixed).map(|_| ()).unwrap_err();
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(
        found[0].contains("`dockerfile` of service `a`"),
        "{found:?}"
    );
    assert!(found[1].contains("depends_on"), "{found:?}");
    assert!(
        found[3].contains("`dockerfile` of service `c`"),
        "{found:?}"
    );
    assert_eq!(later(mixed).map(|_| ()).unwrap_err(), found);
    // And a config without problems loads the same.
    std::fs::remove_file(dir.path().join("a/Dockerfile")).unwrap();
    std::fs::remove_file(dir.path().join("c/Dockerfile")).unwrap();
    let shown = |c: Config| format!("{:?}", c.services);
    assert_eq!(
        shown(later(paths_only).unwrap()),
        shown(now(paths_only).unwrap())
    );
}

#[test_case("10s", Some(10_000); "seconds")]
#[test_case("15m", Some(900_000); "minutes")]
#[test_case("1h", Some(3_600_000); "hours")]
#[test_case("1m30s", Some(90_000); "compound")]
#[test_case("250ms", Some(250); "milliseconds")]
#[test_case("10", None; "no unit")]
#[test_case("s", None; "no number")]
#[test_case("1x", None; "unknown unit")]
#[test_case("1d", Some(86_400_000); "days")]
#[test_case("1h 30m", Some(5_400_000); "spaced")]
#[test_case("", None; "empty")]
fn durations(text: &str, millis: Option<u64>) {
    assert_eq!(parse_duration(text).map(|d| d.as_millis() as u64), millis);
}

#[test]
fn a_typo_gets_a_suggestion_and_a_stranger_does_not() {
    let known: BTreeSet<&str> = ["common", "visits"].into();
    assert_eq!(closest("comon", &known), Some("common"));
    assert_eq!(closest("payments", &known), None);
}

#[test]
fn repository_names_follow_the_distribution_grammar() {
    let c = parse(
        "[project]\nregistry = \"oci://h.example/te-am\"\n[services.\"a--b\"]\npath = \"a\"\n[services.\"a__b.c-d_e\"]\npath = \"b\"\n[services.\"x..y\"]\npath = \"libs/c\"\nimage = false\n",
    )
    .unwrap();
    assert_eq!(c.services.len(), 3);
    // The problem points at the service's key.
    let toml = "[services.\"a..b\"]\npath = \"a\"\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    let err = Config::parse(
        toml,
        "ci.toml",
        Path::new("ci.toml"),
        dir.path(),
        Checks::Load,
    )
    .unwrap_err();
    let rendered = format!("{:?}", miette::Report::new(crate::Error::from(err)));
    assert!(rendered.contains("ci.toml:1:11"), "{rendered}");
}

#[test]
fn platforms_are_taken_from_the_nearest_level_and_absent_means_none() {
    let c = parse(indoc! {r#"
        [project]
        platforms = ["linux/amd64"]

        [environments.prod]
        branch = "main"
        platforms = ["linux/amd64", "linux/arm64"]

        [environments.stage]
        branch = "develop"

        [services.a]
        path = "a"

        [services.b]
        path = "b"
        platforms = ["linux/arm64/v8"]

        [services.b.environments.stage]
        platforms = ["linux/amd64", "linux/arm64"]
    "#})
    .unwrap();
    let (prod, stage) = (&c.environments[0], &c.environments[1]);
    let platforms = |s: usize, e: &Environment| c.services[s].build(e).platforms;
    assert_eq!(platforms(0, prod), ["linux/amd64", "linux/arm64"]);
    assert_eq!(platforms(0, stage), ["linux/amd64"]);
    assert_eq!(platforms(1, prod), ["linux/arm64/v8"]);
    assert_eq!(platforms(1, stage), ["linux/amd64", "linux/arm64"]);
    let none = parse("[services.a]\npath = \"a\"\n").unwrap();
    assert!(
        none.services[0]
            .build(&none.environments[0])
            .platforms
            .is_empty()
    );
}

#[test_case(r#"platforms = ["linux"]"#, "`linux` is not a platform" ; "no arch")]
#[test_case(r#"platforms = ["Linux/AMD64"]"#, "`Linux/AMD64` is not a platform" ; "upper case")]
#[test_case(r#"platforms = ["linux/arm64/v8/x"]"#, "is not a platform" ; "four parts")]
#[test_case(r#"platforms = ["linux/amd64", "linux/amd64"]"#, "platform `linux/amd64` is listed twice" ; "twice")]
#[test_case(r#"platforms = []"#, "`platforms` is empty" ; "empty")]
fn bad_platforms_are_refused(line: &str, expected: &str) {
    problems(
        &format!("[project]\n{line}\n\n[services.a]\npath = \"a\"\n"),
        expected,
    );
}
