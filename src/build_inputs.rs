//! What each service's build reads, in repository paths: the sources of its Dockerfiles (one per
//! environment where they differ) resolved in its build context, less what the context's
//! `.dockerignore` leaves out, plus the Dockerfiles and that `.dockerignore` themselves.
//!
//! These are inputs of the service for `shipit affected` and for its fingerprint, whatever its
//! `path`, `include`, `exclude` and `global.ignore` say: what goes into the image decides. The
//! Dockerfiles are read from the commit being considered (the blobs come from the caller), never
//! from the working tree. Pure apart from the reader it is given.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt, HashSet};

use crate::config::{Config, Service};
use crate::docker::context::DockerIgnore;
use crate::docker::dockerfile;
use crate::glob::{self, Matcher};

/// One thing a service's build reads: a source of one of its Dockerfiles, or a Dockerfile or a
/// `.dockerignore` itself (no line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub service: usize,
    /// Repository-relative.
    pub dockerfile: String,
    pub line: Option<u32>,
    /// Index into the contexts whose `.dockerignore` applies; none for the Dockerfile itself.
    context: Option<usize>,
}

/// The reads of each of a list of paths, in one flat list: see [`BuildInputs::reads_of`].
#[derive(Debug, Default)]
pub struct ReadsOf {
    /// Per path, where its reads end in `reads`.
    ends: Vec<usize>,
    reads: Vec<usize>,
}

impl ReadsOf {
    /// The reads of the `n`th path, from the `BuildInputs` that made this.
    pub fn of<'b>(&self, build: &'b BuildInputs, n: usize) -> impl Iterator<Item = &'b Read> {
        let start = n.checked_sub(1).map_or(0, |m| self.ends[m]);
        let reads = match self.ends.get(n) {
            Some(&end) => &self.reads[start..end],
            None => &[],
        };
        reads.iter().map(move |&i| &build.reads[i])
    }
}

/// A changed file that a service's build reads and that the service's own rules did not claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub file: String,
    pub dockerfile: String,
    pub line: Option<u32>,
}

/// What the builds of a set of services read.
#[derive(Debug, Default)]
pub struct BuildInputs {
    matcher: Option<Matcher<usize>>,
    reads: Vec<Read>,
    /// Per context: its repository-relative prefix (`""` or `dir/`) and its `.dockerignore` (an
    /// index into `ignores`).
    contexts: Vec<(String, usize)>,
    /// Each distinct `.dockerignore` text, compiled once (most monorepos have one text, or a few,
    /// in many folders).
    ignores: Vec<DockerIgnore>,
    /// Sources read as the whole context for want of a variable's value, and unreadable
    /// `.dockerignore` files: each names the file and the line.
    pub warnings: Vec<String>,
}

/// One build of a service: its Dockerfile, context and build args (repository-relative paths).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Build {
    pub dockerfile: String,
    pub context: String,
    pub build_args: BTreeMap<String, String>,
    pub build_args_file: Option<String>,
}

/// The distinct builds of a service over the environments (a per-environment Dockerfile or build
/// args make another). None for a library.
pub fn builds(config: &Config, service: &Service) -> Vec<Build> {
    if !service.image {
        return Vec::new();
    }
    let mut out: Vec<Build> = config
        .environments
        .iter()
        .map(|env| {
            let b = service.build(env);
            Build {
                dockerfile: b.dockerfile,
                context: b.context,
                build_args: b.build_args,
                build_args_file: b.build_args_file,
            }
        })
        .collect();
    if out.is_empty() {
        out.push(Build {
            dockerfile: service.join(&service.dockerfile),
            context: service.join(&service.context),
            build_args: service.build_args.clone(),
            build_args_file: service.build_args_file.as_deref().map(|f| service.join(f)),
        });
    }
    out.sort();
    out.dedup();
    out
}

/// The glob of a Dockerfile source in a context: the context's path taken literally, the source
/// as Docker reads it (`*`, `?` and `[…]` are wildcards, braces are not).
fn source_glob(context: &str, source: Option<&str>) -> String {
    let mut out = match context {
        "." => String::new(),
        c => glob::literal_path(c),
    };
    match source {
        None if out.is_empty() => return "**".to_string(),
        None => return out,
        Some(s) => {
            out.push('/');
            for c in s.chars() {
                if matches!(c, '{' | '}') {
                    out.push('\\');
                }
                out.push(c);
            }
        }
    }
    out
}

