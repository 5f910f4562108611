//! `Bundle::from_json` on any bytes: no panic, errors render; a bundle that parses is verified
//! (`sigstore::verify`) against the public-good trusted root, with a fixed identity policy (any
//! https issuer, any subject) and a fixed time, for the artifact it claims (its message digest or
//! its in-toto subject): certificate, DSSE, RFC 3161 timestamp, Rekor entry, inclusion proof,
//! checkpoint and SCT parsing and verification.
#![no_main]

use custody_fuzz::{public_good, verify};
use custody_sigstore::Bundle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Bundle::from_json(data) {
        Ok(bundle) => verify(&bundle, public_good()),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
