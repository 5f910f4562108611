#!/usr/bin/env bash
# The CycloneDX SBOMs of policies, one per build: `tools/sbom.sh OUT_DIR POLICY...` writes
# OUT_DIR/<policy>.cdx.json (the waPC build, target wasm32-wasip1) and
# OUT_DIR/<policy>.gatekeeper.cdx.json (the Gatekeeper-mode build, wasm32-unknown-unknown): the
# policy crate and its locked dependencies for that target (CycloneDX 1.5 JSON, build
# dependencies left out), made by cargo-cyclonedx (`make publish-setup` installs it). Used by
# `make publish` (tools/publish.sh) and the release workflow.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: tools/sbom.sh OUT_DIR POLICY...}
shift
[ $# -gt 0 ] || { echo "usage: tools/sbom.sh OUT_DIR POLICY..." >&2; exit 2; }
mkdir -p "$out"
for pair in wasm32-wasip1: wasm32-unknown-unknown:.gatekeeper; do
  target=${pair%%:*} suffix=${pair#*:}
  name="custody-sbom-$target"
  # cargo-cyclonedx writes <name>.json beside every Cargo.toml of the workspace: the policies'
  # are moved out, the rest removed.
  cargo cyclonedx --quiet --format json --spec-version 1.5 --no-build-deps --target "$target" \
    --override-filename "$name"
  for p in "$@"; do
    mv "policies/$p/$name.json" "$out/$p$suffix.cdx.json"
  done
  find . -path ./target -prune -o -name "$name.json" -print0 | xargs -0r rm -f
done
