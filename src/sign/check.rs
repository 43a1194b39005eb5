//! The decision before a rollout, pure: given the bundles attached to an image digest and the
//! trust anchor, is the digest signed by it, and (for `verify = "provenance"`) does a provenance
//! signed by it name this repository and the expected commit? No I/O: the caller fetched the
//! bundles ([`super::Referrers`]) and says how a provenance statement reads ([`Facts`]).

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};

use super::bundle::{self, BundleError, COSIGN_SIGN, Opened, SLSA_PROVENANCE_V1};
use super::keyless;

pub use crate::config::Policy;

/// Who must have signed: the holder of a key, or a keyless identity (a Fulcio certificate for an
/// OIDC issuer and subject, logged in Rekor, under a trusted root).
#[derive(Debug, Clone)]
pub enum Anchor {
    Key(VerifyingKey),
    Identity(Box<keyless::Policy>),
}

impl Anchor {
    /// Why `opened` is not signed by this anchor, if it is not.
    pub fn refuses(&self, opened: &Opened) -> Option<String> {
        match self {
            Anchor::Key(key) => (!signed_by(opened, key)).then(|| "by another key".to_string()),
            Anchor::Identity(policy) => {
                keyless::verify(opened, policy).err().map(|e| e.to_string())
            }
        }
    }

    fn is_key(&self) -> bool {
        matches!(self, Anchor::Key(_))
    }
}

/// What the image must be.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// `sha256:HEX` of the image (index) the task definition will pin.
    pub digest: &'a str,
    /// This repository (`https://github.com/OWNER/REPO`, a remote URL, or `OWNER/REPO`).
    pub repository: &'a str,
    /// The commit the image must have been built from.
    pub commit: &'a str,
}

/// What a provenance statement says about where the image came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub repository: Option<String>,
    pub commit: Option<String>,
}

/// Why a provenance statement could not be read (the reader's own error).
pub type FactsError = Box<dyn std::error::Error + Send + Sync>;

/// What was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub digest: String,
    /// The commit a checked provenance names (`verify = "provenance"`).
    pub commit: Option<String>,
}

/// Why an image may not run, in words that finish "… because …".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no signature is attached to it")]
    NoSignature,
    #[error("its signatures are not signed by the trusted key ({count} found, by another key)")]
    OtherKey { count: usize },
    #[error("its signatures are not by the trusted identity ({count} found; the first: {why})")]
    OtherSigner { count: usize, why: String },
    #[error("the signature by the trusted key is over another digest ({others})")]
    OtherDigest { others: String },
    #[error("an attached bundle cannot be read: {0}")]
    Unreadable(BundleError),
    #[error("no provenance signed by the trusted key is attached to it")]
    NoProvenance,
    #[error("the signed provenance is over another digest ({others})")]
    ProvenanceOtherDigest { others: String },
    #[error("the signed provenance cannot be read: {0}")]
    ProvenanceUnreadable(String),
    #[error("the signed provenance names the repository {found}, not {wanted}")]
    OtherRepository { found: String, wanted: String },
    #[error("the signed provenance names the commit {found}, not {wanted}")]
    OtherCommit { found: String, wanted: String },
}

/// True when one of the envelope's signatures verifies with `key` over DSSE's PAE of the payload.
pub fn signed_by(opened: &Opened, key: &VerifyingKey) -> bool {
    let Some(envelope) = &opened.bundle.dsse_envelope else {
        return false;
    };
    let message = bundle::pae(&envelope.payload_type, &opened.payload);
    opened.signatures.iter().any(|der| {
        Signature::from_der(der)
            .map(|s| s.normalize_s().unwrap_or(s))
            .is_ok_and(|s| key.verify(&message, &s).is_ok())
    })
}

