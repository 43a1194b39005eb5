//! OCI Distribution registries (a self-hosted Distribution registry, GHCR, Harbor, …) over HTTP:
//! anonymous, basic auth, or the Bearer-token challenge, with credentials from the environment.
//!
//! Every request has deadlines (see [`crate::net`]) and is retried, with backoff and jitter, on a
//! 429, a 5xx or a dropped connection (every call here is idempotent: GET, HEAD, a manifest PUT of
//! the same bytes, a DELETE by digest). Credentials go only to the registry's own origin and to a
//! token service on https (or on loopback); never to another host a `Link` header or a redirect
//! names.
//!
//! Over 500 lines for the Distribution API as registries speak it: auth challenges (basic, Bearer),
//! retries, pagination by `Link`, manifests and indexes, tag writes, deletes; the tests are the last
//! hundred lines.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use futures_util::{StreamExt, stream};
use reqwest::header::{ACCEPT, HeaderMap, LINK, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use super::{RegistryError, RepoState};
use crate::env_vars;
use crate::github::Env;
use crate::image::Repository;

/// The manifest types shipit reads and writes.
pub const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

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

/// Loopback registries speak plain HTTP, as the Docker engine allows; every other one HTTPS.
fn scheme(host: &str) -> &'static str {
    let name = host
        .rsplit_once(':')
        .map_or(host, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let loopback = name == "localhost" || name == "::1" || name.starts_with("127.");
    if loopback { "http" } else { "https" }
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
                    registry: host.to_string(),
                    why: "only one of the username and the password is set".into(),
                    help: format!(
                        "set both {} and {}, or neither for anonymous access",
                        env_vars::SHIPIT_REGISTRY_USERNAME,
                        env_vars::SHIPIT_REGISTRY_PASSWORD
                    ),
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
                registry: host.into(),
                why: e.to_string(),
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

    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// A request that got no answer: a deadline that passed says which one. A request shipit
    /// could not build, or an answer that is not HTTP, is no unreachable registry: it says so.
    fn request_error(&self, e: &reqwest::Error) -> RegistryError {
        if e.is_timeout() {
            return self.unreachable(format!(
                "no answer within {}s ({} sets the deadline)",
                crate::net::timeout().as_secs_f64(),
                env_vars::SHIPIT_HTTP_TIMEOUT
            ));
        }
        let url = e.url().map(|u| u.to_string()).unwrap_or_default();
        if e.is_builder() {
            // Nothing was sent: a header shipit was to send cannot be one (a credential with a
            // line break). Its value is never quoted.
            return RegistryError::Unsendable {
                registry: self.host.clone(),
                why: format!("{url}: {}", error_chain(e)),
            };
        }
        if let Some(parse) = hyper_parse_error(e) {
            return self.protocol("in a way HTTP does not allow", format!("{url}: {parse}"));
        }
        self.unreachable(error_chain(e))
    }

    /// The body of `resp`, reading at most `limit` bytes: a larger answer (by its
    /// `Content-Length`, or as it streams) is refused with its URL and the limit.
    async fn body(
        &self,
        mut resp: Response,
        limit: usize,
        what: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = resp.url().to_string();
        let too_large = || {
            self.protocol(
                what,
                format!(
                    "the answer from {url} is larger than {}, the most shipit reads of it",
                    crate::limits::size(limit as u64)
                ),
            )
        };
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut out = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if out.len() + chunk.len() > limit {
                        return Err(too_large());
                    }
                    out.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(out),
                Err(e) if e.is_timeout() => return Err(self.request_error(&e)),
                Err(e) => {
                    return Err(self.protocol(
                        what,
                        format!("the answer from {url} broke off: {}", error_chain(&e)),
                    ));
                }
            }
        }
    }

    /// The body of `resp` as JSON, at most `limit` bytes; what is not JSON is named with its URL.
    async fn json(
        &self,
        resp: Response,
        limit: usize,
        what: &str,
    ) -> Result<serde_json::Value, RegistryError> {
        let url = resp.url().to_string();
        let body = self.body(resp, limit, what).await?;
        serde_json::from_slice(&body)
            .map_err(|e| self.protocol(what, format!("the answer from {url} is not JSON: {e}")))
    }

    /// The start of an error's answer, to quote in a message (never more than
    /// [`crate::limits::QUOTED_ANSWER`] characters of it).
    async fn quoted(&self, resp: Response) -> String {
        let url = resp.url().to_string();
        let body = self
            .body(resp, crate::limits::HTTP_BODY, "an error")
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        let text = text.trim();
        let mut quoted: String = text.chars().take(crate::limits::QUOTED_ANSWER).collect();
        if quoted.len() < text.len() {
            quoted.push('…');
        }
        if quoted.is_empty() {
            format!("{url} (no text)")
        } else {
            format!("{url}: {quoted}")
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
                _ => return result.map_err(|e| self.request_error(&e)),
            }
        }
    }

    /// True when `url` is on the registry's own origin (scheme, host and port).
    fn same_origin(&self, url: &url::Url) -> bool {
        url::Url::parse(&self.base).is_ok_and(|base| base.origin() == url.origin())
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> RegistryError {
        RegistryError::Unreachable {
            registry: self.host.clone(),
            why: e.to_string(),
        }
    }

    fn protocol(&self, what: &str, why: impl std::fmt::Display) -> RegistryError {
        RegistryError::Protocol {
            registry: self.host.clone(),
            what: what.into(),
            why: why.to_string(),
        }
    }

    fn auth_error_with_help(&self, why: &str, help: &str) -> RegistryError {
        RegistryError::Auth {
            registry: self.host.clone(),
            why: why.to_string(),
            help: help.to_string(),
        }
    }

    fn auth_error(&self, why: &str) -> RegistryError {
        let help = if self.credentials.is_some() {
            format!(
                "check {} and {}",
                env_vars::SHIPIT_REGISTRY_USERNAME,
                env_vars::SHIPIT_REGISTRY_PASSWORD
            )
        } else {
            format!(
                "the registry wants credentials: set {} and {}",
                env_vars::SHIPIT_REGISTRY_USERNAME,
                env_vars::SHIPIT_REGISTRY_PASSWORD
            )
        };
        RegistryError::Auth {
            registry: self.host.clone(),
            why: why.to_string(),
            help,
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
            .map_err(|e| self.protocol("an address", format!("`{url}`: {e}")))?;
        if !self.same_origin(&url) {
            return Err(self.protocol(
                "an address on another host",
                format!(
                    "{}: shipit sends the registry's credentials to the registry only",
                    url.origin().ascii_serialization()
                ),
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
                .get(WWW_AUTHENTICATE)
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
        Err(self.auth_error("401 Unauthorized"))
    }

    fn tokens_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        match self.tokens.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn token_for(&self, scope: &str) -> Option<String> {
        self.tokens_lock().get(scope).cloned()
    }

    /// Answers a `Bearer realm=…,service=…` challenge: a token for `scope` from the realm. The
    /// credentials go to the realm only when it is on https, on the registry's own origin, or on
    /// loopback.
    async fn token(&self, challenge: &str, scope: &str) -> Result<String, RegistryError> {
        let params = parse_challenge(challenge);
        let realm = params
            .get("realm")
            .ok_or_else(|| self.protocol("a Bearer challenge", "no realm"))?;
        let realm = url::Url::parse(realm)
            .map_err(|e| self.protocol("a Bearer challenge", format!("realm `{realm}`: {e}")))?;
        if !(realm.scheme() == "https" || self.same_origin(&realm) || is_loopback_url(&realm)) {
            return Err(self.auth_error_with_help(
                &format!(
                    "the registry sends shipit to the token service {}, which is not on https",
                    realm.origin().ascii_serialization()
                ),
                "shipit sends credentials only to the registry itself or to an https token service; \
                 fix the registry's `auth.token.realm`",
            ));
        }
        let mut query: Vec<(&str, &str)> = vec![("scope", scope)];
        if let Some(service) = params.get("service") {
            query.push(("service", service));
        }
        let resp = self
            .dispatch(|| {
                let mut req = self.http.get(realm.clone()).query(&query);
                if let Some(c) = &self.credentials {
                    req = req.basic_auth(&c.username, Some(&c.password));
                }
                req
            })
            .await?;
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            return Err(self.auth_error(&format!("the token service answered {}", resp.status())));
        }
        if !resp.status().is_success() {
            return Err(self.protocol("a token request", resp.status()));
        }
        let body = self
            .json(resp, crate::limits::HTTP_BODY, "a token request")
            .await?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| {
                self.protocol(
                    "a token request",
                    "no `token` (nor `access_token`) string in the answer",
                )
            })?;
        if reqwest::header::HeaderValue::from_str(token).is_err() {
            // Never quoted: it is a credential.
            return Err(self.protocol(
                "a token request",
                "its token holds a line break or another character no HTTP header can carry",
            ));
        }
        Ok(token.to_string())
    }

    /// Every tag of a repository (following `Link` pagination), with the digests of the wanted ones.
    pub async fn list(
        &self,
        repository: &str,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<RepoState, RegistryError> {
        let name = self.name(repository);
        let scope = format!("repository:{name}:pull");
        let mut state = RepoState {
            address: self.repository(repository)?,
            exists: true,
            tags: BTreeMap::new(),
        };
        let deadline = crate::net::listing_timeout();
        let listed = tokio::time::timeout(
            deadline,
            self.list_within(repository, wanted, &name, &scope, &mut state),
        )
        .await;
        match listed {
            Ok(result) => result.map(|()| state),
            Err(_) => Err(self.protocol(
                "tags/list",
                format!(
                    "the tags of {} were not all read within {}s (ten times {}): shipit stops there",
                    state.address,
                    deadline.as_secs_f64(),
                    env_vars::SHIPIT_HTTP_TIMEOUT
                ),
            )),
        }
    }

    /// [`Oci::list`] without its deadline: every page of the tag list, a page at most once and
    /// at most [`crate::limits::TAG_PAGES`] of them, then the digests wanted.
    async fn list_within(
        &self,
        repository: &str,
        wanted: &(dyn Fn(&str) -> bool + Sync),
        name: &str,
        scope: &str,
        state: &mut RepoState,
    ) -> Result<(), RegistryError> {
        let mut next = Some(format!("/v2/{name}/tags/list?n=1000"));
        let mut seen = std::collections::HashSet::new();
        while let Some(url) = next.take() {
            // A page is known by its address resolved against the registry's: a `Link` that
            // names the same page relative or absolute is the same page.
            let page = url::Url::parse(&self.base)
                .and_then(|base| base.join(&url))
                .map_or_else(|_| url.clone(), |u| u.to_string());
            if !seen.insert(page.clone()) {
                return Err(self.protocol(
                    "tags/list",
                    format!(
                        "its `Link` header sends shipit back to {page}, a page it already read: the list would never end"
                    ),
                ));
            }
            if seen.len() > crate::limits::TAG_PAGES {
                return Err(self.protocol(
                    "tags/list",
                    format!(
                        "more than {} pages of tags for {}: shipit stops there",
                        crate::limits::TAG_PAGES,
                        state.address
                    ),
                ));
            }
            let resp = self.send(Method::GET, &url, scope, |r| r).await?;
            if resp.status() == StatusCode::NOT_FOUND {
                state.exists = false;
                return Ok(());
            }
            if !resp.status().is_success() {
                let status = resp.status();
                return Err(
                    self.protocol(&format!("{status} to tags/list"), self.quoted(resp).await)
                );
            }
            next = next_link(resp.headers());
            let page_url = resp.url().to_string();
            let body = self
                .json(resp, crate::limits::TAG_PAGE, "tags/list")
                .await?;
            let tags = listed_tags(&body).ok_or_else(|| {
                self.protocol(
                    "tags/list",
                    format!("the answer from {page_url} has a `tags` that is not a list"),
                )
            })?;
            for t in tags {
                state.tags.insert(t.to_string(), None);
            }
        }
        let wanted_tags: Vec<String> = state.tags.keys().filter(|t| wanted(t)).cloned().collect();
        let digests: Vec<(String, Result<Option<String>, RegistryError>)> =
            stream::iter(wanted_tags)
                .map(|tag| async {
                    let d = self.digest(repository, &tag).await;
                    (tag, d)
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        for (tag, digest) in digests {
            state.tags.insert(tag, digest?);
        }
        Ok(())
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
                |r| r.header(ACCEPT, MANIFEST_TYPES),
            )
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => resp
                .headers()
                .get("docker-content-digest")
                .and_then(|d| d.to_str().ok())
                .filter(|d| valid_digest(d))
                .map(|d| Some(d.to_string()))
                .ok_or_else(|| {
                    self.protocol("a manifest HEAD", "no valid Docker-Content-Digest header")
                }),
            s => Err(self.protocol(&format!("{s} to a manifest HEAD"), reference)),
        }
    }
}

impl Oci {
    /// Adds `tag` to the manifest `digest`: GET it as it is stored, PUT it under the tag. Same bytes,
    /// same digest.
    pub async fn retag(
        &self,
        repository: &str,
        digest: &str,
        tag: &str,
    ) -> Result<(), RegistryError> {
        let name = self.name(repository);
        let scope = format!("repository:{name}:pull,push");
        let resp = self
            .send(
                Method::GET,
                &format!("/v2/{name}/manifests/{digest}"),
                &scope,
                |r| r.header(ACCEPT, MANIFEST_TYPES),
            )
            .await?;
        if !resp.status().is_success() {
            return Err(self.protocol(&format!("{} to a manifest GET", resp.status()), digest));
        }
        let media_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/vnd.oci.image.manifest.v1+json")
            .to_string();
        let body = bytes::Bytes::from(
            self.body(resp, crate::limits::MANIFEST, "a manifest GET")
                .await?,
        );
        let resp = self
            .send(
                Method::PUT,
                &format!("/v2/{name}/manifests/{tag}"),
                &scope,
                |r| {
                    r.header(reqwest::header::CONTENT_TYPE, &media_type)
                        .body(body.clone())
                },
            )
            .await?;
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(self.protocol(
                &format!("{status} to a manifest PUT"),
                self.quoted(resp).await,
            ));
        }
        Ok(())
    }
}

impl Oci {
    /// A label of the image `digest` (its config's `Labels`), or `None`.
    pub async fn label(
        &self,
        repository: &str,
        digest: &str,
        label: &str,
    ) -> Result<Option<String>, RegistryError> {
        Ok(self
            .labels(repository, digest)
            .await?
            .and_then(|mut l| l.remove(label)))
    }

    /// The labels of the image `digest` (its config's `Labels`): manifest, then config blob. For
    /// an image index, those of its first image (attestations left out: every image of an index
    /// is built from the same inputs, with the same labels). `None` when there is no config.
    pub async fn labels(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<BTreeMap<String, String>>, RegistryError> {
        let name = self.name(repository);
        let scope = format!("repository:{name}:pull");
        let mut manifest = self
            .get_json(&format!("/v2/{name}/manifests/{digest}"), &scope)
            .await?;
        if let Some(child) = super::first_image(&manifest) {
            manifest = self
                .get_json(&format!("/v2/{name}/manifests/{child}"), &scope)
                .await?;
        }
        let Some(config) = manifest
            .get("config")
            .and_then(|c| c.get("digest"))
            .and_then(|d| d.as_str())
        else {
            return Ok(None);
        };
        let config = self
            .get_json(&format!("/v2/{name}/blobs/{config}"), &scope)
            .await?;
        Ok(super::config_labels(&config))
    }

    /// The children of the image indexes among `digests` (see [`super::Client::children`]).
    pub async fn children(
        &self,
        repository: &str,
        digests: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, RegistryError> {
        let name = self.name(repository);
        let scope = format!("repository:{name}:pull");
        type Found = Result<(String, Option<Vec<String>>), RegistryError>;
        let reading = stream::iter(digests.iter().cloned())
            .map(|digest| {
                let (name, scope) = (&name, &scope);
                async move {
                    let manifest = self
                        .get_json(&format!("/v2/{name}/manifests/{digest}"), scope)
                        .await?;
                    Ok((digest, super::index_children(&manifest)))
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<Found>>();
        // The same overall deadline as a tag list: one request per image.
        let deadline = crate::net::listing_timeout();
        let found = tokio::time::timeout(deadline, reading).await.map_err(|_| {
            self.protocol(
                "manifests",
                format!(
                    "the manifests of {} image{} of {}/{} were not all read within {}s (ten times {})",
                    digests.len(),
                    if digests.len() == 1 { "" } else { "s" },
                    self.host,
                    self.name(repository),
                    deadline.as_secs_f64(),
                    env_vars::SHIPIT_HTTP_TIMEOUT
                ),
            )
        })?;
        let mut out = BTreeMap::new();
        for r in found {
            if let (digest, Some(children)) = r? {
                out.insert(digest, children);
            }
        }
        Ok(out)
    }

    /// GETs a manifest or blob as JSON.
    async fn get_json(&self, url: &str, scope: &str) -> Result<serde_json::Value, RegistryError> {
        let resp = self
            .send(Method::GET, url, scope, |r| {
                r.header(ACCEPT, MANIFEST_TYPES)
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self.protocol(&format!("{} to a GET", resp.status()), url));
        }
        self.json(resp, crate::limits::MANIFEST, "a GET").await
    }
}

impl Oci {
    /// Deletes the images that retention gives up. The Distribution API deletes manifests by
    /// digest only: a single tag cannot be removed, so an `Untag` is reported and left.
    pub async fn remove(
        &self,
        repository: &str,
        decisions: &[crate::retention::Decision],
    ) -> Result<Vec<String>, RegistryError> {
        use crate::retention::Decision;
        let name = self.name(repository);
        let scope = format!("repository:{name}:pull,push,delete");
        let mut not_done = Vec::new();
        for d in decisions {
            match d {
                Decision::Keep { .. } => {}
                Decision::Untag { digest, tags, .. } => not_done.push(format!(
                    "{} on {digest}: an OCI registry cannot remove a single tag; the image stays for its other tags",
                    tags.join(", ")
                )),
                Decision::Delete { digest, .. } => {
                    let resp = self.send(Method::DELETE, &format!("/v2/{name}/manifests/{digest}"), &scope, |r| r).await?;
                    match resp.status() {
                        s if s.is_success() || s == StatusCode::NOT_FOUND => {}
                        s => not_done.push(format!("{digest}: the registry answered {s} to DELETE")),
                    }
                }
            }
        }
        Ok(not_done)
    }
}

/// `Bearer realm="https://auth",service="registry",scope="…"` → its parameters.
pub(crate) fn parse_challenge(challenge: &str) -> HashMap<String, String> {
    let rest = challenge.split_once(' ').map_or("", |(_, r)| r);
    let mut out = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .skip_while(|c| *c == ',' || c.is_whitespace())
            .take_while(|c| *c != '=')
            .collect();
        if key.is_empty() {
            break;
        }
        let value: String = if chars.peek() == Some(&'"') {
            chars.next();
            chars.by_ref().take_while(|c| *c != '"').collect()
        } else {
            chars.by_ref().take_while(|c| *c != ',').collect()
        };
        out.insert(key.trim().to_ascii_lowercase(), value);
    }
    out
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    parse_next_link(headers.get(LINK)?.to_str().ok()?)
}

/// `<URL>; rel="next"` (RFC 8288, one of several links) → URL. Anything malformed is no link.
pub(crate) fn parse_next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let part = part.trim();
        let rest = part.strip_prefix('<')?;
        let (target, params) = rest.split_once('>')?;
        let next = params.split(';').any(|p| {
            let p = p.trim();
            p.strip_prefix("rel=")
                .is_some_and(|v| v.trim_matches('"').split(' ').any(|r| r == "next"))
        });
        next.then(|| target.to_string())
    })
}

/// The tags of one tags/list answer (`{"tags": [...]}`, no `tags` or `null` for none) that are
/// tags: the OCI tag grammar; anything else a registry lists is no tag to print or use. `None` when
/// `tags` is not a list.
pub(crate) fn listed_tags(body: &serde_json::Value) -> Option<impl Iterator<Item = &str>> {
    let tags = match body.get("tags") {
        None | Some(serde_json::Value::Null) => &[][..],
        Some(serde_json::Value::Array(tags)) => tags.as_slice(),
        Some(_) => return None,
    };
    Some(
        tags.iter()
            .filter_map(|t| t.as_str().filter(|t| valid_tag(t))),
    )
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`, the OCI Distribution tag grammar.
pub(crate) fn valid_tag(t: &str) -> bool {
    t.len() <= 128
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// `sha256:<64 hex>` (or another algorithm's): a digest is printed and used in URLs, so a registry's
/// answer that is anything else (a line break, a path) is not taken for one.
pub(crate) fn valid_digest(d: &str) -> bool {
    d.split_once(':').is_some_and(|(algorithm, hex)| {
        !algorithm.is_empty()
            && algorithm
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
            && hex.len() >= 32
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// A loopback URL: a local registry or token service (tests, a registry on the runner).
pub(crate) fn is_loopback_url(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// The parse error of an answer that is not HTTP (an invalid header, status line or head), when
/// that is why a request failed.
fn hyper_parse_error(e: &reqwest::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(h) = c.downcast_ref::<hyper::Error>()
            && h.is_parse()
        {
            return Some(h.to_string());
        }
        cause = c.source();
    }
    None
}

/// An error and its causes on one line (reqwest hides the useful part in `source()`).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let p = parse_challenge(
            r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:o/r:pull""#,
        );
        assert_eq!(p["realm"], "https://ghcr.io/token");
        assert_eq!(p["service"], "ghcr.io");
        assert_eq!(p["scope"], "repository:o/r:pull");
    }

    #[test]
    fn links() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            r#"</v2/x/tags/list?last=b&n=2>; rel="next""#.parse().unwrap(),
        );
        assert_eq!(next_link(&h).as_deref(), Some("/v2/x/tags/list?last=b&n=2"));
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn malformed_links_are_no_links() {
        assert_eq!(parse_next_link(r#">/v2/x<; rel="next""#), None);
        assert_eq!(parse_next_link(r#"</v2/x; rel="next""#), None);
        assert_eq!(parse_next_link(r#"</v2/x>; rel="prev""#), None);
        assert_eq!(
            parse_next_link(r#"</a>; rel="prev", </b?n=1>; rel=next"#).as_deref(),
            Some("/b?n=1")
        );
    }

    proptest::proptest! {
        #[test]
        fn any_link_header_parses_without_panic(link in "\\PC*") {
            let _ = parse_next_link(&link);
        }

        #[test]
        fn link_shaped_headers_parse_without_panic(link in "[<>;, =\"a-z/?&é]{0,40}") {
            if let Some(target) = parse_next_link(&link) {
                proptest::prop_assert!(!target.contains('>'));
            }
        }

        #[test]
        fn any_challenge_parses_without_panic(challenge in "\\PC*") {
            let _ = parse_challenge(&challenge);
        }

        #[test]
        fn challenge_shaped_headers_parse_without_panic(challenge in "(Bearer|Basic)? [a-z=\",é ]{0,40}") {
            let _ = parse_challenge(&challenge);
        }
    }

    #[test]
    fn tags_are_checked() {
        assert!(valid_tag("stage-1.2.3"));
        assert!(valid_tag("fp-abc_DEF"));
        assert!(!valid_tag("x\n::error::y"));
        assert!(!valid_tag(".hidden"));
        assert!(!valid_tag(""));
        assert!(!valid_tag(&"a".repeat(129)));
    }

    #[test]
    fn digests_are_checked() {
        assert!(valid_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!valid_digest("sha256:\n::error::x"));
        assert!(!valid_digest("sha256:../../x"));
        assert!(!valid_digest(&"a".repeat(64)));
    }

    #[test]
    fn loopback_is_plain_http() {
        assert_eq!(scheme("127.0.0.1:5000"), "http");
        assert_eq!(scheme("localhost:5000"), "http");
        assert_eq!(scheme("[::1]:5000"), "http");
        assert_eq!(scheme("ghcr.io"), "https");
    }

    #[test]
    fn credentials_never_print() {
        let c = Credentials {
            username: "me".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
