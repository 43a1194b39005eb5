//! Keyless signing (`sign = "github"`): the GitHub Actions OIDC token, a short-lived Fulcio
//! certificate for a fresh key, and a Rekor entry, as cosign and `actions/attest` do.
//!
//! For each statement signed: a token for the audience `sigstore` from Actions'
//! `ACTIONS_ID_TOKEN_REQUEST_URL` (the job needs `permissions: id-token: write`); a new ECDSA
//! P-256 key, whose proof of possession is its signature over the token's `sub`; Fulcio's
//! `POST /api/v2/signingCert` for a certificate naming the workflow; the signature over DSSE's
//! PAE; Rekor's `POST /api/v1/log/entries` with a `dsse` entry; and the bundle (v0.3) with the
//! certificate and the log entry, its signed entry timestamp and inclusion proof. The key never
//! leaves memory, and the token is registered as a secret before it is used.
//!
//! Untestable here against the real services (no GitHub Actions, no network to Sigstore):
//! `scripts/sigstore-server.py` stands in for Actions' token endpoint, Fulcio and Rekor, and the
//! bundle format is checked against a recorded public-good bundle (`keyless/tests.rs`).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use serde_json::json;

use super::bundle::{self, Bundle};

pub use crate::config::{FULCIO, REKOR};

/// Where keyless signing gets its token and certificate, and logs.
#[derive(Clone)]
pub struct Keyless {
    pub fulcio: String,
    pub rekor: String,
    /// Actions' `ACTIONS_ID_TOKEN_REQUEST_URL`.
    pub token_url: String,
    /// Actions' `ACTIONS_ID_TOKEN_REQUEST_TOKEN` (a secret).
    token_bearer: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Keyless {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keyless({} {})", self.fulcio, self.rekor) // never the token
    }
}

/// Why a keyless signature could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeylessSignError {
    #[error(
        "{0} is not set: keyless signing needs GitHub Actions with `permissions: id-token: write` on the job"
    )]
    NoToken(&'static str),
    #[error("asking {what} at {url}: {cause}")]
    Unreachable {
        what: &'static str,
        url: String,
        cause: String,
    },
    #[error("{what} at {url} answered {status}: {message}")]
    Refused {
        what: &'static str,
        url: String,
        status: u16,
        message: String,
    },
    #[error("{what} at {url} answered what is not {expected}")]
    Unreadable {
        what: &'static str,
        url: String,
        expected: &'static str,
    },
}

impl KeylessSignError {
    /// Bad input: the job cannot get a token (exit 2, nothing pushed).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, KeylessSignError::NoToken(_))
    }
}

