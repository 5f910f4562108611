#!/usr/bin/env bash
# Seeds the fuzz corpora, fuzz/corpus/<target>/ (gitignored), from the policies' fixtures, the
# real third-party test data (read-only; never copied into the repository) and a few references
# written here. Idempotent: a seed is named by the SHA-1 of its content, as libFuzzer names the
# inputs it adds, so running it again adds nothing twice.
#
# Usage: fuzz/seed.sh [TESTDATA]   (TESTDATA default: $CUSTODY_TESTDATA, else ../shared/testdata
# beside the repository, where the SDK's tests find it). Needs bash, jq, sha1sum.
set -euo pipefail

FUZZ_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$FUZZ_DIR/.." && pwd)
TESTDATA=${1:-${CUSTODY_TESTDATA:-$REPO/../shared/testdata}}
CORPUS=$FUZZ_DIR/corpus
TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT

# put TARGET: moves $TMP into the target's corpus, named by its content.
put() {
  local dir=$CORPUS/$1
  mkdir -p "$dir"
  mv "$TMP" "$dir/$(sha1sum < "$TMP" | cut -c1-40)"
  : > "$TMP"
}

h64=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
h96=${h64}0123456789abcdef0123456789abcdef
h128=$h64$h64
REFERENCES=(
  nginx nginx:1.25 nginx:latest library/nginx:1.25-alpine docker.io/library/nginx
  index.docker.io/nginx:1 docker.io/bitnami/redis:7.2 localhost/app localhost:5000/app:dev
  registry.example.com:443/org/team/app:v1.2.3 192.168.1.10:5000/x/y "[::1]:5000/app:1"
  "[2001:db8::1]/app" "ghcr.io/org/app@sha256:$h64" "ghcr.io/org/app:1.0@sha256:$h64"
  "quay.io/a/b@sha384:$h96" "quay.io/a/b@sha512:$h128" Registry.Example.com/app
  my_repo/app__x:1 a--b/c.d_e:_x xn--n3h.com/img:xn--n3h.com test.com:5000 "sha256:$h64"
  "nginx:" "@sha256:$h64" a//b UPPER/app " nginx" "nginx@sha256:${h64^^}" "app@md5:$h64"
)

# Image references, and the images of each request as one line each (validate_images).
for r in "${REFERENCES[@]}"; do
  for t in image_ref reference_differential; do printf '%s' "$r" > "$TMP"; put $t; done
done
printf '%s\n' "${REFERENCES[@]}" | head -c -1 > "$TMP"; put validate_images

requests=("$REPO"/policies/*/fixtures/*_*.json)
[ -d "$TESTDATA/admission-reviews" ] && requests+=("$TESTDATA"/admission-reviews/*.json)
for f in "${requests[@]}"; do
  images=$(jq -r '[.. | objects | .image? | strings] | unique | .[]' "$f")
  [ -n "$images" ] || continue
  printf '%s' "$images" > "$TMP"; put validate_images
  while IFS= read -r image; do
    for t in image_ref reference_differential; do printf '%s' "$image" > "$TMP"; put $t; done
  done <<< "$images"
done

# Settings: every fixture's, and verify-slsa's attestor settings (its fixtures need none) written here.
SLSA_SETTINGS=(
  '{}'
  '{"images":[{"patterns":["ghcr.io/myorg/*"],"attestors":{"entries":[{"keyless":{"issuer":"https://token.actions.githubusercontent.com","subjectPrefix":"https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v"}}]},"conditions":{"builderIdPrefix":"https://github.com/slsa-framework/","buildType":"https://github.com/slsa-framework/slsa-github-generator/container@v1","sourceRepository":"https://github.com/myorg/app","sourceRefs":["refs/heads/main","refs/tags/v*"],"buildTriggers":["push"]}}],"unmatchedImages":"allow","exemptNamespaces":["kube-system"]}'
  '{"images":[{"patterns":["*"],"attestors":{"count":1,"entries":[{"keyless":{"issuerRegExp":"https://.*","subjectRegExp":"https://github\\.com/.+"}},{"publicKey":"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"}]},"predicateTypes":["https://slsa.dev/provenance/v1"]}],"attestationsNamespace":"attestations","exemptImages":["registry.local/*"]}'
)
settings=$(jq -c '.[].settings' "$REPO"/policies/*/fixtures/expected.json | sort -u)
while IFS= read -r s; do printf '%s' "$s" > "$TMP"; put settings; done <<< "$settings"
for s in "${SLSA_SETTINGS[@]}"; do printf '%s' "$s" > "$TMP"; put settings; done
[ -f "$TESTDATA/sigstore-public-good/trusted_root.json" ] &&
  jq -c '{images: [{patterns: ["*"], attestors: {entries: [{keyless: {issuer: "https://token.actions.githubusercontent.com", subject: "x"}}]}}], trustedRoot: .}' \
    "$TESTDATA/sigstore-public-good/trusted_root.json" > "$TMP" && put settings

