#!/usr/bin/env python3
"""An ECR stand-in for the tests: the ECR API calls shipit makes, answered from a real Distribution
registry, so that the API and the registry the engine pushes to are one store.

    ecr-server.py PORT REGISTRY USER PASSWORD ACCOUNT

REGISTRY (HOST:PORT) is a Distribution registry behind htpasswd with USER:PASSWORD. The API speaks
the AWS JSON 1.1 protocol (`X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.OPERATION`) on
127.0.0.1:PORT; signatures are not checked. GetAuthorizationToken answers base64(USER:PASSWORD) and
`proxyEndpoint` http://REGISTRY, so the engine pushes to the registry itself; repositories,
tags and digests are the registry's. ACCOUNT is the registry's account ID: a call with another
`registryId` is refused, as ECR refuses a registry the caller cannot reach.

Artifacts attached to an image (OCI referrers) are put through the registry by digest, untagged;
ECR lists them among the images, and answers `ListImageReferrers`: the stand-in reads both from
the referrers tag schema (`sha256-<hex>` indexes) the client keeps in the registry.

What the registry cannot say, the stand-in keeps: which repositories were created (with their
tag mutability and lifecycle policy), and the digests it has seen, so that an image whose last tag
went is listed untagged, as ECR lists it. Removing one tag of an image (ECR's untag) is done the only
way Distribution allows: the manifest is deleted and put back under its other tags and its digest.

GET /calls lists every call as {"operation", "registryId", "registryIds", "repositoryName"} (for the
tests' assertions).
"""
import base64
import datetime
import json
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, registry, user, password, account = (
    int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
REGION = "us-east-1"
AUTH = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
MEDIA_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])

lock = threading.RLock()
repositories = {}  # name -> {"mutability", "exclusions", "policy", "created"}
seen = {}  # name -> set of digests
calls = []


class ApiError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def reg(method, path, body=None, headers=None):
    """One call to the registry: (status, headers, body); 404s are answers, not errors."""
    req = urllib.request.Request(f"http://{registry}{path}", data=body, method=method)
    req.add_header("Authorization", AUTH)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def tags_of(name):
    status, _, body = reg("GET", f"/v2/{name}/tags/list?n=10000")
    if status != 200:
        return []
    return json.loads(body or b"{}").get("tags") or []


def manifest(name, ref):
    """(digest, media type, bytes) of a manifest, or None."""
    status, headers, body = reg("GET", f"/v2/{name}/manifests/{ref}", headers={"Accept": MEDIA_TYPES})
    if status != 200:
        return None
    h = {k.lower(): v for k, v in headers.items()}
    return h.get("docker-content-digest"), h.get("content-type"), body


def images(name):
    """digest -> {"tags", "media", "size"}: the tagged ones, and the untagged ones seen before."""
    out = {}
    for tag in tags_of(name):
        m = manifest(name, tag)
        if m is None:
            continue
        digest, media, body = m
        entry = out.setdefault(digest, {"tags": [], "media": media, "size": len(body)})
        entry["tags"].append(tag)
    # Artifacts (a provenance, an SBOM) are put by digest through the registry, untagged; ECR
    # lists them as images. The stand-in learns them from the referrers tag schema's indexes.
    artifacts = set()
    for digest, i in out.items():
        if any(t.startswith("sha256-") for t in i["tags"]):
            m = manifest(name, digest)
            if m is not None:
                artifacts.update(d.get("digest") for d in json.loads(m[2] or b"{}").get("manifests") or [])
    with lock:
        known = set(seen.setdefault(name, set())) | (artifacts - {None})
        seen[name].update(out)
    for digest in known - set(out):
        m = manifest(name, digest)
        if m is not None:
            out[digest] = {"tags": [], "media": m[1], "size": len(m[2])}
    return out


def repo(req):
    name = req.get("repositoryName") or ""
    with lock:
        if name not in repositories:
            raise ApiError("RepositoryNotFoundException",
                           f"The repository with name '{name}' does not exist in the registry with id '{account}'")
    return name


def repository_json(name):
    r = repositories[name]
    out = {
        "repositoryArn": f"arn:aws:ecr:{REGION}:{account}:repository/{name}",
        "registryId": account,
        "repositoryName": name,
        "repositoryUri": f"{registry}/{name}",
        "createdAt": r["created"],
        "imageTagMutability": r["mutability"],
        "imageScanningConfiguration": {"scanOnPush": r.get("scan", False)},
        "encryptionConfiguration": {"encryptionType": "AES256"},
    }
    if r["exclusions"]:
        out["imageTagMutabilityExclusionFilters"] = r["exclusions"]
    return out


def image_id(digest, tag=None):
    out = {"imageDigest": digest}
    if tag is not None:
        out["imageTag"] = tag
    return out


def immutable(name, tag):
    r = repositories[name]
    if r["mutability"] == "IMMUTABLE":
        return True
    if r["mutability"] == "IMMUTABLE_WITH_EXCLUSION":
        import fnmatch
        return not any(fnmatch.fnmatchcase(tag, f.get("filter", "")) for f in r["exclusions"])
    return False


