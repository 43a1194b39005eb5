//! What the commands that talk to services share: the checks made before anything is built or
//! pushed (files on disk, output paths), the labels of a run's images, the ECS client, the runtime.

use std::path::Path;

use crate::config::Config;
use crate::git::Repo;
use crate::github::Env;
use crate::{Error, env_vars};

/// The branch a command is about: `--branch`, else GitHub's ref name, else the checked-out branch.
pub fn branch(env: &Env, repo: &Repo, given: Option<String>) -> Result<String, Error> {
    given
        .or_else(|| {
            env.in_actions()
                .then(|| env.get(env_vars::GITHUB_REF_NAME).map(str::to_string))
                .flatten()
        })
        .or_else(|| repo.current_branch())
        .ok_or_else(|| {
            Error::bad_input(
                "no branch to release: HEAD is detached",
                Some("pass --branch BRANCH".to_string()),
            )
        })
}

/// The one tokio runtime, built at the top for the commands that talk to services.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// An ECS client when any environment has clusters (shipit then needs to know what runs there).
pub async fn ecs_client(config: &Config) -> Result<Option<crate::ecs::Ecs>, Error> {
    let clusters = config.environments.iter().any(|e| {
        !e.clusters.is_empty()
            || config.services.iter().any(|s| {
                s.environments
                    .get(&e.name)
                    .is_some_and(|o| o.clusters.as_ref().is_some_and(|c| !c.is_empty()))
            })
    });
    if !clusters {
        return Ok(None);
    }
    let sdk = crate::aws::sdk_config()
        .await
        .map_err(crate::registry::RegistryError::from)?;
    Ok(Some(crate::ecs::Ecs::new(&sdk)))
}

/// Everything a build needs is on disk, for every service to build: checked before anything runs,
/// so that a missing Dockerfile fails the release before anything is built or pushed.
/// Builds take their contexts from the commit (`committed`: its tree) unless --allow-dirty.
pub fn preflight(
    config: &Config,
    plan: &crate::plan::Plan,
    committed: Option<&[crate::git::TreeEntry]>,
) -> Result<(), Error> {
    let mut missing = Vec::new();
    for s in plan
        .services
        .iter()
        .filter(|s| s.action == crate::plan::Action::Build)
    {
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
        .filter(|s| s.action == crate::plan::Action::Build)
        .filter_map(|s| s.build.as_ref().map(|b| (s, b)))
        .flat_map(|(s, b)| {
            super::publish::unset_secrets(&b.secrets)
                .into_iter()
                .map(|(id, var)| format!("{var} (the build secret `{id}` of {})", s.name))
        })
        .collect();
    if unset.is_empty() {
        return Ok(());
    }
    Err(Error::bad_input(
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
    ))
}

/// A broken task definition or service definition file stops the release before anything is
/// built or pushed.
pub fn rollout_preflight(
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
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::bad_input(
        format!("nothing was built or pushed: {}", problems.join("; ")),
        Some("fix the file (a RegisterTaskDefinition / CreateService request as JSON), or the service's `container`, `task_definition` or `service_definition` in ci.toml".to_string()),
    ))
}

/// The OCI labels every image of this run gets.
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
    let source = match (
        env.get(env_vars::GITHUB_SERVER_URL),
        env.get(env_vars::GITHUB_REPOSITORY),
    ) {
        (Some(server), Some(repository)) => Some(format!("{server}/{repository}")),
        _ => repo.remote_url().map(|u| strip_credentials(&u)),
    };
    if let Some(source) = source {
        labels.insert("org.opencontainers.image.source".to_string(), source);
    }
    labels
}

/// `https://user:token@host/x` → `https://host/x`: a label is public. The URL is parsed, not
/// searched; what is not a URL (`git@host:o/r`, scp-like) carries no password and stays.
pub fn strip_credentials(url: &str) -> String {
    crate::redact::strip_url(url).unwrap_or_else(|| url.to_string())
}

/// Refuses an output path that cannot be written, naming it, before the run does anything: a file
/// that is a directory, in a folder that does not exist, or in one shipit may not write to.
pub fn check_writable(path: &Path, flag: &str) -> Result<(), Error> {
    let existed = path.exists();
    let opened = if path.is_dir() {
        Err(std::io::Error::other("it is a directory"))
    } else {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(drop)
    };
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    opened.map_err(|e| output_error(path, flag, e))
}

pub fn output_error(path: &Path, flag: &str, e: std::io::Error) -> Error {
    Error::bad_input(
        format!("cannot write {flag} {}: {e}", path.display()),
        Some(format!(
            "give {flag} a file in a folder that exists and that shipit may write to"
        )),
    )
}

/// `--report FILE`: the command's JSON object, pretty, through the redaction layer.
pub fn write_report(path: Option<&Path>, value: &impl serde::Serialize) -> Result<(), Error> {
    let Some(path) = path else { return Ok(()) };
    crate::report::write_file(
        path,
        &serde_json::to_string_pretty(value).unwrap_or_default(),
        false,
    )
    .map_err(|e| output_error(path, "--report", e))
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
