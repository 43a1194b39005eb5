//! The plan: what a release of one branch would do, per affected service. A plain serialisable
//! value, computed ahead of time ([`inputs`] gathers git and registry state, [`decide`] is pure):
//! `shipit plan` prints it, `shipit release` executes it and nothing else.

pub mod inputs;

use semver::Version;
use serde::Serialize;

use crate::config::Build;
use crate::graph::Reason;
use crate::registry::RepoState;
use crate::version::{self, Bump};

/// The version of the plan's JSON shape; bumped on any incompatible change.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub schema: u32,
    pub branch: String,
    /// `None` for a branch that maps to no environment: tests only.
    pub environment: Option<String>,
    pub base: Option<String>,
    pub head: String,
    pub base_source: String,
    /// True when every service was selected without looking at a diff (as `affected`'s `all`).
    pub all: bool,
    /// True when the registry was not asked: versions and actions are unknown.
    pub offline: bool,
    pub services: Vec<ServicePlan>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Build the image and push it with the new tags.
    Build,
    /// The same inputs were built for another environment: add the new tags to that image.
    Promote,
    /// The same inputs are already released in this environment: nothing to do.
    Skip,
    /// A library, or a branch with no environment: run the tests only.
    Test,
    /// Offline: the registry was not asked.
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServicePlan {
    pub name: String,
    pub path: String,
    pub image: bool,
    pub action: Action,
    pub test: Option<String>,
    /// Where the image goes (`host/name`); `None` offline when the registry's host is only known
    /// by asking it (`ecr`).
    pub repository: Option<crate::image::Repository>,
    pub last_version: Option<Version>,
    pub next_version: Option<Version>,
    pub bump: Option<Bump>,
    /// Every tag this release adds to the registry.
    pub tags: Vec<String>,
    pub fingerprint: Option<String>,
    /// The existing image a promotion tags, or the one a skip found.
    pub digest: Option<String>,
    pub clusters: Vec<String>,
    pub build: Option<Build>,
    /// Images whose layers the build may reuse (BuildKit inline cache): the service's current
    /// version here and its newest on the default branch's environment.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache_from: Vec<String>,
    pub reasons: Vec<Reason>,
}

impl ServicePlan {
    /// The tag the engine pushes a built image under, where it is absent: the one that names its
    /// inputs (`fp-…`, or `dirty-…`), else (the fingerprint tag names another image) its version.
    pub fn push_tag(&self) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.starts_with("fp-") || t.starts_with("dirty-"))
            .or_else(|| self.tags.iter().find(|t| *t != "latest"))
            .map(String::as_str)
    }

    /// The image this release names in `environment` (`host/name:ENV-X.Y.Z`), once the
    /// registry and the version are known.
    pub fn image(&self, environment: &str) -> Option<crate::image::ImageRef> {
        let (repository, version) = (self.repository.as_ref()?, self.next_version.as_ref()?);
        Some(repository.tagged(&version::tag(environment, version)))
    }
}

/// What is known of one image service before deciding.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub environment: &'a str,
    pub latest: bool,
    pub fingerprint: &'a str,
    pub bump: Bump,
    pub initial: &'a Version,
    pub floor: Option<&'a Version>,
    /// `None` offline.
    pub registry: Option<&'a RepoState>,
    /// Built from the working tree (`--allow-dirty`): pushed under its `dirty-` tag only.
    pub dirty: bool,
    /// The image the fingerprint tag names says otherwise in its own labels (see [`refuted`]):
    /// the tag proves nothing, the image is built again.
    pub refuted: bool,
}

/// The labels shipit writes on every image it builds, read back before promoting or skipping.
pub const FINGERPRINT_LABEL: &str = "dev.shipit.fingerprint";
pub const REVISION_LABEL: &str = "org.opencontainers.image.revision";
pub const DIRTY_LABEL: &str = "dev.shipit.dirty";

