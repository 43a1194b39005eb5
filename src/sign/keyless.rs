//! Checking a keyless signature, pure: a bundle whose verification material is a Fulcio
//! certificate and a Rekor entry, against a trusted root ([`super::root`]) and an identity
//! (issuer and subject, as `cosign verify --certificate-oidc-issuer … --certificate-identity …`).
//!
//! The cryptography is sigstore-verify's (Sigstore's own Rust verifier): the certificate chains to
//! a Fulcio authority of the trusted root and carries a valid SCT (where the root names CT logs:
//! a private instance without one is checked without), the envelope's signature verifies with
//! the certificate's key, the Rekor entry vouches for it (signed entry timestamp, inclusion proof
//! and checkpoint, or RFC 3161 timestamps) at a time inside the certificate's validity, the entry
//! names this envelope, and the certificate's OIDC issuer is the identity's. shipit adds the
//! subject: one of the certificate's subject alternative names must match the identity's subject,
//! where `*` matches any run of characters (sigstore-verify matches exactly).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sigstore_verify::types::{Artifact, ArtifactDigest, Bundle as SigstoreBundle, HashAlgorithm};
use sigstore_verify::{VerificationPolicy, Verifier};

use super::bundle::{self, Opened};
use super::root::TrustedRoot;

pub use crate::config::GITHUB_ISSUER;

/// Who must have signed: an OIDC issuer and a subject pattern (`*` matches any run of
/// characters), matched against a certificate's subject alternative names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} from {}", self.subject, self.issuer)
    }
}

/// What a keyless signature is checked against.
#[derive(Debug, Clone)]
pub struct Policy {
    pub root: TrustedRoot,
    pub identity: Identity,
}

/// What a verified keyless signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub issuer: String,
    /// The subject alternative name that matched.
    pub subject: String,
    /// The log's time for the entry, seconds since the epoch, where the entry has one.
    pub time: Option<i64>,
}

/// Why a keyless signature does not hold, in words that finish "… because …".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeylessError {
    #[error("it carries no certificate (signed with a key)")]
    NoCertificate,
    #[error("it cannot be read as a Sigstore bundle: {0}")]
    Unreadable(String),
    #[error("its statement names no sha256 or sha512 subject")]
    NoSubject,
    #[error("it was signed by {found}, not {wanted}")]
    OtherIdentity { found: String, wanted: String },
    #[error("it does not verify: {0}")]
    Refused(String),
}

/// True when `text` matches `pattern`, where `*` matches any run of characters.
pub fn matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The leaf certificate of a bundle (v0.3's `certificate`, or the first of v0.1/v0.2's chain).
pub fn leaf(opened: &Opened) -> Option<Vec<u8>> {
    let material = &opened.bundle.verification_material;
    if let Some(c) = &material.certificate {
        return B64.decode(&c.raw_bytes).ok();
    }
    let first =
        material.x509_certificate_chain.as_ref()?["certificates"][0]["rawBytes"].as_str()?;
    B64.decode(first).ok()
}

/// The statement's first subject digest, sha256 first (what the verifier binds the envelope to;
/// the caller checks it is the image's).
fn subject(payload: &[u8]) -> Option<ArtifactDigest> {
    let statement: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let subjects = statement["subject"].as_array()?;
    for (algorithm, name) in [
        (HashAlgorithm::Sha2256, "sha256"),
        (HashAlgorithm::Sha2512, "sha512"),
    ] {
        let found = subjects
            .iter()
            .filter_map(|s| s["digest"][name].as_str())
            .find_map(|hex| hex::decode(hex).ok());
        if let Some(bytes) = found {
            return ArtifactDigest::new(algorithm, bytes).ok();
        }
    }
    None
}

/// Checks `opened` against `policy`.
pub fn verify(opened: &Opened, policy: &Policy) -> Result<Signed, KeylessError> {
    if leaf(opened).is_none() {
        return Err(KeylessError::NoCertificate);
    }
    let text =
        std::str::from_utf8(&opened.raw).map_err(|e| KeylessError::Unreadable(e.to_string()))?;
    let parsed =
        SigstoreBundle::from_json(text).map_err(|e| KeylessError::Unreadable(e.to_string()))?;
    let digest = subject(&opened.payload).ok_or(KeylessError::NoSubject)?;
    let verifier = Verifier::new(&policy.root).map_err(|e| KeylessError::Refused(e.to_string()))?;
    let wanted = &policy.identity;
    let mut checks = VerificationPolicy::any_identity().require_issuer(&wanted.issuer);
    if policy.root.ctlogs.is_empty() {
        checks = checks.skip_sct();
    }
    let result = verifier
        .verify(Artifact::from_digest(digest), &parsed, &checks)
        .map_err(|e| match e {
            sigstore_verify::Error::IssuerMismatch { actual, .. } => KeylessError::OtherIdentity {
                found: format!(
                    "an identity from {}",
                    actual.as_deref().unwrap_or("no issuer")
                ),
                wanted: wanted.to_string(),
            },
            other => KeylessError::Refused(other.to_string()),
        })?;
    let issuer = result.issuer().unwrap_or_default().to_string();
    let subject = result
        .identity()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    if !matches(&wanted.subject, &subject) {
        return Err(KeylessError::OtherIdentity {
            found: format!("{subject} from {issuer}"),
            wanted: wanted.to_string(),
        });
    }
    Ok(Signed {
        issuer,
        subject,
        time: result.integrated_time().map(|t| t.as_second()),
    })
}

/// The PEM of a DER certificate.
pub fn certificate_pem(der: &[u8]) -> String {
    let body = B64.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// A bundle of `statement` signed keyless: `signature` (DER) by the key of `leaf` (DER), logged
/// as `entry` (a bundle's `tlogEntries[]` item).
pub fn with_certificate(
    statement: &[u8],
    signature: &[u8],
    leaf: &[u8],
    entry: serde_json::Value,
) -> bundle::Bundle {
    let mut b = bundle::with_key(statement, signature, "");
    b.verification_material.public_key = None;
    b.verification_material.certificate = Some(bundle::RawBytes {
        raw_bytes: B64.encode(leaf),
    });
    b.verification_material.tlog_entries = vec![entry];
    b
}

#[cfg(test)]
mod tests;
