//! Retention as a pure choice: a repository's images, what is protected, and the policy in; what to
//! remove and why every survivor stays out. No registry and no ECS here.
//!
//! Per environment the newest `retain` versions (by semver) are kept. Never touched: an image that
//! any ECS service runs, the one tagged `latest`, and what this run pushed. An expired version tag on
//! an image that still carries a kept tag (of another environment, or a tag shipit does not manage)
//! is removed alone; an image left with nothing but expired versions and its fingerprint goes whole.

use std::collections::{BTreeMap, BTreeSet};

use semver::Version;
use serde::Serialize;

use crate::version;

pub mod referrers;

/// One image of a repository: its digest and every tag on it (none for an untagged image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub digest: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Policy<'a> {
    /// The environment names (tag prefixes) of the project.
    pub environments: &'a [String],
    /// The environments being pruned (all of them, or `--env E`).
    pub prune: &'a [String],
    pub retain: usize,
}

/// What one image comes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// Delete the image (and every tag on it).
    Delete {
        digest: String,
        tags: Vec<String>,
        why: String,
    },
    /// Remove these tags; the image stays for its other tags.
    Untag {
        digest: String,
        tags: Vec<String>,
        why: String,
    },
    /// Leave it as it is.
    Keep {
        digest: String,
        tags: Vec<String>,
        why: String,
    },
}

impl Decision {
    pub fn digest(&self) -> &str {
        match self {
            Decision::Delete { digest, .. }
            | Decision::Untag { digest, .. }
            | Decision::Keep { digest, .. } => digest,
        }
    }
}

/// Why an image is protected, if it is.
#[derive(Debug, Clone, Default)]
pub struct Protected {
    /// Digests that an ECS service runs, with where.
    pub running: BTreeMap<String, String>,
    /// Digests this run pushed or tagged.
    pub pushed: BTreeSet<String>,
}

/// Decides, for every image of one repository.
pub fn decide(images: &[Image], protected: &Protected, policy: &Policy<'_>) -> Vec<Decision> {
    // The versions kept per environment: the newest `retain` of them.
    let mut kept: BTreeSet<(String, Version)> = BTreeSet::new();
    for env in policy.environments {
        let mut versions: Vec<Version> = images
            .iter()
            .flat_map(|i| i.tags.iter())
            .filter_map(|t| version::parse_tag(env, t))
            .collect();
        versions.sort();
        versions.dedup();
        let prunable = policy.prune.contains(env);
        let keep_from = if prunable {
            versions.len().saturating_sub(policy.retain)
        } else {
            0
        };
        for v in &versions[keep_from..] {
            kept.insert((env.clone(), v.clone()));
        }
    }
    let expired = |tag: &str| -> bool {
        policy
            .environments
            .iter()
            .find_map(|env| version::parse_tag(env, tag).map(|v| !kept.contains(&(env.clone(), v))))
            .unwrap_or(false)
    };
    images
        .iter()
        .map(|image| {
            let keep = |why: String| Decision::Keep {
                digest: image.digest.clone(),
                tags: image.tags.clone(),
                why,
            };
            if let Some(where_) = protected.running.get(&image.digest) {
                return keep(format!("running in {where_}"));
            }
            if protected.pushed.contains(&image.digest) {
                return keep("pushed by this release".into());
            }
            if image.tags.iter().any(|t| t == "latest") {
                return keep("tagged latest".into());
            }
            if image.tags.is_empty() {
                return Decision::Delete {
                    digest: image.digest.clone(),
                    tags: Vec::new(),
                    why: "untagged, and nothing runs it".into(),
                };
            }
            let (gone, staying): (Vec<&String>, Vec<&String>) =
                image.tags.iter().partition(|t| expired(t));
            if gone.is_empty() {
                let versions: Vec<&str> = image
                    .tags
                    .iter()
                    .map(String::as_str)
                    .filter(|t| !t.starts_with("fp-"))
                    .collect();
                let why = match versions.is_empty() {
                    true => "no version tag to expire".to_string(),
                    false => format!("among the newest {} of its environment", policy.retain),
                };
                return keep(why);
            }
            let gone: Vec<String> = gone.into_iter().cloned().collect();
            let still_used = staying.iter().any(|t| !t.starts_with("fp-"));
            let why = match policy.retain {
                1 => "older than the newest version".to_string(),
                n => format!("older than the newest {n} versions"),
            };
            if still_used {
                Decision::Untag {
                    digest: image.digest.clone(),
                    tags: gone,
                    why,
                }
            } else {
                Decision::Delete {
                    digest: image.digest.clone(),
                    tags: image.tags.clone(),
                    why,
                }
            }
        })
        .collect()
}