/// Why the image a fingerprint tag names is not an image of `fingerprint`, from the image's own
/// labels (`None`: its config could not be read, or has no labels): `None` when it is one.
///
/// The fingerprint label must equal the fingerprint, and the dirty label must be absent (or not
/// `true`). The revision may differ: the same inputs built from an earlier commit are the same
/// image, which is what a promotion is for; it is named in the reason when something else is off.
pub fn refuted(
    labels: Option<&std::collections::BTreeMap<String, String>>,
    fingerprint: &str,
) -> Option<String> {
    let Some(labels) = labels else {
        return Some("its config has no labels".to_string());
    };
    let revision = labels
        .get(REVISION_LABEL)
        .map(|r| format!(", revision {}", r.chars().take(12).collect::<String>()))
        .unwrap_or_default();
    if labels.get(DIRTY_LABEL).map(String::as_str) == Some("true") {
        return Some(format!(
            "it was built from uncommitted files ({DIRTY_LABEL}=true{revision})"
        ));
    }
    match labels.get(FINGERPRINT_LABEL) {
        Some(f) if f == fingerprint => None,
        Some(f) => Some(format!(
            "its labels name another fingerprint ({FINGERPRINT_LABEL}={f}{revision})"
        )),
        None => Some(format!("it has no {FINGERPRINT_LABEL} label{revision}")),
    }
}

/// The tag an image built from the working tree is pushed under: never a version.
pub fn dirty_tag(fingerprint: &str) -> String {
    format!("dirty-{fingerprint}")
}

/// The decision for one image service: build, promote or skip, with its versions and tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub last_version: Option<Version>,
    pub next_version: Option<Version>,
    pub tags: Vec<String>,
    pub digest: Option<String>,
}

pub fn decide(f: &Facts<'_>) -> Decision {
    let Some(state) = f.registry else {
        return Decision {
            action: Action::Unknown,
            last_version: None,
            next_version: None,
            tags: Vec::new(),
            digest: None,
        };
    };
    let last = version::highest(f.environment, state.tags.keys().map(String::as_str));
    if f.dirty {
        // Uncommitted work: its own tag, no version, no `latest`, no rollout; the versions stay
        // the commits'.
        return Decision {
            action: Action::Build,
            last_version: last,
            next_version: None,
            tags: vec![dirty_tag(f.fingerprint)],
            digest: None,
        };
    }
    let fp_tag = crate::fingerprint::tag(f.fingerprint);
    if let Some(digest) = state.digest(&fp_tag).filter(|_| !f.refuted) {
        // The same inputs were built before. Released here already → skip; elsewhere → promote.
        let here = state
            .tags_of(digest)
            .filter_map(|t| version::parse_tag(f.environment, t))
            .max();
        if let Some(version) = here {
            return Decision {
                action: Action::Skip,
                last_version: last,
                next_version: Some(version),
                tags: Vec::new(),
                digest: Some(digest.to_string()),
            };
        }
        let next = version::next(last.as_ref(), f.bump, f.initial, f.floor);
        return Decision {
            action: Action::Promote,
            tags: tags(f, &next, false),
            last_version: last,
            next_version: Some(next),
            digest: Some(digest.to_string()),
        };
    }
    let next = version::next(last.as_ref(), f.bump, f.initial, f.floor);
    Decision {
        action: Action::Build,
        // A refuted fingerprint tag names another image, and is never pushed over.
        tags: tags(f, &next, !f.refuted),
        last_version: last,
        next_version: Some(next),
        digest: None,
    }
}

