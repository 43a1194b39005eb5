//! The service graph: which services a set of direct hits affects, through triggers and
//! `depends_on`. Pure functions over names and indices; no git, no I/O. (Cycles in `depends_on` are
//! refused earlier, by the config's validation.)

use std::collections::VecDeque;

use serde::Serialize;

use crate::changes::Classified;
use crate::config::Config;

/// Why a service is affected: the JSON reasons of `shipit affected`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Reason {
    /// A changed file under the service's path or includes; `include` names the pattern that
    /// matched when the file is not under its path.
    File {
        file: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        include: Option<String>,
    },
    /// A changed file under `global.triggers`.
    Trigger { file: String },
    /// A service it depends on is affected.
    Dependency { service: String },
    /// Every service was selected, for this reason.
    All { why: String },
    /// A changed file that the service's build reads: line `line` of `dockerfile` copies or mounts
    /// it (no line: the file is the Dockerfile, or the context's `.dockerignore`).
    Build {
        file: String,
        dockerfile: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<u32>,
    },
}

/// One affected service: its index in `config.services` and every rule that put it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub service: usize,
    pub reasons: Vec<Reason>,
}

/// Every service, each with the same reason: when no base can be had, or when asked for all.
pub fn all(config: &Config, why: &str) -> Vec<Hit> {
    (0..config.services.len())
        .map(|service| Hit {
            service,
            reasons: vec![Reason::All {
                why: why.to_string(),
            }],
        })
        .collect()
}