/// The decision over every bundle attached to `expected.digest` (their bytes, as fetched).
pub fn decide(
    policy: Policy,
    anchor: &Anchor,
    expected: &Expected<'_>,
    bundles: &[Vec<u8>],
    facts: &dyn Fn(&[u8]) -> Result<Facts, FactsError>,
) -> Result<Verified, Refusal> {
    let mut unreadable = None;
    let mut opened = Vec::new();
    for b in bundles {
        match bundle::open(b) {
            Ok(o) => opened.push(o),
            Err(e) => unreadable = unreadable.or(Some(e)),
        }
    }
    find(&opened, anchor, expected.digest, COSIGN_SIGN).map_err(|miss| match miss {
        Miss::None => unreadable
            .clone()
            .map_or(Refusal::NoSignature, Refusal::Unreadable),
        Miss::OtherKey(count, _) if anchor.is_key() => Refusal::OtherKey { count },
        Miss::OtherKey(count, why) => Refusal::OtherSigner { count, why },
        Miss::OtherDigest(others) => Refusal::OtherDigest { others },
    })?;
    let mut verified = Verified {
        digest: expected.digest.to_string(),
        commit: None,
    };
    if policy == Policy::Signature {
        return Ok(verified);
    }
    let provenances =
        find(&opened, anchor, expected.digest, SLSA_PROVENANCE_V1).map_err(|miss| match miss {
            Miss::None | Miss::OtherKey(..) => Refusal::NoProvenance,
            Miss::OtherDigest(others) => Refusal::ProvenanceOtherDigest { others },
        })?;
    let mut first_problem = None;
    for p in provenances {
        let f = match facts(&p.payload) {
            Ok(f) => f,
            Err(why) => {
                first_problem.get_or_insert(Refusal::ProvenanceUnreadable(why.to_string()));
                continue;
            }
        };
        let repository = f.repository.unwrap_or_default();
        if !same_repository(&repository, expected.repository) {
            first_problem.get_or_insert(Refusal::OtherRepository {
                found: if repository.is_empty() {
                    "none".into()
                } else {
                    repository
                },
                wanted: expected.repository.to_string(),
            });
            continue;
        }
        let commit = f.commit.unwrap_or_default();
        if !commit.eq_ignore_ascii_case(expected.commit) {
            first_problem.get_or_insert(Refusal::OtherCommit {
                found: if commit.is_empty() {
                    "none".into()
                } else {
                    commit
                },
                wanted: expected.commit.to_string(),
            });
            continue;
        }
        verified.commit = Some(commit);
        return Ok(verified);
    }
    Err(first_problem.unwrap_or(Refusal::NoProvenance))
}

enum Miss {
    None,
    /// How many were of the type, and why the first was refused.
    OtherKey(usize, String),
    OtherDigest(String),
}

/// The bundles of `predicate_type` signed by `anchor` over `digest`, or why there are none.
fn find<'a>(
    opened: &'a [Opened],
    anchor: &Anchor,
    digest: &str,
    predicate_type: &str,
) -> Result<Vec<&'a Opened>, Miss> {
    let of_type: Vec<&Opened> = opened
        .iter()
        .filter(|o| o.predicate_type == predicate_type)
        .collect();
    let mut first_refusal = None;
    let signed: Vec<&Opened> = of_type
        .iter()
        .copied()
        .filter(|o| match anchor.refuses(o) {
            None => true,
            Some(why) => {
                first_refusal.get_or_insert(why);
                false
            }
        })
        .collect();
    let over: Vec<&Opened> = signed
        .iter()
        .copied()
        .filter(|o| o.subjects.iter().any(|s| s == digest))
        .collect();
    match (over.is_empty(), signed.is_empty(), of_type.is_empty()) {
        (false, _, _) => Ok(over),
        (true, false, _) => {
            let mut others: Vec<&str> = signed
                .iter()
                .flat_map(|o| o.subjects.iter().map(String::as_str))
                .collect();
            others.dedup();
            Err(Miss::OtherDigest(others.join(", ")))
        }
        (true, true, false) => Err(Miss::OtherKey(
            of_type.len(),
            first_refusal.unwrap_or_default(),
        )),
        (true, true, true) => Err(Miss::None),
    }
}

/// `https://github.com/o/r`, `git+https://github.com/o/r.git@refs/…`, `git@github.com:o/r.git` and
/// `o/r` name one repository when their last two path components agree (case-insensitively, as
/// GitHub's names do) and, where both name a host, the hosts agree.
pub fn same_repository(a: &str, b: &str) -> bool {
    let (ha, pa) = split_repository(a);
    let (hb, pb) = split_repository(b);
    !pa.is_empty()
        && pa.eq_ignore_ascii_case(&pb)
        && (ha.is_empty() || hb.is_empty() || ha.eq_ignore_ascii_case(&hb))
}

