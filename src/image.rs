//! Image references: the one place an image's address is made. A [`Repository`] always carries
//! its registry host, so an [`ImageRef`] made from it can be rendered into a task definition as
//! it is; a reference without a host (which ECS and Docker would resolve to Docker Hub) cannot be
//! built. References read from elsewhere (what a task definition runs) go through [`parse`], which
//! keeps whatever they say.

use std::fmt;

use serde::{Serialize, Serializer};

/// A repository in a registry: `host[:port]/path`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Repository {
    host: String,
    name: String,
}

/// Why a string is not a repository or image address with a registry host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("`{reference}` names no registry host (it would be looked up on Docker Hub)")]
    NoHost { reference: String },
    #[error("`{reference}` names no repository")]
    NoName { reference: String },
}

/// Docker's rule: the first path component is a registry host when it has a dot or a port, or is
/// `localhost`.
fn is_host(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

impl Repository {
    /// `name` in the registry at `host` (`host[:port]`, no scheme, no trailing slash).
    pub fn new(host: &str, name: &str) -> Result<Repository, AddressError> {
        let host = host
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let reference = format!("{host}/{name}");
        if host.is_empty() || host.contains('/') || !is_host(host) {
            return Err(AddressError::NoHost { reference });
        }
        let name = name.trim_matches('/');
        if name.is_empty() {
            return Err(AddressError::NoName { reference });
        }
        Ok(Repository {
            host: host.to_string(),
            name: name.to_string(),
        })
    }

    /// `host/name`, as an address reads: the host is the part before the first slash.
    pub fn parse(address: &str) -> Result<Repository, AddressError> {
        match address.split_once('/') {
            Some((host, name)) if is_host(host) => Repository::new(host, name),
            _ => Err(AddressError::NoHost {
                reference: address.to_string(),
            }),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The repository's path in its registry.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This repository's image under `tag`.
    pub fn tagged(&self, tag: &str) -> ImageRef {
        ImageRef {
            repository: self.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.name)
    }
}

impl Serialize for Repository {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An image in a registry: its repository (with the host), and its tag, digest or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub repository: Repository,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// `host/name:tag`, `host/name@sha256:…`: refused without a registry host.
    pub fn parse(reference: &str) -> Result<ImageRef, AddressError> {
        let parts = parse(reference);
        Ok(ImageRef {
            repository: Repository::parse(&parts.repository)?,
            tag: parts.tag,
            digest: parts.digest,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl Serialize for ImageRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Any image reference split as written, host or not: what a task definition runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    /// Everything before the tag and digest (`host/name`, or a bare `name`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// `host/name:tag`, `host/name@sha256:…`, `host:5000/name:tag@sha256:…`, `name:tag`.
pub fn parse(reference: &str) -> Parts {
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => (r, Some(d.to_string())),
        None => (reference, None),
    };
    // A colon after the last slash separates the tag; one before it is a registry port.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (
            rest[..last_slash + i].to_string(),
            Some(rest[last_slash + i + 1..].to_string()),
        ),
        None => (rest.to_string(), None),
    };
    Parts {
        repository,
        tag,
        digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_reference_splits_as_written() {
        assert_eq!(
            parse("1.dkr.ecr.eu-west-1.amazonaws.com/clinic/visits:stage-1.2.3"),
            Parts {
                repository: "1.dkr.ecr.eu-west-1.amazonaws.com/clinic/visits".into(),
                tag: Some("stage-1.2.3".into()),
                digest: None
            }
        );
        assert_eq!(
            parse("127.0.0.1:5000/visits@sha256:abc"),
            Parts {
                repository: "127.0.0.1:5000/visits".into(),
                tag: None,
                digest: Some("sha256:abc".into())
            }
        );
        assert_eq!(parse("127.0.0.1:5000/visits").tag, None);
        assert_eq!(parse("visits:1").repository, "visits");
    }

    #[test]
    fn a_reference_without_a_registry_host_is_refused() {
        for bare in ["shop/cart:stage-0.1.0", "cart:1", "cart", "shop/cart/x:1"] {
            assert!(
                matches!(ImageRef::parse(bare), Err(AddressError::NoHost { .. })),
                "{bare}"
            );
        }
        assert!(Repository::new("", "shop/cart").is_err());
        assert!(Repository::new("shop", "cart").is_err());
        assert!(Repository::new("127.0.0.1:5000", "").is_err());
    }

    #[test]
    fn a_repository_with_its_host_renders_every_reference() {
        let r = Repository::new(
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",
            "shop/cart",
        )
        .unwrap();
        assert_eq!(r.host(), "123456789012.dkr.ecr.us-east-1.amazonaws.com");
        assert_eq!(
            r.tagged("stage-0.1.0").to_string(),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/cart:stage-0.1.0"
        );
        let i = ImageRef::parse("localhost:5000/a/b:t@sha256:0").unwrap();
        assert_eq!(i.repository.host(), "localhost:5000");
        assert_eq!(i.repository.name(), "a/b");
        assert_eq!(i.to_string(), "localhost:5000/a/b:t@sha256:0");
        assert_eq!(
            Repository::parse("localhost/x").unwrap().to_string(),
            "localhost/x"
        );
    }
}
