//! The transparency log side of a keyless signature: a Rekor entry's signed entry timestamp,
//! its inclusion proof (RFC 9162) and signed checkpoint, and its body bound to the envelope.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use super::KeylessError;
use super::verify_prehash_p256;
use crate::sign::bundle::Opened;
use crate::sign::root::{Log, TrustedRoot};

/// An ECDSA P-256 signature (DER) by the key `spki_der` over the SHA-256 of `message`.
fn log_signed(spki_der: &[u8], message: &[u8], der: &[u8]) -> bool {
    use p256::pkcs8::DecodePublicKey;
    let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(spki_der) else {
        return false;
    };
    let point = key.to_encoded_point(false);
    verify_prehash_p256(point.as_bytes(), &Sha256::digest(message), der)
}

/// The part of a bundle's `tlogEntries[]` a check reads.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    log_index: String,
    log_id: LogId,
    kind_version: KindVersion,
    #[serde(default)]
    integrated_time: Option<String>,
    inclusion_promise: Option<Promise>,
    inclusion_proof: Option<Proof>,
    canonicalized_body: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogId {
    key_id: String,
}

#[derive(serde::Deserialize)]
struct KindVersion {
    kind: String,
    version: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Promise {
    signed_entry_timestamp: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Proof {
    log_index: String,
    root_hash: String,
    tree_size: String,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<Checkpoint>,
}

#[derive(serde::Deserialize)]
struct Checkpoint {
    envelope: String,
}

/// The log's time and index of `entry`, once its promise, proof and body hold.
pub(super) fn logged(
    opened: &Opened,
    leaf_der: &[u8],
    entry: &serde_json::Value,
    root: &TrustedRoot,
) -> Result<(i64, i64), KeylessError> {
    let malformed = KeylessError::OtherEntry("it cannot be read");
    let entry: Entry = serde_json::from_value(entry.clone()).map_err(|_| malformed.clone())?;
    let id = B64
        .decode(&entry.log_id.key_id)
        .map_err(|_| malformed.clone())?;
    let log = root
        .log(&id)
        .ok_or_else(|| KeylessError::UnknownLog(hex::encode(&id)))?;
    let body = B64
        .decode(&entry.canonicalized_body)
        .map_err(|_| malformed.clone())?;
    let index: i64 = entry.log_index.parse().map_err(|_| malformed.clone())?;
    let promise = entry
        .inclusion_promise
        .as_ref()
        .ok_or(KeylessError::NoPromise)?;
    let time: i64 = entry
        .integrated_time
        .as_deref()
        .and_then(|t| t.parse().ok())
        .ok_or(KeylessError::NoPromise)?;
    if log.details != "PKIX_ECDSA_P256_SHA_256" || !log.valid.contains(time) {
        return Err(KeylessError::BadPromise);
    }
    let set = B64
        .decode(&promise.signed_entry_timestamp)
        .map_err(|_| KeylessError::BadPromise)?;
    let promised = format!(
        r#"{{"body":"{}","integratedTime":{time},"logID":"{}","logIndex":{index}}}"#,
        entry.canonicalized_body,
        hex::encode(&id)
    );
    if !log_signed(&log.key, promised.as_bytes(), &set) {
        return Err(KeylessError::BadPromise);
    }
    if let Some(proof) = &entry.inclusion_proof {
        included(proof, &body, log)?;
    }
    bound(opened, leaf_der, &entry.kind_version, &body)?;
    Ok((time, index))
}

/// RFC 9162's inclusion proof check of `body` (the leaf), then the checkpoint's signature.
fn included(proof: &Proof, body: &[u8], log: &Log) -> Result<(), KeylessError> {
    let bad = KeylessError::BadProof;
    let index: u64 = proof.log_index.parse().map_err(|_| bad("unreadable"))?;
    let size: u64 = proof.tree_size.parse().map_err(|_| bad("unreadable"))?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| B64.decode(h))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("unreadable"))?;
    let root_hash = B64
        .decode(&proof.root_hash)
        .map_err(|_| bad("unreadable"))?;
    let mut leaf = Sha256::new();
    leaf.update([0u8]);
    leaf.update(body);
    let computed = root_from_proof(index, size, leaf.finalize().to_vec(), &hashes)
        .ok_or(bad("it does not fit the tree's size"))?;
    if computed != root_hash {
        return Err(bad("it leads to another root hash"));
    }
    let Some(checkpoint) = &proof.checkpoint else {
        return Ok(());
    };
    let (size_seen, root_seen) = checkpoint_signed(&checkpoint.envelope, log)
        .ok_or(bad("its checkpoint is not signed by the log"))?;
    if size_seen != size || root_seen != root_hash {
        return Err(bad("its checkpoint is of another tree"));
    }
    Ok(())
}

