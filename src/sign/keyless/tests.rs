use super::*;
use crate::sign::bundle;
use crate::sign::root::TrustedRoot;

const NPM: &[u8] =
    include_bytes!("../../../tests/fixtures/sigstore/npm-sigstore-3.1.0.sigstore.json");
const STAGING: &[u8] = include_bytes!("../../../tests/fixtures/sigstore/a.dsse.sigstore.json");
const WORKFLOW: &str =
    "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main";

fn policy(issuer: &str, subject: &str) -> Policy {
    Policy {
        root: TrustedRoot::public_good(),
        identity: Identity {
            issuer: issuer.into(),
            subject: subject.into(),
        },
    }
}

fn github(subject: &str) -> Policy {
    policy(GITHUB_ISSUER, subject)
}

/// The recorded bundle with `change` made to its JSON.
fn changed(change: impl FnOnce(&mut serde_json::Value)) -> Opened {
    let mut v: serde_json::Value = serde_json::from_slice(NPM).unwrap();
    change(&mut v);
    bundle::open(&serde_json::to_vec(&v).unwrap()).unwrap()
}

fn entry(v: &mut serde_json::Value) -> &mut serde_json::Value {
    &mut v["verificationMaterial"]["tlogEntries"][0]
}

/// `s` with one base64 character changed, so that it decodes to other bytes.
fn flip(s: &str, at: usize) -> String {
    let mut c: Vec<char> = s.chars().collect();
    c[at] = if c[at] == 'A' { 'B' } else { 'A' };
    c.into_iter().collect()
}

#[test]
fn a_bundle_signed_on_github_actions_verifies_against_the_public_good_root() {
    let opened = bundle::open(NPM).unwrap();
    let signed = verify(&opened, &github(WORKFLOW)).unwrap();
    assert_eq!(
        signed,
        Signed {
            issuer: GITHUB_ISSUER.into(),
            subject: WORKFLOW.into(),
            time: 1_738_701_347,
            log_index: 168_704_762,
        }
    );
    let any_workflow = github("https://github.com/sigstore/sigstore-js/.github/workflows/*");
    assert!(verify(&opened, &any_workflow).is_ok());
}

#[test]
fn another_identity_is_refused_and_named() {
    let opened = bundle::open(NPM).unwrap();
    let other_repo = github("https://github.com/acme/shop/.github/workflows/*");
    let err = verify(&opened, &other_repo).unwrap_err();
    assert!(
        matches!(&err, KeylessError::OtherIdentity { found, .. } if found.contains(WORKFLOW)),
        "{err}"
    );
    let other_branch = github(
        "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/dev",
    );
    assert!(matches!(
        verify(&opened, &other_branch),
        Err(KeylessError::OtherIdentity { .. })
    ));
    let other_issuer = policy("https://accounts.google.com", WORKFLOW);
    assert!(matches!(
        verify(&opened, &other_issuer),
        Err(KeylessError::OtherIdentity { .. })
    ));
}

#[test]
fn each_tampering_is_refused() {
    let p = github(WORKFLOW);
    let statement =
        bundle::signature_statement("reg.example/api", &format!("sha256:{}", "a".repeat(64)));
    let other_payload = changed(|v| {
        v["dsseEnvelope"]["payload"] = B64.encode(&statement).into();
    });
    assert_eq!(verify(&other_payload, &p), Err(KeylessError::BadSignature));
    let set = changed(|v| {
        let s = entry(v)["inclusionPromise"]["signedEntryTimestamp"]
            .as_str()
            .unwrap()
            .to_string();
        entry(v)["inclusionPromise"]["signedEntryTimestamp"] = flip(&s, 20).into();
    });
    assert_eq!(verify(&set, &p), Err(KeylessError::BadPromise));
    let time = changed(|v| entry(v)["integratedTime"] = "1738701348".into());
    assert_eq!(verify(&time, &p), Err(KeylessError::BadPromise));
    let body = changed(|v| {
        let s = entry(v)["canonicalizedBody"].as_str().unwrap().to_string();
        entry(v)["canonicalizedBody"] = flip(&s, 40).into();
    });
    assert_eq!(verify(&body, &p), Err(KeylessError::BadPromise));
    let proof = changed(|v| {
        let h = entry(v)["inclusionProof"]["hashes"][3]
            .as_str()
            .unwrap()
            .to_string();
        entry(v)["inclusionProof"]["hashes"][3] = flip(&h, 5).into();
    });
    assert!(matches!(verify(&proof, &p), Err(KeylessError::BadProof(_))));
    let checkpoint = changed(|v| {
        let c = entry(v)["inclusionProof"]["checkpoint"]["envelope"]
            .as_str()
            .unwrap();
        let c = c.replace("46800506\n", "46800507\n");
        entry(v)["inclusionProof"]["checkpoint"]["envelope"] = c.into();
    });
    assert!(matches!(
        verify(&checkpoint, &p),
        Err(KeylessError::BadProof(_))
    ));
    let unknown = changed(|v| entry(v)["logId"]["keyId"] = B64.encode([7u8; 32]).into());
    assert!(matches!(
        verify(&unknown, &p),
        Err(KeylessError::UnknownLog(_))
    ));
    let unlogged = changed(|v| v["verificationMaterial"]["tlogEntries"] = serde_json::json!([]));
    assert_eq!(verify(&unlogged, &p), Err(KeylessError::NoLogEntry));
    let unpromised = changed(|v| {
        entry(v).as_object_mut().unwrap().remove("inclusionPromise");
    });
    assert_eq!(verify(&unpromised, &p), Err(KeylessError::NoPromise));
    let keyed = crate::sign::Key::generate().bundle(&statement);
    let keyed = bundle::open(&keyed.to_json()).unwrap();
    assert_eq!(verify(&keyed, &p), Err(KeylessError::NoCertificate));
}

