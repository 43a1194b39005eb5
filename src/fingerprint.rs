//! The input fingerprint of a service: a hash of everything that goes into its image, computed from
//! git trees (object ids, never file contents), so that it is the same on every machine.
//!
//! A service's *inputs* are the files it owns (under its path and includes, minus its excludes and
//! `global.ignore`: the same rules as `shipit affected`), the files under `global.triggers` (a
//! change there affects every service) and, recursively, the inputs of the services it depends on:
//! exactly what can make `shipit affected` select it. Its *fingerprint* for an environment adds how it is built there: the Dockerfile
//! (path and contents), the context, the target and the build args. Same fingerprint, same image: a
//! release finds it in the registry (tag `fp-<fingerprint>`) and skips or promotes instead of
//! building again.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::build_inputs::BuildInputs;
use crate::changes::Rules;
use crate::config::{Config, Environment};
use crate::git::TreeEntry;

/// Bump when the recipe changes, so that old fingerprints never match new ones.
const RECIPE: &str = "shipit-fingerprint-2";
/// Hex characters of a fingerprint (160 bits).
pub const LENGTH: usize = 40;

/// The registry tag that records a fingerprint on an image.
pub fn tag(fingerprint: &str) -> String {
    format!("fp-{fingerprint}")
}

/// The inputs hash of every service (index order of `config.services`), env-independent.
pub struct Inputs {
    hashes: Vec<String>,
    blobs: BTreeMap<String, String>,
}

impl Inputs {
    /// From the entries of the head tree, and what the services' builds read in it.
    pub fn new(
        config: &Config,
        rules: &Rules,
        build: &BuildInputs,
        entries: &[TreeEntry],
    ) -> Inputs {
        let n = config.services.len();
        let mut own: Vec<Sha256> = (0..n).map(|_| Sha256::new()).collect();
        let mut triggers = Sha256::new();
        // Trigger files some service excludes (rare): that service hashes the others alone.
        let mut trigger_lines: Vec<(String, Vec<usize>)> = Vec::new();
        let mut scratch = crate::changes::Scratch::default();
        let mut globs = crate::glob::Scratch::default();
        let mut read_by: Vec<usize> = Vec::new();
        let mut blobs = BTreeMap::new();
        for e in entries {
            blobs.insert(e.path.clone(), e.id.to_string());
            let owned = rules.owners(&e.path, &mut scratch);
            // What a build reads is an input of its service, whatever the rules say. (A service
            // with no such file hashes exactly what it did before builds were read.)
            read_by.clear();
            build.for_each(&e.path, &mut globs, |read| {
                let i = read.service;
                let own_input = owned && scratch.owners.contains(&i);
                if !own_input && !read_by.contains(&i) {
                    read_by.push(i);
                }
            });
            for &i in &read_by {
                own[i].update(format!("build {:o} {} {}\0", e.mode, e.id, e.path).as_bytes());
            }
            if !owned {
                continue;
            }
            let line = format!("{:o} {} {}\0", e.mode, e.id, e.path);
            if Rules::is_trigger(&scratch) {
                triggers.update(line.as_bytes());
                let excluded: Vec<usize> = (0..n)
                    .filter(|&i| Rules::is_excluded(&scratch, i))
                    .collect();
                trigger_lines.push((line.clone(), excluded));
            }
            for &i in &scratch.owners {
                own[i].update(line.as_bytes());
            }
        }
        let triggers = hex::encode(triggers.finalize());
        let own: Vec<String> = own
            .into_iter()
            .enumerate()
            .map(|(i, mut h)| {
                // Every service's own inputs include the trigger files, but those its `exclude`
                // covers (as `shipit affected` does not select it for them).
                let triggers = match trigger_lines.iter().any(|(_, ex)| ex.contains(&i)) {
                    false => triggers.clone(),
                    true => {
                        let mut t = Sha256::new();
                        for (line, _) in trigger_lines.iter().filter(|(_, ex)| !ex.contains(&i)) {
                            t.update(line.as_bytes());
                        }
                        hex::encode(t.finalize())
                    }
                };
                h.update(format!("triggers {triggers}\n"));
                hex::encode(h.finalize())
            })
            .collect();
        let index: BTreeMap<&str, usize> = config
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let mut hashes: Vec<Option<String>> = vec![None; n];
        fn resolve(
            i: usize,
            config: &Config,
            index: &BTreeMap<&str, usize>,
            own: &[String],
            memo: &mut Vec<Option<String>>,
        ) -> String {
            if let Some(h) = &memo[i] {
                return h.clone();
            }
            let mut h = Sha256::new();
            h.update(format!("{RECIPE}\nown {}\n", own[i]));
            let mut deps: Vec<&String> = config.services[i].depends_on.iter().collect();
            deps.sort();
            for d in deps {
                // depends_on is acyclic and names known services: the config was validated.
                let j = index[d.as_str()];
                let dep = resolve(j, config, index, own, memo);
                h.update(format!("dep {d} {dep}\n"));
            }
            let out = hex::encode(h.finalize());
            memo[i] = Some(out.clone());
            out
        }
        for i in 0..n {
            resolve(i, config, &index, &own, &mut hashes);
        }
        Inputs {
            hashes: hashes.into_iter().map(Option::unwrap_or_default).collect(),
            blobs,
        }
    }