impl Keyless {
    /// Keyless signing from GitHub Actions' token endpoint (`url`, `bearer` from the job's
    /// environment), with this Fulcio and Rekor.
    pub fn new(
        fulcio: &str,
        rekor: &str,
        url: Option<&str>,
        bearer: Option<&str>,
    ) -> Result<Keyless, KeylessSignError> {
        let url = url.ok_or(KeylessSignError::NoToken(
            crate::env_vars::ACTIONS_ID_TOKEN_REQUEST_URL,
        ))?;
        let bearer = bearer.ok_or(KeylessSignError::NoToken(
            crate::env_vars::ACTIONS_ID_TOKEN_REQUEST_TOKEN,
        ))?;
        crate::redact::add(bearer);
        let http = reqwest::Client::builder()
            .user_agent(concat!("shipit/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(crate::net::connect_timeout())
            .read_timeout(crate::net::timeout())
            .timeout(crate::net::request_timeout())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| KeylessSignError::Unreachable {
                what: "the HTTP client",
                url: String::new(),
                cause: e.to_string(),
            })?;
        Ok(Keyless {
            fulcio: fulcio.trim_end_matches('/').to_string(),
            rekor: rekor.trim_end_matches('/').to_string(),
            token_url: url.to_string(),
            token_bearer: bearer.to_string(),
            http,
        })
    }

    /// `statement` (an in-toto statement's JSON) signed keyless in a bundle.
    pub async fn bundle(&self, statement: &[u8]) -> Result<Bundle, KeylessSignError> {
        let token = self.token().await?;
        let subject = claim(&token, "sub").ok_or(KeylessSignError::Unreadable {
            what: "GitHub Actions' token endpoint",
            url: redact_url(&self.token_url),
            expected: "a token with a `sub` claim",
        })?;
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let leaf = self.certificate(&token, &subject, &key).await?;
        let signature: Signature = key.sign(&bundle::pae(bundle::IN_TOTO, statement));
        let signature = signature.to_der().as_bytes().to_vec();
        let entry = self.log(statement, &signature, &leaf).await?;
        Ok(super::keyless::with_certificate(
            statement, &signature, &leaf, entry,
        ))
    }

    /// An OIDC token for the audience `sigstore`.
    async fn token(&self) -> Result<String, KeylessSignError> {
        let what = "GitHub Actions' token endpoint";
        let url = redact_url(&self.token_url);
        let sep = if self.token_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let request = self
            .http
            .get(format!("{}{sep}audience=sigstore", self.token_url))
            .bearer_auth(&self.token_bearer);
        let answer: serde_json::Value = self.json(what, &url, request).await?;
        let token = answer["value"]
            .as_str()
            .ok_or(KeylessSignError::Unreadable {
                what,
                url,
                expected: "a token (`value`)",
            })?
            .to_string();
        crate::redact::add(&token);
        Ok(token)
    }

    /// A Fulcio certificate (DER) for `key`, naming the token's identity.
    async fn certificate(
        &self,
        token: &str,
        subject: &str,
        key: &SigningKey,
    ) -> Result<Vec<u8>, KeylessSignError> {
        let what = "Fulcio";
        let url = format!("{}/api/v2/signingCert", self.fulcio);
        let pem = key
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap_or_default();
        let proof: Signature = key.sign(subject.as_bytes());
        let body = json!({
            "credentials": {"oidcIdentityToken": token},
            "publicKeyRequest": {
                "publicKey": {"algorithm": "ECDSA", "content": pem},
                "proofOfPossession": B64.encode(proof.to_der().as_bytes()),
            },
        });
        let answer = self
            .json(what, &url, self.http.post(&url).json(&body))
            .await?;
        let chain = answer["signedCertificateEmbeddedSct"]["chain"]["certificates"]
            .as_array()
            .or_else(|| answer["signedCertificateDetachedSct"]["chain"]["certificates"].as_array());
        chain
            .and_then(|c| c.first())
            .and_then(|c| c.as_str())
            .and_then(pem_to_der)
            .ok_or(KeylessSignError::Unreadable {
                what,
                url,
                expected: "a certificate chain",
            })
    }

    /// The Rekor entry of the envelope, as a bundle's `tlogEntries[]` item.
    async fn log(
        &self,
        statement: &[u8],
        signature: &[u8],
        leaf: &[u8],
    ) -> Result<serde_json::Value, KeylessSignError> {
        let what = "Rekor";
        let url = format!("{}/api/v1/log/entries", self.rekor);
        let envelope = json!({
            "payload": B64.encode(statement),
            "payloadType": bundle::IN_TOTO,
            "signatures": [{"sig": B64.encode(signature)}],
        });
        let body = json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {"proposedContent": {
                "envelope": envelope.to_string(),
                "verifiers": [B64.encode(super::keyless::certificate_pem(leaf))],
            }},
        });
        let answer = self
            .json(what, &url, self.http.post(&url).json(&body))
            .await?;
        let unreadable = || KeylessSignError::Unreadable {
            what,
            url: url.clone(),
            expected: "a log entry",
        };
        let (_, e) = answer
            .as_object()
            .and_then(|o| o.iter().next())
            .ok_or_else(unreadable)?;
        entry(e).ok_or_else(unreadable)
    }

    async fn json(
        &self,
        what: &'static str,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<serde_json::Value, KeylessSignError> {
        let unreachable = |e: reqwest::Error| KeylessSignError::Unreachable {
            what,
            url: url.to_string(),
            cause: crate::redact::text(&e.without_url().to_string()).into_owned(),
        };
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body = match crate::net::read_capped(&mut response, crate::limits::HTTP_BODY).await {
            Ok(body) => body,
            Err(crate::net::CappedRead::Failed(e)) => return Err(unreachable(e)),
            Err(crate::net::CappedRead::TooLarge) => {
                return Err(KeylessSignError::Unreadable {
                    what,
                    url: url.to_string(),
                    expected: "an answer under 1 MiB",
                });
            }
        };
        let text = String::from_utf8_lossy(&body);
        if !status.is_success() {
            return Err(KeylessSignError::Refused {
                what,
                url: url.to_string(),
                status: status.as_u16(),
                message: crate::redact::text(&snippet(&text)).into_owned(),
            });
        }
        serde_json::from_str(&text).map_err(|_| KeylessSignError::Unreadable {
            what,
            url: url.to_string(),
            expected: "JSON",
        })
    }
}

