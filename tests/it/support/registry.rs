//! Seeding the real registries with images, without the Docker engine: blobs and manifests through
//! the Distribution API, and `PutImage` against moto's ECR.

use serde_json::json;
use sha2::{Digest, Sha256};

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A tiny image manifest whose config holds `seed`: different seeds, different digests.
pub fn manifest(seed: &str) -> (Vec<u8>, Vec<u8>) {
    manifest_with(seed, &[])
}

/// [`manifest`] with more labels in its config (those shipit writes, say).
pub fn manifest_with(seed: &str, labels: &[(&str, &str)]) -> (Vec<u8>, Vec<u8>) {
    let mut all = serde_json::Map::new();
    all.insert("seed".into(), json!(seed));
    for (k, v) in labels {
        all.insert(k.to_string(), json!(v));
    }
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": all}, "rootfs": {"type": "layers", "diff_ids": []}
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(&config), "size": config.len()},
        "layers": []
    }))
    .unwrap();
    (config, manifest)
}

/// One image of an index: the seed and labels it was pushed with, and its platform's `os`.
pub type IndexChild<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

/// A Distribution registry at `host`, with optional basic auth, or a Bearer token from the realm its
/// challenge names (`bearer`).
pub struct Oci {
    pub host: String,
    auth: Option<(String, String)>,
    bearer: bool,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Oci {
    pub fn new(host: &str, auth: Option<(String, String)>) -> Oci {
        Oci {
            host: host.to_string(),
            auth,
            bearer: false,
            http: reqwest::Client::new(),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    /// A registry behind a token service: every request carries a token for its repository.
    pub fn with_tokens(host: &str, user: &str, password: &str) -> Oci {
        Oci {
            bearer: true,
            ..Oci::new(host, Some((user.to_string(), password.to_string())))
        }
    }

    async fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self
            .http
            .request(method, format!("http://{}{path}", self.host));
        self.authorize(r, path).await
    }

    async fn authorize(&self, r: reqwest::RequestBuilder, path: &str) -> reqwest::RequestBuilder {
        match (&self.auth, self.bearer) {
            (Some(_), true) => r.bearer_auth(self.token(path).await),
            (Some((u, p)), false) => r.basic_auth(u, Some(p)),
            (None, _) => r,
        }
    }

    /// A push-and-pull token for the repository a `/v2/NAME/...` path names, from the realm that
    /// the registry's challenge names.
    async fn token(&self, path: &str) -> String {
        let rest = path.split("/v2/").nth(1).unwrap_or("");
        let name = ["/blobs/", "/manifests/", "/tags/"]
            .iter()
            .find_map(|m| rest.split_once(m).map(|(n, _)| n))
            .unwrap();
        let (user, password) = self.auth.clone().unwrap();
        let challenge = self
            .http
            .get(format!("http://{}/v2/", self.host))
            .send()
            .await
            .unwrap();
        let header = challenge.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        let realm = header
            .split("realm=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let scope = format!("repository:{name}:pull,push");
        let resp = self
            .http
            .get(realm)
            .query(&[("service", "shipit-registry"), ("scope", scope.as_str())])
            .basic_auth(user, Some(password))
            .send()
            .await
            .unwrap();
        let json: serde_json::Value = resp.json().await.unwrap();
        json["token"].as_str().unwrap().to_string()
    }

    /// Pushes an image (seeded by `seed`) to `name` under each of `tags`; returns its digest.
    pub fn push(&self, name: &str, seed: &str, tags: &[&str]) -> String {
        self.push_labelled(name, seed, &[], tags)
    }

    /// [`Oci::push`] of an image whose config has `labels` too.
    pub fn push_labelled(
        &self,
        name: &str,
        seed: &str,
        labels: &[(&str, &str)],
        tags: &[&str],
    ) -> String {
        let (config, manifest) = manifest_with(seed, labels);
        self.rt.block_on(async {
            let start = self
                .req(reqwest::Method::POST, &format!("/v2/{name}/blobs/uploads/"))
                .await
                .send()
                .await
                .unwrap();
            assert_eq!(
                start.status(),
                202,
                "blob upload start: {}",
                start.text().await.unwrap()
            );
            let location = start.headers()["location"].to_str().unwrap().to_string();
            let sep = if location.contains('?') { '&' } else { '?' };
            let url = format!("{location}{sep}digest={}", digest_of(&config));
            let url = if url.starts_with("http") {
                url
            } else {
                format!("http://{}{url}", self.host)
            };
            let put = self
                .authorize(
                    self.http.put(url).body(config.clone()),
                    &format!("/v2/{name}/blobs/"),
                )
                .await;
            let done = put.send().await.unwrap();
            assert_eq!(
                done.status(),
                201,
                "blob upload: {}",
                done.text().await.unwrap()
            );
            for tag in tags {
                self.put_manifest(name, tag, &manifest).await;
            }
        });
        digest_of(&manifest)
    }

    /// Pushes an image index (a multi-platform image) of images pushed before with `seed` and
    /// `labels` ([`Oci::push_labelled`]), each `(seed, labels, os)`, under `tags`; returns its
    /// digest.
    pub fn push_index(&self, name: &str, children: &[IndexChild<'_>], tags: &[&str]) -> String {
        let mut bodies = Vec::new();
        let manifests: Vec<serde_json::Value> = children
            .iter()
            .map(|(seed, labels, os)| {
                let (_, manifest) = manifest_with(seed, labels);
                bodies.push(manifest.clone());
                json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest_of(&manifest),
                    "size": manifest.len(),
                    "platform": {"os": os, "architecture": if *os == "unknown" { "unknown" } else { "amd64" }}
                })
            })
            .collect();
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests
        }))
        .unwrap();
        self.rt.block_on(async {
            for body in &bodies {
                self.put_manifest(name, &digest_of(body), body).await;
            }
            for tag in tags {
                let resp = self
                    .req(reqwest::Method::PUT, &format!("/v2/{name}/manifests/{tag}"))
                    .await
                    .header("content-type", "application/vnd.oci.image.index.v1+json")
                    .body(index.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 201, "index put {name}:{tag}");
            }
        });
        digest_of(&index)
    }

    /// Adds tags to an image pushed with `seed` before.
    pub fn tag(&self, name: &str, seed: &str, tags: &[String]) {
        let (_, manifest) = manifest(seed);
        self.rt.block_on(async {
            for chunk in tags.chunks(32) {
                let puts = chunk.iter().map(|t| self.put_manifest(name, t, &manifest));
                futures_util::future::join_all(puts).await;
            }
        });
    }

    async fn put_manifest(&self, name: &str, tag: &str, manifest: &[u8]) {
        let resp = self
            .req(reqwest::Method::PUT, &format!("/v2/{name}/manifests/{tag}"))
            .await
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            201,
            "manifest put {name}:{tag}: {}",
            resp.text().await.unwrap()
        );
    }

    /// Puts the manifest `from` names under the tag `to` too, as a script or another tool would
    /// move a tag (the image is not pulled or pushed).
    pub fn copy_tag(&self, name: &str, from: &str, to: &str) {
        self.rt.block_on(async {
            let resp = self
                .req(reqwest::Method::GET, &format!("/v2/{name}/manifests/{from}"))
                .await
                .header("accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{name}:{from}");
            let media = resp.headers()["content-type"].to_str().unwrap().to_string();
            let body = resp.bytes().await.unwrap();
            let put = self
                .req(reqwest::Method::PUT, &format!("/v2/{name}/manifests/{to}"))
                .await
                .header("content-type", media)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(put.status(), 201, "{name}:{to}");
        })
    }

    /// The digest a tag points at, and the image config's labels.
    pub fn inspect(&self, name: &str, tag: &str) -> (String, serde_json::Value) {
        self.rt.block_on(async {
            let resp = self
                .req(reqwest::Method::GET, &format!("/v2/{name}/manifests/{tag}"))
                .await
                .header("accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{name}:{tag}");
            let digest = resp.headers()["docker-content-digest"].to_str().unwrap().to_string();
            let manifest: serde_json::Value = resp.json().await.unwrap();
            let config_digest = manifest["config"]["digest"].as_str().unwrap().to_string();
            let config: serde_json::Value = self
                .req(reqwest::Method::GET, &format!("/v2/{name}/blobs/{config_digest}"))
                .await
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (digest, config["config"]["Labels"].clone())
        })
    }

    /// The tags of `name` that name images, sorted: the referrers tag schema's `sha256-<hex>`
    /// tags (the provenance and SBOM a release attaches) left out.
    pub fn image_tags(&self, name: &str) -> Vec<String> {
        self.tags(name)
            .into_iter()
            .filter(|t| !t.starts_with("sha256-"))
            .collect()
    }

    /// Every tag of `name`, sorted.
    pub fn tags(&self, name: &str) -> Vec<String> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            let mut url = Some(format!("/v2/{name}/tags/list?n=1000"));
            while let Some(u) = url.take() {
                let resp = self
                    .req(reqwest::Method::GET, &u)
                    .await
                    .send()
                    .await
                    .unwrap();
                if resp.status() == 404 {
                    return out;
                }
                if let Some(link) = resp.headers().get("link") {
                    let l = link.to_str().unwrap();
                    url = Some(l[l.find('<').unwrap() + 1..l.find('>').unwrap()].to_string());
                }
                let body: serde_json::Value = resp.json().await.unwrap();
                out.extend(
                    body["tags"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|t| t.as_str().unwrap().to_string()),
                );
            }
            out.sort();
            out
        })
    }
}

