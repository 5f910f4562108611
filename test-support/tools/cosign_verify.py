"""Verifies cosign key-based image signatures in a registry, with an implementation custody did not write.

The host tests' reference verifier, the counterpart of cosign_sign.py: Python's standard library
(urllib, over plain HTTP to a loopback registry only) and `cryptography` (Debian's
python3-cryptography), run as `/usr/bin/python3 -I`.

    cosign_verify.py --registry 127.0.0.1:PORT --repository REPO --digest sha256:<hex> --key PUB.pem

Reads cosign's signature manifest of the image (tag `sha256-<hex>.sig`), and for each of its
`application/vnd.dev.cosign.simplesigning.v1+json` layers: fetches the blob and checks it hashes to
its descriptor's digest, reads the simple-signing payload (its `critical.type` must be cosign's and
its `critical.image.docker-manifest-digest` the image's digest), and verifies the base64 signature
of the layer's `dev.cosignproject.cosign/signature` annotation over the payload bytes with the key
(ECDSA P-256 / SHA-256, P-384 / SHA-384, Ed25519, RSA PKCS#1 v1.5 / SHA-256, by the key's type).

Prints `verified N of M` and exits 0 when at least one layer verifies; otherwise prints why each
layer failed and exits 1 (2 for usage errors).
"""
import argparse
import base64
import hashlib
import ipaddress
import json
import sys
import urllib.error
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
PAYLOAD_TYPE = "cosign container image signature"
ACCEPT = "application/vnd.oci.image.manifest.v1+json"
MAX_BYTES = 4 * 1024 * 1024


class Failure(Exception):
    """A reason to refuse."""


def fetch(url, accept=None):
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as e:
        raise Failure(f"GET {url}: HTTP {e.code}") from None
    if len(body) > MAX_BYTES:
        raise Failure(f"GET {url}: more than {MAX_BYTES} bytes")
    return body


def verify_bytes(key, signature, payload):
    if isinstance(key, ec.EllipticCurvePublicKey):
        digest = {"secp256r1": hashes.SHA256(), "secp384r1": hashes.SHA384()}.get(key.curve.name)
        if digest is None:
            raise Failure(f"unsupported curve {key.curve.name}")
        key.verify(signature, payload, ec.ECDSA(digest))
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, payload)
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
    else:
        raise Failure(f"unsupported key type {type(key).__name__}")


def check_layer(base, layer, digest, key):
    blob = fetch(f"{base}/blobs/{layer['digest']}")
    if "sha256:" + hashlib.sha256(blob).hexdigest() != layer["digest"]:
        raise Failure("the blob does not hash to its digest")
    payload = json.loads(blob)
    critical = payload.get("critical", {})
    if critical.get("type") != PAYLOAD_TYPE:
        raise Failure(f"critical.type is {critical.get('type')!r}")
    signed = critical.get("image", {}).get("docker-manifest-digest")
    if signed != digest:
        raise Failure(f"the payload signs {signed}, not {digest}")
    encoded = (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION)
    if not encoded:
        raise Failure("no signature annotation")
    try:
        verify_bytes(key, base64.b64decode(encoded, validate=True), blob)
    except InvalidSignature:
        raise Failure("the signature does not verify with the key") from None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--registry", required=True, help="host:port of a loopback registry")
    parser.add_argument("--repository", required=True)
    parser.add_argument("--digest", required=True)
    parser.add_argument("--key", required=True, help="the public key, PEM")
    args = parser.parse_args()
    host = args.registry.rsplit(":", 1)[0].strip("[]")
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        parser.error("--registry: loopback registries only")
    if not args.digest.startswith("sha256:") or len(args.digest) != 71:
        parser.error("--digest: sha256:<64 hex>")
    with open(args.key, "rb") as f:
        key = serialization.load_pem_public_key(f.read())
    base = f"http://{args.registry}/v2/{args.repository}"
    try:
        manifest = json.loads(fetch(f"{base}/manifests/sha256-{args.digest[7:]}.sig", ACCEPT))
    except Failure as e:
        print(f"no signatures: {e}")
        return 1
    layers = [l for l in manifest.get("layers", []) if l.get("mediaType") == SIMPLESIGNING]
    verified = 0
    for index, layer in enumerate(layers):
        try:
            check_layer(base, layer, args.digest, key)
            verified += 1
        except (Failure, ValueError, KeyError, TypeError, AttributeError) as e:
            print(f"layer {index}: {e}")
    print(f"verified {verified} of {len(layers)}")
    return 0 if verified else 1


if __name__ == "__main__":
    sys.exit(main())
