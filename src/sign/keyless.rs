//! Checking a keyless signature, pure: a bundle whose verification material is a Fulcio
//! certificate and a Rekor entry, against a trusted root ([`super::root`]) and an identity
//! (issuer and subject, as `cosign verify --certificate-oidc-issuer … --certificate-identity …`).
//!
//! What is checked, in order:
//! 1. The leaf certificate chains to a Fulcio certificate authority of the trusted root (each
//!    signature, ECDSA P-256 or P-384 with SHA-256 or SHA-384), was issued while that authority
//!    was valid, and is for code signing.
//! 2. Its issuer extension (OID 1.3.6.1.4.1.57264.1.8, else .1.1) is the identity's issuer, and
//!    one of its subject alternative names (a URI or an e-mail address) matches the identity's
//!    subject (`*` matches any run of characters).
//! 3. The envelope's signature verifies with the certificate's key (DSSE PAE, as for a key).
//! 4. A transparency log entry of a log in the trusted root: its signed entry timestamp (the
//!    log's promise, ECDSA over the canonical JSON of body, time, log ID and index) verifies; its
//!    inclusion proof, where it has one, leads to the root hash of a checkpoint the log signed;
//!    its body names this envelope's payload hash, signature and certificate; and its time lies
//!    within the certificate's validity, which is what makes a ten-minute certificate good
//!    for ever after.
//!
//! Not checked: the certificate's SCTs (certificate transparency) and RFC 3161 timestamps; an
//! entry without a signed entry timestamp (Rekor v2) is refused, for want of a trusted time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256, Sha384};
use x509_cert::Certificate;
use x509_cert::der::asn1::{ObjectIdentifier, Utf8StringRef};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName, name::GeneralName};

use super::bundle::{self, Opened};
use super::root::TrustedRoot;

const ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
const ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

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
    /// The log's time for the entry, seconds since the epoch.
    pub time: i64,
    pub log_index: i64,
}

/// Why a keyless signature does not hold, in words that finish "… because …".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeylessError {
    #[error("it carries no certificate (signed with a key)")]
    NoCertificate,
    #[error("its certificate cannot be read: {0}")]
    Certificate(String),
    #[error("its certificate is not issued by a certificate authority of the trusted root")]
    Untrusted,
    #[error("its certificate is not for code signing")]
    NotCodeSigning,
    #[error("its certificate names no OIDC issuer")]
    NoIssuer,
    #[error("it was signed by {found}, not {wanted}")]
    OtherIdentity { found: String, wanted: String },
    #[error("its signature does not verify with its certificate's key")]
    BadSignature,
    #[error("it has no transparency log entry")]
    NoLogEntry,
    #[error("its transparency log entry is in a log the trusted root does not name ({0})")]
    UnknownLog(String),
    #[error(
        "its transparency log entry has no signed entry timestamp (Rekor v2 entries need an RFC 3161 timestamp, which shipit does not check)"
    )]
    NoPromise,
    #[error("its transparency log entry's signed entry timestamp does not verify")]
    BadPromise,
    #[error("its transparency log entry's inclusion proof does not verify: {0}")]
    BadProof(&'static str),
    #[error("its transparency log entry is for another signature: {0}")]
    OtherEntry(&'static str),
    #[error("it was logged at {time}, outside its certificate's validity")]
    OutsideValidity { time: i64 },
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

/// The certificate's OIDC issuer and subject alternative names.
pub fn identity_of(cert: &Certificate) -> (Option<String>, Vec<String>) {
    let mut issuer = None;
    let mut names = Vec::new();
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        let value = ext.extn_value.as_bytes();
        if ext.extn_id == ISSUER_V2 {
            if let Ok(s) = Utf8StringRef::from_der(value) {
                issuer = Some(s.as_str().to_string());
            }
        } else if ext.extn_id == ISSUER_V1 && issuer.is_none() {
            issuer = std::str::from_utf8(value).ok().map(str::to_string);
        } else if ext.extn_id == SUBJECT_ALT_NAME
            && let Ok(san) = SubjectAltName::from_der(value)
        {
            for name in san.0 {
                match name {
                    GeneralName::UniformResourceIdentifier(u) => names.push(u.to_string()),
                    GeneralName::Rfc822Name(e) => names.push(e.to_string()),
                    _ => {}
                }
            }
        }
    }
    (issuer, names)
}

/// Checks `opened` against `policy`.
pub fn verify(opened: &Opened, policy: &Policy) -> Result<Signed, KeylessError> {
    let der = leaf(opened).ok_or(KeylessError::NoCertificate)?;
    let cert = Certificate::from_der(&der).map_err(|e| KeylessError::Certificate(e.to_string()))?;
    let not_before = unix(&cert.tbs_certificate.validity.not_before);
    let not_after = unix(&cert.tbs_certificate.validity.not_after);
    let trusted = policy
        .root
        .authorities
        .iter()
        .any(|a| a.valid.contains(not_before) && chains(&cert, &a.chain).unwrap_or(false));
    if !trusted {
        return Err(KeylessError::Untrusted);
    }
    let code_signing = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == EXTENDED_KEY_USAGE)
        .filter_map(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok())
        .any(|eku| eku.0.contains(&CODE_SIGNING));
    if !code_signing {
        return Err(KeylessError::NotCodeSigning);
    }
    let (issuer, names) = identity_of(&cert);
    let issuer = issuer.ok_or(KeylessError::NoIssuer)?;
    let wanted = &policy.identity;
    let subject = names
        .iter()
        .find(|n| issuer == wanted.issuer && matches(&wanted.subject, n))
        .cloned()
        .ok_or_else(|| KeylessError::OtherIdentity {
            found: format!("{} from {issuer}", names.join(", ")),
            wanted: wanted.to_string(),
        })?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let key =
        p256::ecdsa::VerifyingKey::from_sec1_bytes(spki).map_err(|_| KeylessError::BadSignature)?;
    if !super::check::signed_by(opened, &key) {
        return Err(KeylessError::BadSignature);
    }
    let entries = &opened.bundle.verification_material.tlog_entries;
    let mut first_problem = None;
    for entry in entries {
        match log::logged(opened, &der, entry, &policy.root) {
            Ok((time, log_index)) if time >= not_before && time <= not_after => {
                return Ok(Signed {
                    issuer,
                    subject,
                    time,
                    log_index,
                });
            }
            Ok((time, _)) => {
                first_problem.get_or_insert(KeylessError::OutsideValidity { time });
            }
            Err(e) => {
                first_problem.get_or_insert(e);
            }
        }
    }
    Err(first_problem.unwrap_or(KeylessError::NoLogEntry))
}

