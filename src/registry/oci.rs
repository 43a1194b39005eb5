//! OCI Distribution registries (a self-hosted Distribution registry, GHCR, Harbor, …) over HTTP:
//! anonymous, basic auth, or the Bearer-token challenge ([`auth`]), with credentials from the
//! environment. The primitives of [`super::Backend`] only: read, put and delete manifests, list
//! tags, read a blob. Retag, promotion and removal are written above them, in [`super`].
//!
//! Every request has deadlines (see [`crate::net`]) and is retried, with backoff and jitter, on a
//! 429, a 5xx or a dropped connection (every call here is idempotent: GET, HEAD, a manifest PUT of
//! the same bytes, a DELETE by digest). Credentials go only to the registry's own origin and to a
//! token service on https (or on loopback); never to another host a `Link` header or a redirect
//! names. The answers' formats are read in [`super::wire`].

mod auth;
mod tags;
pub(crate) mod upload;

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::{StreamExt, stream};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use super::error::{AuthProblem, Exchange, Problem, Quoted, Request, Unreached};
use super::manifest::{self, Manifest};
use super::wire::{scheme, valid_digest};
use super::{Id, PushTarget, RegistryError};
use crate::env_vars;
use crate::github::Env;
use crate::image::Repository;
use crate::net::CappedRead;

/// How many manifest requests run at once.
const CONCURRENCY: usize = 8;

/// A username and password that never show up in output.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials {{ username: {:?}, password: \"****\" }}",
            self.username
        )
    }
}

pub struct Oci {
    host: String,
    prefix: Option<String>,
    base: String,
    http: reqwest::Client,
    credentials: Option<Credentials>,
    /// Bearer tokens by scope, once a challenge asked for them.
    tokens: Mutex<HashMap<String, String>>,
    /// Set once the registry asked for basic auth: then every request carries it.
    basic: std::sync::atomic::AtomicBool,
}

