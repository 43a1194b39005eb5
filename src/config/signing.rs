//! `sign`, `verify` and `verify_key`: resolved from ci.toml, each problem pointing at its key.

use super::raw::{RawSign, S, Verify};
use super::resolve::Resolver;

/// How pushed images are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signing {
    /// An ECDSA P-256 private key in PEM, read from the variable `var`.
    Key { var: String },
    /// An AWS KMS key.
    Kms { arn: String },
}

impl Signing {
    /// The key in words, for messages (never the key).
    pub fn describe(&self) -> String {
        match self {
            Signing::Key { var } => format!("the key in {var}"),
            Signing::Kms { arn } => format!("the KMS key {arn}"),
        }
    }
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
            RawSign::Keyless(name) if name == "github" => {
                self.problem_with_help(
                    "keyless signing (`sign = \"github\"`) is not supported by this version of shipit",
                    span,
                    "keyless",
                    "sign with a key: `sign = { key = \"env:VAR\" }` (an ECDSA P-256 PEM key in VAR) or `sign = { kms = \"arn:aws:kms:…\" }`",
                );
                None
            }
            RawSign::Keyless(other) => {
                self.problem_with_help(
                    format!("`{other}` is not a way to sign"),
                    span,
                    "unknown",
                    "write `{ key = \"env:VAR\" }` or `{ kms = \"arn:aws:kms:…\" }`",
                );
                None
            }
            RawSign::Other(_) => {
                self.problem_with_help(
                    "`sign` is not a way to sign",
                    span,
                    "not `{ key = … }` or `{ kms = … }`",
                    "write `{ key = \"env:VAR\" }` or `{ kms = \"arn:aws:kms:…\" }`",
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

    /// `verify` and `verify_key` of one environment, whose signing is `sign`.
    pub(super) fn verify(
        &mut self,
        environment: &str,
        verify: Option<Verify>,
        key: Option<&S<String>>,
        sign: Option<&Signing>,
        span: std::ops::Range<usize>,
    ) -> Option<Verification> {
        let policy = match verify.unwrap_or_default() {
            Verify::Off => return None,
            Verify::Signature => Policy::Signature,
            Verify::Provenance => Policy::Provenance,
        };
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
            (Some(k), _) if k.get_ref().trim().is_empty() => {
                self.problem("`verify_key` is empty", k.span(), "empty");
                return None;
            }
            (Some(k), _) if k.get_ref().split(['/', '\\']).any(|c| c == "..") => {
                self.problem_with_help(
                    format!("`verify_key` `{}` leads out of the repository", k.get_ref()),
                    k.span(),
                    "outside the repository",
                    "name a PEM public key file inside the repository, relative to its root",
                );
                return None;
            }
            (Some(k), _) => TrustAnchor::File(k.get_ref().trim_start_matches('/').to_string()),
            (None, Some(_)) => TrustAnchor::Signer,
            (None, None) => {
                self.problem_with_help(
                    format!("environment `{environment}` verifies images but names no trust anchor"),
                    span,
                    "no `verify_key`",
                    "set `verify_key` to a PEM public key in the repository (\"keys/cosign.pub\") or a KMS key ARN, or `sign` for this environment",
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
    fn what_cannot_sign_or_verify_is_refused_with_its_fix() {
        let keyless = parse("sign = \"github\"", "").unwrap_err();
        assert!(keyless[0].contains("keyless signing"), "{keyless:?}");
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
