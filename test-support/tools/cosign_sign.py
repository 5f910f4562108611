#!/usr/bin/python3 -I
"""Signs container images in cosign's legacy layout, with an implementation custody did not write.

The host tests' reference signer: Python's standard library and `cryptography` (Debian's
python3-cryptography, 38.0.4 on bookworm; only APIs that release has), run by Debian's interpreter
in isolated mode (`/usr/bin/python3 -I`) so that no other copy of the library is used.

    cosign_sign.py keygen --type p256|p384|ed25519|rsa [--bits N] --out PREFIX
        writes PREFIX.key (PKCS#8 PEM, unencrypted) and PREFIX.pub (SubjectPublicKeyInfo PEM).

    cosign_sign.py sign --spec FILE|- --out DIR
        writes DIR, an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>) holding one
        manifest, the signature manifest cosign pushes at tag `sha256-<image hex>.sig`, and prints
        that manifest's digest. The spec (JSON):

        {"image_digest": "sha256:<hex>",           the signed image (each layer's default digest)
         "layers": [{                              one signature layer each, in this order
           "key": "/path/to/PREFIX.key",           the signing key (its type picks the algorithm)
           "docker_reference": "registry/repo",    critical.identity.docker-reference
           "digest": "sha256:<hex>",               optional: the digest signed (default: the image's)
           "annotations": {"k": "v"} | null,       optional: the payload's `optional` (default null)
           "tamper": "payload" | "signature"       optional: break the layer after signing
         }]}

What cosign writes, and so what this writes:
- the layer blob: the simple-signing payload, Go's compact JSON (map keys sorted, <>& escaped):
  {"critical":{"identity":{"docker-reference":REF},"image":{"docker-manifest-digest":DIGEST},
  "type":"cosign container image signature"},"optional":ANNOTATIONS_OR_NULL};
- its annotation `dev.cosignproject.cosign/signature`: base64 of the signature over the payload:
  ECDSA P-256 with SHA-256 and P-384 with SHA-384 (ASN.1 DER), Ed25519 over the bytes themselves,
  RSA PKCS#1 v1.5 with SHA-256;
- layer media type application/vnd.dev.cosign.simplesigning.v1+json;
- the config: go-containerregistry's config of an empty image with those layers appended
  (diff_ids = the layers' digests, one empty history entry per layer), media type
  application/vnd.oci.image.config.v1+json;
- the manifest: OCI image manifest, schemaVersion 2, Go's field order.

Tampering, after the signature is made (the layout stays consistent: the blob digests are those of
the bytes written):
- "payload": the last byte of the docker reference in the payload is changed ('x', or 'y' if it
  was 'x'): still valid JSON naming the same digest, so only the signature check can catch it;
- "signature": the low bit of the signature's last byte is flipped (the DER stays well formed).

Errors go to stderr with exit status 1 (2 for usage errors).
"""
import argparse
import base64
import hashlib
import json
import os
import re
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
PAYLOAD_TYPE = "cosign container image signature"
ZERO_TIME = "0001-01-01T00:00:00Z"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
LAYER_FIELDS = {"key", "docker_reference", "digest", "annotations", "tamper"}


class Failure(Exception):
    """An error to report, naming what is wrong."""


def go_json(value, sort_keys):
    """Compact JSON as Go's encoding/json writes it: no spaces, UTF-8, <, > and & (and U+2028,
    U+2029) escaped; map keys sorted when `sort_keys` (struct fields keep their order)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def keygen(kind, bits, prefix):
    if kind == "p256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif kind == "p384":
        key = ec.generate_private_key(ec.SECP384R1())
    elif kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    else:
        raise Failure(f"--type: unknown key type {kind!r}")
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    write(prefix + ".key", private)
    write(prefix + ".pub", public)


def sign_bytes(key, payload):
    """The signature cosign makes over `payload` with `key`."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if isinstance(key.curve, ec.SECP256R1):
            return key.sign(payload, ec.ECDSA(hashes.SHA256()))
        if isinstance(key.curve, ec.SECP384R1):
            return key.sign(payload, ec.ECDSA(hashes.SHA384()))
        raise Failure(f"unsupported curve {key.curve.name}")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(payload)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    raise Failure(f"unsupported key type {type(key).__name__}")


def payload_bytes(reference, digest, annotations):
    return go_json({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": PAYLOAD_TYPE,
        },
        "optional": annotations,
    }, sort_keys=True)


def tamper_payload(payload, reference):
    """The payload with the last byte of the docker reference changed (see the module doc)."""
    prefix = payload_bytes("", "", None).split(b'""', 1)[0]
    if not payload.startswith(prefix) or not reference:
        raise Failure("tamper payload: needs a non-empty docker_reference")
    encoded = go_json(reference, sort_keys=True)
    at = len(prefix) + len(encoded) - 2
    changed = bytearray(payload)
    changed[at] = ord("y") if changed[at] == ord("x") else ord("x")
    changed = bytes(changed)
    try:
        json.loads(changed)
    except ValueError as e:
        raise Failure(f"tamper payload: the changed payload is not JSON ({e}): "
                      "use a plain ASCII docker_reference") from None
    return changed