impl Oci {
    pub fn new(host: &str, prefix: Option<&str>, env: &Env) -> Result<Oci, RegistryError> {
        let credentials = match (
            env.get(env_vars::SHIPIT_REGISTRY_USERNAME),
            env.get(env_vars::SHIPIT_REGISTRY_PASSWORD),
        ) {
            (Some(u), Some(p)) => Some(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            }),
            (None, None) => None,
            _ => {
                return Err(RegistryError::Auth {
                    host: host.to_string(),
                    problem: AuthProblem::HalfSet,
                    credentials: true,
                });
            }
        };
        Oci::with_credentials(host, prefix, credentials)
    }

    /// The registry at `host` with these credentials (ECR's registry API, with its token).
    pub fn with_credentials(
        host: &str,
        prefix: Option<&str>,
        credentials: Option<Credentials>,
    ) -> Result<Oci, RegistryError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("shipit/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(crate::net::connect_timeout())
            .read_timeout(crate::net::timeout())
            .timeout(crate::net::request_timeout())
            // reqwest drops the Authorization header on a redirect to another host or port, so
            // a redirect (a registry sending a GET to its storage) carries no credentials away.
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| RegistryError::Unreachable {
                host: host.into(),
                cause: Unreached::Setup(e),
            })?;
        Ok(Oci {
            host: host.to_string(),
            prefix: prefix.map(str::to_string),
            base: format!("{}://{host}", scheme(host)),
            http,
            credentials,
            tokens: Mutex::new(HashMap::new()),
            basic: false.into(),
        })
    }

    /// `PREFIX/repository`, the name in the registry's URLs.
    pub fn name(&self, repository: &str) -> String {
        match &self.prefix {
            Some(p) => format!("{p}/{repository}"),
            None => repository.to_string(),
        }
    }

    /// `host/PREFIX/repository`, the reference the Docker engine pushes to.
    pub fn repository(&self, repository: &str) -> Result<Repository, RegistryError> {
        super::address(&self.host, &self.name(repository))
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Where the engine pushes `repository`, with the registry's credentials (if any).
    pub fn push_target(&self, repository: &str) -> Result<PushTarget, RegistryError> {
        Ok(PushTarget {
            reference: self.repository(repository)?,
            credentials: self
                .credentials
                .as_ref()
                .map(|cr| bollard::auth::DockerCredentials {
                    username: Some(cr.username.clone()),
                    password: Some(cr.password.clone()),
                    serveraddress: Some(self.host.clone()),
                    ..Default::default()
                }),
        })
    }

    /// A request that got no answer: a deadline that passed says which one. A request shipit
    /// could not build, or an answer that is not HTTP, is no unreachable registry: it says so.
    fn request_error(&self, e: reqwest::Error) -> RegistryError {
        if e.is_timeout() {
            return self.unreachable(Unreached::Timeout {
                after: crate::net::timeout(),
            });
        }
        let url = e.url().map(|u| u.to_string()).unwrap_or_default();
        if e.is_builder() {
            return RegistryError::Unsendable {
                host: self.host.clone(),
                url,
                error: e,
            };
        }
        if super::error::hyper_parse_error(&e).is_some() {
            return self.protocol(Request::NotHttp, Problem::NotHttp { url, error: e });
        }
        self.unreachable(Unreached::Transport(e))
    }

    /// The body of `resp`, reading at most `limit` bytes: a larger answer (by its
    /// `Content-Length`, or as it streams) is refused with its URL and the limit.
    async fn body(
        &self,
        mut resp: Response,
        limit: usize,
        what: Request,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = resp.url().to_string();
        match crate::net::read_capped(&mut resp, limit).await {
            Ok(out) => Ok(out),
            Err(CappedRead::TooLarge) => Err(self.protocol(what, Problem::TooLarge { url, limit })),
            Err(CappedRead::Failed(e)) if e.is_timeout() => Err(self.request_error(e)),
            Err(CappedRead::Failed(error)) => {
                Err(self.protocol(what, Problem::BrokeOff { url, error }))
            }
        }
    }

    /// The body of `resp` as JSON, at most `limit` bytes; what is not JSON is named with its URL.
    async fn json(
        &self,
        resp: Response,
        limit: usize,
        what: Request,
    ) -> Result<serde_json::Value, RegistryError> {
        let url = resp.url().to_string();
        let body = self.body(resp, limit, what).await?;
        serde_json::from_slice(&body)
            .map_err(|error| self.protocol(what, Problem::NotJson { url, error }))
    }

    /// The start of an error's answer, to quote in a message (never more than
    /// [`crate::limits::QUOTED_ANSWER`] characters of it).
    async fn quoted(&self, resp: Response) -> Problem {
        let url = resp.url().to_string();
        let body = self
            .body(resp, crate::limits::HTTP_BODY, Request::ErrorBody)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        let text = text.trim();
        let mut quoted: String = text.chars().take(crate::limits::QUOTED_ANSWER).collect();
        if quoted.len() < text.len() {
            quoted.push('…');
        }
        Problem::Answer {
            answer: Quoted { url, text: quoted },
        }
    }

    /// Sends the request `make` builds, again after a backoff when the answer is a 429 or a 5xx
    /// or the connection dropped, up to [`crate::net::ATTEMPTS`] times (a Distribution registry on a
    /// filesystem answers 500 to a read that meets a concurrent write of the same tag). A deadline
    /// that passed is not retried: the registry had its time.
    async fn dispatch(&self, make: impl Fn() -> RequestBuilder) -> Result<Response, RegistryError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = make().send().await;
            let wait = match &result {
                Ok(r) if crate::net::retryable_status(r.status().as_u16()) => Some(
                    crate::net::retry_after(
                        r.headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok()),
                    )
                    .unwrap_or_else(|| crate::net::backoff(attempt)),
                ),
                Err(e) if !e.is_timeout() && (e.is_connect() || crate::net::retryable_io(e)) => {
                    Some(crate::net::backoff(attempt))
                }
                _ => None,
            };
            match wait {
                Some(wait) if attempt < crate::net::ATTEMPTS => {
                    tracing::debug!(registry = %self.host, attempt, ?wait, "retrying");
                    tokio::time::sleep(wait).await;
                }
                _ => return result.map_err(|e| self.request_error(e)),
            }
        }
    }

    /// True when `url` is on the registry's own origin (scheme, host and port).
    fn same_origin(&self, url: &url::Url) -> bool {
        url::Url::parse(&self.base).is_ok_and(|base| base.origin() == url.origin())
    }

    fn unreachable(&self, cause: Unreached) -> RegistryError {
        RegistryError::Unreachable {
            host: self.host.clone(),
            cause,
        }
    }

    fn protocol(&self, exchange: impl Into<Exchange>, problem: Problem) -> RegistryError {
        RegistryError::protocol(&self.host, exchange, problem)
    }

    /// An answer with an unexpected `status` to `to`.
    fn status(&self, status: StatusCode, to: Request, problem: Problem) -> RegistryError {
        self.protocol(Exchange::Status { status, to }, problem)
    }

    fn auth_error(&self, problem: AuthProblem) -> RegistryError {
        RegistryError::Auth {
            host: self.host.clone(),
            problem,
            credentials: self.credentials.is_some(),
        }
    }

    /// Sends a request built by `build`, answering one auth challenge (basic or Bearer) if asked.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        // Parsed against the registry's address, never pasted: a path stays on the registry, an
        // absolute URL elsewhere is refused (it would get the credentials).
        let url = url::Url::parse(&self.base)
            .and_then(|base| base.join(url))
            .map_err(|error| {
                self.protocol(
                    Request::Address,
                    Problem::BadUrl {
                        url: url.to_string(),
                        error,
                    },
                )
            })?;
        if !self.same_origin(&url) {
            return Err(self.protocol(
                Request::AddressElsewhere,
                Problem::OtherOrigin {
                    origin: url.origin().ascii_serialization(),
                },
            ));
        }
        for attempt in 0..2 {
            let token = self.token_for(scope);
            let basic = self.basic.load(std::sync::atomic::Ordering::Relaxed);
            let sent_basic = token.is_none() && basic && self.credentials.is_some();
            let resp = self
                .dispatch(|| {
                    let mut req = build(self.http.request(method.clone(), url.clone()));
                    if let Some(token) = &token {
                        req = req.bearer_auth(token);
                    } else if let (true, Some(c)) = (sent_basic, &self.credentials) {
                        req = req.basic_auth(&c.username, Some(&c.password));
                    }
                    req
                })
                .await?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            if attempt == 1 {
                break;
            }
            let challenge = resp
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            if challenge.to_ascii_lowercase().starts_with("bearer") {
                let token = self.token(&challenge, scope).await?;
                crate::redact::add(&token);
                self.tokens_lock().insert(scope.to_string(), token);
            } else if self.credentials.is_some() && !sent_basic {
                // Concurrent requests may all meet the challenge; each retries once with the credentials.
                self.basic.store(true, std::sync::atomic::Ordering::Relaxed);
            } else {
                break;
            }
        }
        Err(self.auth_error(AuthProblem::Unauthorized))
    }

    /// The digest a tag (or digest) points at, by HEAD; `None` when there is no such manifest.
    pub async fn digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<String>, RegistryError> {
        let name = self.name(repository);
        let url = format!("/v2/{name}/manifests/{reference}");
        let resp = self
            .send(
                Method::HEAD,
                &url,
                &format!("repository:{name}:pull"),
                |r| r.header(ACCEPT, manifest::accept()),
            )
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => content_digest(&resp)
                .map(Some)
                .ok_or_else(|| self.protocol(Request::ManifestHead, Problem::NoDigestHeader)),
            s => Err(self.status(
                s,
                Request::ManifestHead,
                Problem::Of {
                    reference: reference.to_string(),
                },
            )),
        }
    }

    /// The manifest a tag or digest names, as it is stored (its bytes and media type); `None` when
    /// there is none.
    pub async fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        self.manifest_in(
            &self.name(repository),
            reference,
            &format!("repository:{}:pull", self.name(repository)),
        )
        .await
    }

    async fn manifest_in(
        &self,
        name: &str,
        reference: &str,
        scope: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let resp = self
            .send(
                Method::GET,
                &format!("/v2/{name}/manifests/{reference}"),
                scope,
                |r| r.header(ACCEPT, manifest::accept()),
            )
            .await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self.status(
                status,
                Request::ManifestGet,
                Problem::Of {
                    reference: reference.to_string(),
                },
            ));
        }
        let media_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(manifest::OCI_MANIFEST)
            .to_string();
        let digest = content_digest(&resp)
            .or_else(|| valid_digest(reference).then(|| reference.to_string()))
            .ok_or_else(|| self.protocol(Request::ManifestGet, Problem::NoDigestHeader))?;
        let bytes = self
            .body(resp, crate::limits::MANIFEST, Request::ManifestGet)
            .await?;
        Ok(Some(Manifest {
            digest,
            media_type,
            bytes: bytes.into(),
        }))
    }

    /// Puts `manifest` under `tag`, as it is (same bytes, same digest).
    pub async fn put_manifest(
        &self,
        repository: &str,
        tag: &str,
        manifest: &Manifest,
    ) -> Result<(), RegistryError> {
        let name = self.name(repository);
        let resp = self
            .send(
                Method::PUT,
                &format!("/v2/{name}/manifests/{tag}"),
                &format!("repository:{name}:pull,push"),
                |r| {
                    r.header(CONTENT_TYPE, &manifest.media_type)
                        .body(manifest.bytes.clone())
                },
            )
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(self.status(status, Request::ManifestPut, self.quoted(resp).await));
        }
        Ok(())
    }

    /// The manifests of `digests` (at most [`CONCURRENCY`] requests at once, all within one
    /// deadline); one that is not there is an error.
    pub async fn manifests(
        &self,
        repository: &str,
        digests: &[String],
    ) -> Result<Vec<Manifest>, RegistryError> {
        let name = self.name(repository);
        let scope = format!("repository:{name}:pull");
        let reading = stream::iter(digests.iter().cloned())
            .map(|digest| {
                let (name, scope) = (&name, &scope);
                async move {
                    self.manifest_in(name, &digest, scope)
                        .await?
                        .ok_or_else(|| {
                            self.protocol(
                                Request::ManifestGet,
                                Problem::NotInRegistry {
                                    repository: name.clone(),
                                    reference: digest.clone(),
                                },
                            )
                        })
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<Result<Manifest, RegistryError>>>();
        // The same overall deadline as a tag list: one request per image.
        let deadline = crate::net::listing_timeout();
        let found = tokio::time::timeout(deadline, reading).await.map_err(|_| {
            self.protocol(
                Request::Manifests,
                Problem::ManifestsDeadline {
                    count: digests.len(),
                    repository: format!("{}/{name}", self.host),
                    after: deadline,
                },
            )
        })?;
        found.into_iter().collect()
    }

    /// A blob (an image config) as JSON.
    pub async fn blob_json(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<serde_json::Value, RegistryError> {
        let name = self.name(repository);
        let url = format!("/v2/{name}/blobs/{digest}");
        let resp = self
            .send(Method::GET, &url, &format!("repository:{name}:pull"), |r| r)
            .await?;
        if !resp.status().is_success() {
            return Err(self.status(resp.status(), Request::Get, Problem::Of { reference: url }));
        }
        self.json(resp, crate::limits::MANIFEST, Request::Get).await
    }

    /// Deletes manifests by digest; returns what could not be done. The Distribution API deletes
    /// manifests only: a tag alone is never given here (see [`super::Backend::deletes_tags`]).
    pub async fn delete(
        &self,
        repository: &str,
        ids: &[Id<'_>],
    ) -> Result<Vec<String>, RegistryError> {
        let name = self.name(repository);
        let scope = format!("repository:{name}:pull,push,delete");
        let mut not_done = Vec::new();
        for id in ids {
            let digest = match id {
                Id::Digest(d) => d,
                Id::Tag { tag, digest } => {
                    not_done.push(super::untag_refused(&[tag.to_string()], digest));
                    continue;
                }
            };
            let resp = self
                .send(
                    Method::DELETE,
                    &format!("/v2/{name}/manifests/{digest}"),
                    &scope,
                    |r| r,
                )
                .await?;
            match resp.status() {
                s if s.is_success() || s == StatusCode::NOT_FOUND => {}
                s => not_done.push(format!("{digest}: the registry answered {s} to DELETE")),
            }
        }
        Ok(not_done)
    }
}

/// The answer's `Docker-Content-Digest`, when it is a digest.
fn content_digest(resp: &Response) -> Option<String> {
    resp.headers()
        .get("docker-content-digest")
        .and_then(|d| d.to_str().ok())
        .filter(|d| valid_digest(d))
        .map(str::to_string)
}

#[cfg(test)]
mod tests;
