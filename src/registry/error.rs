//! What can go wrong in the registry, as types: each failure carries what it worked on (the
//! registry's host, the repository, the tag or digest, the URL) and what happened, and prints the
//! one line users have always seen for it. `Diagnostic` is written by hand: its help texts name the
//! environment variables of [`crate::env_vars`], which the derive's format strings cannot.

use std::fmt;
use std::time::Duration;

use miette::Diagnostic;
use reqwest::StatusCode;
use thiserror::Error;

use crate::env_vars;

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("cannot reach the registry {host}: {cause}")]
    Unreachable { host: String, cause: Unreached },

    /// Nothing was sent: a header shipit was to send cannot be one (a credential with a line
    /// break). Its value is never quoted.
    #[error(
        "shipit could not send its request to the registry {host}: {url}: {}",
        error_chain(.error)
    )]
    Unsendable {
        host: String,
        url: String,
        error: reqwest::Error,
    },

    #[error("the registry {host} refused the credentials: {problem}")]
    Auth {
        host: String,
        problem: AuthProblem,
        /// Whether shipit was given credentials (the help differs).
        credentials: bool,
    },

    #[error(transparent)]
    Aws(#[from] crate::aws::AwsError),

    #[error(
        "{repository}:{tag} already exists and is another image ({existing}, not {wanted}): shipit never pushes over a version"
    )]
    TagExists {
        repository: String,
        tag: String,
        existing: String,
        wanted: String,
    },

    /// A tag this run wrote was gone when it read it back.
    #[error(
        "the registry {repository} answered no {tag} after writing it: the tag was removed while it was being written"
    )]
    TagVanished { repository: String, tag: String },

    #[error("the registry {host} answered {exchange}: {problem}")]
    Protocol {
        host: String,
        exchange: Exchange,
        problem: Problem,
    },
}

impl RegistryError {
    /// True when the user can fix this (credentials, names, addresses): exit status 2, not 1.
    pub fn is_bad_input(&self) -> bool {
        match self {
            RegistryError::Aws(e) => e.is_bad_input(),
            RegistryError::Protocol { .. }
            | RegistryError::TagExists { .. }
            | RegistryError::TagVanished { .. } => false,
            RegistryError::Unreachable { .. }
            | RegistryError::Unsendable { .. }
            | RegistryError::Auth { .. } => true,
        }
    }

    pub(crate) fn protocol(host: &str, exchange: impl Into<Exchange>, problem: Problem) -> Self {
        RegistryError::Protocol {
            host: host.to_string(),
            exchange: exchange.into(),
            problem,
        }
    }
}

impl Diagnostic for RegistryError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let code = match self {
            RegistryError::Aws(e) => return e.code(),
            RegistryError::Unreachable { .. } => "shipit::registry::unreachable",
            RegistryError::Unsendable { .. } => "shipit::registry::request",
            RegistryError::Auth { .. } => "shipit::registry::auth",
            RegistryError::TagExists { .. } => "shipit::registry::tag_exists",
            RegistryError::TagVanished { .. } | RegistryError::Protocol { .. } => {
                "shipit::registry::protocol"
            }
        };
        Some(Box::new(code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let (user, password) = (
            env_vars::SHIPIT_REGISTRY_USERNAME,
            env_vars::SHIPIT_REGISTRY_PASSWORD,
        );
        let help = match self {
            RegistryError::Aws(e) => return e.help(),
            RegistryError::Unreachable { .. } => "check the address in ci.toml (`project.registry`) and the network; for ECR, the AWS region and endpoint".to_string(),
            RegistryError::Unsendable { .. } => format!(
                "a header could not be made from what shipit was given: look for a line break or another control character in {user} and {password}"
            ),
            RegistryError::Auth { problem: AuthProblem::HalfSet, .. } => {
                format!("set both {user} and {password}, or neither for anonymous access")
            }
            RegistryError::Auth { problem: AuthProblem::InsecureRealm { .. }, .. } => {
                "shipit sends credentials only to the registry itself or to an https token service; \
                 fix the registry's `auth.token.realm`"
                    .to_string()
            }
            RegistryError::Auth { credentials: true, .. } => format!("check {user} and {password}"),
            RegistryError::Auth { credentials: false, .. } => {
                format!("the registry wants credentials: set {user} and {password}")
            }
            RegistryError::TagExists { .. } => "a version is immutable: release a new version, or remove the tag by hand if it was pushed by mistake".to_string(),
            RegistryError::TagVanished { .. } | RegistryError::Protocol { .. } => return None,
        };
        Some(Box::new(help))
    }

    fn severity(&self) -> Option<miette::Severity> {
        match self {
            RegistryError::Aws(e) => e.severity(),
            _ => None,
        }
    }

    fn url<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self {
            RegistryError::Aws(e) => e.url(),
            _ => None,
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        match self {
            RegistryError::Aws(e) => e.labels(),
            _ => None,
        }
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        match self {
            RegistryError::Aws(e) => e.source_code(),
            _ => None,
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        match self {
            RegistryError::Aws(e) => e.related(),
            _ => None,
        }
    }

    fn diagnostic_source(&self) -> Option<&dyn Diagnostic> {
        match self {
            RegistryError::Aws(e) => e.diagnostic_source(),
            _ => None,
        }
    }
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum Unreached {
    /// A deadline of [`crate::net`] passed.
    Timeout { after: Duration },
    /// The connection failed or dropped.
    Transport(reqwest::Error),
    /// The HTTP client could not be set up.
    Setup(reqwest::Error),
}

impl fmt::Display for Unreached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreached::Timeout { after } => write!(
                f,
                "no answer within {}s ({} sets the deadline)",
                after.as_secs_f64(),
                env_vars::SHIPIT_HTTP_TIMEOUT
            ),
            Unreached::Transport(e) => f.write_str(&error_chain(e)),
            Unreached::Setup(e) => write!(f, "{e}"),
        }
    }
}