/// A Rekor v1 answer's entry (`{body, integratedTime, logID, logIndex, verification}`, hex hashes)
/// in a bundle's form (base64 hashes, strings for integers).
pub fn entry(e: &serde_json::Value) -> Option<serde_json::Value> {
    let hex_b64 = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|h| hex::decode(h).ok())
            .map(|b| B64.encode(b))
    };
    let proof = &e["verification"]["inclusionProof"];
    let mut out = json!({
        "logIndex": e["logIndex"].as_i64()?.to_string(),
        "logId": {"keyId": hex_b64(&e["logID"])?},
        "kindVersion": {"kind": "dsse", "version": "0.0.1"},
        "integratedTime": e["integratedTime"].as_i64()?.to_string(),
        "inclusionPromise": {"signedEntryTimestamp": e["verification"]["signedEntryTimestamp"].as_str()?},
        "canonicalizedBody": e["body"].as_str()?,
    });
    if proof.is_object() {
        let hashes: Option<Vec<String>> = proof["hashes"]
            .as_array()
            .map(|h| h.iter().map(&hex_b64).collect())
            .unwrap_or(Some(Vec::new()));
        out["inclusionProof"] = json!({
            "logIndex": proof["logIndex"].as_i64()?.to_string(),
            "rootHash": hex_b64(&proof["rootHash"])?,
            "treeSize": proof["treeSize"].as_i64()?.to_string(),
            "hashes": hashes?,
            "checkpoint": {"envelope": proof["checkpoint"].as_str().unwrap_or_default()},
        });
    }
    Some(out)
}

/// A claim of a JWT, read without checking it (Fulcio checks it).
pub fn claim(token: &str, name: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = B64URL.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims[name].as_str().map(str::to_string)
}

fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let inner: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    B64.decode(inner.trim()).ok()
}

/// A URL without its query (Actions' token URL carries a one-time code in it).
fn redact_url(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

fn snippet(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(crate::limits::QUOTED_ANSWER) {
        Some((at, _)) => format!("{}…", &t[..at]),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_read_from_the_token_payload() {
        let payload = B64URL.encode(br#"{"sub":"repo:o/r:ref:refs/heads/main","aud":"sigstore"}"#);
        let token = format!("e30.{payload}.sig");
        assert_eq!(
            claim(&token, "sub").as_deref(),
            Some("repo:o/r:ref:refs/heads/main")
        );
        assert_eq!(claim(&token, "email"), None);
        assert_eq!(claim("not-a-jwt", "sub"), None);
    }

    #[test]
    fn without_actions_token_variables_keyless_signing_is_bad_input() {
        let err = Keyless::new(FULCIO, REKOR, None, Some("t")).unwrap_err();
        assert!(err.is_bad_input());
        assert!(
            err.to_string().contains("ACTIONS_ID_TOKEN_REQUEST_URL"),
            "{err}"
        );
        assert!(err.to_string().contains("id-token: write"), "{err}");
    }

    /// A token endpoint (or Fulcio, or Rekor) that answers without end is cut off at 1 MiB.
    #[tokio::test]
    async fn an_answer_without_end_is_refused_not_held() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let _ = socket
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"value\":\"",
                )
                .await;
            let chunk = vec![b'a'; 64 << 10];
            for _ in 0..64 {
                if socket.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        });
        let url = format!("http://127.0.0.1:{port}/token?api-version=2.0");
        let k = Keyless::new(FULCIO, REKOR, Some(&url), Some("bearer")).unwrap();
        let err = k.bundle(b"{}").await.unwrap_err();
        assert!(
            matches!(err, KeylessSignError::Unreadable { expected, .. } if expected.contains("1 MiB")),
            "{err}"
        );
    }

    #[test]
    fn a_rekor_answer_becomes_a_bundle_entry() {
        let answer = json!({
            "body": "e30=",
            "integratedTime": 1_700_000_000,
            "logID": "c0d23d6a",
            "logIndex": 12,
            "verification": {
                "signedEntryTimestamp": "TUVV",
                "inclusionProof": {
                    "logIndex": 12, "treeSize": 13, "rootHash": "ff00",
                    "hashes": ["0102"], "checkpoint": "origin\n13\n/wA=\n\n"
                }
            }
        });
        let e = entry(&answer).unwrap();
        assert_eq!(e["logId"]["keyId"], "wNI9ag==");
        assert_eq!(e["logIndex"], "12");
        assert_eq!(e["integratedTime"], "1700000000");
        assert_eq!(e["inclusionProof"]["rootHash"], "/wA=");
        assert_eq!(e["inclusionProof"]["hashes"][0], "AQI=");
        assert_eq!(e["kindVersion"]["kind"], "dsse");
        assert!(entry(&json!({"body": "e30="})).is_none());
    }
}
