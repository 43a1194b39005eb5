//! BuildKit through the Engine API: a `version=2` build, its progress (`moby.buildkit.trace`
//! messages) turned into plain step lines, and the build session that serves secrets.
//!
//! A build with secrets needs a session the engine can call back: shipit opens `/session` itself
//! (an HTTP upgrade to h2c on the engine's socket), serves the secrets, registry credentials and a
//! health check over gRPC on it, and sends `POST /build?version=2&session=ID` on a connection of its
//! own, because bollard's session serves registry credentials only.
//!
//! The session reaches the engine where the engine client does, by one rule
//! ([`super::endpoint::Endpoint`]): a `unix://` socket or plain `tcp://`; over TLS it refuses.
//!
//! Over 500 lines because the build session is one protocol: the h2c upgrade, the gRPC services it
//! serves (secrets, auth, health) and the progress decoding that names a failing step share the
//! session's types; the tests are in `buildkit/tests.rs`.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::task::{Context, Poll};

use bollard::auth::DockerCredentials;
use bollard::health::health_check_response::ServingStatus;
use bollard::health::health_server::{Health, HealthServer};
use bollard::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use bollard::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use bollard::moby::buildkit::v1::StatusResponse;
use bollard::moby::filesync::v1::auth_server::{Auth, AuthServer};
use bollard::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use bollard::models::BuildInfo;
use bytes::Bytes;
use futures_util::Stream;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tonic::{Request, Response, Status};

use super::endpoint::{Address, Endpoint};

/// What BuildKit's progress said so far: step numbers, and the step that failed.
#[derive(Default)]
pub struct Progress {
    /// Vertex digest → its step number (`#N`), in the order the steps appeared.
    steps: HashMap<String, (usize, String)>,
    done: HashMap<String, bool>,
    /// The name of the step that failed (the first error that is not a cancellation).
    pub failed: Option<String>,
    failed_canceled: bool,
}

impl Progress {
    /// Turns one status message into lines like `docker build --progress=plain` prints.
    pub fn lines(&mut self, status: &StatusResponse) -> Vec<String> {
        let mut out = Vec::new();
        for v in &status.vertexes {
            let next = self.steps.len() + 1;
            let new = !self.steps.contains_key(&v.digest);
            let n = self
                .steps
                .entry(v.digest.clone())
                .or_insert((next, v.name.clone()))
                .0;
            if new {
                out.push(format!("#{n} {}", v.name));
            }
            if self.done.get(&v.digest).copied().unwrap_or(false) {
                continue;
            }
            if v.cached {
                out.push(format!("#{n} CACHED"));
                self.done.insert(v.digest.clone(), true);
            } else if !v.error.is_empty() {
                out.push(format!("#{n} ERROR: {}", v.error));
                // Steps running beside the one that failed end "context canceled": not the cause.
                let canceled = v.error.contains("context canceled");
                if self.failed.is_none() || (self.failed_canceled && !canceled) {
                    self.failed = Some(v.name.clone());
                    self.failed_canceled = canceled;
                }
                self.done.insert(v.digest.clone(), true);
            } else if let (Some(start), Some(end)) = (&v.started, &v.completed) {
                let secs =
                    (end.seconds - start.seconds) as f64 + f64::from(end.nanos - start.nanos) / 1e9;
                out.push(format!("#{n} DONE {secs:.1}s"));
                self.done.insert(v.digest.clone(), true);
            }
        }
        for l in &status.logs {
            let n = self.steps.get(&l.vertex).map(|s| s.0).unwrap_or(0);
            for line in String::from_utf8_lossy(&l.msg).lines() {
                if !line.trim().is_empty() {
                    out.push(format!("#{n} {line}"));
                }
            }
        }
        for w in &status.warnings {
            out.push(format!("WARNING: {}", String::from_utf8_lossy(&w.short)));
        }
        out
    }
}

/// `[build 2/3] RUN make` → the line of `dockerfile` holding `RUN make`, 1-based, when found.
pub fn dockerfile_line(dockerfile: &str, step: &str) -> Option<usize> {
    let instruction = match step.trim().strip_prefix('[') {
        Some(rest) => rest.split_once("] ")?.1,
        None => step.trim(),
    };
    let instruction = instruction.trim();
    if instruction.is_empty() {
        return None;
    }
    let words: Vec<&str> = instruction.split_whitespace().collect();
    // Continuation lines are joined in the step's name: match on the first line's words.
    dockerfile
        .lines()
        .position(|line| {
            let have: Vec<&str> = line.trim_end_matches('\\').split_whitespace().collect();
            !have.is_empty()
                && have.len() <= words.len()
                && have.iter().zip(&words).enumerate().all(|(i, (a, b))| {
                    if i == 0 {
                        a.eq_ignore_ascii_case(b)
                    } else {
                        a == b
                    }
                })
        })
        .map(|i| i + 1)
}

