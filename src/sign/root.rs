//! A Sigstore trusted root (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`, the
//! file Sigstore's TUF repository distributes as `trusted_root.json`): the Fulcio certificate
//! authorities, Rekor logs, certificate transparency logs and timestamp authorities that keyless
//! signatures are checked against. The types are sigstore-verify's; shipit carries the
//! public-good instance's root as that crate does, and reads a private instance's from
//! `trusted_root = "PATH"`.

pub use sigstore_verify::trust_root::TrustedRoot;

/// Why a trusted root cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootError {
    #[error("it is not a Sigstore trusted root: {0}")]
    Unreadable(String),
    #[error("it names no certificate authority")]
    NoAuthority,
    #[error("it names no transparency log")]
    NoLog,
}

/// The public-good instance's (fulcio.sigstore.dev, rekor.sigstore.dev).
pub fn public_good() -> TrustedRoot {
    TrustedRoot::from_json(sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT)
        .expect("the embedded trusted root reads")
}

/// A trusted root from its JSON.
pub fn parse(bytes: &[u8]) -> Result<TrustedRoot, RootError> {
    let text = std::str::from_utf8(bytes).map_err(|e| RootError::Unreadable(e.to_string()))?;
    let root = TrustedRoot::from_json(text).map_err(|e| RootError::Unreadable(e.to_string()))?;
    if root.certificate_authorities.is_empty() {
        return Err(RootError::NoAuthority);
    }
    if root.tlogs.is_empty() {
        return Err(RootError::NoLog);
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_good_root_names_fulcio_rekor_and_ct_logs() {
        let root = public_good();
        assert!(!root.certificate_authorities.is_empty());
        assert!(!root.tlogs.is_empty());
        assert!(!root.ctlogs.is_empty());
    }

    #[test]
    fn what_is_not_a_trusted_root_is_named() {
        assert!(matches!(parse(b"{"), Err(RootError::Unreadable(_))));
        assert_eq!(
            parse(br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#)
                .unwrap_err(),
            RootError::NoAuthority
        );
    }
}