/// The affected services, sorted by name, from the classified changes: direct hits, every service
/// when a trigger fired, then whatever depends on an affected service, transitively.
pub fn affected(config: &Config, changes: Classified) -> Vec<Hit> {
    let n = config.services.len();
    let mut reasons: Vec<Vec<Reason>> = vec![Vec::new(); n];
    for (service, files) in changes.direct.into_iter().enumerate() {
        let s = &config.services[service];
        let mut includes: Option<Option<crate::glob::Matcher<usize>>> = None;
        let mut scratch = crate::glob::Scratch::default();
        for file in files {
            let under_path = s.path == "."
                || (file.starts_with(&s.path) && file[s.path.len()..].starts_with('/'));
            let mut include = None;
            if !under_path {
                // Compiled once per service, for the files its includes brought in.
                let m = includes.get_or_insert_with(|| {
                    crate::glob::Matcher::new(s.include.iter().cloned().zip(0..)).ok()
                });
                if let Some(m) = m {
                    m.for_each_match(&file, &mut scratch, |&k| {
                        include.get_or_insert_with(|| s.include[k].clone());
                    });
                }
            }
            reasons[service].push(Reason::File { file, include });
        }
    }
    for (service, hits) in changes.build.into_iter().enumerate() {
        reasons[service].extend(hits.into_iter().map(|h| Reason::Build {
            file: h.file,
            dockerfile: h.dockerfile,
            line: h.line,
        }));
    }
    // A trigger selects every service but those whose `exclude` covers the file: `exclude` wins
    // over everything but a build's own reads.
    for (file, excluded) in changes.triggers.iter().zip(&changes.excluded_triggers) {
        for (service, r) in reasons.iter_mut().enumerate() {
            if !excluded.contains(&service) {
                r.push(Reason::Trigger { file: file.clone() });
            }
        }
    }

    let index: foldhash::HashMap<&str, usize> = config
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, s) in config.services.iter().enumerate() {
        for dep in &s.depends_on {
            if let Some(&d) = index.get(dep.as_str()) {
                dependents[d].push(i);
            }
        }
    }
    let mut queue: VecDeque<usize> = (0..n).filter(|&i| !reasons[i].is_empty()).collect();
    let mut reached: Vec<bool> = (0..n).map(|i| !reasons[i].is_empty()).collect();
    while let Some(d) = queue.pop_front() {
        for &dependent in &dependents[d] {
            reasons[dependent].push(Reason::Dependency {
                service: config.services[d].name.clone(),
            });
            if !reached[dependent] {
                reached[dependent] = true;
                queue.push_back(dependent);
            }
        }
    }

    // Services are sorted by name in the config, so index order is name order.
    reasons
        .into_iter()
        .enumerate()
        .filter(|(_, r)| !r.is_empty())
        .map(|(service, mut reasons)| {
            reasons.sort();
            reasons.dedup();
            Hit { service, reasons }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::Rules;
    use crate::changes::tests::config;

    fn affected(paths: &[&str]) -> Vec<(String, Vec<Reason>)> {
        let config = config();
        let classified = Rules::new(&config).classify(paths.iter().copied());
        super::affected(&config, classified)
            .into_iter()
            .map(|h| (config.services[h.service].name.clone(), h.reasons))
            .collect()
    }

    fn names(paths: &[&str]) -> Vec<String> {
        affected(paths).into_iter().map(|(n, _)| n).collect()
    }

    fn file(f: &str) -> Reason {
        Reason::File {
            file: f.into(),
            include: None,
        }
    }

    #[test]
    fn a_file_under_a_path_affects_that_service_and_its_dependents() {
        assert_eq!(
            affected(&["services/visits/src/main.rs"]),
            vec![
                (
                    "billing".into(),
                    vec![Reason::Dependency {
                        service: "visits".into()
                    }]
                ),
                ("visits".into(), vec![file("services/visits/src/main.rs")]),
            ]
        );
    }

    #[test]
    fn dependencies_are_transitive() {
        assert_eq!(
            names(&["libs/common/lib.rs"]),
            vec!["billing", "common", "visits"]
        );
    }

    #[test]
    fn includes_belong_to_the_service_and_are_named() {
        assert_eq!(
            names(&["proto/visits/v1/visit.proto"]),
            vec!["billing", "visits"]
        );
        let visits = affected(&["proto/visits/v1/visit.proto"]).pop().unwrap();
        assert_eq!(
            visits.1,
            [Reason::File {
                file: "proto/visits/v1/visit.proto".into(),
                include: Some("proto/visits/**".into())
            }]
        );
    }

    #[test]
    fn exclude_wins_over_path() {
        assert!(names(&["services/visits/docs/guide.txt"]).is_empty());
    }

    #[test]
    fn ignore_wins_over_everything_even_triggers() {
        assert!(names(&["services/web/README.md", "docs/ci.toml.md"]).is_empty());
    }

    #[test]
    fn a_trigger_affects_every_service() {
        let all = affected(&["Cargo.lock"]);
        assert_eq!(all.len(), 4);
        assert!(all.iter().all(|(_, r)| r.contains(&Reason::Trigger {
            file: "Cargo.lock".into()
        })));
    }

    #[test]
    fn exclude_wins_over_a_trigger() {
        // web reads no lockfile and says so: the lockfile trigger selects everyone else.
        let mut config = config();
        let web = config
            .services
            .iter()
            .position(|s| s.name == "web")
            .unwrap();
        config.services[web].exclude.push("/Cargo.lock".into());
        let classified = Rules::new(&config).classify(["Cargo.lock"]);
        let names: Vec<&str> = super::affected(&config, classified)
            .iter()
            .map(|h| config.services[h.service].name.as_str())
            .collect();
        assert_eq!(names, ["billing", "common", "visits"]);
    }

    #[test]
    fn anchored_trigger_does_not_fire_deeper() {
        assert_eq!(names(&["services/web/Cargo.lock"]), vec!["web"]);
    }

    #[test]
    fn unanchored_trigger_fires_at_any_depth() {
        assert_eq!(names(&["examples/ci.toml"]).len(), 4);
    }

    #[test]
    fn a_sibling_with_a_common_prefix_is_not_the_service() {
        assert!(names(&["services/visits-legacy/main.rs", "services/webhooks/x"]).is_empty());
    }
}