/// The root hash a leaf at `index` of a tree of `size` leads to through `proof` (RFC 9162,
/// 2.1.3.2), or `None` when the proof does not fit the tree.
pub fn root_from_proof(index: u64, size: u64, leaf: Vec<u8>, proof: &[Vec<u8>]) -> Option<Vec<u8>> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        if s == 0 {
            return None;
        }
        let mut h = Sha256::new();
        h.update([1u8]);
        if f & 1 == 1 || f == s {
            h.update(p);
            h.update(&r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            h.update(&r);
            h.update(p);
        }
        r = h.finalize().to_vec();
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

/// A signed note's tree size and root hash, when a signature line by `log` verifies over it.
fn checkpoint_signed(envelope: &str, log: &Log) -> Option<(u64, Vec<u8>)> {
    let (note, signatures) = envelope.split_once("\n\n")?;
    let note = format!("{note}\n");
    let mut lines = note.lines();
    let _origin = lines.next()?;
    let size: u64 = lines.next()?.parse().ok()?;
    let root_hash = B64.decode(lines.next()?).ok()?;
    let signed = signatures.lines().any(|line| {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return false;
        };
        let Some(sig) = rest.rsplit(' ').next().and_then(|s| B64.decode(s).ok()) else {
            return false;
        };
        sig.len() > 4 && sig[..4] == log.id[..4] && log_signed(&log.key, note.as_bytes(), &sig[4..])
    });
    signed.then_some((size, root_hash))
}

/// The entry's body names this envelope's payload, signature and certificate.
fn bound(
    opened: &Opened,
    leaf_der: &[u8],
    kind: &KindVersion,
    body: &[u8],
) -> Result<(), KeylessError> {
    let other = KeylessError::OtherEntry;
    let body: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| other("its body is not JSON"))?;
    if body["kind"] != kind.kind.as_str() || body["apiVersion"] != kind.version.as_str() {
        return Err(other("its body is of another kind"));
    }
    let payload_hash = Sha256::digest(&opened.payload).to_vec();
    let envelope_sigs = &opened.signatures;
    let spec = &body["spec"];
    // The payload hash and the (signature, certificate DER) pairs, as this kind writes them.
    let (hash, signatures): (Option<Vec<u8>>, Vec<Signature>) =
        match (kind.kind.as_str(), kind.version.as_str()) {
            ("dsse", "0.0.1") => (
                spec["payloadHash"]["value"]
                    .as_str()
                    .and_then(|h| hex::decode(h).ok()),
                array(&spec["signatures"])
                    .map(|s| (b64(&s["signature"]), pem_der(&s["verifier"])))
                    .collect(),
            ),
            ("dsse", "0.0.2") => (
                b64(&spec["dsseV002"]["payloadHash"]["digest"]),
                array(&spec["dsseV002"]["signatures"])
                    .map(|s| {
                        (
                            b64(&s["content"]),
                            b64(&s["verifier"]["x509Certificate"]["rawBytes"]),
                        )
                    })
                    .collect(),
            ),
            ("intoto", "0.0.2") => (
                spec["content"]["payloadHash"]["value"]
                    .as_str()
                    .and_then(|h| hex::decode(h).ok()),
                array(&spec["content"]["envelope"]["signatures"])
                    .map(|s| {
                        // intoto 0.0.2 encodes the signature's base64 once more.
                        let sig =
                            b64(&s["sig"]).and_then(|inner| B64.decode(inner.trim_ascii()).ok());
                        (sig, pem_der(&s["publicKey"]))
                    })
                    .collect(),
            ),
            _ => return Err(other("its kind is not dsse or intoto")),
        };
    if hash.as_deref() != Some(&payload_hash[..]) {
        return Err(other("its payload hash is another payload's"));
    }
    let ours = signatures.iter().any(|(sig, cert)| {
        sig.as_ref().is_some_and(|s| envelope_sigs.contains(s)) && cert.as_deref() == Some(leaf_der)
    });
    if !ours {
        return Err(other("it names another signature or certificate"));
    }
    Ok(())
}

/// A signature and its certificate (DER) as an entry's body names them.
type Signature = (Option<Vec<u8>>, Option<Vec<u8>>);

fn array(v: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    v.as_array().into_iter().flatten()
}

fn b64(v: &serde_json::Value) -> Option<Vec<u8>> {
    B64.decode(v.as_str()?).ok()
}

/// A base64 PEM certificate (as Rekor's bodies carry one) as DER.
fn pem_der(v: &serde_json::Value) -> Option<Vec<u8>> {
    let pem = String::from_utf8(b64(v)?).ok()?;
    let inner: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    B64.decode(inner.trim()).ok()
}
