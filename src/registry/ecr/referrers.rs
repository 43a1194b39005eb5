//! ECR's own list of an image's referrers (`ListImageReferrers`, every page).

use oci_spec::image::Descriptor;

use super::{Ecr, classify};
use crate::registry::RegistryError;

impl Ecr {
    /// The artifacts whose subject is `subject` (of `artifact_type`, when given), as ECR lists
    /// them; none when the repository does not exist.
    pub async fn referrers(
        &self,
        repository: &str,
        subject: &str,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        use aws_sdk_ecr::types::{ListImageReferrersFilter, SubjectIdentifier};
        let subject_id = SubjectIdentifier::builder()
            .image_digest(subject)
            .build()
            .map_err(|error| {
                RegistryError::protocol(
                    super::ECR,
                    crate::registry::error::Request::Referrers,
                    crate::registry::error::Problem::Build { error },
                )
            })?;
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut call = self
                .client
                .list_image_referrers()
                .set_registry_id(self.registry_id.clone())
                .repository_name(repository)
                .subject_id(subject_id.clone())
                .set_next_token(next.take());
            if let Some(t) = artifact_type {
                call = call.filter(
                    ListImageReferrersFilter::builder()
                        .artifact_types(t)
                        .build(),
                );
            }
            let page = match call.send().await {
                Ok(page) => page,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_repository_not_found_exception()) =>
                {
                    return Ok(Vec::new());
                }
                Err(e) => return Err(classify("ListImageReferrers", e)),
            };
            for r in page.referrers() {
                let mut d = crate::registry::referrers::descriptor(
                    r.media_type(),
                    r.digest(),
                    u64::try_from(r.size()).unwrap_or(0),
                )?;
                d.set_artifact_type(r.artifact_type().map(Into::into));
                d.set_annotations(r.annotations().cloned());
                out.push(d);
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }
}
