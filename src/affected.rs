//! `shipit affected`: the range to compare → the changed paths → the rules they hit → the services.

use serde::Serialize;

use crate::base::{self, Request};
use crate::build_inputs::{self, BuildInputs};
use crate::changes::Rules;
use crate::config::Config;
use crate::fast;
use crate::git::{GitError, HeadTrees, Repo};
use crate::github::Event;
use crate::graph::{self, Reason};

/// The answer of `shipit affected`, as its JSON output prints it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Affected {
    pub base: Option<String>,
    pub head: String,
    /// True when every service was selected without looking at a diff.
    pub all: bool,
    /// How the base was chosen.
    pub base_source: String,
    /// Sorted by name.
    pub services: Vec<AffectedService>,
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub counts: Counts,
    /// A changed file that a rule dropped though a service's path or include holds it: which file,
    /// which rule, which pattern (for saying why nothing is affected).
    #[serde(skip)]
    pub dropped: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AffectedService {
    pub name: String,
    pub path: String,
    pub image: bool,
    /// Whether it has a test command (said in the matrix entries).
    #[serde(skip)]
    pub test: bool,
    pub reasons: Vec<Reason>,
}

/// Sizes, for the human summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub services: usize,
    pub changed_files: usize,
    pub ignored: usize,
    pub unclaimed: usize,
}

pub fn compute(
    repo: &Repo,
    config: &Config,
    request: &Request,
    event: Option<&Event>,
) -> Result<Affected, GitError> {
    // The config is at hand: the answer is always there.
    let rules = Rules::new(config);
    let loaded = || Some((config, &rules));
    compute_while_loading(repo, &loaded, request, event, fast::Tricks::NONE)
        .map(Option::unwrap_or_default)
}

/// ci.toml is parsed, and its globs compiled, on a thread of its own while git finds the range and
/// diffs it: on a large monorepo the two cost about the same. That thread then checks that the
/// paths the services name stay inside the repository while the changed paths are matched. A
/// broken ci.toml is reported first, whatever git said.
///
/// The answer comes with what was built to find it ([`Built`]); see [`fast`] for `tricks`.
pub fn compute_from_file(
    env: &crate::github::Env,
    repo: &Repo,
    file: &std::path::Path,
    request: &Request,
    tricks: fast::Tricks,
) -> Result<(Affected, Built), crate::Error> {
    let root = repo.root();
    let _span = tracing::debug_span!("affected").entered();
    let main_cpu = fast::current_cpu();
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel(1);
        let loading = scope.spawn(move || {
            fast::move_off(tricks, main_cpu);
            let (config, mut later) = match tricks.later {
                true => Config::load_checking_later(file, root).map(|(c, l)| (c, Some(l)))?,
                false => (Config::load(file, root, crate::config::Checks::Load)?, None),
            };
            let rules = tracing::debug_span!("compile globs").in_scope(|| Rules::new(&config));
            let config = std::sync::Arc::new(config);
            // Gone only when the answer is no longer wanted.
            let _ = send.send((config.clone(), rules));
            if let Some(later) = &mut later {
                later.finish(&config)?;
            }
            // What the checks read is freed here, while the main thread still matches.
            drop(later);
            Ok::<_, crate::config::ConfigError>(())
        });
        // Should the new thread have been put on this CPU, this lets it run now and move off.
        std::thread::yield_now();
        let received = std::cell::OnceCell::new();
        let loaded = || {
            received
                .get_or_init(|| {
                    let _span = tracing::debug_span!("wait for ci.toml").entered();
                    receive.recv().ok()
                })
                .as_ref()
                .map(|(config, rules)| (&**config, rules))
        };
        let answer = Event::from_env(env)
            .map_err(crate::Error::from)
            .and_then(|event| {
                compute_while_loading(repo, &loaded, request, event.as_ref(), tricks)
                    .map_err(crate::Error::from)
            });
        let checked = match loading.join() {
            Ok(checked) => checked,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let built = Built {
            _loaded: received.into_inner().flatten(),
        };
        match (answer, checked) {
            (_, Err(e)) => Err(e.into()),
            (Err(e), Ok(())) => Err(e),
            (Ok(Some(answer)), Ok(())) => Ok((answer, built)),
            (Ok(None), Ok(())) => Err(crate::Error::bad_input("ci.toml could not be loaded", None)),
        }
    })
}

