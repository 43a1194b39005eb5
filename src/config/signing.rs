//! `sign`, `verify`, `verify_key` and `verify_identity`: resolved from ci.toml, each problem
//! pointing at its key.

use super::raw::{RawIdentity, RawSign, RawSignTable, S, Verify};
use super::resolve::Resolver;

/// GitHub Actions' OIDC issuer: who keyless signatures come from unless `verify_identity` says.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// Sigstore's public-good instance, where `sign = "github"` signs.
pub const FULCIO: &str = "https://fulcio.sigstore.dev";
pub const REKOR: &str = "https://rekor.sigstore.dev";

/// How pushed images are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signing {
    /// An ECDSA P-256 private key in PEM, read from the variable `var`.
    Key { var: String },
    /// An AWS KMS key.
    Kms { arn: String },
    /// Keyless, with GitHub Actions' OIDC token, on a Sigstore instance (`trusted_root`: a
    /// private instance's, a file in the repository; `None`, the public-good one's).
    Keyless {
        fulcio: String,
        rekor: String,
        trusted_root: Option<String>,
    },
}

impl Signing {
    /// The key in words, for messages (never the key).
    pub fn describe(&self) -> String {
        match self {
            Signing::Key { var } => format!("the key in {var}"),
            Signing::Kms { arn } => format!("the KMS key {arn}"),
            Signing::Keyless { fulcio, .. } => format!("keyless signing through {fulcio}"),
        }
    }
}

/// Who must have signed keyless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityAnchor {
    pub issuer: String,
    /// The certificate subject pattern; `None`: any workflow of this repository.
    pub subject: Option<String>,
    /// A private instance's trusted root, a file in the repository; `None`: the public-good one.
    pub trusted_root: Option<String>,
}

/// What a `verify` checks an image against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustAnchor {
    /// A PEM public key file, relative to the repository root.
    File(String),
    /// The public key of a KMS key.
    Kms(String),
    /// The public key of the environment's own `sign`.
    Signer,
    /// A keyless identity (`verify_identity`, or the environment's own keyless `sign`).
    Identity(IdentityAnchor),
}

/// What `verify` asks of an environment's images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// A signature by the trust anchor over the digest.
    Signature,
    /// That, and a provenance signed by it naming this repository and the commit.
    Provenance,
}

/// An environment's `verify`, with its trust anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub policy: Policy,
    pub anchor: TrustAnchor,
}

fn is_kms_arn(s: &str) -> bool {
    s.starts_with("arn:aws")
        && s.contains(":kms:")
        && (s.contains(":key/") || s.contains(":alias/"))
}

