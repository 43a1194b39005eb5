//! The Distribution API's writes of content by digest, and the reads that check it: a blob put
//! monolithically (HEAD first, then `POST …/blobs/uploads/` and one `PUT …?digest=`), a manifest
//! put under its own digest (with the registry's `OCI-Subject` answer, which says it keeps the
//! referrers itself), a blob read whole and checked against its digest, and the referrers API.
//!
//! Every write here is idempotent (content addressed): a retry puts the same bytes under the same
//! digest. The upload session's `Location` is followed only on the registry's own origin
//! ([`Oci::send`] refuses another), so no credential goes elsewhere.

use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};

use super::Oci;
use crate::registry::error::{Problem, Request};
use crate::registry::wire::valid_digest;
use crate::registry::{RegistryError, manifest};

/// `sha256:<hex>` of `bytes`: the digest a registry gives them.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// What a manifest PUT by digest answered.
pub(crate) struct Put {
    pub digest: String,
    /// The `OCI-Subject` header: the registry keeps the referrers of that digest itself.
    pub subject: Option<String>,
}

/// What the referrers API answered.
pub(crate) enum Referrers {
    /// The registry has no referrers API (404): the `sha256-<hex>` tag schema holds them.
    Unsupported,
    /// The image index it answered, as JSON.
    Index(serde_json::Value),
}

impl Oci {
    /// True when the blob `digest` is in `repository` already.
    pub(crate) async fn has_blob(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let name = self.name(repository);
        let url = format!("/v2/{name}/blobs/{digest}");
        let resp = self
            .send(
                Method::HEAD,
                &url,
                &format!("repository:{name}:pull"),
                |r| r,
            )
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(self.status(s, Request::BlobHead, Problem::Of { reference: url })),
        }
    }

    /// Puts `bytes` as a blob of `repository` unless it is there already; its digest.
    pub(crate) async fn put_blob(
        &self,
        repository: &str,
        bytes: bytes::Bytes,
    ) -> Result<String, RegistryError> {
        let digest = sha256_digest(&bytes);
        if self.has_blob(repository, &digest).await? {
            return Ok(digest);
        }
        let name = self.name(repository);
        let scope = format!("repository:{name}:pull,push");
        let start = format!("/v2/{name}/blobs/uploads/");
        let resp = self
            .send(Method::POST, &start, &scope, |r| {
                r.body(bytes::Bytes::new())
            })
            .await?;
        let status = resp.status();
        if status != StatusCode::ACCEPTED {
            return Err(self.status(status, Request::BlobUpload, self.quoted(resp).await));
        }
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| self.protocol(Request::BlobUpload, Problem::NoLocation))?;
        // The session's address, relative to the request or absolute, with `digest` added to
        // whatever query it carries (`_state=…`).
        let mut url = url::Url::parse(&format!("{}{start}", self.base))
            .and_then(|base| base.join(&location))
            .map_err(|error| {
                self.protocol(
                    Request::BlobUpload,
                    Problem::BadUrl {
                        url: location.clone(),
                        error,
                    },
                )
            })?;
        url.query_pairs_mut().append_pair("digest", &digest);
        let resp = self
            .send(Method::PUT, url.as_str(), &scope, |r| {
                r.header(CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.clone())
            })
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(self.status(status, Request::BlobPut, self.quoted(resp).await));
        }
        Ok(digest)
    }

    /// The blob `digest` of `repository`, at most `limit` bytes, checked against its digest.
    pub(crate) async fn blob(
        &self,
        repository: &str,
        digest: &str,
        limit: usize,
    ) -> Result<bytes::Bytes, RegistryError> {
        let name = self.name(repository);
        let url = format!("/v2/{name}/blobs/{digest}");
        let resp = self
            .send(Method::GET, &url, &format!("repository:{name}:pull"), |r| r)
            .await?;
        if !resp.status().is_success() {
            return Err(self.status(
                resp.status(),
                Request::BlobGet,
                Problem::Of { reference: url },
            ));
        }
        let bytes = self.body(resp, limit, Request::BlobGet).await?;
        let got = sha256_digest(&bytes);
        if got != digest {
            return Err(self.protocol(
                Request::BlobGet,
                Problem::DigestMismatch {
                    url,
                    expected: digest.to_string(),
                    got,
                },
            ));
        }
        Ok(bytes.into())
    }

    /// Puts `body` (of `media_type`) under its own digest: no tag names it.
    pub(crate) async fn put_manifest_by_digest(
        &self,
        repository: &str,
        media_type: &str,
        body: &[u8],
    ) -> Result<Put, RegistryError> {
        let digest = sha256_digest(body);
        let name = self.name(repository);
        let body = bytes::Bytes::copy_from_slice(body);
        let resp = self
            .send(
                Method::PUT,
                &format!("/v2/{name}/manifests/{digest}"),
                &format!("repository:{name}:pull,push"),
                |r| r.header(CONTENT_TYPE, media_type).body(body.clone()),
            )
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(self.status(status, Request::ManifestPut, self.quoted(resp).await));
        }
        let subject = resp
            .headers()
            .get("oci-subject")
            .and_then(|v| v.to_str().ok())
            .filter(|d| valid_digest(d))
            .map(str::to_string);
        Ok(Put { digest, subject })
    }

    /// `GET /v2/NAME/referrers/DIGEST` (OCI Distribution 1.1), filtered by `artifact_type` where
    /// given (the registry may ignore the filter: the caller filters again).
    pub(crate) async fn referrers(
        &self,
        repository: &str,
        subject: &str,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, RegistryError> {
        let name = self.name(repository);
        let mut url = format!("/v2/{name}/referrers/{subject}");
        if let Some(t) = artifact_type {
            url.push_str("?artifactType=");
            url.push_str(&url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>());
        }
        let resp = self
            .send(Method::GET, &url, &format!("repository:{name}:pull"), |r| {
                r.header(ACCEPT, manifest::OCI_INDEX)
            })
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(Referrers::Unsupported),
            s if s.is_success() => Ok(Referrers::Index(
                self.json(resp, crate::limits::MANIFEST, Request::Referrers)
                    .await?,
            )),
            s => Err(self.status(s, Request::Referrers, self.quoted(resp).await)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn digests_are_sha256_of_the_bytes() {
        assert_eq!(
            super::sha256_digest(b"{}"),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