/// What [`compute_from_file`] built on the way to its answer: the config and its compiled globs,
/// for the caller to drop when it is done with the answer.
pub struct Built {
    _loaded: Option<(std::sync::Arc<Config>, Rules)>,
}

/// [`compute`] with ci.toml still loading: `loaded` waits for it, and is asked only once the diff
/// is known (or the default branch is needed to find the base). `Ok(None)` when it failed to load.
fn compute_while_loading<'c>(
    repo: &Repo,
    loaded: &dyn Fn() -> Option<(&'c Config, &'c Rules)>,
    request: &Request,
    event: Option<&Event>,
    tricks: fast::Tricks,
) -> Result<Option<Affected>, GitError> {
    let config = || loaded().map(|(config, _)| config);
    let range = base::detect(repo, &config, request, event)?;
    // The diff hands over the trees of head it read: most Dockerfiles to read are in them.
    let diff = match range.base {
        Some(base) if base != range.head => Some(
            tracing::debug_span!("diff")
                .in_scope(|| repo.changed_paths_and_trees(base, range.head))?,
        ),
        _ => None,
    };
    let Some((config, rules)) = loaded() else {
        return Ok(None);
    };
    let mut counts = Counts {
        services: config.services.len(),
        ..Counts::default()
    };
    let mut warnings = range.warnings;
    let mut dropped = None;
    let hits = match (range.base, diff) {
        (None, _) => graph::all(
            config,
            range.all.as_deref().unwrap_or("no base to compare with"),
        ),
        (Some(_), None) => Vec::new(),
        (Some(_), Some((paths, trees))) => {
            let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
            // The rules each path hits, and what the builds read: neither needs the other.
            let (hits, (build, warning, reads)) = fast::beside(
                tricks,
                || tracing::debug_span!("match").in_scope(|| rules.hits(&paths)),
                || {
                    // Only the builds that could read a changed path have their Dockerfiles read.
                    let (build, warning) =
                        tracing::debug_span!("read Dockerfiles").in_scope(|| {
                            let services = build_inputs::touched(config, &paths);
                            build_reads(repo, config, range.head, &trees, &services)
                        });
                    let reads =
                        tracing::debug_span!("match reads").in_scope(|| build.reads_of(&paths));
                    (build, warning, reads)
                },
            );
            drop(trees);
            warnings.extend(warning);
            warnings.extend(build.warnings.iter().cloned());
            let classified = tracing::debug_span!("classify", paths = paths.len())
                .in_scope(|| rules.classify_hits(&paths, &hits, &[(&build, &reads)]));
            counts.changed_files = paths.len();
            counts.ignored = classified.ignored;
            counts.unclaimed = classified.unclaimed;
            dropped = dropped_by(config, &classified);
            graph::affected(config, classified)
        }
    };
    let services = hits
        .into_iter()
        .map(|hit| {
            let s = &config.services[hit.service];
            AffectedService {
                name: s.name.clone(),
                path: s.path.clone(),
                image: s.image,
                test: s.test.is_some(),
                reasons: hit.reasons,
            }
        })
        .collect();
    Ok(Some(Affected {
        base: range.base.map(|b| b.to_string()),
        head: range.head.to_string(),
        all: range.all.is_some(),
        base_source: range.why,
        services,
        warnings,
        counts,
        dropped,
    }))
}