/// Whether a sorted list of repository paths holds one under `dir` (`.` is the root).
fn any_under(sorted: &[&str], dir: &str) -> bool {
    if dir == "." {
        return !sorted.is_empty();
    }
    let at = sorted.partition_point(|p| *p < dir);
    sorted[at..]
        .iter()
        .take_while(|p| p.starts_with(dir))
        .any(|p| p.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// The services whose builds could read one of `changed` (sorted, as [`crate::git::Repo`] lists
/// changed paths): a file under one of their contexts, or one of their Dockerfiles. Only those
/// need their Dockerfiles read for `shipit affected`.
pub fn touched(config: &Config, changed: &[&str]) -> Vec<usize> {
    debug_assert!(changed.is_sorted(), "changed paths come sorted");
    let sorted = changed;
    let set: HashSet<&str> = sorted.iter().copied().collect();
    let changed = |path: &str| set.contains(path);
    (0..config.services.len())
        .filter(|&i| {
            let s = &config.services[i];
            // Most services build their own folder: no need to join it.
            let context = match s.context.as_str() {
                "." => std::borrow::Cow::Borrowed(s.path.as_str()),
                c => std::borrow::Cow::Owned(s.join(c)),
            };
            // The context is the same in every environment; a Dockerfile may differ.
            s.image
                && (any_under(sorted, &context)
                    || changed(&s.join(&s.dockerfile))
                    || s.build_args_file
                        .as_deref()
                        .is_some_and(|f| changed(&s.join(f)))
                    || s.environments
                        .values()
                        .any(|o| o.dockerfile.as_deref().is_some_and(|d| changed(&s.join(d)))))
        })
        .collect()
}

impl BuildInputs {
    /// What the builds of `services` read. `read` gives the contents of repository files as
    /// committed (`None` where there is none), many at once.
    pub fn new<E>(
        config: &Config,
        services: &[usize],
        read: impl FnOnce(&[&str]) -> Result<Vec<Option<Vec<u8>>>, E>,
    ) -> Result<BuildInputs, E> {
        let builds: Vec<(usize, Build)> = services
            .iter()
            .flat_map(|&i| {
                builds(config, &config.services[i])
                    .into_iter()
                    .map(move |b| (i, b))
            })
            .collect();
        let mut files: Vec<String> = Vec::new();
        for (_, b) in &builds {
            files.push(b.dockerfile.clone());
            files.push(match b.context.as_str() {
                "." => ".dockerignore".to_string(),
                c => format!("{c}/.dockerignore"),
            });
        }
        files.sort();
        files.dedup();
        let names: Vec<&str> = files.iter().map(String::as_str).collect();
        let contents: HashMap<&str, Option<Vec<u8>>> =
            names.iter().copied().zip(read(&names)?).collect();

        let mut out = BuildInputs::default();
        let mut contexts: HashMap<&str, usize> = HashMap::new();
        let mut ignores: HashMap<String, usize> = HashMap::new();
        let mut patterns: Vec<(String, usize)> = Vec::with_capacity(builds.len() * 4);
        // The globs of the service and Dockerfile at hand (a service's builds come sorted by
        // Dockerfile), each read once: indices into `patterns`.
        let mut seen: Vec<usize> = Vec::new();
        let mut last: Option<(usize, &str)> = None;
        // By text: many services share one Dockerfile's text.
        let mut parsed: HashMap<(&[u8], &BTreeMap<String, String>), dockerfile::Reads> =
            HashMap::new();
        for (service, b) in &builds {
            if last != Some((*service, b.dockerfile.as_str())) {
                seen.clear();
                last = Some((*service, b.dockerfile.as_str()));
            }
            let ignore_file = match b.context.as_str() {
                "." => ".dockerignore".to_string(),
                c => format!("{c}/.dockerignore"),
            };
            let context = match contexts.get(b.context.as_str()) {
                Some(&c) => c,
                None => {
                    let text = contents
                        .get(ignore_file.as_str())
                        .and_then(Option::as_ref)
                        .map(|t| String::from_utf8_lossy(t).into_owned())
                        .unwrap_or_default();
                    let ignore = match ignores.get(&text) {
                        Some(&i) => i,
                        None => {
                            let parsed = DockerIgnore::parse(&text).unwrap_or_else(|why| {
                                out.warnings.push(format!(
                                    "{ignore_file} {why}: it is not applied to what the builds read"
                                ));
                                DockerIgnore::default()
                            });
                            out.ignores.push(parsed);
                            ignores.insert(text, out.ignores.len() - 1);
                            out.ignores.len() - 1
                        }
                    };
                    let prefix = match b.context.as_str() {
                        "." => String::new(),
                        c => format!("{c}/"),
                    };
                    out.contexts.push((prefix, ignore));
                    contexts.insert(&b.context, out.contexts.len() - 1);
                    out.contexts.len() - 1
                }
            };
            let mut add = |out: &mut BuildInputs, glob: String, line: Option<u32>, ctx| {
                if seen.iter().all(|&p| patterns[p].0 != glob) {
                    seen.push(patterns.len());
                    out.reads.push(Read {
                        service: *service,
                        dockerfile: b.dockerfile.clone(),
                        line,
                        context: ctx,
                    });
                    patterns.push((glob, out.reads.len() - 1));
                }
            };
            add(&mut out, glob::literal_path(&b.dockerfile), None, None);
            add(&mut out, glob::literal_path(&ignore_file), None, None);
            if let Some(file) = &b.build_args_file {
                // Its values are build args: an input whatever the service's globs say.
                add(&mut out, glob::literal_path(file), None, None);
            }
            let Some(Some(text)) = contents.get(b.dockerfile.as_str()) else {
                continue;
            };
            let reads = parsed
                .entry((text.as_slice(), &b.build_args))
                .or_insert_with(|| {
                    dockerfile::reads(&String::from_utf8_lossy(text), &b.build_args)
                });
            for w in &reads.warnings {
                let w = format!("{} {w}", b.dockerfile);
                if !out.warnings.contains(&w) {
                    out.warnings.push(w);
                }
            }
            for source in &reads.sources {
                let mut glob = source_glob(&b.context, source.path.as_deref());
                if glob::check(&glob).is_err() {
                    out.warnings.push(format!(
                        "{} line {}: a source shipit cannot match, so the whole build context counts as read",
                        b.dockerfile, source.line
                    ));
                    glob = source_glob(&b.context, None);
                }
                add(&mut out, glob, Some(source.line), Some(context));
            }
        }
        if !patterns.is_empty() {
            // Every glob was checked above, and paths are escaped.
            out.matcher = Matcher::new(patterns).ok();
        }
        Ok(out)
    }

    /// Each build of `services` read as its whole context, for when the Dockerfiles cannot be read.
    pub fn whole_contexts(config: &Config, services: &[usize]) -> BuildInputs {
        let unreadable = |files: &[&str]| -> Result<_, ()> {
            Ok(files
                .iter()
                .map(|f| match f.ends_with(".dockerignore") {
                    true => None,
                    false => Some(b"COPY . /\n".to_vec()),
                })
                .collect())
        };
        // The reader above never fails.
        BuildInputs::new(config, services, unreadable).unwrap_or_default()
    }

    /// Whether nothing is read (no service, or no Dockerfile).
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty()
    }

    /// The reads of each of `paths` ([`BuildInputs::for_each`]), in one flat list.
    pub fn reads_of(&self, paths: &[&str]) -> ReadsOf {
        let mut out = ReadsOf {
            ends: Vec::with_capacity(paths.len()),
            reads: Vec::new(),
        };
        let mut scratch = glob::Scratch::default();
        for path in paths {
            self.for_each_index(path, &mut scratch, |i| out.reads.push(i));
            out.ends.push(out.reads.len());
        }
        out
    }

    /// Every read of a repository path: the services whose builds read it, with the Dockerfile
    /// and line, `.dockerignore` applied. A service may come more than once (several lines).
    pub fn for_each(&self, path: &str, scratch: &mut glob::Scratch, mut f: impl FnMut(&Read)) {
        self.for_each_index(path, scratch, |i| f(&self.reads[i]));
    }

    fn for_each_index(&self, path: &str, scratch: &mut glob::Scratch, mut f: impl FnMut(usize)) {
        let Some(matcher) = &self.matcher else {
            return;
        };
        matcher.for_each_match(path, scratch, |&i| {
            let read = &self.reads[i];
            if let Some(c) = read.context {
                let (prefix, ignore) = &self.contexts[c];
                let ignore = &self.ignores[*ignore];
                match path.strip_prefix(prefix.as_str()) {
                    Some(relative) if !ignore.excludes(relative) => {}
                    _ => return,
                }
            }
            f(i)
        });
    }
}

/// A Dockerfile source that git ignores, so that it is in no commit, and that the service does not
/// declare in `artifacts`: a build from the committed tree would not find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undeclared {
    pub service: String,
    pub dockerfile: String,
    pub line: u32,
    /// Relative to the service's `path` when it is under it, else repository-relative.
    pub path: String,
}