/// moto's ECR, through the real SDK.
pub struct Ecr {
    pub client: aws_sdk_ecr::Client,
    rt: tokio::runtime::Runtime,
}

impl Ecr {
    pub fn new(endpoint: &str) -> Ecr {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = super::sdk_config(&rt, endpoint);
        Ecr {
            client: aws_sdk_ecr::Client::new(&config),
            rt,
        }
    }

    /// GetAuthorizationToken: the registry host and the user and password the token decodes to.
    pub fn login(&self) -> (String, String, String) {
        let out = self
            .rt
            .block_on(self.client.get_authorization_token().send())
            .unwrap();
        let data = &out.authorization_data()[0];
        let (user, password) =
            shipit::registry::decode_token(data.authorization_token().unwrap()).unwrap();
        let host = data
            .proxy_endpoint()
            .unwrap()
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_string();
        (host, user, password)
    }

    pub fn create_repository(&self, name: &str) {
        self.rt
            .block_on(self.client.create_repository().repository_name(name).send())
            .unwrap();
    }

    /// Puts an image (seeded by `seed`) under each tag; returns its digest. moto derives a digest
    /// from the layers only, so the manifest names a layer of its own per seed.
    pub fn put(&self, name: &str, seed: &str, tags: &[&str]) -> String {
        let (_, manifest) = manifest(seed);
        let mut manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        manifest["layers"] = json!([{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest_of(seed.as_bytes()),
            "size": seed.len()
        }]);
        let manifest = manifest.to_string();
        let mut digest = String::new();
        for tag in tags {
            let out = self
                .rt
                .block_on(
                    self.client
                        .put_image()
                        .repository_name(name)
                        .image_manifest(&manifest)
                        .image_tag(*tag)
                        .send(),
                )
                .unwrap();
            digest = out
                .image()
                .unwrap()
                .image_id()
                .unwrap()
                .image_digest()
                .unwrap()
                .to_string();
        }
        digest
    }

