//! The input fingerprint of a service: a hash of everything that goes into its image, computed from
//! git trees (object ids, never file contents), so that it is the same on every machine.
//!
//! A service's *inputs* are the files it owns (under its path and includes, minus its excludes and
//! `global.ignore`: the same rules as `shipit affected`) and, recursively, the inputs of the services
//! it depends on. Its *fingerprint* for an environment adds how it is built there: the Dockerfile
//! (path and contents), the context, the target and the build args. Same fingerprint, same image: a
//! release finds it in the registry (tag `fp-<fingerprint>`) and skips or promotes instead of
//! building again.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::changes::Rules;
use crate::config::{Config, Environment};
use crate::git::TreeEntry;

/// Bump when the recipe changes, so that old fingerprints never match new ones.
const RECIPE: &str = "shipit-fingerprint-1";
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
    /// From the entries of the head tree.
    pub fn new(config: &Config, rules: &Rules, entries: &[TreeEntry]) -> Inputs {
        let n = config.services.len();
        let mut own: Vec<Sha256> = (0..n).map(|_| Sha256::new()).collect();
        let mut scratch = crate::changes::Scratch::default();
        let mut blobs = BTreeMap::new();
        for e in entries {
            blobs.insert(e.path.clone(), e.id.to_string());
            if !rules.owners(&e.path, &mut scratch) {
                continue;
            }
            let line = format!("{:o} {} {}\0", e.mode, e.id, e.path);
            for &i in &scratch.owners {
                own[i].update(line.as_bytes());
            }
        }
        let own: Vec<String> = own.into_iter().map(|h| hex::encode(h.finalize())).collect();
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
        let mut out = hex::encode(h.finalize());
        out.truncate(LENGTH);
        out
    }
}
