//! The rules written once above the backends, on clients that make no call (nothing here needs
//! the network: an OCI registry's untag is refused before any request).

use super::Client;
use crate::github::Env;
use crate::retention::{Decision, Image};

fn oci() -> Client {
    Client::oci("127.0.0.1:9", None, &Env::from_pairs([])).unwrap()
}

fn ecr() -> Client {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    Client::ecr(&sdk)
}

fn untag() -> Vec<Decision> {
    vec![Decision::Untag {
        digest: "sha256:a".into(),
        tags: vec!["stage-0.1.0".into()],
        why: "expired".into(),
    }]
}

#[test]
fn an_oci_registry_keeps_an_image_whose_tag_cannot_go_alone() {
    let images = [Image {
        digest: "sha256:a".into(),
        tags: vec!["stage-0.1.0".into(), "prod-0.1.0".into()],
    }];
    let mut decisions = untag();
    oci().feasible(&mut decisions, &images);
    assert_eq!(
        decisions,
        [Decision::Keep {
            digest: "sha256:a".into(),
            tags: vec!["stage-0.1.0".into(), "prod-0.1.0".into()],
            why: "stage-0.1.0 expired, but an OCI registry cannot remove a single tag".into(),
        }]
    );
    let mut decisions = untag();
    ecr().feasible(&mut decisions, &images);
    assert_eq!(decisions, untag(), "ECR deletes a tag alone");
}

#[test]
fn an_untag_an_oci_registry_cannot_do_is_reported_not_sent() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Port 9 (discard) on loopback: any request would fail, so an answer proves none was made.
    let not_done = rt.block_on(oci().remove("api", &untag())).unwrap();
    assert_eq!(
        not_done,
        [
            "stage-0.1.0 on sha256:a: an OCI registry cannot remove a single tag; the image stays for its other tags"
        ]
    );
}

#[test]
fn only_ecr_refuses_a_second_writer_itself() {
    assert!(ecr().guards_tags());
    assert!(!oci().guards_tags());
}

#[test]
fn an_index_is_deleted_before_the_images_it_lists() {
    let children: std::collections::BTreeMap<String, Vec<String>> = [
        (
            "index".to_string(),
            vec!["a".to_string(), "nested".to_string()],
        ),
        ("nested".to_string(), vec!["b".to_string()]),
    ]
    .into_iter()
    .collect();
    let rounds = super::deletion_order(&["a", "b", "index", "nested", "plain"], &children);
    assert_eq!(
        rounds,
        vec![vec!["index", "plain"], vec!["a", "nested"], vec!["b"]]
    );
    assert_eq!(
        super::deletion_order(&["a"], &Default::default()),
        vec![vec!["a"]]
    );
}