/// Why a build with secrets could not start or its output broke off: what shipit was doing on its
/// own connection to the engine.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    NoAddress(#[from] super::endpoint::NoSessionAddress),
    #[error("cannot connect to {address}: {cause}")]
    Connect {
        address: String,
        cause: std::io::Error,
    },
    #[error("cannot open a build session: {cause}")]
    Open { cause: std::io::Error },
    #[error("the engine closed the build session")]
    Closed,
    #[error("the engine's answer to /session is too long")]
    HeadTooLong,
    #[error("the engine refused a build session: {status}")]
    SessionRefused { status: String },
    #[error("cannot talk to the engine: {cause}")]
    Handshake { cause: hyper::Error },
    #[error("{cause}")]
    Request { cause: hyper::http::Error },
    #[error("the engine did not take the build: {cause}")]
    NotTaken { cause: hyper::Error },
    #[error("the engine refused the build ({status}): {message}")]
    BuildRefused {
        status: hyper::StatusCode,
        /// The engine's own words.
        message: String,
    },
    #[error("the build's output broke off: {cause}")]
    BrokeOff { cause: hyper::Error },
    #[error("the engine sent an unreadable message: {cause}")]
    Unreadable { cause: serde_json::Error },
}

/// A connection to the engine: a unix socket or TCP.
enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

impl Conn {
    async fn open(address: &Address) -> Result<Conn, SessionError> {
        let failed = |address: &str, cause| SessionError::Connect {
            address: address.to_string(),
            cause,
        };
        match address {
            Address::Unix(path) => tokio::net::UnixStream::connect(path)
                .await
                .map(Conn::Unix)
                .map_err(|e| failed(path, e)),
            Address::Tcp(addr) => tokio::net::TcpStream::connect(addr)
                .await
                .map(Conn::Tcp)
                .map_err(|e| failed(addr, e)),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tcp(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_flush(cx),
            Conn::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

/// A build session: the engine calls back on it for secrets and registry credentials. Closed when
/// dropped.
pub struct Session {
    pub id: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const SECRETS_METHOD: &str = "/moby.buildkit.secrets.v1.Secrets/GetSecret";
const CREDENTIALS_METHOD: &str = "/moby.filesync.v1.Auth/Credentials";
const HEALTH_METHOD: &str = "/grpc.health.v1.Health/Check";

/// Opens a session serving `secrets` (id → value) and `credentials` (registry host → login).
pub async fn open_session(
    endpoint: &Endpoint,
    api_version: &str,
    secrets: BTreeMap<String, Vec<u8>>,
    credentials: HashMap<String, DockerCredentials>,
) -> Result<Session, SessionError> {
    let address = endpoint.session_address()?;
    let mut conn = Conn::open(&address).await?;
    let id = session_id();
    let mut request = format!(
        "POST /v{api_version}/session HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n\
         Upgrade: h2c\r\nX-Docker-Expose-Session-Uuid: {id}\r\nX-Docker-Expose-Session-Name: shipit\r\n\
         X-Docker-Expose-Session-Sharedkey: shipit\r\n"
    );
    for method in [SECRETS_METHOD, CREDENTIALS_METHOD, HEALTH_METHOD] {
        request.push_str(&format!(
            "X-Docker-Expose-Session-Grpc-Method: {method}\r\n"
        ));
    }
    request.push_str("Content-Length: 0\r\n\r\n");
    conn.write_all(request.as_bytes())
        .await
        .map_err(|cause| SessionError::Open { cause })?;
    // The answer's head, byte by byte: nothing after it may be consumed (it is HTTP/2 already).
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        match conn.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            Ok(_) => return Err(SessionError::Closed),
            Err(cause) => return Err(SessionError::Open { cause }),
        }
        if head.len() > 64 * 1024 {
            return Err(SessionError::HeadTooLong);
        }
    }
    let head = String::from_utf8_lossy(&head);
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 101 ") {
        return Err(SessionError::SessionRefused {
            status: status.trim().to_string(),
        });
    }
    let router = tonic::transport::Server::builder()
        .add_service(HealthServer::new(Healthy))
        .add_service(SecretsServer::new(SecretStore(secrets)))
        .add_service(AuthServer::new(Logins(credentials)));
    let task = tokio::spawn(async move {
        let incoming = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(conn)]);
        if let Err(e) = router.serve_with_incoming(incoming).await {
            tracing::debug!("build session ended: {e}");
        }
    });
    Ok(Session { id, task })
}

