//! [`crate::sign::Referrers`] for the registry client: a Sigstore bundle attached to an image
//! digest as an OCI referrer (`artifactType` and layer media type
//! `application/vnd.dev.sigstore.bundle.v0.3+json`, annotated as cosign annotates one), and the
//! bundles attached to a digest, read back through the referrers API or the tag schema.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::registry::{Client, RegistryError};
use crate::sign::bundle;

impl crate::sign::Referrers for Client {
    type Error = RegistryError;

    async fn attach_bundle(
        &self,
        repository: &str,
        subject: &str,
        signed: &[u8],
        predicate_type: &str,
    ) -> Result<(), RegistryError> {
        let subject = self.descriptor(repository, subject).await?;
        let annotations = BTreeMap::from([
            (
                "dev.sigstore.bundle.content".to_string(),
                "dsse-envelope".to_string(),
            ),
            (
                "dev.sigstore.bundle.predicateType".to_string(),
                predicate_type.to_string(),
            ),
        ]);
        self.attach(
            repository,
            &subject,
            bundle::MEDIA_TYPE,
            bundle::MEDIA_TYPE,
            Bytes::copy_from_slice(signed),
            &annotations,
        )
        .await
        .map(drop)
    }

    async fn bundles(
        &self,
        repository: &str,
        subject: &str,
    ) -> Result<Vec<Vec<u8>>, RegistryError> {
        let mut out = Vec::new();
        for d in self
            .referrers(repository, subject, Some(bundle::MEDIA_TYPE))
            .await?
        {
            let payload = self
                .artifact_payload(repository, d.digest().as_ref())
                .await?;
            out.push(payload.to_vec());
        }
        Ok(out)
    }
}
