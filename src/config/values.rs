//! Value parsers: registries, durations, names, paths, and the closest known name for a typo.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{Registry, shared};

/// `./a/b/` → `a/b`; `.` and `./` → `.`.
pub(super) fn normalize(p: &str) -> String {
    // `a/../b` is `b`; a `..` with nothing left to undo stays, and marks a path that leaves the
    // repository (see `Resolver::contained`).
    if is_normal(p) {
        return p.to_string(); // most paths of a ci.toml
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/').filter(|c| !c.is_empty() && *c != ".") {
        match (c, parts.last()) {
            ("..", Some(&last)) if last != ".." => {
                parts.pop();
            }
            _ => parts.push(c),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// Whether [`normalize`] would leave `p` as it is.
pub(super) fn is_normal(p: &str) -> bool {
    !p.is_empty()
        && p.as_bytes()
            .split(|&b| b == b'/')
            .all(|c| !matches!(c, b"" | b"." | b".."))
}

pub(crate) fn valid_service_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        && name.len() <= 100
}

pub(super) fn valid_tag_prefix(name: &str) -> bool {
    valid_service_name(name) && name.len() <= 64
}

pub(super) fn valid_repository(name: &str) -> bool {
    repository_problem(name).is_none()
}

/// What the OCI Distribution grammar of a repository name (which ECR's is too) allows, for messages.
pub(super) const REPOSITORY_RULE: &str = "a repository name is parts separated by `/`, each part lowercase letters and digits separated by one `.`, one or two `_`, or any number of `-`";

/// Why `name` is not a repository name of the OCI Distribution grammar,
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255
/// characters; `None` when it is one.
pub(crate) fn repository_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if name.len() > 255 {
        return Some(format!(
            "it is {} characters long, more than 255",
            name.len()
        ));
    }
    for part in name.split('/') {
        if part.is_empty() {
            return Some("it has an empty part (`//`, or a `/` at an end)".into());
        }
        if let Some(c) = part.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        }) {
            return Some(match c.is_ascii_uppercase() {
                true => format!("`{c}` is uppercase"),
                false => format!("`{c}` is not allowed"),
            });
        }
        let separator = |c: char| matches!(c, '.' | '_' | '-');
        if part.starts_with(separator) {
            return Some(format!("`{part}` starts with a separator"));
        }
        if part.ends_with(separator) {
            return Some(format!("`{part}` ends with a separator"));
        }
        // Each run of separators between two alphanumerics: `.`, `_`, `__` or `-`s.
        for run in part
            .split(|c: char| c.is_ascii_alphanumeric())
            .filter(|r| !r.is_empty())
        {
            let allowed = matches!(run, "." | "_" | "__") || run.chars().all(|c| c == '-');
            if !allowed {
                return Some(format!("`{run}` in `{part}` is not a separator"));
            }
        }
    }
    None
}

pub(super) fn parse_registry(s: &str) -> Result<Registry, shared::RegistryAddressError> {
    use shared::RegistryAddressError as Bad;
    if s == "ecr" {
        return Ok(Registry::Ecr);
    }
    if let Some(host) = s.strip_prefix("ecr://") {
        return shared::parse_ecr_host(host);
    }
    let Some(rest) = s.strip_prefix("oci://") else {
        return Err(Bad::UnknownScheme);
    };
    let (host, prefix) = match rest.split_once('/') {
        Some((h, p)) => (h, Some(p.trim_end_matches('/'))),
        None => (rest, None),
    };
    if host.is_empty() || host.contains(['@', '?', '#', ' ']) {
        return Err(Bad::MalformedHost);
    }
    if let Some((_, port)) = host.rsplit_once(':')
        && port.parse::<u16>().is_err()
    {
        return Err(Bad::BadPort {
            port: port.to_string(),
        });
    }
    // Docker and ECS read the first part of `name/...` as a registry only when it has a dot or a
    // port, or is `localhost`: any other would send the image to Docker Hub.
    if !(host.contains(['.', ':']) || host == "localhost") {
        return Err(Bad::DockerHubName {
            host: host.to_string(),
        });
    }
    let prefix = prefix.filter(|p| !p.is_empty());
    if let Some(p) = prefix
        && let Some(problem) = repository_problem(p)
    {
        return Err(Bad::BadPrefix {
            prefix: p.to_string(),
            problem,
        });
    }
    Ok(Registry::Oci {
        host: host.to_string(),
        prefix: prefix.map(str::to_string),
    })
}

/// `500ms`, `10s`, `15m`, `1h`, `1m30s`, in humantime's grammar (which also reads `1h 30m`, `2days`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    humantime::parse_duration(s.trim()).ok()
}

/// The known name closest to `name`, when it is close enough to be a likely typo.
pub(super) fn closest<'a>(name: &str, known: &BTreeSet<&'a str>) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::levenshtein(name, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// `os/arch` or `os/arch/variant`, each part lowercase letters, digits and `_` (`linux/amd64`,
/// `linux/arm64/v8`), as the Engine API's `platform` and an image index's `platform` name them.
pub fn is_platform(text: &str) -> bool {
    let parts: Vec<&str> = text.split('/').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 32
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oci_host_is_one_docker_reads_as_a_registry() {
        for ok in [
            "oci://ghcr.io/acme",
            "oci://127.0.0.1:5000",
            "oci://localhost/x",
            "oci://registry:5000/team",
        ] {
            assert!(parse_registry(ok).is_ok(), "{ok}");
        }
        // `registry/team/api` is Docker Hub's `registry/team/api` to the engine and to ECS.
        let err = parse_registry("oci://registry/team").unwrap_err();
        assert_eq!(
            err,
            shared::RegistryAddressError::DockerHubName {
                host: "registry".into()
            }
        );
        assert!(err.to_string().contains("Docker Hub"), "{err}");
    }
}