#[test]
fn a_certificate_outside_the_trusted_root_is_refused() {
    let opened = bundle::open(NPM).unwrap();
    let mut p = github(WORKFLOW);
    for a in &mut p.root.authorities {
        a.valid.start = 1_800_000_000;
    }
    assert_eq!(verify(&opened, &p), Err(KeylessError::Untrusted));
    let mut p = github(WORKFLOW);
    for a in &mut p.root.authorities {
        a.chain.truncate(1);
        a.chain[0] = leaf(&opened).unwrap();
    }
    assert_eq!(verify(&opened, &p), Err(KeylessError::Untrusted));
    // Sigstore's staging instance is not the public-good one.
    let staging = bundle::open(STAGING).unwrap();
    assert_eq!(
        verify(&staging, &policy("https://accounts.google.com", "*")),
        Err(KeylessError::Untrusted)
    );
}

#[test]
fn subjects_match_with_wildcards() {
    assert!(matches("a", "a"));
    assert!(!matches("a", "ab"));
    assert!(matches("a*", "ab/c"));
    assert!(matches("*c", "abc"));
    assert!(matches("a*c*e", "abcde"));
    assert!(!matches("a*c*e", "abcd"));
    assert!(!matches("ab*ba", "aba"));
    assert!(matches("*", ""));
}

fn leaf_hash(i: usize) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(i.to_be_bytes());
    h.finalize().to_vec()
}

fn node(l: &[u8], r: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().to_vec()
}

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962's MTH over leaves `from..to`.
fn mth(from: usize, to: usize) -> Vec<u8> {
    if to - from == 1 {
        return leaf_hash(from);
    }
    let k = split(to - from);
    node(&mth(from, from + k), &mth(from + k, to))
}

/// RFC 6962's PATH of leaf `m` in leaves `from..to`.
fn path(m: usize, from: usize, to: usize) -> Vec<Vec<u8>> {
    if to - from == 1 {
        return Vec::new();
    }
    let k = split(to - from);
    if m < from + k {
        let mut p = path(m, from, from + k);
        p.push(mth(from + k, to));
        p
    } else {
        let mut p = path(m, from + k, to);
        p.push(mth(from, from + k));
        p
    }
}

#[test]
fn inclusion_proofs_lead_to_the_root_of_every_tree_and_only_there() {
    for size in 1..=17usize {
        let root = mth(0, size);
        for m in 0..size {
            let proof = path(m, 0, size);
            assert_eq!(
                root_from_proof(m as u64, size as u64, leaf_hash(m), &proof),
                Some(root.clone()),
                "leaf {m} of {size}"
            );
            assert_ne!(
                root_from_proof(m as u64, size as u64, leaf_hash(m + 1), &proof),
                Some(root.clone())
            );
            if size > 1 {
                assert_ne!(
                    root_from_proof(((m + 1) % size) as u64, size as u64, leaf_hash(m), &proof),
                    Some(root.clone()),
                    "leaf {m} of {size} at another index"
                );
            }
        }
        assert_eq!(
            root_from_proof(size as u64, size as u64, leaf_hash(0), &[]),
            None
        );
    }
}
