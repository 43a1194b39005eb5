//! An image out of the engine as the registry takes it: the Engine API's export (`docker save`'s
//! tar: `manifest.json`, the config, one tar per layer), read into the config blob and the layers
//! gzipped. The engine pushes only by tag; one platform's image of an index is pushed by digest
//! (no tag of its own), so shipit uploads these blobs itself (`registry::Client::push_leg`).

use std::io::{Read, Write};

use bytes::Bytes;
use futures_util::StreamExt;
use thiserror::Error;

use super::Engine;

/// One image as blobs: the config (its bytes as the engine stored them: their digest is the
/// image's ID) and each layer gzipped, bottom first.
#[derive(Debug, Clone)]
pub struct Exported {
    pub config: Bytes,
    pub layers: Vec<Bytes>,
}

/// The image `image` could not be read out of the engine.
#[derive(Debug, Error)]
#[error("cannot read the image {image} out of the engine: {cause}")]
pub struct ExportError {
    pub image: String,
    pub cause: ExportFailure,
}

/// Why an exported image could not be read.
#[derive(Debug, Error)]
pub enum ExportFailure {
    #[error("the engine's export failed: {0}")]
    Engine(bollard::errors::Error),
    #[error("the engine's export is not a readable tar: {0}")]
    Tar(std::io::Error),
    #[error("the engine's export has no {0}")]
    Missing(String),
    #[error("the engine's export has a manifest.json that is not one image: {0}")]
    Manifest(String),
}

/// `manifest.json` of an export: one entry per image.
#[derive(serde::Deserialize)]
struct SavedImage {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

impl Engine {
    /// The image `image` (an ID or a name) as blobs, read from the engine's export.
    pub async fn export(&self, image: &str) -> Result<Exported, ExportError> {
        let failed = |cause: ExportFailure| ExportError {
            image: image.to_string(),
            cause,
        };
        let mut tar = Vec::new();
        let mut stream = self.docker.export_image(image);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| failed(ExportFailure::Engine(e)))?;
            if tar.len() + chunk.len() > crate::limits::EXPORTED_IMAGE {
                return Err(failed(ExportFailure::Missing(format!(
                    "end within {} bytes",
                    crate::limits::EXPORTED_IMAGE
                ))));
            }
            tar.extend_from_slice(&chunk);
        }
        tokio::task::spawn_blocking(move || read(&tar))
            .await
            .map_err(|e| failed(ExportFailure::Tar(std::io::Error::other(e))))?
            .map_err(failed)
    }
}

/// The config and the gzipped layers of the one image in an export tar.
pub fn read(tar: &[u8]) -> Result<Exported, ExportFailure> {
    let mut files: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(ExportFailure::Tar)? {
        let mut entry = entry.map_err(ExportFailure::Tar)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(ExportFailure::Tar)?
            .to_string_lossy()
            .into_owned();
        let mut body = Vec::new();
        entry.read_to_end(&mut body).map_err(ExportFailure::Tar)?;
        files.insert(path, body);
    }
    let take = |files: &mut std::collections::BTreeMap<String, Vec<u8>>, path: &str| {
        files
            .remove(path)
            .ok_or_else(|| ExportFailure::Missing(path.to_string()))
    };
    let manifest = take(&mut files, "manifest.json")?;
    let mut images: Vec<SavedImage> =
        serde_json::from_slice(&manifest).map_err(|e| ExportFailure::Manifest(e.to_string()))?;
    if images.len() != 1 {
        return Err(ExportFailure::Manifest(format!("{} images", images.len())));
    }
    let image = images.remove(0);
    let config = Bytes::from(take(&mut files, &image.config)?);
    let mut layers = Vec::with_capacity(image.layers.len());
    for path in &image.layers {
        // The same layer may be listed twice (an empty layer): read it from what is kept.
        let body = files
            .get(path)
            .ok_or_else(|| ExportFailure::Missing(path.clone()))?;
        layers.push(Bytes::from(gzip(body).map_err(ExportFailure::Tar)?));
    }
    Ok(Exported { config, layers })
}

/// A layer tar gzipped, with no time or name in the header: the same layer gives the same blob
/// (the same digest) on every runner.
fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::fast());
    encoder.write_all(body)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, body) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, *body).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn an_export_gives_its_config_and_its_layers_gzipped() {
        let tar = tar_of(&[
            (
                "manifest.json",
                br#"[{"Config":"abc.json","RepoTags":null,"Layers":["l1/layer.tar"]}]"#,
            ),
            ("abc.json", b"{\"architecture\":\"arm64\"}"),
            ("l1/layer.tar", b"layer bytes"),
        ]);
        let e = super::read(&tar).unwrap();
        assert_eq!(&e.config[..], b"{\"architecture\":\"arm64\"}");
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&e.layers[0][..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"layer bytes");
        assert_eq!(super::read(&tar).unwrap().layers, e.layers, "deterministic");
        let broken = tar_of(&[("manifest.json", b"[]")]);
        assert!(super::read(&broken).is_err());
        assert!(super::read(b"not a tar").is_err());
    }
}
