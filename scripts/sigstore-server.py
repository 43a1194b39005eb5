#!/usr/bin/env python3
"""A Sigstore stand-in for the tests: GitHub Actions' OIDC token endpoint, Fulcio and Rekor on one
port, what keyless signing (`sign = "github"`) talks to and nothing here can reach for real.

    sigstore-server.py PORT

- GET /token?workflow=OWNER/REPO/.github/workflows/FILE@REF&audience=sigstore, with
  `Authorization: bearer <anything>`: {"value": JWT}, a token of GitHub Actions' shape (`iss`
  https://token.actions.githubusercontent.com, `sub` repo:OWNER/REPO:ref:REF, `job_workflow_ref`).
  Its signature is the stand-in's own; Fulcio accepts only tokens it issued. Without a bearer: 401.
- POST /api/v2/signingCert (Fulcio v2): checks the token and the proof of possession (the key's
  signature over the token's `sub`, as Fulcio does), then issues a ten-minute code-signing
  certificate from its intermediate CA (ECDSA P-384, as Fulcio's): SAN URI
  https://github.com/<job_workflow_ref>, issuer extensions 1.3.6.1.4.1.57264.1.1 and .1.8.
- POST /api/v1/log/entries (Rekor v1), kind `dsse` 0.0.1: checks the envelope's signature with the
  verifier certificate, appends the canonical body to an RFC 6962 Merkle tree, and answers the
  entry with its signed entry timestamp, inclusion proof and signed checkpoint (ECDSA P-256).
- GET /trusted_root.json: the trusted root (its CA chain and log key) in Sigstore's format.
- GET /health.

What it does not model: SCTs, RFC 3161 timestamps, Rekor's search and retrieval APIs.
"""
import base64
import datetime
import hashlib
import json
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
ORIGIN = "rekor.stand-in - 1"  # the checkpoint's first line
KEY_NAME = "rekor.stand-in"  # its signature line's name (no spaces)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def name(cn: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.stand-in"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def ca_cert(subject, issuer, key, signer, days):
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - datetime.timedelta(days=1))
        .not_valid_after(now() + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(signer, hashes.SHA384())
    )


ROOT_KEY = ec.generate_private_key(ec.SECP384R1())
ROOT = ca_cert(name("sigstore"), name("sigstore"), ROOT_KEY, ROOT_KEY, 3650)
INTERMEDIATE_KEY = ec.generate_private_key(ec.SECP384R1())
INTERMEDIATE = ca_cert(name("sigstore-intermediate"), ROOT.subject, INTERMEDIATE_KEY, ROOT_KEY, 365)
LOG_KEY = ec.generate_private_key(ec.SECP256R1())
LOG_SPKI = LOG_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
)
LOG_ID = hashlib.sha256(LOG_SPKI).digest()
TOKEN_KEY = secrets.token_bytes(32)

LOCK = threading.Lock()
LEAVES = []  # leaf hashes of the Merkle tree


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node(mth(leaves[:k]), mth(leaves[k:]))


def path(m, leaves):
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def token(workflow: str) -> str:
    repo, _, ref = workflow.partition("@")
    owner_repo = "/".join(repo.split("/")[:2])
    claims = {
        "iss": GITHUB_ISSUER,
        "aud": "sigstore",
        "sub": f"repo:{owner_repo}:ref:{ref}",
        "repository": owner_repo,
        "job_workflow_ref": workflow,
        "exp": int(time.time()) + 300,
    }
    header = b64url(canonical({"alg": "HS256", "typ": "JWT"}))
    payload = b64url(canonical(claims))
    import hmac
    sig = hmac.new(TOKEN_KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(sig)}"


def claims_of(jwt: str):
    import hmac
    try:
        header, payload, sig = jwt.split(".")
        want = hmac.new(TOKEN_KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(b64url(want), sig):
            return None
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if claims["exp"] < time.time():
            return None
        return claims
    except Exception:
        return None


def issue(claims, public_key):
    utf8_issuer = b"\x0c" + bytes([len(GITHUB_ISSUER)]) + GITHUB_ISSUER.encode()
    san = f"https://github.com/{claims['job_workflow_ref']}"
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(INTERMEDIATE.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - datetime.timedelta(seconds=5))
        .not_valid_after(now() + datetime.timedelta(minutes=10))
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(san)]), critical=True
        )
        .add_extension(
            x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), GITHUB_ISSUER.encode()),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), utf8_issuer),
            critical=False,
        )
        .sign(INTERMEDIATE_KEY, hashes.SHA384())
    )
    return cert


def pem(cert) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def pae(payload_type: str, payload: bytes) -> bytes:
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)


