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

/// GitHub Actions' OIDC issuer.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

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
        match logged(opened, &der, entry, &policy.root) {
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

/// An ECDSA P-256 signature (DER) by the key `spki_der` over the SHA-256 of `message`.
fn log_signed(spki_der: &[u8], message: &[u8], der: &[u8]) -> bool {
    use p256::pkcs8::DecodePublicKey;
    let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(spki_der) else {
        return false;
    };
    let point = key.to_encoded_point(false);
    verify_prehash_p256(point.as_bytes(), &Sha256::digest(message), der)
}

/// The part of a bundle's `tlogEntries[]` a check reads.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    log_index: String,
    log_id: LogId,
    kind_version: KindVersion,
    #[serde(default)]
    integrated_time: Option<String>,
    inclusion_promise: Option<Promise>,
    inclusion_proof: Option<Proof>,
    canonicalized_body: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogId {
    key_id: String,
}

#[derive(serde::Deserialize)]
struct KindVersion {
    kind: String,
    version: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Promise {
    signed_entry_timestamp: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Proof {
    log_index: String,
    root_hash: String,
    tree_size: String,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<Checkpoint>,
}

#[derive(serde::Deserialize)]
struct Checkpoint {
    envelope: String,
}

/// The log's time and index of `entry`, once its promise, proof and body hold.
fn logged(
    opened: &Opened,
    leaf_der: &[u8],
    entry: &serde_json::Value,
    root: &TrustedRoot,
) -> Result<(i64, i64), KeylessError> {
    let malformed = KeylessError::OtherEntry("it cannot be read");
    let entry: Entry = serde_json::from_value(entry.clone()).map_err(|_| malformed.clone())?;
    let id = B64
        .decode(&entry.log_id.key_id)
        .map_err(|_| malformed.clone())?;
    let log = root
        .log(&id)
        .ok_or_else(|| KeylessError::UnknownLog(hex::encode(&id)))?;
    let body = B64
        .decode(&entry.canonicalized_body)
        .map_err(|_| malformed.clone())?;
    let index: i64 = entry.log_index.parse().map_err(|_| malformed.clone())?;
    let promise = entry
        .inclusion_promise
        .as_ref()
        .ok_or(KeylessError::NoPromise)?;
    let time: i64 = entry
        .integrated_time
        .as_deref()
        .and_then(|t| t.parse().ok())
        .ok_or(KeylessError::NoPromise)?;
    if log.details != "PKIX_ECDSA_P256_SHA_256" || !log.valid.contains(time) {
        return Err(KeylessError::BadPromise);
    }
    let set = B64
        .decode(&promise.signed_entry_timestamp)
        .map_err(|_| KeylessError::BadPromise)?;
    let promised = format!(
        r#"{{"body":"{}","integratedTime":{time},"logID":"{}","logIndex":{index}}}"#,
        entry.canonicalized_body,
        hex::encode(&id)
    );
    if !log_signed(&log.key, promised.as_bytes(), &set) {
        return Err(KeylessError::BadPromise);
    }
    if let Some(proof) = &entry.inclusion_proof {
        included(proof, &body, log)?;
    }
    bound(opened, leaf_der, &entry.kind_version, &body)?;
    Ok((time, index))
}

/// RFC 9162's inclusion proof check of `body` (the leaf), then the checkpoint's signature.
fn included(proof: &Proof, body: &[u8], log: &super::root::Log) -> Result<(), KeylessError> {
    let bad = KeylessError::BadProof;
    let index: u64 = proof.log_index.parse().map_err(|_| bad("unreadable"))?;
    let size: u64 = proof.tree_size.parse().map_err(|_| bad("unreadable"))?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| B64.decode(h))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("unreadable"))?;
    let root_hash = B64
        .decode(&proof.root_hash)
        .map_err(|_| bad("unreadable"))?;
    let mut leaf = Sha256::new();
    leaf.update([0u8]);
    leaf.update(body);
    let computed = root_from_proof(index, size, leaf.finalize().to_vec(), &hashes)
        .ok_or(bad("it does not fit the tree's size"))?;
    if computed != root_hash {
        return Err(bad("it leads to another root hash"));
    }
    let Some(checkpoint) = &proof.checkpoint else {
        return Ok(());
    };
    let (size_seen, root_seen) = checkpoint_signed(&checkpoint.envelope, log)
        .ok_or(bad("its checkpoint is not signed by the log"))?;
    if size_seen != size || root_seen != root_hash {
        return Err(bad("its checkpoint is of another tree"));
    }
    Ok(())
}

/// The root hash a leaf at `index` of a tree of `size` leads to through `proof` (RFC 9162,
/// 2.1.3.2), or `None` when the proof does not fit the tree.
pub fn root_from_proof(index: u64, size: u64, leaf: Vec<u8>, proof: &[Vec<u8>]) -> Option<Vec<u8>> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        if s == 0 {
            return None;
        }
        let mut h = Sha256::new();
        h.update([1u8]);
        if f & 1 == 1 || f == s {
            h.update(p);
            h.update(&r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            h.update(&r);
            h.update(p);
        }
        r = h.finalize().to_vec();
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

/// A signed note's tree size and root hash, when a signature line by `log` verifies over it.
fn checkpoint_signed(envelope: &str, log: &super::root::Log) -> Option<(u64, Vec<u8>)> {
    let (note, signatures) = envelope.split_once("\n\n")?;
    let note = format!("{note}\n");
    let mut lines = note.lines();
    let _origin = lines.next()?;
    let size: u64 = lines.next()?.parse().ok()?;
    let root_hash = B64.decode(lines.next()?).ok()?;
    let signed = signatures.lines().any(|line| {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return false;
        };
        let Some(sig) = rest.rsplit(' ').next().and_then(|s| B64.decode(s).ok()) else {
            return false;
        };
        sig.len() > 4 && sig[..4] == log.id[..4] && log_signed(&log.key, note.as_bytes(), &sig[4..])
    });
    signed.then_some((size, root_hash))
}

/// The entry's body names this envelope's payload, signature and certificate.
fn bound(
    opened: &Opened,
    leaf_der: &[u8],
    kind: &KindVersion,
    body: &[u8],
) -> Result<(), KeylessError> {
    let other = KeylessError::OtherEntry;
    let body: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| other("its body is not JSON"))?;
    if body["kind"] != kind.kind.as_str() || body["apiVersion"] != kind.version.as_str() {
        return Err(other("its body is of another kind"));
    }
    let payload_hash = Sha256::digest(&opened.payload).to_vec();
    let envelope_sigs = &opened.signatures;
    let spec = &body["spec"];
    // (payload hash, [(signature, certificate DER)]) as this kind writes them.
    let (hash, signatures): (Option<Vec<u8>>, Vec<(Option<Vec<u8>>, Option<Vec<u8>>)>) =
        match (kind.kind.as_str(), kind.version.as_str()) {
            ("dsse", "0.0.1") => (
                spec["payloadHash"]["value"]
                    .as_str()
                    .and_then(|h| hex::decode(h).ok()),
                array(&spec["signatures"])
                    .map(|s| (b64(&s["signature"]), pem_der(&s["verifier"])))
                    .collect(),
            ),
            ("dsse", "0.0.2") => (
                b64(&spec["dsseV002"]["payloadHash"]["digest"]),
                array(&spec["dsseV002"]["signatures"])
                    .map(|s| {
                        (
                            b64(&s["content"]),
                            b64(&s["verifier"]["x509Certificate"]["rawBytes"]),
                        )
                    })
                    .collect(),
            ),
            ("intoto", "0.0.2") => (
                spec["content"]["payloadHash"]["value"]
                    .as_str()
                    .and_then(|h| hex::decode(h).ok()),
                array(&spec["content"]["envelope"]["signatures"])
                    .map(|s| {
                        // intoto 0.0.2 encodes the signature's base64 once more.
                        let sig =
                            b64(&s["sig"]).and_then(|inner| B64.decode(inner.trim_ascii()).ok());
                        (sig, pem_der(&s["publicKey"]))
                    })
                    .collect(),
            ),
            _ => return Err(other("its kind is not dsse or intoto")),
        };
    if hash.as_deref() != Some(&payload_hash[..]) {
        return Err(other("its payload hash is another payload's"));
    }
    let ours = signatures.iter().any(|(sig, cert)| {
        sig.as_ref().is_some_and(|s| envelope_sigs.contains(s)) && cert.as_deref() == Some(leaf_der)
    });
    if !ours {
        return Err(other("it names another signature or certificate"));
    }
    Ok(())
}

fn array(v: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    v.as_array().into_iter().flatten()
}

fn b64(v: &serde_json::Value) -> Option<Vec<u8>> {
    B64.decode(v.as_str()?).ok()
}

/// A base64 PEM certificate (as Rekor's bodies carry one) as DER.
fn pem_der(v: &serde_json::Value) -> Option<Vec<u8>> {
    let pem = String::from_utf8(b64(v)?).ok()?;
    let inner: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    B64.decode(inner.trim()).ok()
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