/// Why the registry (or its token service) refused shipit.
#[derive(Debug, Error)]
pub enum AuthProblem {
    #[error("only one of the username and the password is set")]
    HalfSet,
    #[error("401 Unauthorized")]
    Unauthorized,
    #[error("the token service answered {status}")]
    TokenService { status: StatusCode },
    #[error("the registry sends shipit to the token service {origin}, which is not on https")]
    InsecureRealm { origin: String },
}

/// A request shipit makes of a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    ManifestGet,
    ManifestHead,
    ManifestPut,
    /// A manifest or blob read as JSON.
    Get,
    TagsList,
    Manifests,
    Token,
    BearerChallenge,
    Address,
    AddressElsewhere,
    /// An answer that is not HTTP.
    NotHttp,
    /// The body of an error answer.
    ErrorBody,
    /// The registry's address in ci.toml.
    ItsAddress,
    GetAuthorizationToken,
    CreateRepository,
    BatchGetImage,
    BlobHead,
    /// The start of a blob upload (`POST …/blobs/uploads/`).
    BlobUpload,
    /// The end of a blob upload (`PUT …?digest=`).
    BlobPut,
    BlobGet,
    Referrers,
    /// An artifact (a referrer) shipit makes.
    Artifact,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Request::ManifestGet => "a manifest GET",
            Request::ManifestHead => "a manifest HEAD",
            Request::ManifestPut => "a manifest PUT",
            Request::Get => "a GET",
            Request::TagsList => "tags/list",
            Request::Manifests => "manifests",
            Request::Token => "a token request",
            Request::BearerChallenge => "a Bearer challenge",
            Request::Address => "an address",
            Request::AddressElsewhere => "an address on another host",
            Request::NotHttp => "in a way HTTP does not allow",
            Request::ErrorBody => "an error",
            Request::ItsAddress => "its address",
            Request::GetAuthorizationToken => "GetAuthorizationToken",
            Request::CreateRepository => "CreateRepository",
            Request::BatchGetImage => "BatchGetImage",
            Request::BlobHead => "a blob HEAD",
            Request::BlobUpload => "a blob upload's start",
            Request::BlobPut => "a blob PUT",
            Request::BlobGet => "a blob GET",
            Request::Referrers => "a referrers GET",
            Request::Artifact => "an artifact",
        })
    }
}

/// What the registry answered to: a request, or a request with the status it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    To(Request),
    Status { status: StatusCode, to: Request },
}

impl From<Request> for Exchange {
    fn from(r: Request) -> Exchange {
        Exchange::To(r)
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exchange::To(r) => write!(f, "{r}"),
            Exchange::Status { status, to } => write!(f, "{status} to {to}"),
        }
    }
}