pub fn split_repository(s: &str) -> (String, String) {
    let s = s.trim().trim_start_matches("git+");
    let s = s
        .split('@')
        .next()
        .filter(|_| s.contains("://"))
        .unwrap_or(s);
    let s = s.trim_end_matches('/').trim_end_matches(".git");
    let (host, path) = match s.split_once("://") {
        Some((_, rest)) => rest.split_once('/').unwrap_or((rest, "")),
        None => match s.split_once(':') {
            // scp-like: git@github.com:o/r
            Some((h, p)) if h.contains('.') => (h.rsplit('@').next().unwrap_or(h), p),
            _ => ("", s),
        },
    };
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let tail = parts[parts.len().saturating_sub(2)..].join("/");
    (host.to_string(), tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::Key;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn provenance(digest: &str, commit: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "_type": bundle::STATEMENT_V1,
            "subject": [{"name": "x", "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
            "predicateType": SLSA_PROVENANCE_V1,
            "predicate": {"repository": "https://github.com/o/r", "commit": commit},
        }))
        .unwrap()
    }

    fn facts(payload: &[u8]) -> Result<Facts, FactsError> {
        let v: serde_json::Value = serde_json::from_slice(payload)?;
        Ok(Facts {
            repository: v["predicate"]["repository"].as_str().map(String::from),
            commit: v["predicate"]["commit"].as_str().map(String::from),
        })
    }

    fn expected(d: &str) -> Expected<'_> {
        Expected {
            digest: d,
            repository: "o/r",
            commit: "c1",
        }
    }

    #[test]
    fn a_signature_by_the_key_over_the_digest_passes_and_nothing_else() {
        let key = Key::generate();
        let other = Key::generate();
        let d = digest('a');
        let signed = key
            .bundle(&bundle::signature_statement("r/x", &d))
            .to_json();
        let pk = Anchor::Key(key.verifying());
        let decide =
            |bundles: &[Vec<u8>]| decide(Policy::Signature, &pk, &expected(&d), bundles, &facts);
        assert!(decide(std::slice::from_ref(&signed)).is_ok());
        assert_eq!(decide(&[]), Err(Refusal::NoSignature));
        let by_other = other
            .bundle(&bundle::signature_statement("r/x", &d))
            .to_json();
        assert_eq!(decide(&[by_other]), Err(Refusal::OtherKey { count: 1 }));
        let elsewhere = key
            .bundle(&bundle::signature_statement("r/x", &digest('b')))
            .to_json();
        assert_eq!(
            decide(&[elsewhere]),
            Err(Refusal::OtherDigest {
                others: digest('b')
            })
        );
        assert!(matches!(
            decide(&[b"{".to_vec()]),
            Err(Refusal::Unreadable(_))
        ));
        // A payload changed after signing no longer verifies.
        let mut tampered: bundle::Bundle = serde_json::from_slice(&signed).unwrap();
        let statement = bundle::signature_statement("r/x", &digest('b'));
        tampered.dsse_envelope.as_mut().unwrap().payload =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, statement);
        assert_eq!(
            decide(&[tampered.to_json()]),
            Err(Refusal::OtherKey { count: 1 })
        );
    }

    #[test]
    fn a_provenance_must_name_the_repository_and_the_commit() {
        let key = Key::generate();
        let pk = Anchor::Key(key.verifying());
        let d = digest('a');
        let signature = key
            .bundle(&bundle::signature_statement("r/x", &d))
            .to_json();
        let decide =
            |bundles: &[Vec<u8>]| decide(Policy::Provenance, &pk, &expected(&d), bundles, &facts);
        assert_eq!(
            decide(std::slice::from_ref(&signature)),
            Err(Refusal::NoProvenance)
        );
        let good = key.bundle(&provenance(&d, "c1")).to_json();
        assert_eq!(
            decide(&[signature.clone(), good])
                .unwrap()
                .commit
                .as_deref(),
            Some("c1")
        );
        let old = key.bundle(&provenance(&d, "c0")).to_json();
        assert_eq!(
            decide(&[signature.clone(), old]),
            Err(Refusal::OtherCommit {
                found: "c0".into(),
                wanted: "c1".into()
            })
        );
        let unsigned = Key::generate().bundle(&provenance(&d, "c1")).to_json();
        assert_eq!(decide(&[signature, unsigned]), Err(Refusal::NoProvenance));
    }

    #[test]
    fn repositories_compare_by_owner_and_name() {
        assert!(same_repository("https://github.com/O/R", "o/r"));
        assert!(same_repository(
            "git+https://github.com/o/r.git@refs/heads/main",
            "https://github.com/o/r"
        ));
        assert!(same_repository(
            "git@github.com:o/r.git",
            "https://github.com/o/r"
        ));
        assert!(!same_repository(
            "https://github.com/o/r",
            "https://github.com/o/s"
        ));
        assert!(!same_repository(
            "https://gitlab.com/o/r",
            "https://github.com/o/r"
        ));
        assert!(!same_repository("", "o/r"));
    }
}
