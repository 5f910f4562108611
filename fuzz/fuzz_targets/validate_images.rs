//! Structure-aware: the input is the container images of a valid Pod creation request, one per
//! line (containers, init containers and ephemeral containers in turn). Every policy evaluates it
//! through both ABIs, which must agree; with default settings the decisions must be what the
//! image reference grammar says:
//! - any image that does not parse is denied, by every policy;
//! - require-digest allows exactly when every image has a digest;
//! - ban-latest allows exactly when every image has a digest or a tag other than `latest`;
//! - verify-slsa (no `images` entries: unmatched images are denied) never allows an image.
//!
//! The same images are also judged under non-default settings (banned tags, strict mode,
//! algorithm restrictions, exemptions, tag pinning that cannot resolve without a host), where
//! the ABIs must still agree.
#![no_main]

use custody_fuzz::{check_abis_agree, pod_request, POLICIES};
use custody_sdk::ImageRef;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let images: Vec<&str> = text.split('\n').take(64).collect();
    let parsed: Vec<Option<ImageRef>> = images.iter().map(|i| ImageRef::parse(i).ok()).collect();
    let all_parse = parsed.iter().all(Option::is_some);
    let refs = || parsed.iter().flatten();
    let request = pod_request(&images);

    let expected = [
        // ban-latest
        all_parse && refs().all(|r| r.digest().is_some() || r.tag().is_some_and(|t| t != "latest")),
        // require-digest
        all_parse && refs().all(|r| r.digest().is_some()),
        // verify-slsa
        false,
    ];
    for (p, expected) in POLICIES.iter().zip(expected) {
        let accepted = check_abis_agree(p, &request, &json!({}), false);
        assert_eq!(accepted, expected, "{}: images {images:?}", p.name);
    }

    let other_settings = [
        json!({"bannedTags": ["dev", "main"], "strict": true}),
        json!({"allowedAlgorithms": ["sha256"], "pinTags": ["*"]}),
        json!({"exemptImages": ["docker.io/library/*", "*:1.*"], "exemptNamespaces": ["kube-system"]}),
    ];
    for settings in &other_settings {
        for p in &POLICIES {
            if (p.validate_settings)(settings.to_string().as_bytes()).valid {
                check_abis_agree(p, &request, settings, false);
            }
        }
    }
});