impl Resolver<'_> {
    pub(super) fn sign(&mut self, raw: Option<&S<RawSign>>) -> Option<Signing> {
        let raw = raw?;
        let span = raw.span();
        match raw.get_ref() {
            RawSign::Keyless(name) if name == "github" => Some(Signing::Keyless {
                fulcio: FULCIO.into(),
                rekor: REKOR.into(),
                trusted_root: None,
            }),
            RawSign::Keyless(other) => {
                self.problem_with_help(
                    format!("`{other}` is not a way to sign"),
                    span,
                    "unknown",
                    "write \"github\" (keyless), `{ key = \"env:VAR\" }` or `{ kms = \"arn:aws:kms:…\" }`",
                );
                None
            }
            RawSign::Table(t) if t.keyless.is_some() => self.keyless(t, span),
            RawSign::Other(_) => {
                self.problem_with_help(
                    "`sign` is not a way to sign",
                    span,
                    "not `{ key = … }` or `{ kms = … }`",
                    "write \"github\" (keyless), `{ key = \"env:VAR\" }` or `{ kms = \"arn:aws:kms:…\" }`",
                );
                None
            }
            RawSign::Table(t)
                if t.fulcio.is_some() || t.rekor.is_some() || t.trusted_root.is_some() =>
            {
                self.problem_with_help(
                    "`fulcio`, `rekor` and `trusted_root` are for keyless signing",
                    span,
                    "not keyless",
                    "write `{ keyless = \"github\", fulcio = \"https://…\", rekor = \"https://…\", trusted_root = \"PATH\" }`, or leave them out",
                );
                None
            }
            RawSign::Table(t) => match (&t.key, &t.kms) {
                (Some(key), None) => {
                    let var = key.strip_prefix("env:").unwrap_or("");
                    if var.is_empty() || var.contains('=') || var.contains('\0') {
                        self.problem_with_help(
                            format!("`sign.key` is `{key}`, not `env:VAR`"),
                            span,
                            "not `env:VAR`",
                            "write `env:VAR`: the PEM private key is read from the variable VAR (a secret of the workflow), never from a file in the repository",
                        );
                        return None;
                    }
                    Some(Signing::Key {
                        var: var.to_string(),
                    })
                }
                (None, Some(arn)) if is_kms_arn(arn) => Some(Signing::Kms { arn: arn.clone() }),
                (None, Some(arn)) => {
                    self.problem_with_help(
                        format!("`sign.kms` is `{arn}`, not a KMS key ARN"),
                        span,
                        "not a KMS key ARN",
                        "write the key's ARN: arn:aws:kms:REGION:ACCOUNT:key/ID",
                    );
                    None
                }
                _ => {
                    self.problem_with_help(
                        "`sign` needs exactly one of `key` and `kms`",
                        span,
                        "key or kms",
                        "write `{ key = \"env:VAR\" }` or `{ kms = \"arn:aws:kms:…\" }`",
                    );
                    None
                }
            },
        }
    }

    /// `{ keyless = "github", … }`.
    fn keyless(&mut self, t: &RawSignTable, span: std::ops::Range<usize>) -> Option<Signing> {
        if t.key.is_some() || t.kms.is_some() {
            self.problem_with_help(
                "`sign` needs exactly one of `key`, `kms` and `keyless`",
                span,
                "more than one",
                "keep one way to sign",
            );
            return None;
        }
        if t.keyless.as_deref() != Some("github") {
            self.problem_with_help(
                format!(
                    "`sign.keyless` is `{}`; shipit signs keyless with GitHub Actions' token only",
                    t.keyless.as_deref().unwrap_or_default()
                ),
                span,
                "not \"github\"",
                "write `keyless = \"github\"`",
            );
            return None;
        }
        for (name, url) in [("fulcio", &t.fulcio), ("rekor", &t.rekor)] {
            if let Some(u) = url
                && !(u.starts_with("https://") || u.starts_with("http://"))
            {
                self.problem_with_help(
                    format!("`sign.{name}` is `{u}`, not an http(s) URL"),
                    span.clone(),
                    "not a URL",
                    format!("write the {name} server's URL, as `https://{name}.example.com`"),
                );
                return None;
            }
        }
        let private = t.fulcio.is_some() || t.rekor.is_some();
        if private && t.trusted_root.is_none() {
            self.problem_with_help(
                "a private Sigstore instance (`fulcio`, `rekor`) needs its `trusted_root`",
                span,
                "no `trusted_root`",
                "add `trusted_root = \"PATH\"`: the instance's trusted_root.json, in the repository, which verification checks its certificates and log entries against",
            );
            return None;
        }
        let trusted_root = match &t.trusted_root {
            Some(p) => Some(self.repository_file(
                "sign.trusted_root",
                "the instance's trusted_root.json",
                p,
                span.clone(),
            )?),
            None => None,
        };
        Some(Signing::Keyless {
            fulcio: t.fulcio.clone().unwrap_or_else(|| FULCIO.into()),
            rekor: t.rekor.clone().unwrap_or_else(|| REKOR.into()),
            trusted_root,
        })
    }

    /// A file in the repository named by `key`: relative to the root, never out of it.
    fn repository_file(
        &mut self,
        key: &str,
        kind: &str,
        path: &str,
        span: std::ops::Range<usize>,
    ) -> Option<String> {
        if path.trim().is_empty() {
            self.problem(format!("`{key}` is empty"), span, "empty");
            return None;
        }
        if path.split(['/', '\\']).any(|c| c == "..") {
            self.problem_with_help(
                format!("`{key}` `{path}` leads out of the repository"),
                span,
                "outside the repository",
                format!("name {kind} inside the repository, relative to its root"),
            );
            return None;
        }
        Some(path.trim_start_matches('/').to_string())
    }

    /// `verify_identity` of one environment.
    fn identity(&mut self, raw: &S<RawIdentity>) -> Option<IdentityAnchor> {
        let span = raw.span();
        let r = raw.get_ref();
        if let Some(subject) = &r.subject
            && subject.trim().is_empty()
        {
            self.problem("`verify_identity.subject` is empty", span, "empty");
            return None;
        }
        let trusted_root = match &r.trusted_root {
            Some(p) => Some(self.repository_file(
                "verify_identity.trusted_root",
                "the instance's trusted_root.json",
                p,
                span,
            )?),
            None => None,
        };
        Some(IdentityAnchor {
            issuer: r.issuer.clone().unwrap_or_else(|| GITHUB_ISSUER.into()),
            subject: r.subject.clone(),
            trusted_root,
        })
    }

    /// `verify`, `verify_key` and `verify_identity` of one environment, whose signing is `sign`.
    pub(super) fn verify(
        &mut self,
        environment: &str,
        verify: Option<Verify>,
        key: Option<&S<String>>,
        identity: Option<&S<RawIdentity>>,
        sign: Option<&Signing>,
        span: std::ops::Range<usize>,
    ) -> Option<Verification> {
        let policy = match verify.unwrap_or_default() {
            Verify::Off => return None,
            Verify::Signature => Policy::Signature,
            Verify::Provenance => Policy::Provenance,
        };
        if let (Some(_), Some(i)) = (key, identity) {
            self.problem_with_help(
                "`verify_key` and `verify_identity` both name a trust anchor",
                i.span(),
                "one too many",
                "keep `verify_key` for images signed with a key, or `verify_identity` for keyless ones",
            );
            return None;
        }
        if let Some(i) = identity {
            let anchor = TrustAnchor::Identity(self.identity(i)?);
            return Some(Verification { policy, anchor });
        }
        if let (None, Some(Signing::Keyless { trusted_root, .. })) = (key, sign) {
            let anchor = TrustAnchor::Identity(IdentityAnchor {
                issuer: GITHUB_ISSUER.into(),
                subject: None,
                trusted_root: trusted_root.clone(),
            });
            return Some(Verification { policy, anchor });
        }
        let anchor = match (key, sign) {
            (Some(k), _) if is_kms_arn(k.get_ref()) => TrustAnchor::Kms(k.get_ref().clone()),
            (Some(k), _) if k.get_ref().starts_with("arn:") => {
                self.problem_with_help(
                    format!("`verify_key` `{}` is not a KMS key ARN", k.get_ref()),
                    k.span(),
                    "not a KMS key ARN",
                    "write a KMS key's ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) or the path of a PEM public key in the repository",
                );
                return None;
            }
            (Some(k), _) => TrustAnchor::File(self.repository_file(
                "verify_key",
                "a PEM public key file",
                k.get_ref(),
                k.span(),
            )?),
            (None, Some(_)) => TrustAnchor::Signer,
            (None, None) => {
                self.problem_with_help(
                    format!("environment `{environment}` verifies images but names no trust anchor"),
                    span,
                    "no `verify_key`",
                    "set `verify_key` to a PEM public key in the repository (\"keys/cosign.pub\") or a KMS key ARN, `verify_identity` for keyless signatures, or `sign` for this environment",
                );
                return None;
            }
        };
        Some(Verification { policy, anchor })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Checks, Config, ConfigError};
    use super::*;

    fn parse(extra_project: &str, env: &str) -> Result<Config, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        let toml = format!(
            "[project]\n{extra_project}\n[environments.prod]\nbranch = \"main\"\n{env}\n[services.a]\npath = \"a\"\n"
        );
        Config::parse(
            &toml,
            "ci.toml",
            std::path::Path::new("ci.toml"),
            dir.path(),
            Checks::Load,
        )
        .map_err(|e| match e {
            ConfigError::Invalid(p) => p.problems.iter().map(|p| p.message.clone()).collect(),
            other => vec![other.to_string()],
        })
    }

    #[test]
    fn an_environment_signs_with_the_projects_key_unless_it_names_its_own() {
        let c = parse("sign = { key = \"env:K\" }", "").unwrap();
        assert_eq!(
            c.environments[0].sign,
            Some(Signing::Key { var: "K".into() })
        );
        assert_eq!(c.environments[0].verify, None);
        let arn = "arn:aws:kms:eu-west-1:123456789012:key/abc";
        let c = parse(
            "sign = { key = \"env:K\" }",
            &format!("sign = {{ kms = \"{arn}\" }}\nverify = \"provenance\""),
        )
        .unwrap();
        let prod = &c.environments[0];
        assert_eq!(prod.sign, Some(Signing::Kms { arn: arn.into() }));
        assert_eq!(
            prod.verify,
            Some(Verification {
                policy: Policy::Provenance,
                anchor: TrustAnchor::Signer
            })
        );
        let c = parse(
            "",
            "verify = \"signature\"\nverify_key = \"/keys/cosign.pub\"",
        )
        .unwrap();
        assert_eq!(
            c.environments[0].verify.as_ref().unwrap().anchor,
            TrustAnchor::File("keys/cosign.pub".into())
        );
    }

    #[test]
    fn keyless_signing_verifies_a_workflow_of_this_repository_unless_told_another_identity() {
        let c = parse("sign = \"github\"", "verify = \"provenance\"").unwrap();
        let prod = &c.environments[0];
        assert_eq!(
            prod.sign,
            Some(Signing::Keyless {
                fulcio: "https://fulcio.sigstore.dev".into(),
                rekor: "https://rekor.sigstore.dev".into(),
                trusted_root: None
            })
        );
        assert_eq!(
            prod.verify.as_ref().unwrap().anchor,
            TrustAnchor::Identity(IdentityAnchor {
                issuer: GITHUB_ISSUER.into(),
                subject: None,
                trusted_root: None
            })
        );
        let c = parse(
            "sign = { keyless = \"github\", fulcio = \"http://127.0.0.1:1\", rekor = \"http://127.0.0.1:2\", trusted_root = \"sigstore/root.json\" }",
            "verify = \"signature\"\nverify_identity = { subject = \"https://github.com/o/r/.github/workflows/release.yml@refs/heads/main\", trusted_root = \"/sigstore/root.json\" }",
        )
        .unwrap();
        let prod = &c.environments[0];
        assert!(matches!(
            &prod.sign,
            Some(Signing::Keyless { fulcio, trusted_root: Some(r), .. })
                if fulcio == "http://127.0.0.1:1" && r == "sigstore/root.json"
        ));
        assert_eq!(
            prod.verify.as_ref().unwrap().anchor,
            TrustAnchor::Identity(IdentityAnchor {
                issuer: GITHUB_ISSUER.into(),
                subject: Some(
                    "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main".into()
                ),
                trusted_root: Some("sigstore/root.json".into())
            })
        );
    }

    #[test]
    fn what_cannot_sign_or_verify_is_refused_with_its_fix() {
        let private = parse(
            "sign = { keyless = \"github\", fulcio = \"https://fulcio.example\" }",
            "",
        )
        .unwrap_err();
        assert!(
            private[0].contains("needs its `trusted_root`"),
            "{private:?}"
        );
        let other = parse("sign = { keyless = \"gitlab\" }", "").unwrap_err();
        assert!(other[0].contains("GitHub Actions' token only"), "{other:?}");
        let mixed = parse("sign = { key = \"env:K\", trusted_root = \"r.json\" }", "").unwrap_err();
        assert!(mixed[0].contains("are for keyless signing"), "{mixed:?}");
        let both = parse(
            "",
            "verify = \"signature\"\nverify_key = \"k.pub\"\nverify_identity = { subject = \"x\" }",
        )
        .unwrap_err();
        assert!(both[0].contains("both name a trust anchor"), "{both:?}");
        let out = parse(
            "",
            "verify = \"signature\"\nverify_identity = { trusted_root = \"../root.json\" }",
        )
        .unwrap_err();
        assert!(out[0].contains("leads out of the repository"), "{out:?}");
        let file = parse("sign = { key = \"keys/cosign.key\" }", "").unwrap_err();
        assert!(file[0].contains("not `env:VAR`"), "{file:?}");
        let both = parse(
            "sign = { key = \"env:K\", kms = \"arn:aws:kms:r:1:key/x\" }",
            "",
        )
        .unwrap_err();
        assert!(both[0].contains("exactly one"), "{both:?}");
        let typo = parse("sign = { keys = \"env:K\" }", "").unwrap_err();
        assert!(typo[0].contains("not a way to sign"), "{typo:?}");
        let arn = parse("sign = { kms = \"key/x\" }", "").unwrap_err();
        assert!(arn[0].contains("not a KMS key ARN"), "{arn:?}");
        let anchorless = parse("", "verify = \"signature\"").unwrap_err();
        assert!(
            anchorless[0].contains("names no trust anchor"),
            "{anchorless:?}"
        );
        let unknown = parse("", "verify = \"yes\"").unwrap_err();
        assert!(
            unknown[0].contains("`off`, `signature`, `provenance`"),
            "{unknown:?}"
        );
    }
}
