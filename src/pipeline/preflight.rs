//! What is checked before anything is built or pushed (files on disk, build secrets and build
//! args, the engine a token would travel to, task and service definitions), and the labels of a
//! run's images.

use crate::config::Config;
use crate::git::Repo;
use crate::github::Env;
use crate::plan::Action;
use crate::{Error, env_vars};

/// Everything a build needs is on disk, for every service to build: checked before anything runs,
/// so that a missing Dockerfile fails the release before anything is built or pushed.
/// Builds take their contexts from the commit (`committed`: its tree) unless --allow-dirty.
fn preflight(
    env: &Env,
    config: &Config,
    plan: &crate::plan::Plan,
    committed: Option<&[crate::git::TreeEntry]>,
) -> Result<(), Error> {
    let mut missing = Vec::new();
    for s in plan.services.iter().filter(|s| may_build(s)) {
        let Some(build) = &s.build else { continue };
        let (context, dockerfile) = match committed {
            None => (
                config.root.join(&build.context).is_dir(),
                config.root.join(&build.dockerfile).is_file(),
            ),
            Some(entries) => {
                let prefix = format!("{}/", build.context);
                (
                    build.context == "." || entries.iter().any(|e| e.path.starts_with(&prefix)),
                    entries.iter().any(|e| e.path == build.dockerfile),
                )
            }
        };
        let in_commit = if committed.is_some() {
            " in the commit"
        } else {
            ""
        };
        if !context {
            missing.push(format!(
                "the build context {} of {}{in_commit}",
                build.context, s.name
            ));
        }
        if !dockerfile {
            missing.push(format!(
                "the Dockerfile {} of {}{in_commit}",
                build.dockerfile, s.name
            ));
        }
    }
    if !missing.is_empty() {
        return Err(Error::bad_input(
            format!("nothing was built or pushed: {} missing", missing.join(", ")),
            Some("create and commit it, fix `dockerfile` / `context` in ci.toml, or set `image = false` for a library".to_string()),
        ));
    }
    // A build secret's variable is read when the build starts: one that is not set is bad input,
    // said before any service is tested, built or pushed.
    let unset: Vec<String> = plan
        .services
        .iter()
        .filter(|s| may_build(s))
        .filter_map(|s| s.build.as_ref().map(|b| (s, b)))
        .flat_map(|(s, b)| {
            super::publish::unset_secrets(env, &b.secrets)
                .into_iter()
                .map(|(id, var)| format!("{var} (the build secret `{id}` of {})", s.name))
        })
        .collect();
    if !unset.is_empty() {
        return Err(Error::bad_input(
            match unset.len() {
                1 => format!(
                    "nothing was built or pushed: the environment variable {} is not set",
                    unset[0]
                ),
                _ => format!(
                    "nothing was built or pushed: the environment variables {} are not set",
                    unset.join(", ")
                ),
            },
            Some(
                "set it where shipit runs (under Actions: `env: VAR: ${{ secrets.VAR }}` on the step)"
                    .to_string(),
            ),
        ));
    }
    secret_build_args(env, config, plan)
}

