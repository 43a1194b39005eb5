//! The SBOM of an image: CycloneDX 1.5 JSON made from the lockfiles its build copies (Cargo.lock,
//! package-lock.json, pnpm-lock.yaml, yarn.lock, poetry.lock, uv.lock, requirements.txt, go.sum),
//! each package with its purl, plus the base images as components; or a CycloneDX file the
//! service's test step wrote (`sbom = "PATH"`), checked to be one. The document is cyclonedx-bom's
//! model written by its 1.5 JSON writer; purls are the purl crate's.
//!
//! Pure: the lockfiles' texts come in, a document goes out. What it cannot see: what a `RUN` step
//! downloads or installs (`apt-get`, `curl | sh`, `pip install` without a lockfile), what a base
//! image itself holds beyond its name and digest, and vendored or copied binaries.

use std::collections::BTreeMap;

use serde_json::Value;

/// The artifact type of an SBOM attached to an image, and its payload's media type.
pub const ARTIFACT_TYPE: &str = "application/vnd.cyclonedx+json";

/// The lockfile names the SBOM reads, by file name.
pub const LOCKFILES: [&str; 8] = [
    "Cargo.lock",
    "package-lock.json",
    "pnpm-lock.yaml",
    "yarn.lock",
    "poetry.lock",
    "uv.lock",
    "requirements.txt",
    "go.sum",
];

/// True when `path`'s file name is a lockfile the SBOM reads.
pub fn is_lockfile(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    LOCKFILES.contains(&name)
}

/// One package a lockfile names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    pub purl: String,
    pub name: String,
    pub version: String,
    /// The lockfile, repository-relative.
    pub source: String,
}

/// Why an SBOM file given by `sbom = "PATH"` is refused.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error("it is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("it is not a CycloneDX JSON document (`bomFormat` is not \"CycloneDX\")")]
    NotCycloneDx,
    #[error("its `specVersion` is `{0}`; shipit attaches CycloneDX 1.4 to 1.6")]
    Version(String),
}

/// Checks that `bytes` is a CycloneDX JSON document (1.4-1.6).
pub fn check_cyclonedx(bytes: &[u8]) -> Result<(), SbomError> {
    let v: Value = serde_json::from_slice(bytes)?;
    if v.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
        return Err(SbomError::NotCycloneDx);
    }
    let version = v.get("specVersion").and_then(Value::as_str).unwrap_or("");
    if !matches!(version, "1.4" | "1.5" | "1.6") {
        return Err(SbomError::Version(version.to_string()));
    }
    Ok(())
}

/// A package and its purl, built (and percent-encoded) by the purl crate: an npm scope
/// (`@types/node`) and a Go module's path (`github.com/pkg/errors`) are the purl's namespace.
/// `None` for what no purl can name (an empty name).
fn pkg(kind: &str, name: &str, version: &str, source: &str) -> Option<Package> {
    let (namespace, short) = match kind {
        "npm" if name.starts_with('@') => name.split_once('/').unwrap_or(("", name)),
        "golang" => name.rsplit_once('/').unwrap_or(("", name)),
        _ => ("", name),
    };
    let purl = purl::GenericPurlBuilder::new(kind.to_string(), short)
        .with_namespace(namespace)
        .with_version(version)
        .build()
        .ok()?;
    Some(Package {
        purl: purl.to_string(),
        name: name.to_string(),
        version: version.to_string(),
        source: source.to_string(),
    })
}

/// PyPI names compare lowercased, with runs of `-_.` as one `-` (PEP 503): the purl's form.
fn pypi_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The packages `text` (the lockfile at `path`) names; nothing for what it cannot read.
pub fn packages(path: &str, text: &str) -> Vec<Package> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let mut out = match name {
        "Cargo.lock" => toml_packages(text, "cargo", path),
        "poetry.lock" | "uv.lock" => toml_packages(text, "pypi", path),
        "package-lock.json" => npm_lock(text, path),
        "pnpm-lock.yaml" => pnpm_lock(text, path),
        "yarn.lock" => yarn_lock(text, path),
        "requirements.txt" => requirements(text, path),
        "go.sum" => go_sum(text, path),
        _ => Vec::new(),
    };
    out.sort();
    out.dedup();
    out
}

/// `[[package]]` tables with `name` and `version` (Cargo.lock, poetry.lock, uv.lock). The
/// project's own crates (no `source`) are left out of Cargo.lock: they are what is built.
fn toml_packages(text: &str, kind: &str, path: &str) -> Vec<Package> {
    let Ok(doc) = toml::from_str::<toml::Table>(text) else {
        return Vec::new();
    };
    let Some(list) = doc.get("package").and_then(|p| p.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?;
            let version = p.get("version")?.as_str()?;
            if kind == "cargo" && p.get("source").is_none() {
                return None;
            }
            if kind == "pypi"
                && p.get("source")
                    .and_then(|s| s.get("editable").or_else(|| s.get("virtual")))
                    .is_some()
            {
                return None;
            }
            let name = match kind {
                "pypi" => pypi_name(name),
                _ => name.to_string(),
            };
            pkg(kind, &name, version, path)
        })
        .collect()
}

