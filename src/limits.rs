//! How much shipit reads of anything that comes from outside it, in one place. Each limit is far
//! above what a real file or answer needs and far below what would take a runner's memory: what
//! is larger is refused with a message naming the file or URL and the limit, after reading no
//! more than the limit (a bounded reader, never a whole read then a check).

use std::io::Read;
use std::path::Path;

/// ci.toml. A monorepo of a thousand services writes about 200 KB.
pub const CI_TOML: u64 = 8 << 20;
/// One JUnit report (`test_report`). Parsing holds about three times the file in memory.
pub const JUNIT_REPORT: u64 = 64 << 20;
/// How deep `<testsuite>` (and `<testsuites>`) elements nest in a JUnit report; tools nest a
/// handful of levels.
pub const JUNIT_DEPTH: usize = 256;
/// A task definition or service definition file. ECS itself takes 64 KB of container
/// definitions.
pub const DEFINITION_FILE: u64 = 4 << 20;
/// A PEM public key file (`verify_key`).
pub const PUBLIC_KEY: u64 = 64 << 10;
/// A Sigstore trusted root (`trusted_root.json`; the public-good one is 7 KiB).
pub const TRUSTED_ROOT: u64 = 1 << 20;
/// The GitHub event payload (`GITHUB_EVENT_PATH`). GitHub caps webhook payloads at 25 MB.
pub const EVENT_PAYLOAD: u64 = 32 << 20;
/// A manifest or an image config from a registry: the OCI Distribution spec lets registries
/// refuse manifests over 4 MiB.
pub const MANIFEST: usize = 4 << 20;
/// A blob shipit reads back from a registry whole (an attestation, an SBOM, a signature): a large
/// SBOM of a few thousand components is a few MiB.
pub const BLOB: usize = 64 << 20;
/// One page of a registry's tag list (at 1,000 tags of at most 128 bytes, about 130 KB).
pub const TAG_PAGE: usize = 4 << 20;
/// Pages of one repository's tag list: a million tags at the 1,000 a page shipit asks for.
pub const TAG_PAGES: usize = 1_000;
/// Any other answer a registry or its token service sends (a token, an error's text).
pub const HTTP_BODY: usize = 1 << 20;
/// How much of an error's text from a registry a message quotes.
pub const QUOTED_ANSWER: usize = 300;

/// `limit` in words: `4 MiB`, `512 KiB`.
pub fn size(limit: u64) -> String {
    if limit >= 1 << 20 && limit.is_multiple_of(1 << 20) {
        format!("{} MiB", limit >> 20)
    } else if limit >= 1 << 10 && limit.is_multiple_of(1 << 10) {
        format!("{} KiB", limit >> 10)
    } else {
        format!("{limit} bytes")
    }
}

/// Why a bounded read gave nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("it is larger than {}, the most shipit reads of it", size(*limit))]
    TooLarge { limit: u64 },
}

impl ReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The text of the file at `path`, reading at most `limit` bytes (and one more to know it is
/// larger).
pub fn read_to_string(path: &Path, limit: u64) -> Result<String, ReadError> {
    let file = std::fs::File::open(path)?;
    // A regular file's size says it before a byte is read; the bounded read stays the guard
    // (a file that grows, a pipe).
    let known = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    if known.is_some_and(|len| len > limit) {
        return Err(ReadError::TooLarge { limit });
    }
    let mut bytes = Vec::with_capacity(known.unwrap_or(0).min(limit) as usize + 1);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    String::from_utf8(bytes).map_err(|_| {
        ReadError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// One platform's image read out of the engine (`docker save`'s tar), held in memory to upload its
/// blobs: 8 GiB, more than any image a service should ship.
pub const EXPORTED_IMAGE: usize = 8 << 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_limit_is_refused_after_reading_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let file = std::fs::File::create(&path).unwrap();
        // Sparse: a terabyte costs nothing on disk, and would take the machine if read whole.
        file.set_len(1 << 40).unwrap();
        let err = read_to_string(&path, 1 << 20).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is larger than 1 MiB, the most shipit reads of it"
        );
        std::fs::write(&path, "x".repeat(1 << 20)).unwrap();
        assert_eq!(read_to_string(&path, 1 << 20).unwrap().len(), 1 << 20);
        assert_eq!(size(4 << 20), "4 MiB");
        assert_eq!(size(300), "300 bytes");
    }
}
