//! What the engine says about itself and the images it holds, for an image's provenance: its
//! version, and the digest a base image was pulled at.

use super::Engine;

impl Engine {
    /// The engine's version (`20.10.24`), as it says; `None` when it does not answer.
    pub async fn version(&self) -> Option<String> {
        self.docker.version().await.ok()?.version
    }

    /// The digest the registry gave the local image `reference` (its `RepoDigests` entry of the
    /// same repository): a base image the build pulled, resolved. `None` when the engine has no
    /// such image or it was never pulled from a registry.
    pub async fn repo_digest(&self, reference: &str) -> Option<String> {
        if let Some((_, digest)) = reference.split_once('@') {
            return Some(digest.to_string());
        }
        let image = self.docker.inspect_image(reference).await.ok()?;
        let repository = crate::image::parse(reference).repository;
        let digests = image.repo_digests.unwrap_or_default();
        digests
            .iter()
            .find(|d| {
                d.split_once('@')
                    .is_some_and(|(r, _)| r == repository || r.ends_with(&format!("/{repository}")))
            })
            .or(digests.first())
            .and_then(|d| d.split_once('@'))
            .map(|(_, digest)| digest.to_string())
    }
}