/// What the builds of `services` read, from `head`'s Dockerfiles, and a warning when they could
/// not be read. Only the builds that could read a changed path have their Dockerfiles read.
fn build_reads(
    repo: &Repo,
    config: &Config,
    head: git2::Oid,
    trees: &HeadTrees,
    services: &[usize],
) -> (BuildInputs, Option<String>) {
    let read = |files: &[&str]| repo.read_files_with(head, files, trees);
    match BuildInputs::new(config, services, read) {
        Ok(build) => (build, None),
        // A clone without head's blobs: each of those builds reads its whole context.
        Err(e) => (
            BuildInputs::whole_contexts(config, services),
            Some(format!(
                "the Dockerfiles of {head} could not be read ({e}): each build counts as reading its whole context"
            )),
        ),
    }
}

/// The first of `patterns` that matches `file`.
fn matching<'a>(patterns: &'a [String], file: &str) -> Option<&'a str> {
    let mut scratch = crate::glob::Scratch::default();
    patterns.iter().map(String::as_str).find(|p| {
        let mut hit = false;
        if let Ok(m) = crate::glob::Matcher::new([(p.to_string(), ())]) {
            m.for_each_match(file, &mut scratch, |_| hit = true);
        }
        hit
    })
}

/// Says which rule dropped the first changed file that `global.ignore` or an `exclude` dropped.
fn dropped_by(config: &Config, classified: &crate::changes::Classified) -> Option<String> {
    if let Some(file) = &classified.first_ignored {
        let pattern = matching(&config.global.ignore, file).unwrap_or("?");
        let under = config.services.iter().find(|s| {
            s.path == "." || (file.starts_with(&s.path) && file[s.path.len()..].starts_with('/'))
        });
        let under = under.map_or(String::new(), |s| format!(", under service `{}`,", s.name));
        return Some(format!(
            "`{file}`{under} is ignored by `global.ignore` pattern `{pattern}`"
        ));
    }
    let (file, i) = classified.first_excluded.as_ref()?;
    let s = &config.services[*i];
    let pattern = matching(&s.exclude, file).unwrap_or("?");
    Some(format!(
        "`{file}` is excluded from service `{}` by its `exclude` pattern `{pattern}`",
        s.name
    ))
}

impl Affected {
    /// The `{"include":[{"service","path","image","test"}]}` value for a GitHub Actions matrix:
    /// `image` and `test` say whether the job builds an image and runs tests (a job's `if:` can
    /// skip a library with no tests).
    pub fn matrix(&self) -> serde_json::Value {
        let include: Vec<_> = self
            .services
            .iter()
            .map(|s| {
                serde_json::json!({"service": s.name, "path": s.path, "image": s.image, "test": s.test})
            })
            .collect();
        serde_json::json!({ "include": include })
    }

    pub fn names(&self) -> Vec<&str> {
        self.services.iter().map(|s| s.name.as_str()).collect()
    }

    /// Why nothing is affected, when nothing is.
    pub fn why_none(&self) -> Option<String> {
        if !self.services.is_empty() {
            return None;
        }
        Some(if self.counts.services == 0 {
            "ci.toml declares no services".to_string()
        } else if self.base.as_deref() == Some(self.head.as_str()) {
            format!("base and head are the same commit ({})", &self.head[..12])
        } else if self.counts.changed_files == 0 {
            "no files differ between base and head".to_string()
        } else {
            let n = self.counts.changed_files;
            let files = format!("{n} changed file{}", if n == 1 { "" } else { "s" });
            match &self.dropped {
                // Under a service, or not, but a rule said to drop it: say which.
                Some(dropped) => {
                    let mut why = format!("{files}, none that a service takes: {dropped}");
                    let more = (self.counts.ignored + self.counts.unclaimed).saturating_sub(1);
                    if more > 0 {
                        why.push_str(&format!(
                            " (and {more} more ignored, excluded or outside every service)"
                        ));
                    }
                    why
                }
                None => format!("{files} but none under a service"),
            }
        })
    }
}