/// Keeps every image that an image index which stays references (multi-arch children,
/// attestations), whatever [`decide`] said: deleting it would break the index. `children` maps an
/// index's digest to the digests it names; indexes of indexes are followed.
pub fn keep_referenced(decisions: &mut [Decision], children: &BTreeMap<String, Vec<String>>) {
    loop {
        let staying: BTreeSet<String> = decisions
            .iter()
            .filter(|d| !matches!(d, Decision::Delete { .. }))
            .map(|d| d.digest().to_string())
            .collect();
        let mut changed = false;
        for d in decisions.iter_mut() {
            let Decision::Delete { digest, tags, .. } = d else {
                continue;
            };
            let parent = staying.iter().find(|index| {
                children
                    .get(*index)
                    .is_some_and(|c| c.iter().any(|x| x == digest))
            });
            if let Some(index) = parent {
                *d = Decision::Keep {
                    digest: digest.clone(),
                    tags: tags.clone(),
                    why: format!("referenced by the image index {index}, which stays"),
                };
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn img(digest: &str, tags: &[&str]) -> Image {
        Image {
            digest: digest.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn envs() -> Vec<String> {
        vec!["prod".into(), "stage".into()]
    }

    fn run(images: &[Image], protected: &Protected, retain: usize) -> Vec<Decision> {
        let e = envs();
        decide(
            images,
            protected,
            &Policy {
                environments: &e,
                prune: &e,
                retain,
            },
        )
    }

    #[test]
    fn the_children_of_a_kept_index_stay() {
        let images = vec![
            img("index", &["stage-1.0.2"]),
            img("child-a", &["stage-1.0.0"]),
            img("child-b", &[]),
            img("nested", &[]),
            img("old-index", &["stage-1.0.1"]),
            img("old-child", &[]),
        ];
        let mut d = run(&images, &Protected::default(), 1);
        let children: BTreeMap<String, Vec<String>> = [
            ("index", vec!["child-a", "child-b"]),
            ("child-b", vec!["nested"]),
            ("old-index", vec!["old-child"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
        assert!(matches!(&d[1], Decision::Delete { .. }), "{d:?}");
        keep_referenced(&mut d, &children);
        let kept: Vec<&str> = d
            .iter()
            .filter(|x| matches!(x, Decision::Keep { .. }))
            .map(|x| x.digest())
            .collect();
        assert_eq!(kept, vec!["index", "child-a", "child-b", "nested"]);
        assert!(matches!(&d[4], Decision::Delete { .. }));
        assert!(
            matches!(&d[5], Decision::Delete { .. }),
            "an expired index takes its children"
        );
    }

    #[test]
    fn keeps_the_newest_by_semver_and_deletes_the_rest() {
        let images = vec![
            img("a", &["stage-1.9.0", "fp-a"]),
            img("b", &["stage-1.10.0", "fp-b"]),
            img("c", &["stage-1.2.0", "fp-c"]),
        ];
        let d = run(&images, &Protected::default(), 2);
        assert!(matches!(&d[0], Decision::Keep { .. }));
        assert!(matches!(&d[1], Decision::Keep { .. }));
        assert!(
            matches!(&d[2], Decision::Delete { digest, .. } if digest == "c"),
            "{d:?}"
        );
    }

    #[test]
    fn an_image_kept_by_another_environment_loses_only_the_expired_tag() {
        let images = vec![
            img("a", &["stage-1.0.0", "prod-1.0.0", "fp-a"]),
            img("b", &["stage-1.1.0", "fp-b"]),
        ];
        let d = run(&images, &Protected::default(), 1);
        assert_eq!(
            d[0],
            Decision::Untag {
                digest: "a".into(),
                tags: vec!["stage-1.0.0".into()],
                why: "older than the newest version".into()
            }
        );
    }

    #[test]
    fn running_latest_and_pushed_images_are_never_touched() {
        let images = vec![
            img("run", &["stage-1.0.0"]),
            img("lat", &["stage-1.1.0", "latest"]),
            img("new", &["stage-1.2.0"]),
            img("old", &["stage-1.3.0"]),
            img("top", &["stage-1.4.0"]),
        ];
        let protected = Protected {
            running: [("run".to_string(), "stage/api".to_string())].into(),
            pushed: ["new".to_string()].into(),
        };
        let d = run(&images, &protected, 1);
        let kinds: Vec<&str> = d
            .iter()
            .map(|d| match d {
                Decision::Keep { .. } => "keep",
                Decision::Untag { .. } => "untag",
                Decision::Delete { .. } => "delete",
            })
            .collect();
        assert_eq!(kinds, ["keep", "keep", "keep", "delete", "keep"]);
    }

    #[test]
    fn untagged_images_are_deleted_unless_running() {
        let images = vec![img("u", &[]), img("r", &[])];
        let protected = Protected {
            running: [("r".to_string(), "prod/api".to_string())].into(),
            ..Default::default()
        };
        let d = run(&images, &protected, 5);
        assert!(matches!(&d[0], Decision::Delete { .. }));
        assert!(matches!(&d[1], Decision::Keep { .. }));
    }

    #[test]
    fn tags_shipit_does_not_manage_keep_the_image() {
        let images = vec![
            img("a", &["stage-1.0.0", "debug-build"]),
            img("b", &["stage-2.0.0"]),
        ];
        let d = run(&images, &Protected::default(), 1);
        assert!(
            matches!(&d[0], Decision::Untag { tags, .. } if tags == &vec!["stage-1.0.0".to_string()])
        );
    }

    #[test]
    fn an_environment_not_pruned_keeps_everything() {
        let images = vec![
            img("a", &["prod-1.0.0"]),
            img("b", &["prod-2.0.0"]),
            img("c", &["stage-1.0.0"]),
            img("d", &["stage-2.0.0"]),
        ];
        let e = envs();
        let stage = vec!["stage".to_string()];
        let d = decide(
            &images,
            &Protected::default(),
            &Policy {
                environments: &e,
                prune: &stage,
                retain: 1,
            },
        );
        assert!(matches!(&d[0], Decision::Keep { .. }));
        assert!(matches!(&d[2], Decision::Delete { .. }));
    }

    /// Random repositories: a few hundred images with random tags of two environments.
    fn state() -> impl Strategy<Value = (Vec<Image>, Protected, usize)> {
        let image = (
            proptest::collection::vec((0usize..3, 0u64..4, 0u64..30), 0..4),
            any::<bool>(),
            0u8..20,
        );
        (proptest::collection::vec(image, 0..300), 1usize..15).prop_map(|(raw, retain)| {
            let mut seen = BTreeSet::new();
            let mut images = Vec::new();
            let mut protected = Protected::default();
            for (i, (tags, fp, special)) in raw.into_iter().enumerate() {
                let digest = format!("sha256:{i:04}");
                let mut t: Vec<String> = tags
                    .into_iter()
                    .map(|(e, minor, patch)| {
                        format!("{}-1.{minor}.{patch}", ["prod", "stage", "dev"][e])
                    })
                    .filter(|t| seen.insert(t.clone()))
                    .collect();
                if fp {
                    t.push(format!("fp-{i}"));
                }
                match special {
                    0 => protected
                        .running
                        .insert(digest.clone(), "prod/api".into())
                        .map(|_| ())
                        .unwrap_or(()),
                    1 => {
                        protected.pushed.insert(digest.clone());
                    }
                    2 if seen.insert("latest".into()) => t.push("latest".into()),
                    _ => {}
                }
                images.push(Image { digest, tags: t });
            }
            (images, protected, retain)
        })
    }

    /// What is left after applying the decisions.
    fn apply(images: &[Image], decisions: &[Decision]) -> Vec<Image> {
        images
            .iter()
            .zip(decisions)
            .filter_map(|(image, d)| match d {
                Decision::Delete { .. } => None,
                Decision::Untag { tags, .. } => Some(Image {
                    digest: image.digest.clone(),
                    tags: image
                        .tags
                        .iter()
                        .filter(|t| !tags.contains(t))
                        .cloned()
                        .collect(),
                }),
                Decision::Keep { .. } => Some(image.clone()),
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn nothing_protected_or_kept_is_touched_and_everything_eligible_is((images, protected, retain) in state()) {
            let e = vec!["prod".to_string(), "stage".to_string(), "dev".to_string()];
            let decisions = decide(&images, &protected, &Policy { environments: &e, prune: &e, retain });
            prop_assert_eq!(decisions.len(), images.len());
            for (image, d) in images.iter().zip(&decisions) {
                let is_protected = protected.running.contains_key(&image.digest)
                    || protected.pushed.contains(&image.digest)
                    || image.tags.iter().any(|t| t == "latest");
                if is_protected {
                    prop_assert!(matches!(d, Decision::Keep { .. }), "protected {:?} got {:?}", image, d);
                }
            }
            // Per environment, exactly the newest `retain` versions survive among the unprotected.
            let after = apply(&images, &decisions);
            for env in &e {
                let mut before: Vec<Version> = images.iter().flat_map(|i| &i.tags).filter_map(|t| version::parse_tag(env, t)).collect();
                before.sort();
                let newest: BTreeSet<Version> = before.iter().rev().take(retain).cloned().collect();
                let survivors: BTreeSet<Version> = after.iter().flat_map(|i| &i.tags).filter_map(|t| version::parse_tag(env, t)).collect();
                for v in &newest {
                    prop_assert!(survivors.contains(v), "kept version {} of {} was removed", v, env);
                }
                for v in survivors.difference(&newest) {
                    // An older version survives only on a protected image.
                    let tag = version::tag(env, v);
                    let owner = images.iter().find(|i| i.tags.contains(&tag)).unwrap();
                    let is_protected = protected.running.contains_key(&owner.digest)
                        || protected.pushed.contains(&owner.digest)
                        || owner.tags.iter().any(|t| t == "latest");
                    prop_assert!(is_protected, "expired {} of {} survived on an unprotected image", v, env);
                }
            }
            // A second run right after the first does nothing.
            let second = decide(&after, &protected, &Policy { environments: &e, prune: &e, retain });
            for d in &second {
                prop_assert!(matches!(d, Decision::Keep { .. }), "second run wanted {:?}", d);
            }
        }
    }
}
