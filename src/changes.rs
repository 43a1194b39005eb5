//! Changed paths → which rule of ci.toml each one hits. No git here: the paths come from [`crate::git`].
//!
//! All patterns of the config (every service's path, includes and excludes, `global.triggers` and
//! `global.ignore`) go into one matcher, so each changed path is matched once.

use crate::build_inputs::BuildInputs;
use crate::config::Config;
use crate::glob::{self, Matcher};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Under the path or an include of this service (index into `config.services`).
    Owns(usize),
    /// Under an exclude of this service.
    Excludes(usize),
    Trigger,
    Ignore,
}

/// Buffers reused from one path to the next, so that matching allocates nothing per path.
#[derive(Debug, Default)]
pub struct Scratch {
    globs: glob::Scratch,
    hits: Vec<Rule>,
    pub owners: Vec<usize>,
}

/// The compiled rules of one config.
#[derive(Debug)]
pub struct Rules {
    matcher: Matcher<Rule>,
    services: usize,
}

/// What the changed paths hit.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Classified {
    /// Per service (same order as `config.services`): the changed files it owns.
    pub direct: Vec<Vec<String>>,
    /// Changed files under `global.triggers`.
    pub triggers: Vec<String>,
    /// Per entry of `triggers`: the services whose `exclude` covers that file. `exclude` wins
    /// over a trigger as it wins over a path: these services are not selected by that file.
    pub excluded_triggers: Vec<Vec<usize>>,
    /// Changed files that `global.ignore` dropped.
    pub ignored: usize,
    /// Changed files that no rule claims.
    pub unclaimed: usize,
    /// The first changed file that `global.ignore` dropped, and the first that a service's
    /// `exclude` dropped (with the service), for saying why nothing is affected.
    pub first_ignored: Option<String>,
    pub first_excluded: Option<(String, usize)>,
    /// Per service: the changed files its build reads (its Dockerfiles' sources) that its own
    /// rules did not claim, each with the Dockerfile line that reads it.
    pub build: Vec<Vec<crate::build_inputs::Hit>>,
}

/// A service's path as a pattern: anchored at the root, glob characters taken literally.
fn path_pattern(path: &str) -> String {
    if path == "." {
        return "**".to_string();
    }
    crate::glob::literal_path(path)
}

impl Rules {
    pub fn new(config: &Config) -> Rules {
        let mut patterns = Vec::new();
        for (i, s) in config.services.iter().enumerate() {
            patterns.push((path_pattern(&s.path), Rule::Owns(i)));
            patterns.extend(s.include.iter().map(|g| (g.clone(), Rule::Owns(i))));
            patterns.extend(s.exclude.iter().map(|g| (g.clone(), Rule::Excludes(i))));
        }
        patterns.extend(
            config
                .global
                .triggers
                .iter()
                .map(|g| (g.clone(), Rule::Trigger)),
        );
        patterns.extend(
            config
                .global
                .ignore
                .iter()
                .map(|g| (g.clone(), Rule::Ignore)),
        );
        // Every pattern was checked when the config was loaded, and paths are escaped.
        let matcher =
            Matcher::new(patterns).expect("patterns were validated when ci.toml was loaded");
        Rules {
            matcher,
            services: config.services.len(),
        }
    }

    /// Matches one path: the services that own it (under their path or includes, not excluded) go
    /// to `scratch.owners`, every rule hit to `scratch.hits`. False when `global.ignore` drops it.
    pub fn owners(&self, path: &str, scratch: &mut Scratch) -> bool {
        let Scratch {
            globs,
            hits,
            owners,
        } = scratch;
        hits.clear();
        owners.clear();
        self.matcher.for_each_match(path, globs, |r| hits.push(*r));
        if hits.contains(&Rule::Ignore) {
            return false;
        }
        for r in hits.iter() {
            if let Rule::Owns(i) = *r {
                // A path can be a service's through its path and an include: count it once.
                if !hits.contains(&Rule::Excludes(i)) && owners.last() != Some(&i) {
                    owners.push(i);
                }
            }
        }
        true
    }

    /// Whether the path last given to [`Rules::owners`] is under `global.triggers`.
    pub fn is_trigger(scratch: &Scratch) -> bool {
        scratch.hits.contains(&Rule::Trigger)
    }

    /// Whether the path last given to [`Rules::owners`] is under an `exclude` of service `i`.
    pub fn is_excluded(scratch: &Scratch, i: usize) -> bool {
        scratch.hits.contains(&Rule::Excludes(i))
    }