fn session_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..25)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// `POST /build` on a connection of shipit's own (with the `session` parameter bollard's request
/// carries only for its own sessions): the engine's messages, one by one.
pub async fn build(
    endpoint: &Endpoint,
    api_version: &str,
    query: &str,
    context: Bytes,
) -> Result<impl Stream<Item = Result<BuildInfo, SessionError>> + use<>, SessionError> {
    let address = endpoint.session_address()?;
    let conn = Conn::open(&address).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(conn))
        .await
        .map_err(|cause| SessionError::Handshake { cause })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = hyper::Request::post(format!("/v{api_version}/build?{query}"))
        .header("Host", "docker")
        .header("Content-Type", "application/x-tar")
        .body(http_body_util::Full::new(context))
        .map_err(|cause| SessionError::Request { cause })?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|cause| SessionError::NotTaken { cause })?;
    let status = response.status();
    let mut body = response.into_body();
    if !status.is_success() {
        let text = body
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).to_string())
            .unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or(text);
        return Err(SessionError::BuildRefused { status, message });
    }
    Ok(async_stream(move |tx| async move {
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let frame = match body.frame().await {
                None => break,
                Some(Err(e)) => {
                    let _ = tx.send(Err(SessionError::BrokeOff { cause: e }));
                    return;
                }
                Some(Ok(frame)) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let item = serde_json::from_slice::<BuildInfo>(&line)
                    .map_err(|cause| SessionError::Unreadable { cause });
                if tx.send(item).is_err() {
                    return;
                }
            }
        }
        if !pending.iter().all(u8::is_ascii_whitespace) {
            let _ = tx.send(
                serde_json::from_slice::<BuildInfo>(&pending)
                    .map_err(|cause| SessionError::Unreadable { cause }),
            );
        }
    }))
}

/// A stream fed by a task through a channel.
fn async_stream<T, F, Fut>(f: F) -> impl Stream<Item = T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::UnboundedSender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(f(tx));
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

struct Healthy;

#[tonic::async_trait]
impl Health for Healthy {
    type WatchStream =
        Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send + 'static>>;

    async fn check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    async fn list(
        &self,
        _: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Err(Status::unimplemented("list"))
    }

    async fn watch(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch"))
    }
}

struct SecretStore(BTreeMap<String, Vec<u8>>);

#[tonic::async_trait]
impl Secrets for SecretStore {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        match self.0.get(&request.get_ref().id) {
            Some(data) => Ok(Response::new(GetSecretResponse { data: data.clone() })),
            None => Err(Status::not_found(format!(
                "secret {} is not in the service's `secrets`",
                request.get_ref().id
            ))),
        }
    }
}

struct Logins(HashMap<String, DockerCredentials>);

#[tonic::async_trait]
impl Auth for Logins {
    async fn credentials(
        &self,
        request: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        let host = &request.get_ref().host;
        let login = self.0.get(host);
        Ok(Response::new(CredentialsResponse {
            username: login.and_then(|c| c.username.clone()).unwrap_or_default(),
            secret: login
                .and_then(|c| c.password.clone().or_else(|| c.identitytoken.clone()))
                .unwrap_or_default(),
        }))
    }

    async fn fetch_token(
        &self,
        _: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented("fetch_token"))
    }

    async fn get_token_authority(
        &self,
        _: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("get_token_authority"))
    }

    async fn verify_token_authority(
        &self,
        _: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("verify_token_authority"))
    }
}

/// The first line of `dockerfile` that only BuildKit builds, with what it uses.
pub fn needs_buildkit(dockerfile: &str) -> Option<(usize, &'static str)> {
    for (i, line) in dockerfile.lines().enumerate() {
        let t = line.trim_start();
        let lower = t.to_ascii_lowercase();
        let word = lower.split_whitespace().next().unwrap_or("");
        let what = if lower.starts_with("# syntax=") || lower.starts_with("#syntax=") {
            Some("a `# syntax=` frontend")
        } else if word == "run" && lower.contains("--mount=") {
            Some("`RUN --mount`")
        } else if word == "run" && (lower.contains("--network=") || lower.contains("--security=")) {
            Some("`RUN --network`/`--security`")
        } else if (word == "copy" || word == "add") && lower.contains("--link") {
            Some("`COPY --link`")
        } else if (word == "copy" || word == "add") && lower.contains("--chmod") {
            Some("`--chmod`")
        } else if (word == "run" || word == "copy") && t.contains("<<") {
            Some("a heredoc")
        } else {
            None
        };
        if let Some(what) = what {
            return Some((i + 1, what));
        }
    }
    None
}

#[cfg(test)]
mod tests;