def op_get_authorization_token(req):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    expires = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=12)).timestamp()
    return {"authorizationData": [{
        "authorizationToken": token, "expiresAt": expires, "proxyEndpoint": f"http://{registry}"}]}


def op_create_repository(req):
    name = req.get("repositoryName") or ""
    if not name:
        raise ApiError("InvalidParameterException", "repositoryName is required")
    with lock:
        if name in repositories:
            raise ApiError("RepositoryAlreadyExistsException",
                           f"The repository with name '{name}' already exists in the registry with id '{account}'")
        repositories[name] = {
            "mutability": req.get("imageTagMutability", "MUTABLE"),
            "exclusions": req.get("imageTagMutabilityExclusionFilters") or [],
            "policy": None,
            "scan": (req.get("imageScanningConfiguration") or {}).get("scanOnPush", False),
            "created": datetime.datetime.now(datetime.timezone.utc).timestamp(),
        }
        return {"repository": repository_json(name)}


def op_describe_repositories(req):
    names = req.get("repositoryNames")
    with lock:
        if names is None:
            names = sorted(repositories)
        for n in names:
            repo({"repositoryName": n})
        return {"repositories": [repository_json(n) for n in names]}


def op_describe_images(req):
    name = repo(req)
    details = []
    for digest, i in sorted(images(name).items()):
        d = {"registryId": account, "repositoryName": name, "imageDigest": digest,
             "imageSizeInBytes": i["size"], "imageManifestMediaType": i["media"],
             "imagePushedAt": 1700000000.0}
        if i["tags"]:
            d["imageTags"] = sorted(i["tags"])
        details.append(d)
    return {"imageDetails": details}


def op_list_images(req):
    name = repo(req)
    ids = []
    for digest, i in sorted(images(name).items()):
        ids.extend(image_id(digest, t) for t in sorted(i["tags"])) if i["tags"] else ids.append(image_id(digest))
    return {"imageIds": ids}


def op_batch_get_image(req):
    name = repo(req)
    out, failures = [], []
    for wanted in req.get("imageIds") or []:
        ref = wanted.get("imageDigest") or wanted.get("imageTag")
        m = manifest(name, ref) if ref else None
        if m is None:
            failures.append({"imageId": wanted, "failureCode": "ImageNotFound",
                             "failureReason": "Requested image not found"})
            continue
        digest, media, body = m
        with lock:
            seen.setdefault(name, set()).add(digest)
        out.append({"registryId": account, "repositoryName": name,
                    "imageId": image_id(digest, wanted.get("imageTag")),
                    "imageManifest": body.decode(), "imageManifestMediaType": media})
    return {"images": out, "failures": failures}


def op_put_image(req):
    name = repo(req)
    body = (req.get("imageManifest") or "").encode()
    media = req.get("imageManifestMediaType") or json.loads(body or b"{}").get("mediaType") \
        or "application/vnd.docker.distribution.manifest.v2+json"
    tag = req.get("imageTag")
    import hashlib
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if req.get("imageDigest") not in (None, digest):
        raise ApiError("ImageDigestDoesNotMatchException",
                       f"The specified image digest '{req['imageDigest']}' does not match the digest '{digest}' that Amazon ECR calculated for the image")
    if tag is not None:
        current = manifest(name, tag)
        if current is not None and current[0] == digest:
            raise ApiError("ImageAlreadyExistsException",
                           f"Image with digest '{digest}' and tag '{tag}' already exists in the repository")
        if current is not None and immutable(name, tag):
            raise ApiError("ImageTagAlreadyExistsException",
                           f"The image tag '{tag}' already exists in the '{name}' repository and cannot be overwritten because the repository is immutable.")
    status, headers, answer = reg("PUT", f"/v2/{name}/manifests/{tag or digest}", body,
                                  {"Content-Type": media})
    if status not in (200, 201):
        raise ApiError("InvalidParameterException", f"the registry refused the manifest: {status} {answer[:200]!r}")
    with lock:
        seen.setdefault(name, set()).add(digest)
    return {"image": {"registryId": account, "repositoryName": name,
                      "imageId": image_id(digest, tag), "imageManifest": body.decode(),
                      "imageManifestMediaType": media}}


def op_batch_delete_image(req):
    name = repo(req)
    deleted, failures = [], []
    current = images(name)
    for wanted in req.get("imageIds") or []:
        tag, digest = wanted.get("imageTag"), wanted.get("imageDigest")
        if digest is None:
            digest = next((d for d, i in current.items() if tag in i["tags"]), None)
        if digest is None or digest not in current:
            failures.append({"imageId": wanted, "failureCode": "ImageNotFound",
                             "failureReason": "Requested image not found"})
            continue
        info = current[digest]
        m = manifest(name, digest)
        status, _, _ = reg("DELETE", f"/v2/{name}/manifests/{digest}")
        if status not in (200, 202):
            failures.append({"imageId": wanted, "failureCode": "InvalidImageDigest",
                             "failureReason": f"the registry answered {status}"})
            continue
        if tag is not None and m is not None:
            # ECR's untag: the image stays, under its other tags (or untagged).
            rest = [t for t in info["tags"] if t != tag]
            for ref in rest or [digest]:
                reg("PUT", f"/v2/{name}/manifests/{ref}", m[2], {"Content-Type": m[1]})
            info["tags"] = rest
            deleted.append(image_id(digest, tag))
        else:
            del current[digest]
            deleted.extend(image_id(digest, t) for t in info["tags"]) if info["tags"] else deleted.append(image_id(digest))
    return {"imageIds": deleted, "failures": failures}


