//! The Sigstore bundle (v0.3, `application/vnd.dev.sigstore.bundle.v0.3+json`) with a DSSE
//! envelope, as cosign writes one for an image in its new bundle format: pure, no I/O.
//!
//! What is signed is an in-toto Statement v1 in a DSSE envelope (`application/vnd.in-toto+json`):
//! for the image signature, cosign's predicate `https://sigstore.dev/cosign/sign/v1` with the
//! image (index) digest as subject; for the provenance, the SLSA provenance v1 statement as it is.
//! The signature is ECDSA P-256 with SHA-256 over DSSE's pre-authentication encoding (PAE),
//! DER-encoded. A bundle signed with a key carries `verificationMaterial.publicKey.hint` (the
//! base64 SHA-256 of the key's DER SubjectPublicKeyInfo) and no transparency log entry.
//!
//! The types are the few fields of sigstore's protobuf-specs JSON that shipit writes and reads;
//! the rest of a bundle (certificates, log entries, timestamps) is kept as JSON.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The media type of the bundles shipit writes, and the artifact type of their referrers.
pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The media types of the bundles shipit reads: its own, and the earlier versions other Sigstore
/// clients wrote (the same fields; v0.1 and v0.2 carry a certificate chain).
pub const READ_MEDIA_TYPES: &[&str] = &[
    MEDIA_TYPE,
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
];
/// DSSE's payload type for an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The in-toto Statement version shipit writes.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// cosign's predicate type for an image signature in a bundle.
pub const COSIGN_SIGN: &str = "https://sigstore.dev/cosign/sign/v1";
/// SLSA provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub media_type: String,
    pub verification_material: Material,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
    /// A bundle over a plain message digest (not what shipit writes or accepts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Material {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<KeyHint>,
    /// A Fulcio certificate (keyless), DER in base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<RawBytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_certificate_chain: Option<serde_json::Value>,
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_verification_data: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyHint {
    pub hint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawBytes {
    pub raw_bytes: String,
}

/// A DSSE envelope, as the bundle's JSON has it (payload and signatures in base64).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub payload: String,
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    pub sig: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
}

/// Why bytes are not a bundle shipit can check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("it is not a Sigstore bundle: {0}")]
    NotJson(String),
    #[error("its media type is `{0}`, not a Sigstore bundle v0.3 (`{MEDIA_TYPE}`)")]
    MediaType(String),
    #[error("it holds no DSSE envelope (a message signature, which shipit does not write)")]
    NoEnvelope,
    #[error("its DSSE payload type is `{0}`, not an in-toto statement (`{IN_TOTO}`)")]
    PayloadType(String),
    #[error("its {0} is not base64")]
    NotBase64(&'static str),
    #[error("its payload is not an in-toto statement: {0}")]
    NotStatement(String),
}

/// DSSE's pre-authentication encoding: what the signature is over.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The hint of a public key in a bundle: base64 of the SHA-256 of its DER SubjectPublicKeyInfo.
pub fn key_hint(spki_der: &[u8]) -> String {
    B64.encode(Sha256::digest(spki_der))
}

/// cosign's image signature statement: `digest` (`sha256:HEX`) of the image at `name` (`host/repo`).
pub fn signature_statement(name: &str, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let statement = serde_json::json!({
        "_type": STATEMENT_V1,
        "subject": [{"name": name, "digest": {"sha256": hex}}],
        "predicateType": COSIGN_SIGN,
        "predicate": {},
    });
    serde_json::to_vec(&statement).expect("a JSON value serialises")
}

/// A bundle of `statement` signed with a key: `signature` (DER) over [`pae`] of it.
pub fn with_key(statement: &[u8], signature: &[u8], hint: &str) -> Bundle {
    Bundle {
        media_type: MEDIA_TYPE.to_string(),
        verification_material: Material {
            public_key: Some(KeyHint {
                hint: hint.to_string(),
            }),
            certificate: None,
            x509_certificate_chain: None,
            tlog_entries: Vec::new(),
            timestamp_verification_data: None,
        },
        dsse_envelope: Some(Envelope {
            payload: B64.encode(statement),
            payload_type: IN_TOTO.to_string(),
            signatures: vec![EnvelopeSignature {
                sig: B64.encode(signature),
                keyid: None,
            }],
        }),
        message_signature: None,
    }
}

/// A bundle read from bytes: its DSSE payload and signatures decoded, its statement's predicate
/// type and subjects read. Nothing is verified yet (see [`crate::sign::check`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub bundle: Bundle,
    /// The bundle's bytes, as read.
    pub raw: Vec<u8>,
    pub payload: Vec<u8>,
    /// DER signatures over [`pae`] of the payload.
    pub signatures: Vec<Vec<u8>>,
    pub predicate_type: String,
    /// `sha256:HEX` of every subject.
    pub subjects: Vec<String>,
}

impl Bundle {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a bundle serialises")
    }
}

