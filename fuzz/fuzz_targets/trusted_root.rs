//! `TrustedRoot::from_json` on any bytes: no panic, errors render. The input may go on, after a NUL
//! byte, with a Sigstore bundle, which is then verified against that root (as the
//! sigstore-conformance suite verifies each bundle against its own `trusted_root.json`): keys and
//! certificates of an arbitrary root are only used there.
#![no_main]

use custody_fuzz::{split_nul, verify};
use custody_sigstore::{Bundle, TrustedRoot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (root, bundle) = split_nul(data);
    let root = match TrustedRoot::from_json(root) {
        Ok(root) => root,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let _ = format!("{root:?}");
    if let Some(Ok(bundle)) = bundle.map(Bundle::from_json) {
        verify(&bundle, &root);
    }
});