fn unix(t: &x509_cert::time::Time) -> i64 {
    t.to_unix_duration().as_secs() as i64
}

/// True when `cert` is signed by `chain[0]`, each of which by the next; the last is trusted as
/// the root it is.
fn chains(cert: &Certificate, chain: &[Vec<u8>]) -> Option<bool> {
    let mut child = cert.clone();
    for der in chain {
        let parent = Certificate::from_der(der).ok()?;
        if child.tbs_certificate.issuer != parent.tbs_certificate.subject
            || !signed_by_certificate(&child, &parent)?
        {
            return Some(false);
        }
        child = parent;
    }
    Some(!chain.is_empty())
}

/// True when `parent`'s key verifies `child`'s signature.
fn signed_by_certificate(child: &Certificate, parent: &Certificate) -> Option<bool> {
    let tbs = child.tbs_certificate.to_der().ok()?;
    let digest = match child.signature_algorithm.oid {
        o if o == ECDSA_SHA256 => Sha256::digest(&tbs).to_vec(),
        o if o == ECDSA_SHA384 => Sha384::digest(&tbs).to_vec(),
        _ => return Some(false),
    };
    let signature = child.signature.as_bytes()?;
    let spki = &parent.tbs_certificate.subject_public_key_info;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())?;
    let point = spki.subject_public_key.raw_bytes();
    Some(match curve {
        c if c == P256 => verify_prehash_p256(point, &digest, signature),
        c if c == P384 => {
            let (Ok(key), Ok(sig)) = (
                p384::ecdsa::VerifyingKey::from_sec1_bytes(point),
                p384::ecdsa::Signature::from_der(signature),
            ) else {
                return Some(false);
            };
            key.verify_prehash(&digest, &sig).is_ok()
        }
        _ => false,
    })
}

fn verify_prehash_p256(point: &[u8], digest: &[u8], der: &[u8]) -> bool {
    let (Ok(key), Ok(sig)) = (
        p256::ecdsa::VerifyingKey::from_sec1_bytes(point),
        p256::ecdsa::Signature::from_der(der),
    ) else {
        return false;
    };
    let sig = sig.normalize_s().unwrap_or(sig);
    key.verify_prehash(digest, &sig).is_ok()
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

mod log;
pub use log::root_from_proof;

#[cfg(test)]
mod tests;
