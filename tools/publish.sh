#!/usr/bin/env bash
# `make publish`: every policy module in dist/ (both builds) pushed to a registry as an OCI artifact,
# with its CycloneDX SBOM attached and a cosign-compatible key-based signature.
#
#   REGISTRY     registry/path to publish under, e.g. ghcr.io/my-org/policies: each policy goes to
#                $REGISTRY/<policy>:v<version>, its Gatekeeper-mode build to
#                $REGISTRY/<policy>-gatekeeper:v<version>. Empty (the default): Debian's
#                docker-registry is started on 127.0.0.1 (left running; how to stop it is printed).
#   SIGNING_KEY  the signing key (PKCS#8 PEM P-256; its public key beside it as .pub); created when
#                missing. Default: $PUBLISH_DIR/cosign.key.
#   PUBLISH_DIR  where the SBOMs, the key, the registry's storage and the list of pushed artifacts
#                go. Default: dist/publish.
#   CUSTODY, DIST, POLICIES  set by the Makefile.
set -euo pipefail
cd "$(dirname "$0")/.."

CUSTODY=${CUSTODY:-target/release/custody}
DIST=${DIST:-dist}
POLICIES=${POLICIES:?the policies to publish (the Makefile sets it)}
PUBLISH_DIR=${PUBLISH_DIR:-$DIST/publish}
SIGNING_KEY=${SIGNING_KEY:-$PUBLISH_DIR/cosign.key}
REGISTRY=${REGISTRY:-}
started=
# A registry started here is stopped again if publishing fails.
trap 'status=$?; if [ $status -ne 0 ] && [ -n "$started" ]; then kill "$started"; fi' EXIT
mkdir -p "$PUBLISH_DIR"

# The embedded default: a registry of our own on loopback.
if [ -z "$REGISTRY" ]; then
  command -v docker-registry >/dev/null || {
    echo "publish: no REGISTRY given and Debian's docker-registry is not installed (make test-setup)" >&2
    exit 1
  }
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  store="$PUBLISH_DIR/registry"
  mkdir -p "$store/data"
  cat > "$store/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $(realpath "$store/data")
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
  docker-registry serve "$store/config.yml" > "$store/registry.log" 2>&1 &
  started=$!
  echo $started > "$store/pid"
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || {
    echo "publish: the registry did not start; its log:" >&2
    cat "$store/registry.log" >&2
    exit 1
  }
  REGISTRY="127.0.0.1:$port/custody"
  echo "Started Debian's docker-registry on 127.0.0.1:$port (pid $started, storage $store/data)."
fi

# SBOMs: each policy crate and its locked dependencies, per build target.
sboms="$PUBLISH_DIR/sbom"
tools/sbom.sh "$sboms" $POLICIES

if [ ! -f "$SIGNING_KEY" ]; then
  "$CUSTODY" generate-key-pair --output-prefix "${SIGNING_KEY%.key}"
fi
public_key="${SIGNING_KEY%.key}.pub"

revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
modules=()
for p in $POLICIES; do modules+=("$DIST/$p.wasm" "$DIST/$p.gatekeeper.wasm"); done
"$CUSTODY" push --registry "$REGISTRY" --sbom-dir "$sboms" --revision "$revision" "${modules[@]}" \
  > "$PUBLISH_DIR/pushed.txt"
mapfile -t pushed < "$PUBLISH_DIR/pushed.txt"
"$CUSTODY" sign --key "$SIGNING_KEY" "${pushed[@]}"

echo
echo "Published (immutable references, also in $PUBLISH_DIR/pushed.txt):"
printf '  %s\n' "${pushed[@]}"
echo
echo "Signed with $SIGNING_KEY; verify with its public key $public_key."
echo "Pull one back:   $CUSTODY pull ${pushed[0]} -o policy.wasm"
echo "                 (kwctl: kwctl pull registry://${pushed[0]})"
if [ -n "$started" ]; then
  echo "Stop the registry: kill $started"
fi
