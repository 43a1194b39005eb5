//! Referrers (provenance, SBOM, signatures attached to an image) in retention: they are never
//! versions of their own and never kept for themselves; they go with their subject and stay with
//! it.
//!
//! Order: the subject first, then the referrers tag schema's index (`sha256-<hex>`), then the
//! artifacts. The index lists the artifacts, so ECR refuses to delete an artifact before the
//! index that references it (`ImageReferencedByManifestList`); and a removal that stops half-way
//! leaves artifacts whose subject is gone (garbage a later run or the registry clears), never a
//! kept image stripped of its signature or provenance.

use std::collections::{BTreeMap, BTreeSet};

use super::Decision;

/// What refers to one subject: the tag schema's index (where the registry has no referrers API)
/// and the artifacts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attached {
    /// The digest of the index tagged `sha256-<hex>`, and its tags.
    pub index: Option<(String, Vec<String>)>,
    pub artifacts: Vec<String>,
}

/// Rewrites `decisions` so that the referrers of each subject in `referrers` follow it: deleted
/// after a subject that is deleted, kept with one that stays (or that is not listed: an index's
/// child, or an image retention does not see). Artifacts the registry does not list (an OCI
/// registry lists tags only) get decisions of their own. The order is the one to remove in:
/// every other decision, then the indexes, then the artifacts.
pub fn follow_subjects(
    decisions: Vec<Decision>,
    referrers: &BTreeMap<String, Attached>,
) -> Vec<Decision> {
    let of_referrers: BTreeSet<&str> = referrers
        .values()
        .flat_map(|a| {
            a.index
                .iter()
                .map(|(d, _)| d.as_str())
                .chain(a.artifacts.iter().map(String::as_str))
        })
        .collect();
    let listed: BTreeMap<String, Vec<String>> = decisions
        .iter()
        .map(|d| (d.digest().to_string(), tags_of(d).to_vec()))
        .collect();
    let (rest, _): (Vec<Decision>, Vec<Decision>) = decisions
        .into_iter()
        .partition(|d| !of_referrers.contains(d.digest()));
    let mut indexes = Vec::new();
    let mut artifacts = Vec::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    for (subject, attached) in referrers {
        let fate = rest.iter().find(|d| d.digest() == subject);
        let decide = |digest: &str, tags: Vec<String>| match fate {
            Some(Decision::Delete { .. }) => Decision::Delete {
                digest: digest.to_string(),
                tags,
                why: format!("a referrer of {subject}, which goes"),
            },
            Some(_) => Decision::Keep {
                digest: digest.to_string(),
                tags,
                why: format!("a referrer of {subject}, which stays"),
            },
            None => Decision::Keep {
                digest: digest.to_string(),
                tags,
                why: format!("a referrer of {subject}, which retention does not list"),
            },
        };
        if let Some((digest, tags)) = &attached.index
            && done.insert(digest.clone())
        {
            indexes.push(decide(digest, tags.clone()));
        }
        for digest in &attached.artifacts {
            if done.insert(digest.clone()) {
                let tags = listed.get(digest).cloned().unwrap_or_default();
                artifacts.push(decide(digest, tags));
            }
        }
    }
    rest.into_iter().chain(indexes).chain(artifacts).collect()
}

fn tags_of(d: &Decision) -> &[String] {
    match d {
        Decision::Delete { tags, .. }
        | Decision::Untag { tags, .. }
        | Decision::Keep { tags, .. } => tags,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Image, Policy, Protected, decide};
    use super::*;

    fn img(digest: &str, tags: &[&str]) -> Image {
        Image {
            digest: digest.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn referrers_go_with_their_subject_after_it_and_stay_with_a_kept_one() {
        let images = vec![
            img("old", &["prod-1.0.0", "fp-a"]),
            img("new", &["prod-1.1.0", "fp-b"]),
            img("idx-old", &["sha256-old"]),
            img("idx-new", &["sha256-new"]),
            // On ECR the artifacts are listed, untagged.
            img("prov-new", &[]),
        ];
        let envs = vec!["prod".to_string()];
        let d = decide(
            &images,
            &Protected::default(),
            &Policy {
                environments: &envs,
                prune: &envs,
                retain: 1,
            },
        );
        let referrers = BTreeMap::from([
            (
                "old".to_string(),
                Attached {
                    index: Some(("idx-old".into(), vec!["sha256-old".into()])),
                    artifacts: vec!["prov-old".into(), "sbom-old".into()],
                },
            ),
            (
                "new".to_string(),
                Attached {
                    index: Some(("idx-new".into(), vec!["sha256-new".into()])),
                    artifacts: vec!["prov-new".into()],
                },
            ),
        ]);
        let d = follow_subjects(d, &referrers);
        let order: Vec<(&str, bool)> = d
            .iter()
            .map(|x| (x.digest(), matches!(x, Decision::Delete { .. })))
            .collect();
        assert_eq!(
            order,
            [
                ("old", true),
                ("new", false),
                ("idx-new", false),
                ("idx-old", true),
                ("prov-new", false),
                ("prov-old", true),
                ("sbom-old", true),
            ]
        );
        // No referrer is a version: the versions counted are the images'.
        let versions = d
            .iter()
            .filter(|x| matches!(x, Decision::Keep { why, .. } if why.starts_with("among")))
            .count();
        assert_eq!(versions, 1);
    }

    #[test]
    fn a_referrer_of_an_image_retention_does_not_list_stays() {
        let d = vec![Decision::Delete {
            digest: "art".into(),
            tags: vec![],
            why: "untagged, and nothing runs it".into(),
        }];
        let referrers = BTreeMap::from([(
            "child".to_string(),
            Attached {
                index: None,
                artifacts: vec!["art".into()],
            },
        )]);
        let d = follow_subjects(d, &referrers);
        assert!(matches!(&d[..], [Decision::Keep { .. }]), "{d:?}");
    }
}