/// Whether service `idx` is affected only through changed files under its `test_only` globs that
/// none of its builds reads: then it needs its tests, not a new image. Any other reason (a trigger,
/// a dependency, a file its Dockerfile copies, every service selected) needs the image.
pub fn only_tests(
    config: &crate::config::Config,
    idx: usize,
    reasons: &[Reason],
    build: &crate::build_inputs::BuildInputs,
) -> bool {
    let service = &config.services[idx];
    if service.test_only.is_empty() || reasons.is_empty() {
        return false;
    }
    let globs = service
        .test_only
        .iter()
        .map(|g| (format!("/{}", service.join(g)), ()));
    let Ok(matcher) = crate::glob::Matcher::new(globs) else {
        return false;
    };
    let mut scratch = crate::glob::Scratch::default();
    reasons.iter().all(|r| {
        let Reason::File { file, .. } = r else {
            return false;
        };
        let mut test_only = false;
        matcher.for_each_match(file, &mut scratch, |_| test_only = true);
        let mut read = false;
        build.for_each(file, &mut scratch, |r| read |= r.service == idx);
        test_only && !read
    })
}

/// The images a build of a service most likely shares layers with: its current version in
/// `environment` (`last`) and its newest image in `default_environment`, as `repository:tag`.
pub fn cache_from(
    repository: &crate::image::Repository,
    environment: &str,
    last: Option<&Version>,
    default_environment: Option<&str>,
    state: &RepoState,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = last {
        out.push(repository.tagged(&version::tag(environment, v)).to_string());
    }
    if let Some(default) = default_environment
        && let Some(v) = version::highest(default, state.tags.keys().map(String::as_str))
    {
        let image = repository.tagged(&version::tag(default, &v)).to_string();
        if !out.contains(&image) {
            out.push(image);
        }
    }
    out
}

