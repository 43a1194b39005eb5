use super::*;
use crate::sign::bundle;
use sha2::{Digest, Sha256};

const NPM: &[u8] =
    include_bytes!("../../../tests/fixtures/sigstore/npm-sigstore-3.1.0.sigstore.json");
const STAGING: &[u8] = include_bytes!("../../../tests/fixtures/sigstore/a.dsse.sigstore.json");
const WORKFLOW: &str =
    "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main";

fn policy(issuer: &str, subject: &str) -> Policy {
    Policy {
        root: crate::sign::root::public_good(),
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
            time: Some(1_738_701_347),
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

/// A refusal by the verifier, with what it said.
fn refused(opened: &Opened, p: &Policy) -> String {
    match verify(opened, p) {
        Err(KeylessError::Refused(why)) => why,
        other => panic!("not refused by the verifier: {other:?}"),
    }
}

#[test]
fn each_tampering_is_refused() {
    let p = github(WORKFLOW);
    let statement =
        bundle::signature_statement("reg.example/api", &format!("sha256:{}", "a".repeat(64)));
    let other_payload = changed(|v| {
        v["dsseEnvelope"]["payload"] = B64.encode(&statement).into();
    });
    refused(&other_payload, &p);
    let set = changed(|v| {
        let s = entry(v)["inclusionPromise"]["signedEntryTimestamp"]
            .as_str()
            .unwrap()
            .to_string();
        entry(v)["inclusionPromise"]["signedEntryTimestamp"] = flip(&s, 20).into();
    });
    refused(&set, &p);
    let time = changed(|v| entry(v)["integratedTime"] = "1738701348".into());
    refused(&time, &p);
    let body = changed(|v| {
        let s = entry(v)["canonicalizedBody"].as_str().unwrap().to_string();
        entry(v)["canonicalizedBody"] = flip(&s, 40).into();
    });
    refused(&body, &p);
    let proof = changed(|v| {
        let h = entry(v)["inclusionProof"]["hashes"][3]
            .as_str()
            .unwrap()
            .to_string();
        entry(v)["inclusionProof"]["hashes"][3] = flip(&h, 5).into();
    });
    refused(&proof, &p);
    let checkpoint = changed(|v| {
        let c = entry(v)["inclusionProof"]["checkpoint"]["envelope"]
            .as_str()
            .unwrap();
        let c = c.replace("46800506\n", "46800507\n");
        entry(v)["inclusionProof"]["checkpoint"]["envelope"] = c.into();
    });
    refused(&checkpoint, &p);
    let unknown = changed(|v| entry(v)["logId"]["keyId"] = B64.encode([7u8; 32]).into());
    refused(&unknown, &p);
    let unlogged = changed(|v| v["verificationMaterial"]["tlogEntries"] = serde_json::json!([]));
    assert!(verify(&unlogged, &p).is_err());
    let keyed = crate::sign::Key::generate().bundle(&statement);
    let keyed = bundle::open(&keyed.to_json()).unwrap();
    assert_eq!(verify(&keyed, &p), Err(KeylessError::NoCertificate));
}

#[test]
fn a_certificate_outside_the_trusted_root_is_refused() {
    let opened = bundle::open(NPM).unwrap();
    // The public-good root with its certificate authorities valid only from 2030 on.
    let mut root: serde_json::Value =
        serde_json::from_str(sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT)
            .unwrap();
    for ca in root["certificateAuthorities"].as_array_mut().unwrap() {
        ca["validFor"] = serde_json::json!({"start": "2030-01-01T00:00:00Z"});
    }
    let p = Policy {
        root: crate::sign::root::parse(&serde_json::to_vec(&root).unwrap()).unwrap(),
        identity: github(WORKFLOW).identity,
    };
    refused(&opened, &p);
    // Sigstore's staging instance is not the public-good one.
    let staging = bundle::open(STAGING).unwrap();
    assert!(verify(&staging, &policy("https://accounts.google.com", "*")).is_err());
    // The log's key of another instance: the entry does not verify.
    let mut root: serde_json::Value =
        serde_json::from_str(sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT)
            .unwrap();
    let other = Sha256::digest(b"another log");
    for log in root["tlogs"].as_array_mut().unwrap() {
        log["logId"]["keyId"] = B64.encode(other).into();
    }
    let p = Policy {
        root: crate::sign::root::parse(&serde_json::to_vec(&root).unwrap()).unwrap(),
        identity: github(WORKFLOW).identity,
    };
    refused(&opened, &p);
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