def op_list_image_referrers(req):
    """ECR's `ListImageReferrers`: the artifacts whose `subject` is the image, answered from what the
    registry holds for it. The Distribution registry behind the stand-in has no referrers API, so
    clients keep the OCI referrers tag schema there (`sha256-<hex>`, an index of the artifacts);
    ECR keeps the same list itself. Pages of `maxResults` (1-50, default 50) with `nextToken`."""
    name = repo(req)
    subject = (req.get("subjectId") or {}).get("imageDigest") or ""
    if not subject.startswith("sha256:") or len(subject) != 71:
        raise ApiError("InvalidParameterException",
                       f"Invalid parameter at 'subjectId.imageDigest' failed to satisfy constraint: '{subject}'")
    wanted = (req.get("filter") or {}).get("artifactTypes")
    limit = req.get("maxResults") or 50
    if not 1 <= limit <= 50:
        raise ApiError("InvalidParameterException", "maxResults must be between 1 and 50")
    m = manifest(name, subject.replace(":", "-", 1))
    found = []
    if m is not None:
        for d in json.loads(m[2] or b"{}").get("manifests") or []:
            if wanted and d.get("artifactType") not in wanted:
                continue
            r = {"digest": d["digest"], "mediaType": d.get("mediaType", ""), "size": d.get("size", 0),
                 "artifactStatus": "ACTIVE"}
            if d.get("artifactType"):
                r["artifactType"] = d["artifactType"]
            if d.get("annotations"):
                r["annotations"] = d["annotations"]
            found.append(r)
    start = int(req.get("nextToken") or 0)
    out = {"referrers": found[start:start + limit]}
    if start + limit < len(found):
        out["nextToken"] = str(start + limit)
    return out


def op_put_lifecycle_policy(req):
    name = repo(req)
    text = req.get("lifecyclePolicyText") or ""
    try:
        json.loads(text)
    except ValueError:
        raise ApiError("InvalidParameterException", "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure'")
    with lock:
        repositories[name]["policy"] = text
    return {"registryId": account, "repositoryName": name, "lifecyclePolicyText": text}


def op_get_lifecycle_policy(req):
    name = repo(req)
    with lock:
        text = repositories[name]["policy"]
    if text is None:
        raise ApiError("LifecyclePolicyNotFoundException", "Lifecycle policy does not exist for the repository")
    return {"registryId": account, "repositoryName": name, "lifecyclePolicyText": text}


def op_put_image_tag_mutability(req):
    name = repo(req)
    with lock:
        repositories[name]["mutability"] = req.get("imageTagMutability", "MUTABLE")
        repositories[name]["exclusions"] = req.get("imageTagMutabilityExclusionFilters") or []
    return {"registryId": account, "repositoryName": name,
            "imageTagMutability": repositories[name]["mutability"]}


OPERATIONS = {
    "GetAuthorizationToken": op_get_authorization_token,
    "CreateRepository": op_create_repository,
    "DescribeRepositories": op_describe_repositories,
    "DescribeImages": op_describe_images,
    "ListImages": op_list_images,
    "BatchGetImage": op_batch_get_image,
    "PutImage": op_put_image,
    "BatchDeleteImage": op_batch_delete_image,
    "ListImageReferrers": op_list_image_referrers,
    "PutLifecyclePolicy": op_put_lifecycle_policy,
    "GetLifecyclePolicy": op_get_lifecycle_policy,
    "PutImageTagMutability": op_put_image_tag_mutability,
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "shipit-test")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            return self.send(200, {"ok": True})
        if self.path == "/calls":
            with lock:
                return self.send(200, list(calls))
        self.send(404, {"message": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        target = (self.headers.get("X-Amz-Target") or "").rsplit(".", 1)[-1]
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            return self.send(400, {"__type": "SerializationException", "message": "not JSON"})
        with lock:
            calls.append({"operation": target, "registryId": req.get("registryId"),
                          "registryIds": req.get("registryIds"),
                          "repositoryName": req.get("repositoryName")})
        wanted = [req["registryId"]] if "registryId" in req else (req.get("registryIds") or [])
        for w in wanted:
            if w != account:
                return self.send(400, {"__type": "RepositoryNotFoundException" if target != "GetAuthorizationToken" else "InvalidParameterException",
                                       "message": f"the registry {w} is not reachable: this is the registry of account {account}"})
        op = OPERATIONS.get(target)
        if op is None:
            return self.send(400, {"__type": "UnknownOperationException", "message": f"the stand-in does not know {target}"})
        try:
            self.send(200, op(req))
        except ApiError as e:
            self.send(e.status, {"__type": e.code, "message": e.message})


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