    pub fn tags(&self, name: &str) -> Vec<String> {
        let out = self
            .rt
            .block_on(self.client.describe_images().repository_name(name).send())
            .unwrap();
        let mut tags: Vec<String> = out
            .image_details()
            .iter()
            .flat_map(|d| d.image_tags().to_vec())
            .collect();
        tags.sort();
        tags
    }
}

impl Oci {
    /// Every regular file of the image `name:tag` (its layers applied in order), by path.
    pub fn files(&self, name: &str, tag: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
        use std::io::Read;
        self.rt.block_on(async {
            let manifest: serde_json::Value = self
                .req(reqwest::Method::GET, &format!("/v2/{name}/manifests/{tag}"))
                .await
                .header("accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let mut files = std::collections::BTreeMap::new();
            for layer in manifest["layers"].as_array().unwrap() {
                let digest = layer["digest"].as_str().unwrap();
                let blob = self
                    .req(reqwest::Method::GET, &format!("/v2/{name}/blobs/{digest}"))
                    .await
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&blob[..]));
                for entry in archive.entries().unwrap() {
                    let mut entry = entry.unwrap();
                    if entry.header().entry_type() != tar::EntryType::Regular {
                        continue;
                    }
                    let path = entry.path().unwrap().to_string_lossy().into_owned();
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data).unwrap();
                    files.insert(path, data);
                }
            }
            files
        })
    }
}

impl Oci {
    /// The digest `name:tag` names, or `None` (no such tag yet, or a read that met a write).
    pub fn try_digest(&self, name: &str, tag: &str) -> Option<String> {
        self.rt.block_on(async {
            let resp = self
                .req(reqwest::Method::HEAD, &format!("/v2/{name}/manifests/{tag}"))
                .await
                .header("accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
                .send()
                .await
                .ok()?;
            if !resp.status().is_success() {
                return None;
            }
            resp.headers()
                .get("docker-content-digest")
                .and_then(|d| d.to_str().ok())
                .map(str::to_string)
        })
    }
}