/// Reads a bundle: v0.3, a DSSE envelope with an in-toto statement.
pub fn open(bytes: &[u8]) -> Result<Opened, BundleError> {
    let bundle: Bundle =
        serde_json::from_slice(bytes).map_err(|e| BundleError::NotJson(e.to_string()))?;
    if !READ_MEDIA_TYPES.contains(&bundle.media_type.as_str()) {
        return Err(BundleError::MediaType(bundle.media_type));
    }
    let envelope = bundle
        .dsse_envelope
        .as_ref()
        .ok_or(BundleError::NoEnvelope)?;
    if envelope.payload_type != IN_TOTO {
        return Err(BundleError::PayloadType(envelope.payload_type.clone()));
    }
    let payload = B64
        .decode(&envelope.payload)
        .map_err(|_| BundleError::NotBase64("payload"))?;
    let signatures = envelope
        .signatures
        .iter()
        .map(|s| B64.decode(&s.sig))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| BundleError::NotBase64("signature"))?;
    let statement: Statement =
        serde_json::from_slice(&payload).map_err(|e| BundleError::NotStatement(e.to_string()))?;
    let subjects = statement
        .subject
        .iter()
        .filter_map(|s| s.digest.sha256.as_ref())
        .map(|hex| format!("sha256:{}", hex.to_ascii_lowercase()))
        .collect();
    Ok(Opened {
        bundle,
        raw: bytes.to_vec(),
        payload,
        signatures,
        predicate_type: statement.predicate_type,
        subjects,
    })
}

/// The part of an in-toto statement a check needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Statement {
    #[serde(rename = "_type")]
    #[allow(dead_code)]
    kind: String,
    subject: Vec<Subject>,
    predicate_type: String,
}

#[derive(Deserialize)]
struct Subject {
    digest: SubjectDigest,
}

#[derive(Deserialize)]
struct SubjectDigest {
    sha256: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn a_signature_statement_names_the_digest() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let s = signature_statement("reg.example/api", &digest);
        let b = with_key(&s, b"sig", "hint");
        let opened = open(&b.to_json()).unwrap();
        assert_eq!(opened.predicate_type, COSIGN_SIGN);
        assert_eq!(opened.subjects, vec![digest]);
        assert_eq!(opened.signatures, vec![b"sig".to_vec()]);
    }

    #[test]
    fn what_is_not_a_dsse_bundle_is_refused() {
        assert!(matches!(open(b"{"), Err(BundleError::NotJson(_))));
        let mut b = with_key(b"{}", b"s", "h");
        b.media_type = "application/json".into();
        assert!(matches!(open(&b.to_json()), Err(BundleError::MediaType(_))));
        let mut b = with_key(b"{}", b"s", "h");
        b.dsse_envelope = None;
        assert_eq!(open(&b.to_json()), Err(BundleError::NoEnvelope));
        let b = with_key(b"{}", b"s", "h");
        assert!(matches!(
            open(&b.to_json()),
            Err(BundleError::NotStatement(_))
        ));
    }
}

/// A bundle recorded from a real Sigstore client: shipit reads it as it reads its own.
#[cfg(test)]
mod recorded {
    use super::*;
    use p256::pkcs8::DecodePublicKey;

    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/sigstore/a.dsse.sigstore.json");

    /// The P-256 SubjectPublicKeyInfo inside a DER certificate (its fixed 26-byte header, then the
    /// 65-byte point): enough to check the envelope's signature without an X.509 parser.
    fn certificate_key(der: &[u8]) -> p256::ecdsa::VerifyingKey {
        let header: [u8; 26] = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        let at = der
            .windows(header.len())
            .position(|w| w == header)
            .expect("a P-256 key in the certificate");
        p256::ecdsa::VerifyingKey::from_public_key_der(&der[at..at + 91]).unwrap()
    }

    #[test]
    fn a_bundle_recorded_from_sigstore_opens_and_its_signature_verifies() {
        let opened = open(FIXTURE).unwrap();
        assert_eq!(opened.bundle.media_type, MEDIA_TYPE);
        assert_eq!(opened.predicate_type, SLSA_PROVENANCE_V1);
        assert_eq!(opened.subjects.len(), 1);
        assert!(opened.subjects[0].starts_with("sha256:"));
        let material = &opened.bundle.verification_material;
        assert!(material.public_key.is_none());
        assert_eq!(material.tlog_entries.len(), 1);
        let certificate = B64
            .decode(&material.certificate.as_ref().unwrap().raw_bytes)
            .unwrap();
        let key = certificate_key(&certificate);
        // The same PAE and signature encoding as shipit's own bundles.
        assert!(crate::sign::check::signed_by(&opened, &key));
        assert!(!crate::sign::check::signed_by(
            &opened,
            &crate::sign::Key::generate().verifying()
        ));
        // What shipit writes has the same shape: it serialises back to the fields it read.
        let again: serde_json::Value = serde_json::from_slice(&opened.bundle.to_json()).unwrap();
        let recorded: serde_json::Value = serde_json::from_slice(FIXTURE).unwrap();
        assert_eq!(again["dsseEnvelope"], recorded["dsseEnvelope"]);
        assert_eq!(
            again["verificationMaterial"],
            recorded["verificationMaterial"]
        );
    }
}