# Admission payloads: waPC (`{"request", "settings"}`) and Gatekeeper (`{"review", "parameters"}`).
for expected in "$REPO"/policies/*/fixtures/expected.json; do
  dir=$(dirname "$expected")
  for name in $(jq -r 'keys[]' "$expected"); do
    s=$(jq -c --arg n "$name" '.[$n].settings' "$expected")
    jq -c --argjson s "$s" '{request: ., settings: $s}' "$dir/$name" > "$TMP"; put validate
    jq -c --argjson s "$s" '{review: ., parameters: $s}' "$dir/$name" > "$TMP"; put gatekeeper
  done
done
for f in "${requests[@]}"; do
  for s in "${SLSA_SETTINGS[@]:1}"; do
    jq -c --argjson s "$s" '{request: ., settings: $s}' "$f" > "$TMP"; put validate
    jq -c --argjson s "$s" '{review: ., parameters: $s}' "$f" > "$TMP"; put gatekeeper
  done
done

if [ ! -d "$TESTDATA" ]; then
  echo "seed.sh: no test data at $TESTDATA: Sigstore corpora not seeded" >&2
  exit 0
fi

# Sigstore: the conformance suite's bundles (each also after its own trusted root, or the
# public-good one, for trusted_root), and the trusted roots alone.
good_root=$TESTDATA/sigstore-public-good/trusted_root.json
cp "$good_root" "$TMP"; put trusted_root
for dir in "$TESTDATA"/sigstore-conformance/test/assets/bundle-verify/*/; do
  root=$good_root
  [ -f "$dir/trusted_root.json" ] && root=$dir/trusted_root.json
  cp "$root" "$TMP"; put trusted_root
  [ -f "$dir/bundle.sigstore.json" ] || continue
  cp "$dir/bundle.sigstore.json" "$TMP"; put sigstore_bundle
  { cat "$root"; printf '\0'; cat "$dir/bundle.sigstore.json"; } > "$TMP"; put trusted_root
done

# Cosign attestation layers: `<annotations JSON> NUL <DSSE envelope>`, from the layouts
# slsa-github-generator's workflow made (`cosign save`); and the annotations of real cosign
# signature layers (their blobs are simple-signing payloads, not envelopes).
for layout in "$TESTDATA"/slsa-github-generator/*/container_workflow_dispatch; do
  for atts in $(jq -r '.manifests[] | select(.annotations.kind == "dev.cosignproject.cosign/atts") | .digest' "$layout/index.json"); do
    manifest=$layout/blobs/sha256/${atts#sha256:}
    count=$(jq '.layers | length' "$manifest")
    for ((i = 0; i < count; i++)); do
      blob=$(jq -r --argjson i $i '.layers[$i].digest' "$manifest")
      { jq -c --argjson i $i '.layers[$i].annotations' "$manifest" | head -c -1; printf '\0'
        cat "$layout/blobs/sha256/${blob#sha256:}"; } > "$TMP"; put cosign_attestation
    done
  done
done
for layer in "$TESTDATA"/cosign-signatures/*/signature-layer.json; do
  { jq -c '.layer.annotations' "$layer" | head -c -1; printf '\0'
    cat "$(dirname "$layer")/payload.json"; } > "$TMP"; put cosign_attestation
done

for dir in "$CORPUS"/*/; do
  printf 'corpus %-24s %5d inputs\n' "$(basename "$dir")" "$(find "$dir" -type f | wc -l)"
done
