//! Services that share an ECS service (an app and its sidecar in one task): each must own its
//! container, and task definition and service definition files are checked before anything runs.

use std::collections::BTreeMap;

use super::raw::{RawService, S};
use super::{Environment, Resolver, Service};

impl Resolver<'_> {
    /// Two services of ci.toml rolled out to one ECS service in one cluster must name different
    /// containers: one render carries both images.
    pub(super) fn shared_containers(
        &mut self,
        raw: &BTreeMap<S<String>, RawService>,
        services: &[Service],
        environments: &[Environment],
    ) {
        let mut seen: BTreeMap<(String, String, String), &str> = BTreeMap::new();
        let mut files: BTreeMap<(String, String), (&str, String)> = BTreeMap::new();
        let mut reported = std::collections::BTreeSet::new();
        let mut reported_files = std::collections::BTreeSet::new();
        for env in environments {
            // Only what rolls out somewhere can share: no build is worked out for the rest.
            let rolled_out = services
                .iter()
                .filter(|s| s.image && !s.clusters_in(env).is_empty());
            for s in rolled_out {
                let build = s.build(env);
                for cluster in &build.clusters {
                    // One task, one file: services of one ECS service may not name two.
                    if let Some(file) = &build.task_definition {
                        let group = (cluster.clone(), s.ecs_service.clone());
                        match files.get(&group) {
                            Some((other, theirs))
                                if lexical(theirs) != lexical(file)
                                    && reported_files
                                        .insert((other.to_string(), s.name.clone())) =>
                            {
                                let span = span_of(raw, &s.name);
                                self.problem_with_help(
                                    format!(
                                        "services `{other}` and `{}` share the ECS service `{}` (in {cluster} of {}) but name different task definition files: {theirs} and {file}",
                                        s.name, s.ecs_service, env.name
                                    ),
                                    span,
                                    "another task definition",
                                    "one task definition holds every container of the task: name the same file in both, or in one of them",
                                );
                            }
                            Some(_) => {}
                            None => {
                                files.insert(group, (&s.name, file.clone()));
                            }
                        }
                    }
                }
                for cluster in build.clusters {
                    let key = (cluster, s.ecs_service.clone(), s.container.clone());
                    match seen.get(&key) {
                        Some(other) if *other != s.name => {
                            if !reported.insert((other.to_string(), s.name.clone())) {
                                continue;
                            }
                            let span = span_of(raw, &s.name);
                            self.problem_with_help(
                                format!(
                                    "services `{other}` and `{}` both claim the container `{}` of the ECS service `{}` (in {} of {})",
                                    s.name, s.container, s.ecs_service, key.0, env.name
                                ),
                                span,
                                "same container",
                                "services that share an ECS service roll out as one task definition: give each its own `container`",
                            );
                        }
                        Some(_) => {}
                        None => {
                            seen.insert(key, &s.name);
                        }
                    }
                }
            }
        }
    }
}

/// A repository-relative path with `.` and `..` resolved by name, to tell whether two name one file.
pub fn lexical(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Where a service's key is in ci.toml.
fn span_of(raw: &BTreeMap<S<String>, RawService>, name: &str) -> std::ops::Range<usize> {
    raw.iter()
        .find(|(k, _)| k.get_ref() == name)
        .map(|(k, _)| k.span())
        .unwrap_or(0..0)
}

/// The kinds of ECS file a service of ci.toml may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    TaskDefinition,
    ServiceDefinition,
}

/// `ACCOUNT.dkr.ecr.REGION.amazonaws.com` (or `.amazonaws.com.cn`): a central ECR registry.
pub fn parse_ecr_host(host: &str) -> Result<super::Registry, String> {
    let host = host.trim_end_matches('/');
    let wrong = || {
        format!(
            "`{host}` is not an ECR registry host: write it as ACCOUNT.dkr.ecr.REGION.amazonaws.com (the account's 12 digits, its region)"
        )
    };
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
        .ok_or_else(wrong)?;
    let (account, region) = rest.split_once(".dkr.ecr.").ok_or_else(wrong)?;
    let region_ok = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) || !region_ok {
        return Err(wrong());
    }
    Ok(super::Registry::EcrAt {
        account: account.to_string(),
        region: region.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_of_one_task_name_one_task_definition_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::create_dir_all(dir.path().join("b")).unwrap();
        let toml = "[environments.stage]\nbranch = \"develop\"\nclusters = [\"c\"]\n\n[services.a]\npath = \"a\"\ntask_definition = \"td.json\"\n[services.b]\npath = \"b\"\necs_service = \"a\"\ntask_definition = \"td.json\"\n";
        let err = super::super::Config::parse(
            toml,
            "ci.toml",
            std::path::Path::new("ci.toml"),
            dir.path(),
            super::super::Checks::Load,
        )
        .unwrap_err();
        let text = format!("{err:?}");
        assert!(
            text.contains("name different task definition files: a/td.json and b/td.json"),
            "{text}"
        );
    }

    #[test]
    fn service_definition_has_a_per_environment_override() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("svc")).unwrap();
        let toml = "[environments.prod]\nbranch = \"main\"\n[environments.stage]\nbranch = \"develop\"\n\n[services.api]\npath = \"svc\"\nservice_definition = \"deploy/service.json\"\n[services.api.environments.prod]\nservice_definition = \"deploy/service.prod.json\"\n";
        let c = super::super::Config::parse(
            toml,
            "ci.toml",
            std::path::Path::new("ci.toml"),
            dir.path(),
            super::super::Checks::Load,
        )
        .unwrap();
        let api = c.service("api").unwrap();
        let by_env = |name: &str| {
            let env = c.environments.iter().find(|e| e.name == name).unwrap();
            api.build(env).service_definition
        };
        assert_eq!(
            by_env("prod").as_deref(),
            Some("svc/deploy/service.prod.json")
        );
        assert_eq!(by_env("stage").as_deref(), Some("svc/deploy/service.json"));
    }

    #[test]
    fn central_ecr_hosts() {
        assert_eq!(
            parse_ecr_host("210987654321.dkr.ecr.eu-central-1.amazonaws.com"),
            Ok(super::super::Registry::EcrAt {
                account: "210987654321".into(),
                region: "eu-central-1".into()
            })
        );
        for bad in [
            "21098765432.dkr.ecr.eu-central-1.amazonaws.com",
            "210987654321.dkr.ecr..amazonaws.com",
            "registry.example.com",
            "210987654321.dkr.ecr.eu-central-1.amazonaws.com.evil",
        ] {
            assert!(parse_ecr_host(bad).is_err(), "{bad}");
        }
    }
}