/// What was wrong with an answer.
#[derive(Debug, Error)]
pub enum Problem {
    #[error("{url}: {}", hyper_parse_error(.error).unwrap_or_default())]
    NotHttp { url: String, error: reqwest::Error },
    #[error("the answer from {url} is larger than {}, the most shipit reads of it", size(.limit))]
    TooLarge { url: String, limit: usize },
    #[error("the answer from {url} broke off: {}", error_chain(.error))]
    BrokeOff { url: String, error: reqwest::Error },
    #[error("the answer from {url} is not JSON: {error}")]
    NotJson {
        url: String,
        error: serde_json::Error,
    },
    #[error("`{url}`: {error}")]
    BadUrl { url: String, error: url::ParseError },
    #[error("{origin}: shipit sends the registry's credentials to the registry only")]
    OtherOrigin { origin: String },
    #[error("no realm")]
    NoRealm,
    #[error("realm `{realm}`: {error}")]
    BadRealm {
        realm: String,
        error: url::ParseError,
    },
    #[error("{status}")]
    Status { status: StatusCode },
    #[error("no `token` (nor `access_token`) string in the answer")]
    NoToken,
    #[error("its token holds a line break or another character no HTTP header can carry")]
    TokenNotHeader,
    #[error(
        "the tags of {address} were not all read within {}s (ten times {}): shipit stops there",
        secs(.after),
        env_vars::SHIPIT_HTTP_TIMEOUT
    )]
    TagsDeadline { address: String, after: Duration },
    #[error(
        "its `Link` header sends shipit back to {page}, a page it already read: the list would never end"
    )]
    LinkLoop { page: String },
    #[error(
        "more than {} pages of tags for {address}: shipit stops there",
        crate::limits::TAG_PAGES
    )]
    TooManyPages { address: String },
    #[error("the answer from {url} has a `tags` that is not a list")]
    TagsNotAList { url: String },
    /// The start of an error's answer (see `Oci::quoted`).
    #[error("{answer}")]
    Answer { answer: Quoted },
    #[error("no `Location` header: shipit cannot tell where to send the blob")]
    NoLocation,
    #[error("{url} is {got}, not the {expected} shipit asked for")]
    DigestMismatch {
        url: String,
        expected: String,
        got: String,
    },
    #[error("the artifact {reference} has no layer: it holds no payload")]
    NoLayer { reference: String },
    #[error("the manifest {reference} is not one shipit can read: {error}")]
    NotAnIndex {
        reference: String,
        error: serde_json::Error,
    },
    #[error("{error}")]
    Spec { error: oci_spec::OciSpecError },
    #[error("{error}")]
    Json { error: serde_json::Error },
    #[error(
        "the referrers index {tag} changed under shipit {attempts} times: another writer keeps replacing it; run again"
    )]
    SchemaContended { tag: String, attempts: usize },
    #[error("no valid Docker-Content-Digest header")]
    NoDigestHeader,
    /// The tag, digest or URL asked for.
    #[error("{reference}")]
    Of { reference: String },
    #[error("{repository}@{reference} is not in the registry")]
    NotInRegistry {
        repository: String,
        reference: String,
    },
    #[error(
        "the manifests of {count} image{} of {repository} were not all read within {}s (ten times {})",
        if *.count == 1 { "" } else { "s" },
        secs(.after),
        env_vars::SHIPIT_HTTP_TIMEOUT
    )]
    ManifestsDeadline {
        count: usize,
        repository: String,
        after: Duration,
    },
    #[error("{error}")]
    Address { error: crate::image::AddressError },
    #[error("no authorization data")]
    NoAuthorizationData,
    #[error("the token is not base64 `user:password`")]
    TokenNotBase64,
    #[error("no proxyEndpoint: the registry's host is unknown")]
    NoProxyEndpoint,
    #[error("{error}")]
    Build {
        error: aws_sdk_ecr::error::BuildError,
    },
}

/// The start of an error's answer, quoted in a message (at most
/// [`crate::limits::QUOTED_ANSWER`] characters of it).
#[derive(Debug)]
pub struct Quoted {
    pub url: String,
    pub text: String,
}

impl fmt::Display for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text.is_empty() {
            write!(f, "{} (no text)", self.url)
        } else {
            write!(f, "{}: {}", self.url, self.text)
        }
    }
}

fn size(limit: &usize) -> String {
    crate::limits::size(*limit as u64)
}

fn secs(d: &Duration) -> f64 {
    d.as_secs_f64()
}

/// The parse error of an answer that is not HTTP (an invalid header, status line or head), when
/// that is why a request failed.
pub(crate) fn hyper_parse_error(e: &reqwest::Error) -> Option<String> {
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
