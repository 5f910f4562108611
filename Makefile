# custody: `make` builds the policy modules into dist/ and checks the example manifests with them;
# `make test` runs every test, fmt and clippy. Both install what they need on a fresh Debian machine
# that has only Rust (rustup) installed: `make` only what building needs (the wasm targets,
# binaryen), `make test` also what the tests run (Node.js and the OPA npm SDK, a registry).

# Every crate under policies/ is a policy.
POLICIES  := $(sort $(notdir $(wildcard policies/*)))
# The example gate (examples/) runs these; verify-slsa needs attestations in a cluster, its tests
# run it on real provenance instead.
EXAMPLE_POLICIES := require-digest ban-latest
# Cargo's target directory ($CARGO_TARGET_DIR if set).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
WASM_TARGET := wasm32-wasip1
WASM_DIR  := $(TARGET_DIR)/$(WASM_TARGET)/wasm
# Gatekeeper-mode builds (OPA wasm ABI): the target selects the ABI (sdk/src/abi/mod.rs); no
# WASI, memory imported (see .cargo/config.toml).
OPA_TARGET := wasm32-unknown-unknown
OPA_DIR   := $(TARGET_DIR)/$(OPA_TARGET)/wasm
DIST      := dist
CUSTODY   := $(TARGET_DIR)/release/custody
# Test probes: modules that are not policies, for the host tests (host-tests/probes/<name>), built
# into <target dir>/probes/<name>.wasm, where host-tests looks for them (never into dist/).
PROBES    := sigstore-verify
# Debian's binaryen 108 needs the features Rust's wasm output uses spelled out (see README).
WASM_OPT_FLAGS := -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
                  --enable-mutable-globals --enable-reference-types --enable-multivalue
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all setup test-setup publish-setup modules cli examples test bench clean fuzz publish artifacthub

all: modules examples
	@echo
	@echo "Policy modules (annotated with their metadata): waPC, and Gatekeeper mode (OPA ABI):"
	@for p in $(POLICIES); do for f in $$p.wasm $$p.gatekeeper.wasm; do \
	  printf '  %-40s %7d bytes\n' "$(DIST)/$$f" $$(stat -c %s $(DIST)/$$f); done; done
	@echo
	@echo "Next: evaluate a request    $(CUSTODY) eval --policy $(DIST)/ban-latest.wasm --request policies/ban-latest/fixtures/pod_create_mixed.json"
	@echo "      check your manifests  $(CUSTODY) check --policies $(DIST) path/to/manifests.yaml"
	@echo "      ... in Gatekeeper mode $(CUSTODY) check --abi gatekeeper --policies $(DIST) path/to/manifests.yaml"
	@echo "      run the tests         make test"

setup:
	@for t in $(WASM_TARGET) $(OPA_TARGET); do rustup target list --installed | grep -qx $$t || rustup target add $$t; done
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
	@command -v wasm-opt >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq binaryen; }

# What publishing needs: cargo-cyclonedx (the SBOM generator) and Debian's docker-registry (the
# embedded default registry).
CYCLONEDX_VERSION := 0.5.9
publish-setup: setup
	@command -v cargo-cyclonedx >/dev/null || cargo install --locked --quiet cargo-cyclonedx --version $(CYCLONEDX_VERSION)
	@[ -x /usr/bin/docker-registry ] || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq docker-registry; }

# What only the tests need: Node.js and the OPA npm SDK (a Gatekeeper-mode host we did not
# write), a real OCI registry, a cosign signer we did not write, what publishing needs (the tests
# publish every policy), and skopeo (a registry client we did not write, to inspect what was pushed).
test-setup: setup publish-setup
	@command -v node >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }
	@# CNCF distribution 2.8 (a real OCI registry) for the `custody attestations export` tests.
	@command -v skopeo >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq skopeo; }
	@# Debian's Python `cryptography`: the reference cosign signer the verify-signature tests sign
	@# their images with (test-support/tools/cosign_sign.py, run as /usr/bin/python3 -I).
	@/usr/bin/python3 -I -c 'import cryptography' 2>/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-cryptography; }
	@# The OPA npm SDK, at the version pinned in host-tests/js/package-lock.json (host-tests run it).
	@[ -d host-tests/js/node_modules/@open-policy-agent/opa-wasm ] || \
	  npm ci --prefix host-tests/js --no-audit --no-fund --loglevel=error

# `make` builds the CLI alone; `make test` builds every target of the workspace at once, so that
# the CLI and the tests share one feature set (the tests' dev-dependencies enable features of crates
# wasmtime uses: built separately, wasmtime would be compiled twice).
CLI_BUILD := cargo build --release -p custody-cli
test: CLI_BUILD := cargo build --release --workspace --all-targets

cli: setup
	$(CLI_BUILD)

# Build every policy twice (size profile), one cargo invocation per target: for wasm32-wasip1
# (waPC) and for wasm32-unknown-unknown (OPA ABI); the probes with the waPC build. Optimise each
# with wasm-opt, then annotate it with its metadata.yml and README as `kwctl annotate` does
# (--gatekeeper: the metadata variant for that mode, and the OPA ABI version globals):
# dist/<policy>.wasm, dist/<policy>.gatekeeper.wasm.
modules: setup cli
	@mkdir -p $(DIST)
	cargo build --profile wasm --target $(WASM_TARGET) $(addprefix -p ,$(POLICIES) $(PROBES:%=%-probe))
	cargo build --profile wasm --target $(OPA_TARGET) $(addprefix -p ,$(POLICIES))
	@set -e; for p in $(POLICIES); do \
	  for build in wapc gatekeeper; do \
	    if [ $$build = wapc ]; then raw=$(WASM_DIR)/$${p//-/_}.wasm; out=$(DIST)/$$p.wasm; flag=; \
	    else raw=$(OPA_DIR)/$${p//-/_}.wasm; out=$(DIST)/$$p.gatekeeper.wasm; flag=--gatekeeper; fi; \
	    wasm-opt $(WASM_OPT_FLAGS) $$raw -o $$out.opt; \
	    $(CUSTODY) annotate $$flag --metadata policies/$$p/metadata.yml --readme policies/$$p/README.md \
	      --output $$out $$out.opt; \
	    rm $$out.opt; \
	    echo "$$p ($$build): $$(stat -c %s $$raw) bytes built, $$(stat -c %s $$out) bytes optimised and annotated"; \
	  done; \
	done
	@mkdir -p $(TARGET_DIR)/probes
	@set -e; for p in $(PROBES); do \
	  raw=$(TARGET_DIR)/$(WASM_TARGET)/wasm/$${p//-/_}_probe.wasm; out=$(TARGET_DIR)/probes/$$p.wasm; \
	  wasm-opt $(WASM_OPT_FLAGS) $$raw -o $$out; \
	  echo "probe $$p: $$(stat -c %s $$raw) bytes built, $$(stat -c %s $$out) bytes optimised"; \
	done

# (In the recipe, `$$sfx` is the build's file suffix: empty or `.gatekeeper`.)
EXAMPLE_CHECK_POLICIES = $(foreach p,$(EXAMPLE_POLICIES),--policies $(DIST)/$(p)$$sfx.wasm)
# The shift-left gate on the example manifests: those under allowed/ must pass, those under
# denied/ must be denied (custody check exits 1 on a denial).
examples: modules
	@set -e; for abi in kubewarden gatekeeper; do \
	  sfx=; if [ $$abi = gatekeeper ]; then sfx=.gatekeeper; fi; \
	  echo "== custody check --abi $$abi: manifests that pass =="; \
	  $(CUSTODY) check --abi $$abi $(EXAMPLE_CHECK_POLICIES) examples/allowed/*.yaml; \
	  echo; \
	  echo "== custody check --abi $$abi: manifests that are denied, by design =="; \
	  status=0; $(CUSTODY) check --abi $$abi $(EXAMPLE_CHECK_POLICIES) examples/denied/*.yaml || status=$$?; \
	  if [ $$status -ne 1 ]; then echo "expected denials (exit 1), got exit $$status"; exit 1; fi; \
	  echo; \
	done

# The example gate runs the CLI end to end over the real modules (allowed pass, denied are denied).
# (The workspace's tests include custody-sigstore's: the sigstore-conformance suite, natively and,
# in host-tests, in wasm, and the real slsa-github-generator provenance.)
test: test-setup modules examples
	set -o pipefail; cargo test --release --workspace 2>&1 | tee target/test-output.txt
	cargo fmt --all --check
	cargo clippy --release --workspace --all-targets -- -D warnings
	cargo clippy --release --target $(WASM_TARGET) $(addprefix -p ,$(POLICIES) $(PROBES:%=%-probe)) -- -D warnings
	cargo clippy --release --target $(OPA_TARGET) $(addprefix -p ,$(POLICIES)) -- -D warnings
	@# The fuzz targets (their own workspace; `make fuzz` runs them) must keep building.
	cargo fmt --manifest-path fuzz/Cargo.toml --all --check
	cargo clippy --manifest-path fuzz/Cargo.toml --bins -- -D warnings
	@awk '/^test result:/ { p += $$4; f += $$6 } END { print "tests: " p " passed, " f " failed" }' target/test-output.txt

# The ArtifactHub packages of every policy's current version (artifacthub/<policy>/<version>/:
# artifacthub-pkg.yml and README.md), generated from its metadata.yml, README.md and CHANGELOG.md
# after checking that its versions agree (README, "Publishing"). `make test` fails when they are
# stale (cli/tests/artifacthub.rs runs `custody artifacthub --check`).
artifacthub: cli
	$(CUSTODY) artifacthub

# The criterion benches, then `admission` (our own harness: every policy under policies/, both
# builds, a fresh instance per request and warm calls beside the native rule, p50 / p99, memory,
# compile time), whose table ends the output. Built with the workspace's one feature set, as
# `make test` builds (the CLI too), so wasmtime is compiled once.
# `make bench BENCHES=admission` runs only that one. CRITERION_FLAGS bound the criterion benches'
# time (the whole run stays near 10 minutes on 2 cores; empty: criterion's defaults, 3 s warm-up
# and 5 s of samples each).
BENCHES ?= validate gatekeeper sigstore verify_slsa verify_signature admission
CRITERION_FLAGS ?= --warm-up-time 1 --measurement-time 3
bench: CLI_BUILD := cargo build --release --workspace --all-targets
bench: modules
	@set -e; for b in $(BENCHES); do \
	  flags="$(CRITERION_FLAGS)"; if [ $$b = admission ]; then flags=; fi; \
	  echo "cargo bench --workspace --bench $$b -- $$flags"; \
	  cargo bench --workspace --bench $$b -- $$flags; \
	done

# Publish every policy (both builds) with its SBOM and a key-based cosign signature (see
# tools/publish.sh): to $(REGISTRY) when given (e.g. REGISTRY=ghcr.io/my-org/policies), else to a
# docker-registry started on 127.0.0.1. SIGNING_KEY (default dist/publish/cosign.key, created when
# missing) signs; PUBLISH_DIR (default dist/publish) keeps the SBOMs and the pushed references.
publish: publish-setup modules
	@CUSTODY="$(CUSTODY)" DIST="$(DIST)" POLICIES="$(POLICIES)" REGISTRY="$(REGISTRY)" \
	  SIGNING_KEY="$(SIGNING_KEY)" PUBLISH_DIR="$(PUBLISH_DIR)" tools/publish.sh

clean:
	cargo clean
	rm -rf $(DIST)

# Coverage-guided fuzzing (fuzz/, a cargo package with its own workspace; not part of `make` or
# `make test`): libFuzzer through cargo-fuzz 0.13.2, on the stable toolchain. cargo-fuzz
# instruments with stable codegen flags only (-Cpasses=sancov-module, -Cllvm-args=-sanitizer-
# coverage-*, --cfg fuzzing, -Cdebug-assertions) and links libFuzzer (libfuzzer-sys builds it with
# the system C++ compiler); only a sanitizer needs an unstable flag (-Zsanitizer=...), which
# stable rustc accepts with RUSTC_BOOTSTRAP=1 (stable's rust-std ships the asan runtime): both
# build here. We fuzz with `--sanitizer none`, plain stable: what is fuzzed is safe Rust (the SDK
# and the policies deny `unsafe`), so AddressSanitizer would only watch the dependencies' few
# `unsafe` blocks, at 3.4x fewer executions a second (image_ref: 15k/s against 50k/s on this
# two-core machine); panics, arithmetic overflows (debug assertions are on), timeouts and
# out-of-memory are caught without it. FUZZ_SANITIZER=address fuzzes with ASan instead (a second,
# separate build of everything). One job at a time, FUZZ_SECONDS per target. Corpora:
# fuzz/corpus/<target>/, seeded by fuzz/seed.sh from the fixtures and the shared test data;
# crashes: fuzz/artifacts/<target>/ (both gitignored).
FUZZ_SECONDS ?= 60
FUZZ_SANITIZER ?= none
FUZZ_TARGETS := image_ref reference_differential settings validate validate_images gatekeeper \
                trusted_root sigstore_bundle cosign_attestation
FUZZ := cd fuzz && $(if $(filter none,$(FUZZ_SANITIZER)),,RUSTC_BOOTSTRAP=1 )cargo fuzz
FUZZ_FLAGS := --sanitizer $(FUZZ_SANITIZER) $(if $(filter none,$(FUZZ_SANITIZER)),,--target-dir target/$(FUZZ_SANITIZER))

fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
	@command -v jq >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq jq; }
	fuzz/seed.sh
	$(FUZZ) build $(FUZZ_FLAGS)
	@# Every target runs even if one finds a crash; then the exit status says so.
	@failed=; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t: $(FUZZ_SECONDS) s =="; \
	  ($(FUZZ) run $(FUZZ_FLAGS) $$t -- -max_total_time=$(FUZZ_SECONDS) \
	    -jobs=1 -workers=1 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in:$$failed (see fuzz/artifacts/)"; exit 1; fi