/// The literal folders in front of a repository glob (`svc/target/*.jar` → `svc/target`).
fn literal_prefix(glob: &str) -> String {
    glob.split('/')
        .take_while(|c| !c.contains(['*', '?', '[', '{', '\\']))
        .collect::<Vec<_>>()
        .join("/")
}

/// Every source of the services' Dockerfiles (in `commit`) that git ignores and that no
/// `artifacts` glob of the service declares. `ignored` says whether git ignores a path.
pub fn undeclared(
    config: &Config,
    repo: &crate::git::Repo,
    commit: git2::Oid,
) -> Result<Vec<Undeclared>, crate::git::GitError> {
    let mut out = Vec::new();
    for service in &config.services {
        let artifacts: Vec<String> = service.artifacts.iter().map(|a| service.join(a)).collect();
        let declared =
            crate::glob::Matcher::new(artifacts.iter().map(|a| (format!("/{a}"), ()))).ok();
        let mut scratch = glob::Scratch::default();
        for b in builds(config, service) {
            let Some(Some(text)) = repo.read_files(commit, &[&b.dockerfile])?.pop() else {
                continue;
            };
            let reads = dockerfile::reads(&String::from_utf8_lossy(&text), &b.build_args);
            for source in reads.sources {
                let Some(p) = &source.path else { continue };
                let full = match b.context.as_str() {
                    "." => p.clone(),
                    c => format!("{c}/{p}"),
                };
                let literal = literal_prefix(&full);
                if literal.is_empty() || repo.has_path(commit, &literal)? {
                    continue;
                }
                let ignored = repo.is_ignored(&literal) || repo.is_ignored(&format!("{literal}/"));
                if !ignored {
                    continue;
                }
                let mut is_declared = artifacts
                    .iter()
                    .any(|a| a.starts_with(&format!("{literal}/")));
                if let Some(m) = &declared {
                    m.for_each_match(&literal, &mut scratch, |_| is_declared = true);
                }
                if is_declared {
                    continue;
                }
                let relative = match service.path.as_str() {
                    "." => Some(full.as_str()),
                    s => full.strip_prefix(&format!("{s}/")),
                };
                out.push(Undeclared {
                    service: service.name.clone(),
                    dockerfile: b.dockerfile.clone(),
                    line: source.line,
                    path: relative.unwrap_or(&full).to_string(),
                });
            }
        }
    }
    out.dedup();
    Ok(out)
}

/// `shipit validate`: a Dockerfile that copies what git ignores is refused unless the service
/// declares it in `artifacts` (exit 2, naming the Dockerfile line and the fix).
pub fn check_artifacts(config: &Config, repo: &crate::git::Repo) -> Result<(), crate::Error> {
    // Nothing committed yet: nothing to build from either.
    let Ok(head) = repo.resolve("HEAD") else {
        return Ok(());
    };
    let found = undeclared(config, repo, head)?;
    let Some(first) = found.first() else {
        return Ok(());
    };
    let lines: Vec<String> = found
        .iter()
        .map(|u| {
            format!(
                "{}:{} copies `{}`, which git ignores (service `{}`)",
                u.dockerfile, u.line, u.path, u.service
            )
        })
        .collect();
    Err(crate::Error::bad_input(
        format!(
            "{}: shipit builds from the committed tree, where it is not",
            lines.join("; ")
        ),
        Some(format!(
            "if the service's test command produces it, declare it in ci.toml: `artifacts = [\"{}\"]` under [services.{}] (relative to its `path`); otherwise commit it, or copy it from a build stage",
            first.path, first.service
        )),
    ))
}

#[cfg(test)]
mod tests;
