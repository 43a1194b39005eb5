//! Signing an image digest and checking a signature before a rollout.
//!
//! - [`bundle`]: the Sigstore bundle v0.3 with a DSSE envelope, as cosign writes one for an image
//!   (pure).
//! - [`check`]: the decision before a rollout over what is attached to a digest (pure).
//! - [`Key`] (an ECDSA P-256 key given as PEM) and [`kms`] (an AWS KMS key) sign; [`Signer`] is
//!   either.
//! - [`Referrers`]: what this module needs from the registry, to attach a bundle to a digest and
//!   read back what is attached.

pub mod bundle;
pub mod check;
pub mod keyless;
pub mod kms;
pub mod root;
pub mod sigstore;

use std::future::Future;

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};

/// What the registry does for signing and verification: a bundle attached to an image digest as
/// an OCI referrer (`artifactType` [`bundle::MEDIA_TYPE`]), and the bundles attached to one.
/// `registry::Client` implements it (in `pipeline::signatures`, so that this module needs nothing
/// of the registry).
pub trait Referrers {
    type Error;

    /// Attaches `bundle` (its JSON) to `subject` (`sha256:…`) in `repository`; `predicate_type`
    /// is the statement's, for the referrer's annotations.
    fn attach_bundle(
        &self,
        repository: &str,
        subject: &str,
        bundle: &[u8],
        predicate_type: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The Sigstore bundles attached to `subject` in `repository`, as their bytes.
    fn bundles(
        &self,
        repository: &str,
        subject: &str,
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, Self::Error>> + Send;
}

/// Why a key cannot sign or be trusted.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the variable {var} is not set")]
    Unset { var: String },
    #[error(
        "{what} is a cosign-encrypted key; shipit takes an unencrypted PKCS#8 or SEC1 PEM ECDSA P-256 key"
    )]
    Encrypted { what: String },
    #[error("{what} is not an ECDSA P-256 private key in PEM (PKCS#8 or SEC1)")]
    NotPrivateKey { what: String },
    #[error("{what} is not an ECDSA P-256 public key in PEM (`-----BEGIN PUBLIC KEY-----`)")]
    NotPublicKey { what: String },
    #[error("cannot read the public key {path}: {cause}")]
    Read {
        path: String,
        cause: crate::limits::ReadError,
    },
}

/// An ECDSA P-256 private key (cosign's default kind of key).
#[derive(Clone)]
pub struct Key {
    signing: SigningKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(****)") // never the key
    }
}

impl Key {
    /// The key in `pem` (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`); `what` names where it
    /// came from, for the message (never the key).
    pub fn from_pem(pem: &str, what: &str) -> Result<Key, KeyError> {
        let pem = pem.trim();
        if pem.contains("ENCRYPTED") {
            return Err(KeyError::Encrypted { what: what.into() });
        }
        let secret = p256::SecretKey::from_pkcs8_pem(pem)
            .or_else(|_| p256::SecretKey::from_sec1_pem(pem))
            .map_err(|_| KeyError::NotPrivateKey { what: what.into() })?;
        Ok(Key {
            signing: SigningKey::from(secret),
        })
    }

    /// A new random key (a throwaway key for tests).
    pub fn generate() -> Key {
        Key {
            signing: SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    pub fn verifying(&self) -> VerifyingKey {
        *self.signing.verifying_key()
    }

    /// A signature (DER) over `message` with SHA-256.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.signing.sign(message);
        signature.to_der().as_bytes().to_vec()
    }

    /// `statement` (an in-toto statement's JSON) signed in a bundle.
    pub fn bundle(&self, statement: &[u8]) -> bundle::Bundle {
        let signature = self.sign(&bundle::pae(bundle::IN_TOTO, statement));
        bundle::with_key(statement, &signature, &hint(&self.verifying()))
    }
}

/// The hint a bundle signed with `key` carries.
pub fn hint(key: &VerifyingKey) -> String {
    let der = key
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default();
    bundle::key_hint(&der)
}

/// A public key in PEM (`-----BEGIN PUBLIC KEY-----`, as `cosign generate-key-pair` writes
/// `cosign.pub`).
pub fn public_key_from_pem(pem: &str, what: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_public_key_pem(pem.trim())
        .map_err(|_| KeyError::NotPublicKey { what: what.into() })
}

/// The public key's PEM.
pub fn public_key_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .unwrap_or_default()
}

/// What signs: a key given as PEM, a KMS key, or keyless (a Fulcio certificate for a fresh key
/// each time).
#[derive(Debug)]
pub enum Signer {
    Key(Key),
    Kms(kms::KmsKey),
    Keyless(sigstore::Keyless),
}

/// Why a signature could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("{0}")]
    Kms(#[from] kms::KmsError),
    #[error("{0}")]
    Keyless(#[from] sigstore::KeylessSignError),
}

impl Signer {
    /// The public key of a signer with a key; keyless signing has none that lasts.
    pub fn verifying(&self) -> Option<VerifyingKey> {
        match self {
            Signer::Key(k) => Some(k.verifying()),
            Signer::Kms(k) => Some(k.verifying()),
            Signer::Keyless(_) => None,
        }
    }

    /// `statement` signed in a bundle.
    pub async fn bundle(&self, statement: &[u8]) -> Result<bundle::Bundle, SignerError> {
        match self {
            Signer::Key(k) => Ok(k.bundle(statement)),
            Signer::Kms(k) => {
                let signature = k.sign(&bundle::pae(bundle::IN_TOTO, statement)).await?;
                Ok(bundle::with_key(
                    statement,
                    &signature,
                    &hint(&k.verifying()),
                ))
            }
            Signer::Keyless(k) => Ok(k.bundle(statement).await?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_from_pem_sign_what_their_public_key_verifies() {
        let key = Key::generate();
        let pem = p256::SecretKey::from(&key.signing)
            .to_sec1_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        let again = Key::from_pem(&pem, "SHIPIT_SIGNING_KEY").unwrap();
        let public = public_key_from_pem(&public_key_pem(&key.verifying()), "cosign.pub").unwrap();
        assert_eq!(again.verifying(), public);
        let b = again.bundle(b"{\"_type\":\"x\",\"subject\":[],\"predicateType\":\"p\"}");
        let opened = bundle::open(&b.to_json()).unwrap();
        assert!(check::signed_by(&opened, &public));
        assert!(!check::signed_by(&opened, &Key::generate().verifying()));
    }

    #[test]
    fn what_is_not_a_key_is_named_never_shown() {
        let err = Key::from_pem(
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0c2VjcmV0\n-----END PRIVATE KEY-----",
            "env:K",
        )
        .unwrap_err();
        assert!(!err.to_string().contains("c2VjcmV0c2VjcmV0"));
        assert!(matches!(
            Key::from_pem("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----", "env:K"),
            Err(KeyError::Encrypted { .. })
        ));
        assert!(public_key_from_pem("nope", "keys/cosign.pub").is_err());
    }
}
