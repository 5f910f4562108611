//! Every host-test suite, one module each, in one test binary: each binary links wasmtime, so one
//! binary instead of one per suite cuts the build. Test names stay qualified by their suite
//! (`gatekeeper::both_builds_agree_on_every_fixture`); run one suite with
//! `cargo test -p custody-host-tests --test suites -- gatekeeper::`.

mod attestations_export;
mod captured;
mod cosign_signer;
mod coverage;
mod fresh_instances;
mod gatekeeper;
mod hardening;
mod hostile;
mod kubewarden_types;
mod metadata;
mod module_cache;
mod policies;
mod settings_examples;
mod sigstore_in_wasm;
mod slsa_end_to_end;
mod verify_signature;
mod verify_slsa;
mod verify_slsa_keys;
