use super::*;
use crate::sign::Key;

fn trust(key: &Key, policy: Policy) -> Trust {
    Trust {
        environment: "prod".into(),
        policy,
        anchor: Anchor::Key(key.verifying()),
        repository: "https://github.com/o/r".into(),
    }
}

fn facts(payload: &[u8]) -> Result<Facts, FactsError> {
    let v: serde_json::Value = serde_json::from_slice(payload)?;
    Ok(Facts {
        repository: v["predicate"]["repository"].as_str().map(String::from),
        commit: v["predicate"]["commit"].as_str().map(String::from),
    })
}

#[test]
fn a_refusal_names_the_service_the_image_the_digest_and_what_is_wrong() {
    let key = Key::generate();
    let digest = format!("sha256:{}", "a".repeat(64));
    let labels = BTreeMap::from([(REVISION.to_string(), "c1".to_string())]);
    let err = judge(
        &trust(&key, Policy::Signature),
        "api",
        "reg.example/api:prod-1.0.0",
        &digest,
        &labels,
        &Commit::Exactly("c1".into()),
        &[],
        &facts,
    )
    .unwrap_err();
    let text = err.to_string();
    for part in ["api", "reg.example/api:prod-1.0.0", &digest, "no signature"] {
        assert!(text.contains(part), "{text}");
    }
    assert!(!err.is_bad_input());
    let signed = key
        .bundle(&bundle::signature_statement("reg.example/api", &digest))
        .to_json();
    assert!(
        judge(
            &trust(&key, Policy::Signature),
            "api",
            "i",
            &digest,
            &labels,
            &Commit::Exactly("c1".into()),
            &[signed],
            &facts
        )
        .is_ok()
    );
}

#[test]
fn provenance_of_an_image_built_from_another_commit_is_refused() {
    let key = Key::generate();
    let digest = format!("sha256:{}", "a".repeat(64));
    let labels = BTreeMap::from([(REVISION.to_string(), "c0".to_string())]);
    let err = judge(
        &trust(&key, Policy::Provenance),
        "api",
        "i",
        &digest,
        &labels,
        &Commit::Exactly("c1".into()),
        &[],
        &facts,
    )
    .unwrap_err();
    assert!(matches!(*err, VerifyError::OtherCommit { .. }), "{err}");
    let moved = judge(
        &trust(&key, Policy::Provenance),
        "api",
        "i",
        &digest,
        &labels,
        &Commit::Labelled {
            fingerprint: Some("fp1".into()),
        },
        &[],
        &facts,
    )
    .unwrap_err();
    assert!(moved.to_string().contains("released inputs fp1"), "{moved}");
}

#[test]
fn the_workflows_of_a_repository_are_its_subject_pattern() {
    assert_eq!(
        workflows_of("https://github.com/acme/shop").as_deref(),
        Some("https://github.com/acme/shop/.github/workflows/*")
    );
    assert_eq!(
        workflows_of("git@github.com:acme/shop.git").as_deref(),
        Some("https://github.com/acme/shop/.github/workflows/*")
    );
    assert_eq!(
        workflows_of("https://ghe.example.com/acme/shop/").as_deref(),
        Some("https://ghe.example.com/acme/shop/.github/workflows/*")
    );
    assert_eq!(workflows_of(""), None);
    assert_eq!(workflows_of("shop"), None);
}
