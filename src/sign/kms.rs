//! Signing with an AWS KMS key (`sign = { kms = "arn:aws:kms:…" }`): an asymmetric
//! `ECC_NIST_P256` key with `SIGN_VERIFY` usage, through the SDK's KMS client (the deadlines of
//! [`crate::aws::timeout_config`]). The private key never leaves KMS; its public key is read once
//! (GetPublicKey) to name the bundle's key and to verify.

use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};

/// The largest message KMS signs as it is (`MessageType = RAW`); a longer one is sent as its
/// SHA-256 digest (`DIGEST`).
const RAW_LIMIT: usize = 4096;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum KmsError {
    #[error("KMS: {0}")]
    Aws(#[from] crate::aws::AwsError),
    #[error("the KMS key {arn} is not an ECC_NIST_P256 signing key: {why}")]
    #[diagnostic(help(
        "create it with KeySpec ECC_NIST_P256 and KeyUsage SIGN_VERIFY (cosign's default kind of key)"
    ))]
    NotP256 { arn: String, why: String },
}

impl KmsError {
    pub fn is_bad_input(&self) -> bool {
        match self {
            KmsError::Aws(e) => e.is_bad_input(),
            KmsError::NotP256 { .. } => true,
        }
    }
}

/// A KMS key and its public key.
#[derive(Debug, Clone)]
pub struct KmsKey {
    client: aws_sdk_kms::Client,
    arn: String,
    public: VerifyingKey,
}

impl KmsKey {
    /// Reads the key's public key (GetPublicKey): it must be an ECDSA P-256 key.
    pub async fn open(sdk: &aws_config::SdkConfig, arn: &str) -> Result<KmsKey, KmsError> {
        let client = aws_sdk_kms::Client::new(sdk);
        let public = public_key(&client, arn).await?;
        Ok(KmsKey {
            client,
            arn: arn.to_string(),
            public,
        })
    }

    pub fn verifying(&self) -> VerifyingKey {
        self.public
    }

    /// A DER ECDSA signature over `message` with SHA-256.
    pub async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KmsError> {
        use aws_sdk_kms::primitives::Blob;
        use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
        let (body, kind) = match message.len() <= RAW_LIMIT {
            true => (message.to_vec(), MessageType::Raw),
            false => (Sha256::digest(message).to_vec(), MessageType::Digest),
        };
        let out = self
            .client
            .sign()
            .key_id(&self.arn)
            .message(Blob::new(body))
            .message_type(kind)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(|e| crate::aws::classify("kms", "Sign", e))?;
        out.signature
            .map(|b| b.into_inner())
            .ok_or_else(|| KmsError::NotP256 {
                arn: self.arn.clone(),
                why: "Sign returned no signature".into(),
            })
    }
}

/// The public key of the KMS key `arn` (GetPublicKey), for `verify_key = "arn:aws:kms:…"`.
pub async fn public_key(client: &aws_sdk_kms::Client, arn: &str) -> Result<VerifyingKey, KmsError> {
    let out = client
        .get_public_key()
        .key_id(arn)
        .send()
        .await
        .map_err(|e| crate::aws::classify("kms", "GetPublicKey", e))?;
    let der = out.public_key.map(|b| b.into_inner()).unwrap_or_default();
    VerifyingKey::from_public_key_der(&der).map_err(|e| KmsError::NotP256 {
        arn: arn.to_string(),
        why: format!("its public key is not P-256 ({e})"),
    })
}
