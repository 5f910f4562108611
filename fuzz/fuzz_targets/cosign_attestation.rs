//! `cosign::attestation_bundle`: a cosign attestation layer (as `cosign save` stores it: the
//! layer's annotations and its blob, a DSSE envelope) to a Sigstore bundle. The input is the
//! annotations as a JSON object of strings, a NUL byte, then the envelope. No panic; a bundle
//! made must be one `Bundle::from_json` reads, and is then verified against the public-good root
//! (fixed identity policy and time, for its in-toto subject), as verify-slsa does.
#![no_main]

use std::collections::BTreeMap;

use custody_fuzz::{public_good, split_nul, verify};
use custody_sigstore::{cosign, Bundle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (annotations, Some(envelope)) = split_nul(data) else {
        return;
    };
    let Ok(annotations) = serde_json::from_slice::<BTreeMap<String, String>>(annotations) else {
        return;
    };
    match cosign::attestation_bundle(envelope, &annotations) {
        Ok(json) => {
            let bytes = serde_json::to_vec(&json).expect("a JSON value serialises");
            let bundle = Bundle::from_json(&bytes).unwrap_or_else(|e| {
                panic!("attestation_bundle made a bundle that does not parse: {e}\n{json}")
            });
            verify(&bundle, public_good());
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
