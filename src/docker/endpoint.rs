//! Where the Docker engine listens and how to reach it: one rule, read from the environment once
//! (at the top, from [`Env`]), used by the engine client (bollard), by the build session shipit
//! opens itself ([`super::buildkit`]) and by the pre-flight that refuses to send an ECR token in
//! clear ([`Endpoint::plain_remote`]).
//!
//! The rule is Docker's own, as the docker CLI reads its environment (docker/cli
//! `cli/flags/common.go`: `dockerTLSVerify = os.Getenv("DOCKER_TLS_VERIFY") != ""`, and
//! `--tlsverify` implies `--tls`; the CLI reference: "DOCKER_TLS_VERIFY: when set Docker uses TLS
//! and verifies the remote"):
//! - `DOCKER_HOST` unset or empty: the local socket `unix:///var/run/docker.sock`.
//! - `DOCKER_TLS_VERIFY` set to any non-empty value — `0` and `false` included — means TLS with
//!   the certificates of `DOCKER_CERT_PATH` (else `DOCKER_CONFIG`, else `~/.docker`): `ca.pem`,
//!   `cert.pem`, `key.pem`. Unset or empty means no TLS. An `https://` host is TLS whatever it says.
//! - TLS applies to a network host (`tcp://`, `http://`, `https://`); a `unix://` socket has none.

use std::path::PathBuf;

use crate::env_vars;
use crate::github::Env;

/// The engine's socket when `DOCKER_HOST` says nothing.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// How to reach the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `DOCKER_HOST` as written, or [`DEFAULT_HOST`].
    pub host: String,
    /// The directory of `ca.pem`, `cert.pem` and `key.pem` when the engine is reached over TLS.
    pub tls: Option<PathBuf>,
}

/// Where a connection of shipit's own goes (the build session, a build with secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(String),
    /// `host:port`, in clear.
    Tcp(String),
}

/// A `DOCKER_HOST` the build session cannot reach.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "build secrets need a build session, which shipit opens on a unix:// or plain tcp:// \
     DOCKER_HOST only (not over TLS or ssh yet)"
)]
pub struct NoSessionAddress {
    pub host: String,
}

impl Endpoint {
    /// The engine the environment names, by Docker's rule (see the module's header).
    pub fn from_env(env: &Env) -> Endpoint {
        let host = env.get(env_vars::DOCKER_HOST).unwrap_or(DEFAULT_HOST);
        let network = ["tcp://", "http://", "https://"]
            .iter()
            .any(|s| host.starts_with(s));
        let verify = env.get(env_vars::DOCKER_TLS_VERIFY).is_some();
        let tls = network && (verify || host.starts_with("https://"));
        Endpoint {
            host: host.to_string(),
            tls: tls.then(|| cert_path(env)),
        }
    }

    /// The engine client, with `timeout` on every request but a stream's body.
    pub fn client(
        &self,
        timeout: std::time::Duration,
    ) -> Result<bollard::Docker, bollard::errors::Error> {
        use bollard::{API_DEFAULT_VERSION as VERSION, Docker};
        let secs = timeout.as_secs().max(1);
        let host = self.host.as_str();
        if let Some(dir) = &self.tls {
            return Docker::connect_with_ssl(
                host,
                &dir.join("key.pem"),
                &dir.join("cert.pem"),
                &dir.join("ca.pem"),
                secs,
                VERSION,
            );
        }
        if host.starts_with("unix://") {
            Docker::connect_with_unix(host, secs, VERSION)
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Docker::connect_with_http(host, secs, VERSION)
        } else {
            Err(bollard::errors::Error::UnsupportedURISchemeError {
                uri: host.to_string(),
            })
        }
    }

    /// Where the build session connects: the same engine, by the same rule, so that the session
    /// and the client never disagree on TLS.
    pub fn session_address(&self) -> Result<Address, NoSessionAddress> {
        let refuse = || NoSessionAddress {
            host: self.host.clone(),
        };
        if let Some(path) = self.host.strip_prefix("unix://") {
            return Ok(Address::Unix(path.to_string()));
        }
        if self.tls.is_some() {
            return Err(refuse());
        }
        match self.host.strip_prefix("tcp://") {
            Some(addr) => Ok(Address::Tcp(addr.trim_end_matches('/').to_string())),
            None => Err(refuse()),
        }
    }

    /// The host, when it is an engine on another machine reached without TLS: whatever is handed
    /// to it (an ECR token in `X-Registry-Auth`) travels in clear.
    pub fn plain_remote(&self) -> Option<&str> {
        if self.tls.is_some() {
            return None;
        }
        let url = url::Url::parse(&self.host).ok()?;
        if !matches!(url.scheme(), "tcp" | "http") {
            return None;
        }
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            // `tcp://` is no special scheme: its host comes as text, an address included.
            Some(url::Host::Domain(d)) => {
                d == "localhost"
                    || d.trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            None => true,
        };
        (!loopback).then_some(self.host.as_str())
    }
}

