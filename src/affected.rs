//! `shipit affected`: the range to compare → the changed paths → the rules they hit → the services.

use serde::Serialize;

use crate::base::{self, Request};
use crate::changes::Rules;
use crate::config::Config;
use crate::git::{GitError, Repo};
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
}

#[derive(Debug, Clone, Serialize)]
pub struct AffectedService {
    pub name: String,
    pub path: String,
    pub image: bool,
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
    compute_while_loading(repo, &|| Some((config, &rules)), request, event)
        .map(Option::unwrap_or_default)
}

/// ci.toml is parsed, and its globs compiled, on a thread of its own while git finds the range and
/// diffs it: on a large monorepo the two cost about the same. That thread then checks that the
/// paths the services name stay inside the repository while the changed paths are matched. A
/// broken ci.toml is reported first, whatever git said.
///
/// Made for a process that ends soon after (`shipit affected`): the config, its compiled globs and
/// what the checks read are left for the exit to free. Freeing a large config's hundred thousand
/// small allocations one by one took 2 of the 20 ms `shipit-bench-affected` measures.
pub fn compute_from_file(
    env: &crate::github::Env,
    repo: &Repo,
    file: &std::path::Path,
    request: &Request,
) -> Result<Affected, crate::Error> {
    let root = repo.root().to_path_buf();
    let _span = tracing::debug_span!("affected").entered();
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel(1);
        let loading = scope.spawn(move || {
            let (config, mut later) = Config::load_checking_later(file, &root)?;
            let rules = tracing::debug_span!("compile globs").in_scope(|| Rules::new(&config));
            let config = std::sync::Arc::new(config);
            // Gone only when the answer is no longer wanted.
            let _ = send.send((config.clone(), rules));
            let checked = later.finish(&config);
            std::mem::forget(later);
            checked
        });
        let received = std::mem::ManuallyDrop::new(std::cell::OnceCell::new());
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
                compute_while_loading(repo, &loaded, request, event.as_ref())
                    .map_err(crate::Error::from)
            });
        let checked = match loading.join() {
            Ok(checked) => checked,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        match (answer, checked) {
            (_, Err(e)) => Err(e.into()),
            (Err(e), Ok(())) => Err(e),
            (Ok(Some(answer)), Ok(())) => Ok(answer),
            (Ok(None), Ok(())) => Err(crate::Error::bad_input("ci.toml could not be loaded", None)),
        }
    })
}

/// [`compute`] with ci.toml still loading: `loaded` waits for it, and is asked only once the diff
/// is known (or the default branch is needed to find the base). `Ok(None)` when it failed to load.
fn compute_while_loading<'c>(
    repo: &Repo,
    loaded: &dyn Fn() -> Option<(&'c Config, &'c Rules)>,
    request: &Request,
    event: Option<&Event>,
) -> Result<Option<Affected>, GitError> {
    let config = || loaded().map(|(config, _)| config);
    let range = base::detect(repo, &config, request, event)?;
    let paths = match range.base {
        Some(base) if base != range.head => {
            Some(tracing::debug_span!("diff").in_scope(|| repo.changed_paths(base, range.head))?)
        }
        _ => None,
    };
    let Some((config, rules)) = loaded() else {
        return Ok(None);
    };
    let mut counts = Counts {
        services: config.services.len(),
        ..Counts::default()
    };
    let hits = match (range.base, paths) {
        (None, _) => graph::all(
            config,
            range.all.as_deref().unwrap_or("no base to compare with"),
        ),
        (Some(_), None) => Vec::new(),
        (Some(_), Some(paths)) => {
            let classified = tracing::debug_span!("match", paths = paths.len())
                .in_scope(|| rules.classify(paths.iter().map(String::as_str)));
            counts.changed_files = paths.len();
            counts.ignored = classified.ignored;
            counts.unclaimed = classified.unclaimed;
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
        warnings: range.warnings,
        counts,
    }))
}

impl Affected {
    /// The `{"include":[{"service","path"}]}` value for a GitHub Actions matrix.
    pub fn matrix(&self) -> serde_json::Value {
        let include: Vec<_> = self
            .services
            .iter()
            .map(|s| serde_json::json!({"service": s.name, "path": s.path}))
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
            let mut why = format!(
                "{n} changed file{} but none under a service",
                if n == 1 { "" } else { "s" }
            );
            if self.counts.ignored > 0 {
                why.push_str(&format!(
                    " ({} of them under global.ignore)",
                    self.counts.ignored
                ));
            }
            why
        })
    }
}