    /// The fingerprint of service `i` built for `env`.
    pub fn fingerprint(&self, config: &Config, i: usize, env: &Environment) -> String {
        let service = &config.services[i];
        let build = service.build(env);
        let mut h = Sha256::new();
        h.update(format!("{RECIPE}\ninputs {}\n", self.hashes[i]));
        let dockerfile_blob = self
            .blobs
            .get(&build.dockerfile)
            .map(String::as_str)
            .unwrap_or("missing");
        h.update(format!(
            "dockerfile {} {dockerfile_blob}\n",
            build.dockerfile
        ));
        h.update(format!("context {}\n", build.context));
        h.update(format!(
            "target {}\n",
            build.target.as_deref().unwrap_or("")
        ));
        for (k, v) in &build.build_args {
            h.update(format!("arg {}={}\0", k, v));
        }
        // Another set of platforms is another image (an index of other children); none leaves the
        // fingerprint as it was before `platforms` existed.
        if !build.platforms.is_empty() {
            h.update(format!("platforms {}\n", build.platforms.join(" ")));
        }
        let mut out = hex::encode(h.finalize());
        out.truncate(LENGTH);
        out
    }
}

/// The fingerprint of an image built from the working tree (`release --allow-dirty`): the commit's
/// fingerprint, marked dirty, and a hash of the build context as it is on disk. It never equals a
/// commit's fingerprint, so a dirty image is never skipped to or promoted as a commit's.
pub fn dirty(
    committed: &str,
    root: &std::path::Path,
    build: &crate::config::Build,
) -> Result<String, crate::Error> {
    let context =
        crate::docker::context::pack(&root.join(&build.context), &root.join(&build.dockerfile))
            .map_err(|why| {
                crate::Error::bad_input(
                    format!("cannot read the build context {}: {why}", build.context),
                    Some("fix the working tree, or release without --allow-dirty".to_string()),
                )
            })?;
    let mut h = Sha256::new();
    h.update(format!("{RECIPE}\ndirty {committed}\n"));
    h.update(&context.tar);
    let mut out = hex::encode(h.finalize());
    out.truncate(LENGTH);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Checks;
    use proptest::prelude::*;
    use std::path::Path;

    const CONFIG: &str = r#"
[global]
triggers = ["ci.toml", "/Cargo.lock"]
ignore = ["*.md"]

[services.api]
path = "services/api"
include = ["proto/api/**"]
exclude = ["services/api/docs/**"]
depends_on = ["common"]

[services.web]
path = "services/web"
depends_on = ["api"]

[services.worker]
path = "services/worker"
# Its image reads no root lockfile: `exclude` wins over the trigger.
exclude = ["/Cargo.lock"]

[services.common]
path = "libs/common"
image = false
"#;

    const POOL: &[&str] = &[
        "ci.toml",
        "Cargo.lock",
        "README.md",
        "docs/guide.txt",
        "proto/api/a.proto",
        "proto/other/b.proto",
        "services/api/Dockerfile",
        "services/api/main.rs",
        "services/api/README.md",
        "services/api/docs/notes.txt",
        "services/web/Dockerfile",
        "services/web/app.js",
        "services/worker/Dockerfile",
        "services/worker/Cargo.lock",
        "services/worker/w.rs",
        "libs/common/lib.rs",
        "libs/common/sub/deep.rs",
    ];

    fn config() -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        for p in [
            "services/api",
            "services/web",
            "services/worker",
            "libs/common",
        ] {
            std::fs::create_dir_all(dir.path().join(p)).unwrap();
        }
        let c = Config::parse(
            CONFIG,
            "ci.toml",
            Path::new("ci.toml"),
            dir.path(),
            Checks::Load,
        )
        .unwrap();
        (dir, c)
    }

    fn entries(files: &BTreeMap<usize, u8>) -> Vec<TreeEntry> {
        let mut out: Vec<TreeEntry> = files
            .iter()
            .map(|(&i, &content)| TreeEntry {
                path: POOL[i].to_string(),
                id: git2::Oid::from_bytes(&[content; 20]).unwrap(),
                mode: 0o100644,
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    fn fingerprints(config: &Config, files: &BTreeMap<usize, u8>) -> Vec<String> {
        let rules = Rules::new(config);
        let inputs = Inputs::new(config, &rules, &BuildInputs::default(), &entries(files));
        let env = &config.environments[0];
        (0..config.services.len())
            .map(|i| inputs.fingerprint(config, i, env))
            .collect()
    }

    proptest! {
        /// A change selects a service (by `shipit affected`'s rules) exactly when it changes that
        /// service's fingerprint: no selected service is skipped as "already released", and no
        /// unrelated change forces a rebuild.
        #[test]
        fn a_change_that_selects_a_service_changes_its_fingerprint(
            before in proptest::collection::btree_map(0..POOL.len(), 1u8..200, 0..POOL.len()),
            changed in 0..POOL.len(),
            content in 200u8..255,
            delete in any::<bool>(),
        ) {
            let (_dir, config) = config();
            let mut after = before.clone();
            if delete && before.contains_key(&changed) {
                after.remove(&changed);
            } else {
                after.insert(changed, content);
            }
            let rules = Rules::new(&config);
            let classified = rules.classify([POOL[changed]]);
            let selected: std::collections::BTreeSet<usize> = crate::graph::affected(&config, classified)
                .into_iter()
                .map(|h| h.service)
                .collect();
            let (a, b) = (fingerprints(&config, &before), fingerprints(&config, &after));
            for i in 0..config.services.len() {
                prop_assert_eq!(
                    a[i] != b[i],
                    selected.contains(&i),
                    "{} changed: {} selected={}",
                    POOL[changed],
                    config.services[i].name,
                    selected.contains(&i)
                );
            }
        }
    }

    #[test]
    fn a_trigger_file_is_an_input_of_every_service_but_those_that_exclude_it() {
        let (_dir, config) = config();
        let lock = POOL.iter().position(|p| *p == "Cargo.lock").unwrap();
        let before: BTreeMap<usize, u8> = [(lock, 1), (7, 1)].into();
        let after: BTreeMap<usize, u8> = [(lock, 2), (7, 1)].into();
        let (a, b) = (
            fingerprints(&config, &before),
            fingerprints(&config, &after),
        );
        for i in 0..a.len() {
            let name = &config.services[i].name;
            // worker excludes `/Cargo.lock`: not selected by it, same image.
            assert_eq!(a[i] != b[i], name != "worker", "{name}");
        }
    }
}
