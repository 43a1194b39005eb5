//! One writer per tag. The engine pushes an image once, under its fingerprint tag, and only when
//! that tag is absent; every other tag is *claimed* on the digest the fingerprint tag names
//! ([`Client::claim`]: written only where absent, then read back). A fingerprint tag that names a
//! digest is never pushed over by shipit, and a run that finds its version tag on another digest
//! fails before anything is rolled out.

use crate::docker::Engine;
use crate::registry::{Client, PushTarget, RegistryError};

/// The image under `fp_tag` after this run: the one already there (a concurrent run of the same
/// inputs pushed first), or `image`, pushed now. The flag says whether this run pushed it.
pub async fn push_fingerprint(
    engine: &Engine,
    registry: &Client,
    target: &PushTarget,
    repository: &str,
    image: &str,
    fp_tag: &str,
) -> Result<(String, bool), String> {
    let read_back = || async {
        registry
            .digest(repository, fp_tag)
            .await
            .map_err(|e| e.to_string())
    };
    if let Some(existing) = read_back().await? {
        return Ok((existing, false));
    }
    engine
        .tag(image, &target.reference, fp_tag)
        .await
        .map_err(|e| e.to_string())?;
    // The engine talks to the registry itself: bounded here, as shipit's own calls are.
    let pushed = tokio::time::timeout(
        crate::net::push_timeout(),
        engine.push(&target.reference, fp_tag, target.credentials.clone()),
    )
    .await
    .unwrap_or_else(|_| {
        Err(crate::docker::DockerError::Push {
            reference: format!("{}:{fp_tag}", target.reference),
            why: format!(
                "the engine's push did not finish within {}s ({} sets the deadline)",
                crate::net::push_timeout().as_secs(),
                crate::env_vars::SHIPIT_HTTP_TIMEOUT
            ),
        })
    });
    engine
        .untag(&format!("{}:{fp_tag}", target.reference))
        .await;
    match (pushed, read_back().await?) {
        // Refused (an immutable ECR tag) or raced, but the same inputs are there: use them.
        (Err(_), Some(there)) => Ok((there, false)),
        (Err(e), None) => Err(e.to_string()),
        (Ok(None), Some(there)) => Ok((there, true)),
        (Ok(Some(ours)), Some(there)) => {
            let mine = ours == there;
            Ok((there, mine))
        }
        (Ok(_), None) => Err(format!(
            "{}:{fp_tag} is not in the registry after the push",
            target.reference
        )),
    }
}

/// After losing a version tag to `winner`: when this run's push moved the fingerprint tag off an
/// image of the same inputs that the winner released, it puts the fingerprint tag back there, so
/// that a version and its fingerprint name one image. Returns what it did, for the report.
pub async fn restore_fingerprint(
    registry: &Client,
    repository: &str,
    fp_tag: &str,
    fingerprint: &str,
    ours: &str,
    winner: &str,
) -> Option<String> {
    let Client::Oci(oci) = registry else {
        return None; // ECR: the fingerprint tag is immutable, nobody moved it.
    };
    if registry.digest(repository, fp_tag).await.ok()?.as_deref() != Some(ours) {
        return None;
    }
    let label = oci
        .label(repository, winner, "dev.shipit.fingerprint")
        .await
        .ok()??;
    if label != fingerprint {
        return None;
    }
    registry
        .retag(repository, winner, fp_tag, true)
        .await
        .ok()?;
    Some(format!("{fp_tag} names {winner} again"))
}

/// A lost race as the report says it.
pub fn lost(e: &RegistryError) -> String {
    match e {
        RegistryError::TagExists { .. } => {
            format!("{e} (another release wrote it first; nothing of this run is rolled out)")
        }
        _ => e.to_string(),
    }
}