fn tags(f: &Facts<'_>, next: &Version, with_fingerprint: bool) -> Vec<String> {
    let mut out = vec![version::tag(f.environment, next)];
    if f.latest {
        out.push("latest".to_string());
    }
    if with_fingerprint {
        out.push(crate::fingerprint::tag(f.fingerprint));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_change_under_test_only_needs_the_tests_and_no_image_unless_the_build_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("api")).unwrap();
        let toml = "[services.api]\npath = \"api\"\ntest_only = [\"tests/**\", \"fixtures/\"]\n";
        let c = crate::config::Config::parse(
            toml,
            "ci.toml",
            std::path::Path::new("ci.toml"),
            dir.path(),
            crate::config::Checks::Load,
        )
        .unwrap();
        let build = |dockerfile: &'static [u8]| {
            let read = move |files: &[&str]| -> Result<Vec<Option<Vec<u8>>>, ()> {
                Ok(files
                    .iter()
                    .map(|f| (*f == "api/Dockerfile").then(|| dockerfile.to_vec()))
                    .collect())
            };
            crate::build_inputs::BuildInputs::new(&c, &[0], read).unwrap()
        };
        let file = |f: &str| Reason::File {
            file: f.into(),
            include: None,
        };
        let narrow = build(b"FROM scratch\nCOPY src/ /src/\nCOPY fixtures/seed.sql /\n");
        let tests = [file("api/tests/a.rs"), file("api/fixtures/x.json")];
        assert!(only_tests(&c, 0, &tests, &narrow));
        // A file outside test_only, or one the Dockerfile copies, needs an image.
        assert!(!only_tests(
            &c,
            0,
            &[file("api/tests/a.rs"), file("api/src/main.rs")],
            &narrow
        ));
        assert!(!only_tests(
            &c,
            0,
            &[file("api/fixtures/seed.sql")],
            &narrow
        ));
        assert!(!only_tests(
            &c,
            0,
            &tests,
            &build(b"FROM scratch\nCOPY . /app\n")
        ));
        let trigger = Reason::Trigger {
            file: "ci.toml".into(),
        };
        assert!(!only_tests(
            &c,
            0,
            &[file("api/tests/a.rs"), trigger],
            &narrow
        ));
    }

    fn state(tags: &[(&str, &str)]) -> RepoState {
        RepoState {
            address: repo(),
            exists: true,
            tags: tags
                .iter()
                .map(|(t, d)| (t.to_string(), Some(d.to_string())))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn repo() -> crate::image::Repository {
        crate::image::Repository::new("reg.example", "r/api").unwrap()
    }

    fn empty() -> RepoState {
        RepoState {
            address: repo(),
            exists: false,
            tags: BTreeMap::new(),
        }
    }

    fn facts<'a>(registry: Option<&'a RepoState>, initial: &'a Version) -> Facts<'a> {
        Facts {
            environment: "stage",
            latest: false,
            fingerprint: "abc",
            bump: Bump::Minor,
            initial,
            floor: None,
            registry,
            dirty: false,
            refuted: false,
        }
    }

    #[test]
    fn first_release_builds_the_initial_version() {
        let initial = Version::new(0, 1, 0);
        let empty = empty();
        let d = decide(&facts(Some(&empty), &initial));
        assert_eq!(d.action, Action::Build);
        assert_eq!(d.next_version, Some(initial));
        assert_eq!(d.tags, vec!["stage-0.1.0", "fp-abc"]);
    }

    #[test]
    fn new_inputs_build_the_bumped_version() {
        let initial = Version::new(0, 1, 0);
        let s = state(&[
            ("stage-1.2.0", "sha256:a"),
            ("stage-1.10.0", "sha256:b"),
            ("fp-old", "sha256:b"),
        ]);
        let d = decide(&facts(Some(&s), &initial));
        assert_eq!(
            (d.action, d.last_version, d.next_version),
            (
                Action::Build,
                Some(Version::new(1, 10, 0)),
                Some(Version::new(1, 11, 0))
            )
        );
    }

    #[test]
    fn same_inputs_in_the_same_environment_skip() {
        let initial = Version::new(0, 1, 0);
        let s = state(&[
            ("stage-1.2.0", "sha256:a"),
            ("fp-abc", "sha256:a"),
            ("stage-1.3.0", "sha256:c"),
        ]);
        let d = decide(&facts(Some(&s), &initial));
        assert_eq!(d.action, Action::Skip);
        assert_eq!(d.next_version, Some(Version::new(1, 2, 0)));
        assert!(d.tags.is_empty());
    }

    #[test]
    fn same_inputs_from_another_environment_promote() {
        let initial = Version::new(0, 1, 0);
        let s = state(&[
            ("dev-0.4.0", "sha256:a"),
            ("fp-abc", "sha256:a"),
            ("stage-1.0.0", "sha256:z"),
        ]);
        let mut f = facts(Some(&s), &initial);
        f.latest = true;
        let d = decide(&f);
        assert_eq!(d.action, Action::Promote);
        assert_eq!(d.digest.as_deref(), Some("sha256:a"));
        assert_eq!(d.tags, vec!["stage-1.1.0", "latest"]);
    }

    #[test]
    fn cache_comes_from_the_current_version_here_and_the_newest_on_the_default_environment() {
        let s = state(&[
            ("stage-1.2.0", "sha256:a"),
            ("prod-0.9.0", "sha256:b"),
            ("prod-0.10.0", "sha256:c"),
        ]);
        let last = Version::new(1, 2, 0);
        assert_eq!(
            cache_from(&repo(), "stage", Some(&last), Some("prod"), &s),
            vec![
                "reg.example/r/api:stage-1.2.0",
                "reg.example/r/api:prod-0.10.0"
            ]
        );
        assert_eq!(
            cache_from(&repo(), "stage", None, Some("stage"), &empty()),
            Vec::<String>::new()
        );
        assert_eq!(
            cache_from(&repo(), "stage", Some(&last), Some("stage"), &s),
            vec!["reg.example/r/api:stage-1.2.0"]
        );
    }

    #[test]
    fn a_dirty_build_gets_its_own_tag_and_never_a_version() {
        let initial = Version::new(0, 1, 0);
        let s = state(&[("stage-1.2.0", "sha256:a"), ("fp-abc", "sha256:a")]);
        let mut f = facts(Some(&s), &initial);
        f.dirty = true;
        f.latest = true;
        let d = decide(&f);
        assert_eq!(d.action, Action::Build);
        assert_eq!(d.tags, vec!["dirty-abc"]);
        assert_eq!(d.next_version, None);
        assert_eq!(d.last_version, Some(Version::new(1, 2, 0)));
        assert!(
            version::parse_tag("dirty", "dirty-abc").is_none(),
            "not a version even of an environment named dirty"
        );
    }

    #[test]
    fn a_refuted_fingerprint_tag_builds_and_is_not_pushed_over() {
        let initial = Version::new(0, 1, 0);
        let s = state(&[("dev-0.4.0", "sha256:a"), ("fp-abc", "sha256:a")]);
        let mut f = facts(Some(&s), &initial);
        f.latest = true;
        f.refuted = true;
        let d = decide(&f);
        assert_eq!(d.action, Action::Build);
        assert_eq!(d.digest, None);
        assert_eq!(d.tags, vec!["stage-0.1.0", "latest"]);
        let p = ServicePlan {
            tags: d.tags.clone(),
            ..plan_of("api")
        };
        assert_eq!(p.push_tag(), Some("stage-0.1.0"));
        let p = ServicePlan {
            tags: vec!["stage-0.1.0".into(), "fp-abc".into()],
            ..plan_of("api")
        };
        assert_eq!(p.push_tag(), Some("fp-abc"));
    }

    fn plan_of(name: &str) -> ServicePlan {
        ServicePlan {
            name: name.into(),
            path: name.into(),
            image: true,
            action: Action::Build,
            test: None,
            repository: Some(repo()),
            last_version: None,
            next_version: Some(Version::new(0, 1, 0)),
            bump: None,
            tags: Vec::new(),
            fingerprint: None,
            digest: None,
            clusters: Vec::new(),
            build: None,
            cache_from: Vec::new(),
            reasons: Vec::new(),
        }
    }

    #[test]
    fn the_image_of_a_release_names_its_registry() {
        assert_eq!(
            plan_of("api").image("stage").unwrap().to_string(),
            "reg.example/r/api:stage-0.1.0"
        );
    }

    #[test]
    fn an_image_proves_its_fingerprint_by_its_own_labels() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let ok = labels(&[
            (FINGERPRINT_LABEL, "abc"),
            (REVISION_LABEL, "0123456789abcdef"),
        ]);
        assert_eq!(refuted(Some(&ok), "abc"), None);
        // Another commit with the same inputs is the same image: a promotion.
        let earlier = labels(&[(FINGERPRINT_LABEL, "abc"), (REVISION_LABEL, "fedcba")]);
        assert_eq!(refuted(Some(&earlier), "abc"), None);
        let other = labels(&[
            (FINGERPRINT_LABEL, "old"),
            (REVISION_LABEL, "0123456789abcdef"),
        ]);
        let why = refuted(Some(&other), "abc").unwrap();
        assert!(
            why.contains("another fingerprint")
                && why.contains("old")
                && why.contains("0123456789ab"),
            "{why}"
        );
        let dirty = labels(&[(FINGERPRINT_LABEL, "abc"), (DIRTY_LABEL, "true")]);
        assert!(
            refuted(Some(&dirty), "abc")
                .unwrap()
                .contains("uncommitted")
        );
        assert!(
            refuted(Some(&labels(&[])), "abc")
                .unwrap()
                .contains("no dev.shipit.fingerprint")
        );
        assert!(refuted(None, "abc").is_some());
        // Labels are outside input: any text, never a panic.
        let odd = labels(&[(FINGERPRINT_LABEL, "x"), (REVISION_LABEL, "ééééééééééééé")]);
        assert!(refuted(Some(&odd), "abc").is_some());
    }

    #[test]
    fn offline_is_unknown() {
        let initial = Version::new(0, 1, 0);
        assert_eq!(decide(&facts(None, &initial)).action, Action::Unknown);
    }
}