/// package-lock.json v2/v3 (`packages`, keyed `node_modules/NAME`) or v1 (`dependencies`).
fn npm_lock(text: &str, path: &str) -> Vec<Package> {
    let Ok(doc) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(packages) = doc.get("packages").and_then(Value::as_object) {
        for (key, p) in packages {
            let Some(name) = key.rsplit_once("node_modules/").map(|(_, n)| n) else {
                continue; // "" is the project itself; workspaces' own folders are no package.
            };
            if p.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            if let Some(version) = p.get("version").and_then(Value::as_str) {
                out.extend(pkg("npm", name, version, path));
            }
        }
    } else if let Some(deps) = doc.get("dependencies").and_then(Value::as_object) {
        fn walk(deps: &serde_json::Map<String, Value>, path: &str, out: &mut Vec<Package>) {
            for (name, d) in deps {
                if let Some(version) = d.get("version").and_then(Value::as_str) {
                    out.extend(pkg("npm", name, version, path));
                }
                if let Some(nested) = d.get("dependencies").and_then(Value::as_object) {
                    walk(nested, path, out);
                }
            }
        }
        walk(deps, path, &mut out);
    }
    out
}

/// pnpm-lock.yaml's `packages:` keys: `/name@1.0.0` (v6), `name@1.0.0` (v9), `/name/1.0.0`
/// (v5), with a peer suffix `(…)` or `_…` left off.
fn pnpm_lock(text: &str, path: &str) -> Vec<Package> {
    let Ok(docs) = crate::init::detect::yaml::parse(text) else {
        return Vec::new();
    };
    let Some(packages) = docs.first().and_then(|d| d["packages"].as_hash()) else {
        return Vec::new();
    };
    packages
        .keys()
        .filter_map(|k| {
            let key = k.as_str()?.trim_start_matches('/');
            let key = key.split('(').next()?;
            let (name, version) = match key.rfind('@').filter(|&i| i > 0) {
                Some(i) => (&key[..i], &key[i + 1..]),
                None => key.rsplit_once('/')?,
            };
            let version = version.split('_').next()?;
            (!name.is_empty() && !version.is_empty())
                .then(|| pkg("npm", name, version, path))
                .flatten()
        })
        .collect()
}

/// yarn.lock, classic (`"name@^1":` then `  version "1.2.3"`) and berry (`version: 1.2.3`).
fn yarn_lock(text: &str, path: &str) -> Vec<Package> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') && !line.starts_with('#') {
            let first = line
                .trim_end_matches(':')
                .split(',')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"');
            // `name@range`, `@scope/name@range`, `name@npm:range`: the name is before the last
            // `@` that is not the first character.
            current = first
                .get(1..)
                .and_then(|rest| rest.find('@'))
                .map(|i| first[..i + 1].to_string())
                .filter(|n| n != "__metadata");
            continue;
        }
        let trimmed = line.trim();
        if let (Some(name), Some(version)) = (
            &current,
            trimmed
                .strip_prefix("version ")
                .or_else(|| trimmed.strip_prefix("version: ")),
        ) {
            let version = version.trim().trim_matches('"');
            if !version.contains("use.local") && !version.starts_with("0.0.0-use") {
                out.extend(pkg("npm", name, version, path));
            }
            current = None;
        }
    }
    out
}

/// `name==version` lines (extras and markers left off); ranges are no pinned package.
fn requirements(text: &str, path: &str) -> Vec<Package> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next()?.split(';').next()?.trim();
            let (name, version) = line.split_once("==")?;
            let name = name.split('[').next()?.trim();
            let version = version.split_whitespace().next()?.trim();
            (!name.is_empty() && !version.is_empty() && !name.starts_with('-'))
                .then(|| pkg("pypi", &pypi_name(name), version, path))
                .flatten()
        })
        .collect()
}

/// go.sum's `module version h1:…` lines; a `/go.mod` line alone is no package in the build.
fn go_sum(text: &str, path: &str) -> Vec<Package> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let module = parts.next()?;
            let version = parts.next()?;
            (!version.ends_with("/go.mod"))
                .then(|| pkg("golang", module, version, path))
                .flatten()
        })
        .collect()
}

/// What the SBOM describes besides the lockfiles' packages.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// The service (the document's `metadata.component`).
    pub service: String,
    /// The version being released, when there is one.
    pub version: String,
    /// Base images: reference, and digest where known.
    pub base_images: Vec<(String, Option<String>)>,
    /// RFC 3339.
    pub timestamp: String,
}