def log_entry(body: bytes):
    with LOCK:
        index = len(LEAVES)
        LEAVES.append(leaf_hash(body))
        size = len(LEAVES)
        root = mth(LEAVES)
        proof = path(index, LEAVES)
    integrated = int(time.time())
    body_b64 = b64(body)
    promise = canonical({
        "body": body_b64,
        "integratedTime": integrated,
        "logID": LOG_ID.hex(),
        "logIndex": index,
    })
    set_sig = LOG_KEY.sign(promise, ec.ECDSA(hashes.SHA256()))
    note = f"{ORIGIN}\n{size}\n{b64(root)}\n"
    note_sig = LOG_KEY.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
    checkpoint = note + "\n" + f"\u2014 {KEY_NAME} {b64(LOG_ID[:4] + note_sig)}\n"
    uuid = hashlib.sha256(body).hexdigest()
    return {
        uuid: {
            "body": body_b64,
            "integratedTime": integrated,
            "logID": LOG_ID.hex(),
            "logIndex": index,
            "verification": {
                "signedEntryTimestamp": b64(set_sig),
                "inclusionProof": {
                    "logIndex": index,
                    "treeSize": size,
                    "rootHash": root.hex(),
                    "hashes": [h.hex() for h in proof],
                    "checkpoint": checkpoint,
                },
            },
        }
    }


def trusted_root():
    der = lambda c: b64(c.public_bytes(serialization.Encoding.DER))
    start = (now() - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{
            "baseUrl": "http://rekor.stand-in",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": b64(LOG_SPKI),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": start},
            },
            "logId": {"keyId": b64(LOG_ID)},
        }],
        "certificateAuthorities": [{
            "subject": {"organization": "sigstore.stand-in", "commonName": "sigstore"},
            "uri": "http://fulcio.stand-in",
            "certChain": {"certificates": [{"rawBytes": der(INTERMEDIATE)}, {"rawBytes": der(ROOT)}]},
            "validFor": {"start": start},
        }],
        "ctlogs": [],
        "timestampAuthorities": [],
    }


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("%s\n" % (fmt % args))

    def answer(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def refuse(self, status, message):
        self.answer(status, {"code": status, "message": message})

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path == "/health":
            return self.answer(200, {})
        if url.path == "/trusted_root.json":
            return self.answer(200, trusted_root())
        if url.path == "/token":
            if not self.headers.get("Authorization", "").lower().startswith("bearer "):
                return self.refuse(401, "no bearer token")
            query = urllib.parse.parse_qs(url.query)
            if query.get("audience") != ["sigstore"]:
                return self.refuse(400, "audience must be sigstore")
            workflow = query.get("workflow", ["o/r/.github/workflows/release.yml@refs/heads/main"])[0]
            return self.answer(200, {"value": token(workflow)})
        self.refuse(404, "not found")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError:
            return self.refuse(400, "not JSON")
        if self.path == "/api/v2/signingCert":
            return self.signing_cert(request)
        if self.path == "/api/v1/log/entries":
            return self.log(request)
        self.refuse(404, "not found")

    def signing_cert(self, request):
        claims = claims_of(request.get("credentials", {}).get("oidcIdentityToken", ""))
        if claims is None:
            return self.refuse(401, "the identity token is not valid")
        try:
            key_request = request["publicKeyRequest"]
            public_key = serialization.load_pem_public_key(key_request["publicKey"]["content"].encode())
            proof = base64.b64decode(key_request["proofOfPossession"])
            public_key.verify(proof, claims["sub"].encode(), ec.ECDSA(hashes.SHA256()))
        except (KeyError, ValueError, InvalidSignature):
            return self.refuse(400, "the proof of possession does not verify")
        cert = issue(claims, public_key)
        chain = [pem(cert), pem(INTERMEDIATE), pem(ROOT)]
        self.answer(201, {"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}})

    def log(self, request):
        try:
            if (request["kind"], request["apiVersion"]) != ("dsse", "0.0.1"):
                return self.refuse(400, "only dsse 0.0.1 entries")
            content = request["spec"]["proposedContent"]
            envelope_text = content["envelope"]
            envelope = json.loads(envelope_text)
            verifier = base64.b64decode(content["verifiers"][0])
            cert = x509.load_pem_x509_certificate(verifier)
            payload = base64.b64decode(envelope["payload"])
            signature = base64.b64decode(envelope["signatures"][0]["sig"])
            cert.public_key().verify(
                signature, pae(envelope["payloadType"], payload), ec.ECDSA(hashes.SHA256())
            )
        except (KeyError, ValueError, IndexError, InvalidSignature):
            return self.refuse(400, "the envelope's signature does not verify with its verifier")
        body = canonical({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(canonical(envelope)).hexdigest()},
                "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                "signatures": [{"signature": b64(signature), "verifier": b64(verifier)}],
            },
        })
        self.answer(201, log_entry(body))


def main():
    port = int(sys.argv[1])
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
