//! A Sigstore trusted root (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`, the
//! file Sigstore's TUF repository distributes as `trusted_root.json`): the Fulcio certificate
//! authorities and the Rekor logs that keyless signatures are checked against. Pure.
//!
//! shipit carries the public-good instance's (fulcio.sigstore.dev, rekor.sigstore.dev), recorded
//! from sigstore-python 4.5.1's embedded copy (`src/sign/data/public-good.trusted_root.json`); a
//! private Sigstore instance's is given with `trusted_root = "PATH"`. Certificate transparency logs
//! and timestamp authorities are read past: shipit does not check SCTs or RFC 3161 timestamps.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The public-good instance's trusted root.
pub const PUBLIC_GOOD: &[u8] = include_bytes!("data/public-good.trusted_root.json");

/// A time window, in seconds since the epoch; `end` absent: still valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: Option<i64>,
}

impl Window {
    pub fn contains(&self, t: i64) -> bool {
        t >= self.start && self.end.is_none_or(|e| t <= e)
    }
}

/// A Fulcio certificate authority: its chain, nearest the leaf first, its root last.
#[derive(Debug, Clone)]
pub struct Authority {
    pub uri: String,
    /// DER certificates.
    pub chain: Vec<Vec<u8>>,
    pub valid: Window,
}

/// A transparency log (Rekor): its public key and ID.
#[derive(Debug, Clone)]
pub struct Log {
    pub base_url: String,
    /// The log ID: SHA-256 of the key's DER SubjectPublicKeyInfo.
    pub id: Vec<u8>,
    /// DER SubjectPublicKeyInfo.
    pub key: Vec<u8>,
    /// `PKIX_ECDSA_P256_SHA_256`, `PKIX_ED25519`, …
    pub details: String,
    pub valid: Window,
}

#[derive(Debug, Clone)]
pub struct TrustedRoot {
    pub authorities: Vec<Authority>,
    pub logs: Vec<Log>,
}

/// Why a trusted root cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootError {
    #[error("it is not a Sigstore trusted root: {0}")]
    NotJson(String),
    #[error("its media type is `{0}`, not a Sigstore trusted root")]
    MediaType(String),
    #[error("{0} is not base64")]
    NotBase64(String),
    #[error("{what} is not an RFC 3339 time (`{value}`)")]
    Time { what: String, value: String },
    #[error("it names no certificate authority")]
    NoAuthority,
    #[error("it names no transparency log")]
    NoLog,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    public_key: RawKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKey {
    raw_bytes: String,
    #[serde(default)]
    key_details: String,
    valid_for: Option<RawWindow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAuthority {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    valid_for: Option<RawWindow>,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct RawWindow {
    start: Option<String>,
    end: Option<String>,
}

/// Seconds since the epoch of an RFC 3339 time.
pub fn rfc3339(value: &str, what: &str) -> Result<i64, RootError> {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| RootError::Time {
            what: what.into(),
            value: value.into(),
        })
}

fn window(raw: Option<&RawWindow>, what: &str) -> Result<Window, RootError> {
    let start = match raw.and_then(|w| w.start.as_deref()) {
        Some(s) => rfc3339(s, what)?,
        None => i64::MIN,
    };
    let end = match raw.and_then(|w| w.end.as_deref()) {
        Some(e) => Some(rfc3339(e, what)?),
        None => None,
    };
    Ok(Window { start, end })
}

fn base64(value: &str, what: &str) -> Result<Vec<u8>, RootError> {
    B64.decode(value.trim())
        .map_err(|_| RootError::NotBase64(what.into()))
}

impl TrustedRoot {
    /// The public-good instance's.
    pub fn public_good() -> TrustedRoot {
        TrustedRoot::parse(PUBLIC_GOOD).expect("the embedded trusted root reads")
    }

    pub fn parse(bytes: &[u8]) -> Result<TrustedRoot, RootError> {
        let raw: RawRoot =
            serde_json::from_slice(bytes).map_err(|e| RootError::NotJson(e.to_string()))?;
        if !raw
            .media_type
            .starts_with("application/vnd.dev.sigstore.trustedroot")
        {
            return Err(RootError::MediaType(raw.media_type));
        }
        let mut authorities = Vec::new();
        for (i, a) in raw.certificate_authorities.iter().enumerate() {
            let what = format!("certificateAuthorities[{i}]");
            let chain = a
                .cert_chain
                .certificates
                .iter()
                .map(|c| base64(&c.raw_bytes, &what))
                .collect::<Result<Vec<_>, _>>()?;
            authorities.push(Authority {
                uri: a.uri.clone(),
                chain,
                valid: window(a.valid_for.as_ref(), &what)?,
            });
        }
        let mut logs = Vec::new();
        for (i, l) in raw.tlogs.iter().enumerate() {
            let what = format!("tlogs[{i}]");
            let key = base64(&l.public_key.raw_bytes, &what)?;
            let id = base64(&l.log_id.key_id, &what)?;
            logs.push(Log {
                base_url: l.base_url.clone(),
                id,
                key,
                details: l.public_key.key_details.clone(),
                valid: window(l.public_key.valid_for.as_ref(), &what)?,
            });
        }
        if authorities.iter().all(|a| a.chain.is_empty()) {
            return Err(RootError::NoAuthority);
        }
        if logs.is_empty() {
            return Err(RootError::NoLog);
        }
        Ok(TrustedRoot { authorities, logs })
    }

    /// The log whose ID is `id`.
    pub fn log(&self, id: &[u8]) -> Option<&Log> {
        self.logs.iter().find(|l| l.id == id)
    }
}

/// A log's ID: the SHA-256 of its key's DER SubjectPublicKeyInfo.
pub fn log_id(spki_der: &[u8]) -> Vec<u8> {
    Sha256::digest(spki_der).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_good_root_names_fulcio_and_rekor() {
        let root = TrustedRoot::public_good();
        assert!(
            root.authorities
                .iter()
                .any(|a| a.uri == "https://fulcio.sigstore.dev" && a.chain.len() == 2)
        );
        let rekor = root
            .logs
            .iter()
            .find(|l| l.base_url == "https://rekor.sigstore.dev")
            .unwrap();
        assert_eq!(rekor.id, log_id(&rekor.key));
        assert_eq!(rekor.details, "PKIX_ECDSA_P256_SHA_256");
        assert!(rekor.valid.contains(1_738_701_347));
    }

    #[test]
    fn what_is_not_a_trusted_root_is_named() {
        assert!(matches!(
            TrustedRoot::parse(b"{"),
            Err(RootError::NotJson(_))
        ));
        assert!(matches!(
            TrustedRoot::parse(br#"{"mediaType":"application/json"}"#),
            Err(RootError::MediaType(_))
        ));
        assert_eq!(
            TrustedRoot::parse(
                br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#
            )
            .unwrap_err(),
            RootError::NoAuthority
        );
    }
}