/// A build arg is written into the image's history, readable by anyone who can pull the image:
/// one whose value is (or holds) a secret's value is refused, naming the arg and the secret, never
/// the value. The secrets are every build secret of ci.toml and the credentials shipit knows.
fn secret_build_args(env: &Env, config: &Config, plan: &crate::plan::Plan) -> Result<(), Error> {
    // Every secret's value, with what ci.toml or the environment calls it.
    let mut secrets: Vec<(String, &str)> = build_secrets(env, config)
        .into_iter()
        .map(|s| (format!("the build secret `{}`", s.id), s.value))
        .collect();
    for var in crate::redact::SECRET_VARS {
        if let Some(value) = env.get(var) {
            secrets.push((format!("the credential {var}"), value));
        }
    }
    let mut found = Vec::new();
    for s in plan.services.iter().filter(|s| may_build(s)) {
        let Some(build) = &s.build else { continue };
        for (arg, value) in &build.build_args {
            // Values shorter than six characters are not taken for secrets (as in the redaction
            // layer: an emulator's `test` key is not a secret, nor a `MODE = "test"` that equals it).
            let holds = |secret: &str| secret.len() >= 6 && value.contains(secret);
            if let Some((name, _)) = secrets.iter().find(|(_, secret)| holds(secret)) {
                found.push(format!(
                    "the build arg `{arg}` of {} holds the value of {name}",
                    s.name
                ));
            }
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(Error::bad_input(
        format!(
            "nothing was built or pushed: {} (a build arg is written into the image's history)",
            found.join(", ")
        ),
        Some(
            "remove the value from `build_args` in ci.toml and read the secret in the Dockerfile \
             with `RUN --mount=type=secret,id=ID`"
                .to_string(),
        ),
    ))
}

/// A service this plan builds. (`plan --offline` knows no action: it checks no build.)
fn may_build(s: &crate::plan::ServicePlan) -> bool {
    s.action == crate::plan::Action::Build
}

/// A build secret ci.toml names, whose variable is set.
#[derive(Debug)]
pub struct BuildSecret<'a> {
    pub id: &'a str,
    pub var: &'a str,
    pub value: &'a str,
}

/// Every build secret ci.toml names, whatever the service and the environment (each
/// environment's, each service's, each service's for one environment), whose variable is set.
pub fn build_secrets<'a>(env: &'a Env, config: &'a Config) -> Vec<BuildSecret<'a>> {
    let maps =
        config
            .environments
            .iter()
            .map(|e| &e.secrets)
            .chain(config.services.iter().flat_map(|s| {
                std::iter::once(&s.secrets).chain(s.environments.values().map(|o| &o.secrets))
            }));
    let mut out: Vec<BuildSecret<'a>> = Vec::new();
    for map in maps {
        for (id, source) in map {
            let var = super::publish::secret_variable(source);
            if let Some(value) = env.get(var)
                && !out.iter().any(|s| s.id == id && s.var == var)
            {
                out.push(BuildSecret { id, var, value });
            }
        }
    }
    out
}

/// The pre-flight of a release, also run by `shipit plan` and `release --dry-run` so that they
/// refuse what the release would refuse: everything that is checked before anything runs and that
/// needs no network: files a build needs (in the commit unless `allow_dirty`), build secrets set
/// and kept out of build args, the engine a token would travel to, the task and service
/// definitions of the rollout. What is worth a warning but no refusal goes to `warn`.
pub fn check(
    env: &Env,
    repo: &Repo,
    config: &Config,
    plan: &crate::plan::Plan,
    skip: &std::collections::BTreeSet<crate::pipeline::Stage>,
    allow_dirty: bool,
    warn: &dyn Fn(&str),
) -> Result<(), Error> {
    use crate::pipeline::Stage;
    let builds = plan.services.iter().any(may_build) && !skip.contains(&Stage::Build);
    if builds {
        let committed = match allow_dirty {
            true => None,
            false => Some(repo.tree_entries(
                git2::Oid::from_str(&plan.head).map_err(|e| Error::Git(e.into()))?,
            )?),
        };
        preflight(env, config, plan, committed.as_deref())?;
        if !allow_dirty {
            let contexts: Vec<String> = plan
                .services
                .iter()
                .filter(|s| may_build(s))
                .filter_map(|s| s.build.as_ref().map(|b| b.context.clone()))
                .collect();
            if let Some(w) = crate::provenance::uncommitted_warning(&repo.uncommitted(&contexts)) {
                warn(&w);
            }
        }
    }
    if builds
        && matches!(config.project.registry, crate::config::Registry::Ecr)
        && let Some(host) = crate::docker::Endpoint::from_env(env).plain_remote()
    {
        return Err(Error::bad_input(
            format!(
                "nothing was built or pushed: the ECR token would travel in clear to the Docker engine at {host}"
            ),
            Some(format!(
                "reach that engine over TLS ({}=1 and {} with its certificates), or use a local engine",
                env_vars::DOCKER_TLS_VERIFY,
                env_vars::DOCKER_CERT_PATH
            )),
        ));
    }
    rollout_preflight(config, plan, skip)
}

/// A broken task definition or service definition file stops the release before anything is
/// built or pushed.
fn rollout_preflight(
    config: &Config,
    plan: &crate::plan::Plan,
    skip: &std::collections::BTreeSet<crate::pipeline::Stage>,
) -> Result<(), Error> {
    let Some(env) = plan
        .environment
        .as_ref()
        .and_then(|e| config.environments.iter().find(|x| &x.name == e))
    else {
        return Ok(());
    };
    if skip.contains(&crate::pipeline::Stage::Rollout) {
        return Ok(());
    }
    let problems = crate::pipeline::rollout::check_files(
        config,
        env,
        plan.services.iter().map(|s| s.name.as_str()),
    );
    // The platforms of what rolls out: those of ci.toml, which the fingerprint of a promoted or
    // skipped index includes too (an image of the engine's own platform is not judged here).
    let images: Vec<(&str, &[String])> = plan
        .services
        .iter()
        .filter(|s| matches!(s.action, Action::Build | Action::Promote | Action::Skip))
        .filter_map(|s| {
            s.build
                .as_ref()
                .map(|b| (s.name.as_str(), b.platforms.as_slice()))
        })
        .collect();
    let wrong = crate::pipeline::architecture::check(config, env, &images);
    if problems.is_empty() && !wrong.is_empty() {
        return Err(Error::bad_input(
            format!(
                "nothing was built, pushed or registered: {}",
                wrong.join("; ")
            ),
            Some(crate::pipeline::architecture::HELP.to_string()),
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::bad_input(
        format!("nothing was built or pushed: {}", problems.join("; ")),
        Some("fix the file (a RegisterTaskDefinition / CreateService request as JSON), or the service's `container`, `task_definition` or `service_definition` in ci.toml".to_string()),
    ))
}

/// The OCI labels every image of this run gets.
/// This repository: `GITHUB_SERVER_URL/GITHUB_REPOSITORY` under Actions, else the remote's URL
/// without credentials. Images name it in `org.opencontainers.image.source`; `verify` expects a
/// provenance to name it.
pub fn source(env: &Env, repo: &Repo) -> Option<String> {
    match (
        env.get(env_vars::GITHUB_SERVER_URL),
        env.get(env_vars::GITHUB_REPOSITORY),
    ) {
        (Some(server), Some(repository)) => Some(format!("{server}/{repository}")),
        _ => repo.remote_url().map(|u| strip_credentials(&u)),
    }
}

pub fn labels(
    env: &Env,
    repo: &Repo,
    plan: &crate::plan::Plan,
    dirty: bool,
) -> std::collections::BTreeMap<String, String> {
    let mut labels = std::collections::BTreeMap::new();
    if dirty {
        // Built from the working tree: never to be taken for the commit's image.
        labels.insert("dev.shipit.dirty".to_string(), "true".to_string());
    }
    labels.insert(
        "org.opencontainers.image.revision".to_string(),
        plan.head.clone(),
    );
    // The commit's time, not the clock's: one commit, one image config (SOURCE_DATE_EPOCH too).
    let created = git2::Oid::from_str(&plan.head)
        .ok()
        .and_then(|oid| repo.commit_time(oid))
        .and_then(|t| i64::try_from(t).ok())
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    if let Some(created) = created {
        labels.insert("org.opencontainers.image.created".to_string(), created);
    }
    if let Some(source) = source(env, repo) {
        labels.insert("org.opencontainers.image.source".to_string(), source);
    }
    labels
}

/// `https://user:token@host/x` → `https://host/x`: a label is public. The URL is parsed, not
/// searched; what is not a URL (`git@host:o/r`, scp-like) carries no password and stays.
pub fn strip_credentials(url: &str) -> String {
    crate::redact::strip_url(url).unwrap_or_else(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::strip_credentials;

    #[test]
    fn labels_carry_no_credentials() {
        assert_eq!(
            strip_credentials("https://user:token-EEE@example.com"),
            "https://example.com/"
        );
        assert_eq!(
            strip_credentials("https://token-FFF@example.com/o/r.git"),
            "https://example.com/o/r.git"
        );
        assert_eq!(
            strip_credentials("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
    }
}