    /// Classifies repository-relative paths (`/`-separated, no leading `/`).
    pub fn classify<'a>(&self, paths: impl IntoIterator<Item = &'a str>) -> Classified {
        self.classify_with(paths, &BuildInputs::default())
    }

    /// [`Rules::classify`], and the paths the services' builds read, whatever the rules say.
    pub fn classify_with<'a>(
        &self,
        paths: impl IntoIterator<Item = &'a str>,
        build: &BuildInputs,
    ) -> Classified {
        let paths: Vec<&str> = paths.into_iter().collect();
        let hits = self.hits(&paths);
        let reads = build.reads_of(&paths);
        self.classify_hits(&paths, &hits, &[(build, &reads)])
    }

    /// The rules each of `paths` hits. With [`BuildInputs::reads_of`] (which may run on another
    /// thread meanwhile), what [`Rules::classify_hits`] classifies.
    pub fn hits(&self, paths: &[&str]) -> Hits {
        let mut out = Hits {
            ends: Vec::with_capacity(paths.len()),
            rules: Vec::with_capacity(paths.len() * 2),
        };
        let mut scratch = glob::Scratch::default();
        for path in paths {
            self.matcher
                .for_each_match(path, &mut scratch, |r| out.rules.push(*r));
            out.ends.push(out.rules.len());
        }
        out
    }

    /// Classifies `paths`, given the rules each hits and the reads of each by the builds of
    /// one or more [`BuildInputs`] (each service in one of them at most).
    pub fn classify_hits(
        &self,
        paths: &[&str],
        hits: &Hits,
        builds: &[(&BuildInputs, &crate::build_inputs::ReadsOf)],
    ) -> Classified {
        let mut out = Classified {
            direct: vec![Vec::new(); self.services],
            ..Classified::default()
        };
        if builds.iter().any(|(build, _)| !build.is_empty()) {
            out.build = vec![Vec::new(); self.services];
        }
        for (n, &path) in paths.iter().enumerate() {
            let hits = hits.of(n);
            let ignored = hits.contains(&Rule::Ignore);
            let mut claimed = false;
            for read in builds.iter().flat_map(|(build, reads)| reads.of(build, n)) {
                let i = read.service;
                let owned =
                    !ignored && hits.contains(&Rule::Owns(i)) && !hits.contains(&Rule::Excludes(i));
                let files = &mut out.build[i];
                // The first line that reads it is named.
                if !owned && files.last().is_none_or(|h| h.file != path) {
                    files.push(crate::build_inputs::Hit {
                        file: path.to_string(),
                        dockerfile: read.dockerfile.clone(),
                        line: read.line,
                    });
                    claimed = true;
                }
            }
            if ignored {
                out.ignored += 1;
                if out.first_ignored.is_none() {
                    out.first_ignored = Some(path.to_string());
                }
                continue;
            }
            if hits.contains(&Rule::Trigger) {
                out.triggers.push(path.to_string());
                out.excluded_triggers.push(
                    hits.iter()
                        .filter_map(|r| match r {
                            Rule::Excludes(i) => Some(*i),
                            _ => None,
                        })
                        .collect(),
                );
                claimed = true;
            }
            for r in hits {
                if let Rule::Owns(i) = *r {
                    let excluded = hits.contains(&Rule::Excludes(i));
                    let files = &mut out.direct[i];
                    // A path can hit a service through its path and an include: count it once.
                    if !excluded && files.last().map(String::as_str) != Some(path) {
                        files.push(path.to_string());
                        claimed = true;
                    }
                    if excluded && out.first_excluded.is_none() {
                        out.first_excluded = Some((path.to_string(), i));
                    }
                }
            }
            if !claimed {
                out.unclaimed += 1;
            }
        }
        out
    }
}

/// The rules each of a list of paths hits, in one flat list.
#[derive(Debug, Default)]
pub struct Hits {
    /// Per path, where its rules end in `rules`.
    ends: Vec<usize>,
    rules: Vec<Rule>,
}

impl Hits {
    fn of(&self, n: usize) -> &[Rule] {
        let start = n.checked_sub(1).map_or(0, |m| self.ends[m]);
        match self.ends.get(n) {
            Some(&end) => &self.rules[start..end],
            None => &[],
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{Checks, Config};
    use indoc::indoc;
    use std::path::Path;

    const CONFIG: &str = indoc! {r#"
        [global]
        triggers = ["/Cargo.lock", "ci.toml"]
        ignore = ["*.md"]

        [services.visits]
        path = "services/visits"
        include = ["proto/visits/**"]
        exclude = ["services/visits/docs/**"]
        depends_on = ["common"]

        [services.billing]
        path = "services/billing"
        depends_on = ["visits"]

        [services.web]
        path = "services/web"

        [services.common]
        path = "libs/common"
        image = false
    "#};

    /// A small config, also used by the graph's tests.
    pub(crate) fn config() -> Config {
        // Service paths must exist on disk: lay them out in a temporary tree.
        let dir = tempfile::tempdir().unwrap();
        for p in [
            "services/visits",
            "services/billing",
            "services/web",
            "libs/common",
        ] {
            std::fs::create_dir_all(dir.path().join(p)).unwrap();
        }
        Config::parse(
            CONFIG,
            "ci.toml",
            Path::new("ci.toml"),
            dir.path(),
            Checks::Load,
        )
        .unwrap()
    }

    #[test]
    fn unclaimed_and_ignored_are_counted() {
        let config = config();
        let c = Rules::new(&config).classify(["README.md", "tools/x.sh", "services/web/a"]);
        assert_eq!((c.ignored, c.unclaimed), (1, 1));
    }

    #[test]
    fn a_path_hit_twice_is_listed_once() {
        let config = config();
        let c = Rules::new(&config).classify(["proto/visits/x"]);
        let visits = config
            .services
            .iter()
            .position(|s| s.name == "visits")
            .unwrap();
        assert_eq!(c.direct[visits], vec!["proto/visits/x".to_string()]);
    }

    #[test]
    fn glob_characters_in_a_path_are_literal() {
        assert_eq!(path_pattern("services/a[1]"), "/services/a\\[1\\]");
    }
}