def load_key(path, where):
    try:
        with open(path, "rb") as f:
            return serialization.load_pem_private_key(f.read(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise Failure(f"{where}.key: {path}: {e}") from None


def read_spec(source):
    try:
        if source == "-":
            text = sys.stdin.buffer.read()
        else:
            with open(source, "rb") as f:
                text = f.read()
        spec = json.loads(text)
    except (OSError, ValueError) as e:
        raise Failure(f"spec: {e}") from None
    if not isinstance(spec, dict):
        raise Failure("spec: not a JSON object")
    unknown = set(spec) - {"image_digest", "layers"}
    if unknown:
        raise Failure(f"spec: unknown fields {sorted(unknown)}")
    image_digest = spec.get("image_digest")
    if not isinstance(image_digest, str) or not DIGEST.match(image_digest):
        raise Failure(f"spec.image_digest: not a sha256 digest: {image_digest!r}")
    layers = spec.get("layers")
    if not isinstance(layers, list) or not layers:
        raise Failure("spec.layers: not a non-empty array")
    return image_digest, layers


def sign_layer(layer, index, image_digest):
    """One signature layer: (payload blob, descriptor annotations)."""
    where = f"spec.layers[{index}]"
    if not isinstance(layer, dict):
        raise Failure(f"{where}: not a JSON object")
    unknown = set(layer) - LAYER_FIELDS
    if unknown:
        raise Failure(f"{where}: unknown fields {sorted(unknown)}")
    reference = layer.get("docker_reference")
    if not isinstance(reference, str):
        raise Failure(f"{where}.docker_reference: not a string")
    digest = layer.get("digest", image_digest)
    if not isinstance(digest, str):
        raise Failure(f"{where}.digest: not a string")
    annotations = layer.get("annotations")
    if annotations is not None and not isinstance(annotations, dict):
        raise Failure(f"{where}.annotations: neither an object nor null")
    tamper = layer.get("tamper")
    if tamper not in (None, "payload", "signature"):
        raise Failure(f"{where}.tamper: not \"payload\", \"signature\" or null: {tamper!r}")
    key = load_key(layer.get("key"), where) if isinstance(layer.get("key"), str) else None
    if key is None:
        raise Failure(f"{where}.key: not a path")

    payload = payload_bytes(reference, digest, annotations)
    try:
        signature = sign_bytes(key, payload)
    except Failure as e:
        raise Failure(f"{where}.key: {e}") from None
    if tamper == "payload":
        payload = tamper_payload(payload, reference)
    elif tamper == "signature":
        signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
    return payload, {SIGNATURE_ANNOTATION: base64.b64encode(signature).decode("ascii")}


def write(path, data):
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        raise Failure(f"{path}: {e}") from None


def write_blob(out, data):
    digest = sha256_digest(data)
    write(os.path.join(out, "blobs", "sha256", digest.split(":", 1)[1]), data)
    return {"mediaType": None, "size": len(data), "digest": digest}


def sign(spec_source, out):
    image_digest, layers = read_spec(spec_source)
    signed = [sign_layer(layer, i, image_digest) for i, layer in enumerate(layers)]

    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise Failure(f"--out: {out} exists and is not an empty directory")
    try:
        os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    except OSError as e:
        raise Failure(f"--out: {e}") from None

    descriptors = []
    for payload, annotations in signed:
        descriptor = write_blob(out, payload)
        descriptor["mediaType"] = SIMPLESIGNING
        descriptor["annotations"] = dict(sorted(annotations.items()))
        descriptors.append(descriptor)
    # go-containerregistry's v1.ConfigFile, fields in its order (empty ones omitted).
    config = go_json({
        "architecture": "",
        "created": ZERO_TIME,
        "history": [{"created": ZERO_TIME} for _ in descriptors],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descriptors]},
        "config": {},
    }, sort_keys=False)
    config_descriptor = write_blob(out, config)
    config_descriptor["mediaType"] = OCI_CONFIG
    manifest = go_json({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_descriptor,
        "layers": descriptors,
    }, sort_keys=False)
    manifest_descriptor = write_blob(out, manifest)
    manifest_descriptor["mediaType"] = OCI_MANIFEST
    # As `cosign save` marks the signature manifest of an image.
    manifest_descriptor["annotations"] = {"kind": "dev.cosignproject.cosign/sigs"}
    write(os.path.join(out, "oci-layout"), go_json({"imageLayoutVersion": "1.0.0"}, False))
    write(os.path.join(out, "index.json"), go_json({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [manifest_descriptor],
    }, sort_keys=False))
    print(manifest_descriptor["digest"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    keygen_args = commands.add_parser("keygen", help="generate a key pair")
    keygen_args.add_argument("--type", required=True, choices=["p256", "p384", "ed25519", "rsa"])
    keygen_args.add_argument("--bits", type=int, default=2048, help="RSA modulus size")
    keygen_args.add_argument("--out", required=True, help="writes OUT.key and OUT.pub")
    sign_args = commands.add_parser("sign", help="write a signature manifest as an OCI layout")
    sign_args.add_argument("--spec", required=True, help="the spec, a JSON file, or - for stdin")
    sign_args.add_argument("--out", required=True, help="the layout directory to create")
    args = parser.parse_args()
    try:
        if args.command == "keygen":
            keygen(args.type, args.bits, args.out)
        else:
            sign(args.spec, args.out)
    except Failure as e:
        print(f"cosign_sign.py: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