/// `DOCKER_CERT_PATH`, else `DOCKER_CONFIG`, else `~/.docker` (bollard's and the docker CLI's
/// order).
fn cert_path(env: &Env) -> PathBuf {
    if let Some(dir) = env
        .get(env_vars::DOCKER_CERT_PATH)
        .or_else(|| env.get(env_vars::DOCKER_CONFIG))
    {
        return PathBuf::from(dir);
    }
    PathBuf::from(env.get(env_vars::HOME).unwrap_or("/")).join(".docker")
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn endpoint(pairs: &[(&str, &str)]) -> Endpoint {
        Endpoint::from_env(&Env::from_pairs(pairs.iter().copied()))
    }

    const TCP: (&str, &str) = ("DOCKER_HOST", "tcp://10.0.0.5:2376");
    const CERTS: (&str, &str) = ("DOCKER_CERT_PATH", "/certs");

    // Docker's rule: present and non-empty enables TLS, whatever the value says.
    #[test_case(&[TCP, CERTS, ("DOCKER_TLS_VERIFY", "1")], true ; "verify 1 is tls")]
    #[test_case(&[TCP, CERTS, ("DOCKER_TLS_VERIFY", "0")], true ; "verify 0 is tls too")]
    #[test_case(&[TCP, CERTS, ("DOCKER_TLS_VERIFY", "false")], true ; "verify false is tls too")]
    #[test_case(&[TCP, CERTS, ("DOCKER_TLS_VERIFY", "")], false ; "verify empty is no tls")]
    #[test_case(&[TCP, CERTS], false ; "verify unset is no tls")]
    #[test_case(&[("DOCKER_HOST", "https://10.0.0.5:2376"), CERTS], true ; "https is tls")]
    #[test_case(&[("DOCKER_HOST", "unix:///run/d.sock"), ("DOCKER_TLS_VERIFY", "1")], false ; "a socket has no tls")]
    fn tls_follows_docker_tls_verify(pairs: &[(&str, &str)], tls: bool) {
        let e = endpoint(pairs);
        assert_eq!(e.tls.is_some(), tls, "{e:?}");
        if tls {
            assert_eq!(e.tls.as_deref(), Some(std::path::Path::new("/certs")));
        }
    }

    /// The client and the build session follow the one rule: where the client speaks TLS, the
    /// session refuses (it has no TLS); where the client speaks plain TCP, so does the session.
    /// Before, `DOCKER_TLS_VERIFY=0` gave a TLS client and a session in clear to the same port.
    #[test_case("1", true ; "verify 1")]
    #[test_case("0", true ; "verify 0")]
    #[test_case("", false ; "verify unset")]
    fn the_session_never_disagrees_with_the_client_on_tls(verify: &'static str, tls: bool) {
        let mut pairs = vec![TCP, CERTS];
        if !verify.is_empty() {
            pairs.push(("DOCKER_TLS_VERIFY", verify));
        }
        let e = endpoint(&pairs);
        assert_eq!(e.tls.is_some(), tls);
        match e.session_address() {
            Ok(Address::Tcp(addr)) => {
                assert!(!tls, "a plain session beside a TLS client");
                assert_eq!(addr, "10.0.0.5:2376");
            }
            Ok(other) => panic!("{other:?}"),
            Err(refused) => {
                assert!(tls, "a refused session beside a plain client");
                assert!(refused.to_string().contains("not over TLS"));
            }
        }
        // The pre-flight's "token in clear" check reads the same rule.
        assert_eq!(e.plain_remote().is_some(), !tls);
    }

    #[test]
    fn certificates_come_from_cert_path_then_config_then_home() {
        let verify = ("DOCKER_TLS_VERIFY", "1");
        let e = endpoint(&[TCP, verify, ("DOCKER_CONFIG", "/cfg"), ("HOME", "/home/u")]);
        assert_eq!(e.tls, Some(PathBuf::from("/cfg")));
        let e = endpoint(&[TCP, verify, ("HOME", "/home/u")]);
        assert_eq!(e.tls, Some(PathBuf::from("/home/u/.docker")));
    }

    #[test]
    fn no_host_is_the_local_socket() {
        let e = endpoint(&[("DOCKER_HOST", "")]);
        assert_eq!(e.host, DEFAULT_HOST);
        assert_eq!(
            e.session_address(),
            Ok(Address::Unix("/var/run/docker.sock".into()))
        );
        assert!(
            endpoint(&[("DOCKER_HOST", "ssh://me@box")])
                .session_address()
                .is_err()
        );
    }

    /// The client built from a TLS endpoint speaks TLS: with no certificates where the rule says,
    /// it cannot be built (a plain client would have been built and talked in clear).
    #[test]
    fn a_tls_endpoint_builds_a_tls_client() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().to_str().unwrap();
        let timeout = std::time::Duration::from_secs(5);
        let tls = endpoint(&[TCP, ("DOCKER_CERT_PATH", certs), ("DOCKER_TLS_VERIFY", "0")]);
        assert!(
            tls.client(timeout).is_err(),
            "no ca.pem, yet a client was built"
        );
        let plain = endpoint(&[TCP, ("DOCKER_CERT_PATH", certs)]);
        assert!(plain.client(timeout).is_ok());
    }

    #[test]
    fn plain_tcp_to_another_machine_is_named() {
        let plain_remote_of =
            |env: &Env| Endpoint::from_env(env).plain_remote().map(str::to_string);
        let env = |pairs: &[(&'static str, &'static str)]| Env::from_pairs(pairs.iter().copied());
        let remote = env(&[("DOCKER_HOST", "tcp://10.0.0.5:2375")]);
        assert_eq!(
            Endpoint::from_env(&remote).plain_remote(),
            Some("tcp://10.0.0.5:2375")
        );
        let tls = env(&[
            ("DOCKER_HOST", "tcp://10.0.0.5:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
        ]);
        assert_eq!(plain_remote_of(&tls), None);
        assert_eq!(
            plain_remote_of(&env(&[("DOCKER_HOST", "tcp://127.0.0.1:2375")])),
            None
        );
        assert_eq!(
            plain_remote_of(&env(&[("DOCKER_HOST", "unix:///var/run/docker.sock")])),
            None
        );
        assert_eq!(plain_remote_of(&env(&[])), None);
    }
}