/// The CycloneDX 1.5 JSON document of `packages` and `subject`'s base images, through
/// cyclonedx-bom's model and writer.
pub fn document(subject: &Subject, packages: &[Package]) -> Vec<u8> {
    use cyclonedx_bom::models::component::{Classification, Component, Components};
    use cyclonedx_bom::models::hash::{Hash, HashAlgorithm, HashValue, Hashes};
    use cyclonedx_bom::models::metadata::Metadata;
    use cyclonedx_bom::models::property::{Properties, Property};
    use cyclonedx_bom::models::tool::Tools;
    use cyclonedx_bom::prelude::{Bom, DateTime, Purl, UrnUuid};

    let mut components = Vec::new();
    for (reference, digest) in &subject.base_images {
        let mut c = Component::new(
            Classification::Container,
            reference,
            digest.as_deref().unwrap_or(""),
            Some(format!("base:{reference}")),
        );
        if digest.is_none() {
            c.version = None;
        }
        c.properties = Some(Properties(vec![Property::new(
            "dev.shipit:role",
            "base image",
        )]));
        if let Some(hex) = digest.as_deref().and_then(|d| d.strip_prefix("sha256:")) {
            c.hashes = Some(Hashes(vec![Hash {
                alg: HashAlgorithm::SHA_256,
                content: HashValue(hex.to_string()),
            }]));
        }
        components.push(c);
    }
    let mut by_purl: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut first: BTreeMap<&str, &Package> = BTreeMap::new();
    for p in packages {
        by_purl.entry(&p.purl).or_default().push(&p.source);
        first.entry(&p.purl).or_insert(p);
    }
    for (purl, p) in first {
        let mut c = Component::new(
            Classification::Library,
            &p.name,
            &p.version,
            Some(purl.to_string()),
        );
        c.purl = purl.parse::<Purl>().ok();
        c.properties = Some(Properties(
            by_purl[purl]
                .iter()
                .map(|s| Property::new("dev.shipit:lockfile", s))
                .collect(),
        ));
        components.push(c);
    }
    let mut component = Component::new(
        Classification::Container,
        &subject.service,
        &subject.version,
        Some(format!("service:{}", subject.service)),
    );
    if subject.version.is_empty() {
        component.version = None;
    }
    let shipit = Component::new(
        Classification::Application,
        "shipit",
        env!("CARGO_PKG_VERSION"),
        None,
    );
    let metadata = Metadata {
        timestamp: (!subject.timestamp.is_empty())
            .then(|| DateTime::try_from(subject.timestamp.clone()).ok())
            .flatten(),
        tools: Some(Tools::Object {
            services: None,
            components: Some(Components(vec![shipit])),
        }),
        authors: None,
        component: Some(component),
        manufacture: None,
        supplier: None,
        licenses: None,
        properties: None,
        lifecycles: None,
    };
    let bom = Bom {
        serial_number: Some(UrnUuid::generate()),
        metadata: Some(metadata),
        components: Some(Components(components)),
        ..Bom::default()
    };
    let mut out = Vec::new();
    match bom.output_as_json_v1_5(&mut out) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn no_lockfile_text_panics(text in "\\PC*", i in 0usize..8) {
            let _ = packages(LOCKFILES[i], &text);
        }

        #[test]
        fn lockfile_shaped_text_parses_without_panic(
            text in "[a-z@/\"=:._ \n\\[\\]{}0-9-]{0,200}",
            i in 0usize..8,
        ) {
            let _ = packages(LOCKFILES[i], &text);
        }
    }

    fn purls(path: &str, text: &str) -> Vec<String> {
        packages(path, text).into_iter().map(|p| p.purl).collect()
    }

    #[test]
    fn a_scope_and_a_module_path_are_the_purls_namespace() {
        let p =
            |kind: &str, name: &str, version: &str| pkg(kind, name, version, "x").map(|p| p.purl);
        assert_eq!(
            p("golang", "github.com/pkg/errors", "v0.9.1").as_deref(),
            Some("pkg:golang/github.com/pkg/errors@v0.9.1")
        );
        assert_eq!(
            p("npm", "@types/node", "22.1.0").as_deref(),
            Some("pkg:npm/%40types/node@22.1.0")
        );
        assert_eq!(p("npm", "", "1.0.0"), None);
    }

    #[test]
    fn the_document_is_valid_cyclonedx_1_5() {
        use cyclonedx_bom::validation::Validate;
        let subject = Subject {
            service: "api".into(),
            version: "1.2.0".into(),
            base_images: vec![(
                "alpine:3.20".into(),
                Some(format!("sha256:{}", "a".repeat(64))),
            )],
            timestamp: "2026-12-06T01:00:00Z".into(),
        };
        let doc = document(
            &subject,
            &packages(
                "svc/Cargo.lock",
                "[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
            ),
        );
        let bom = cyclonedx_bom::prelude::Bom::parse_from_json_v1_5(&doc[..]).unwrap();
        assert!(bom.validate().passed(), "{}", String::from_utf8_lossy(&doc));
        let v: Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(v["specVersion"], "1.5");
        assert_eq!(v["components"][1]["purl"], "pkg:cargo/serde@1.0.200");
        assert_eq!(v["metadata"]["component"]["version"], "1.2.0");
    }

    #[test]
    fn each_lockfile_gives_its_packages_with_purls() {
        let cargo = "version = 3\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
        assert_eq!(purls("svc/Cargo.lock", cargo), ["pkg:cargo/serde@1.0.200"]);
        let npm = r#"{"lockfileVersion": 3, "packages": {"": {"name": "app"},
            "node_modules/left-pad": {"version": "1.3.0"},
            "node_modules/@types/node": {"version": "22.1.0"},
            "node_modules/a/node_modules/b": {"version": "2.0.0"},
            "node_modules/ws": {"link": true}}}"#;
        assert_eq!(
            purls("package-lock.json", npm),
            [
                "pkg:npm/%40types/node@22.1.0",
                "pkg:npm/b@2.0.0",
                "pkg:npm/left-pad@1.3.0"
            ]
        );
        let pnpm = "lockfileVersion: '9.0'\npackages:\n  '@babel/core@7.24.0':\n    resolution: {integrity: x}\n  lodash@4.17.21:\n    resolution: {integrity: y}\n  /react@18.2.0(x@1):\n    resolution: {}\n";
        assert_eq!(
            purls("pnpm-lock.yaml", pnpm),
            [
                "pkg:npm/%40babel/core@7.24.0",
                "pkg:npm/lodash@4.17.21",
                "pkg:npm/react@18.2.0"
            ]
        );
        let yarn = "# yarn lockfile v1\n\n\"@scope/x@^1.0.0\", \"@scope/x@^1.1.0\":\n  version \"1.2.0\"\n  resolved \"…\"\n\nlodash@^4:\n  version \"4.17.21\"\n";
        assert_eq!(
            purls("yarn.lock", yarn),
            ["pkg:npm/%40scope/x@1.2.0", "pkg:npm/lodash@4.17.21"]
        );
        let berry = "__metadata:\n  version: 8\n\n\"ms@npm:^2.1.3\":\n  version: 2.1.3\n";
        assert_eq!(purls("yarn.lock", berry), ["pkg:npm/ms@2.1.3"]);
        let poetry = "[[package]]\nname = \"Flask_Login\"\nversion = \"0.6.3\"\n";
        assert_eq!(purls("poetry.lock", poetry), ["pkg:pypi/flask-login@0.6.3"]);
        let uv = "version = 1\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = { editable = \".\" }\n[[package]]\nname = \"requests\"\nversion = \"2.32.3\"\nsource = { registry = \"https://pypi.org/simple\" }\n";
        assert_eq!(purls("uv.lock", uv), ["pkg:pypi/requests@2.32.3"]);
        let req = "# pinned\nDjango[argon2]==5.0.6 ; python_version >= '3.10'\nrequests>=2\n-r other.txt\n";
        assert_eq!(purls("requirements.txt", req), ["pkg:pypi/django@5.0.6"]);
        let go =
            "github.com/pkg/errors v0.9.1 h1:abc=\ngithub.com/pkg/errors v0.9.1/go.mod h1:def=\n";
        assert_eq!(
            purls("go.sum", go),
            ["pkg:golang/github.com/pkg/errors@v0.9.1"]
        );
        assert!(packages("yarn.lock", "\u{0}garbage:::").is_empty());
        assert!(packages("Cargo.lock", "[[[").is_empty());
    }

    #[test]
    fn the_document_is_cyclonedx_with_the_base_image() {
        let subject = Subject {
            service: "api".into(),
            version: "1.2.0".into(),
            base_images: vec![("node:22".into(), Some(format!("sha256:{}", "a".repeat(64))))],
            timestamp: "2026-01-01T00:00:00Z".into(),
        };
        let doc = document(&subject, &packages("go.sum", "m v1.0.0 h1:x=\n"));
        check_cyclonedx(&doc).unwrap();
        let v: Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(v["components"][0]["name"], "node:22");
        assert_eq!(v["components"][1]["purl"], "pkg:golang/m@v1.0.0");
        assert!(check_cyclonedx(b"{\"bomFormat\": \"SPDX\"}").is_err());
        assert!(
            check_cyclonedx(b"{\"bomFormat\": \"CycloneDX\", \"specVersion\": \"1.2\"}").is_err()
        );
    }
}
