//! Regression tests for what the fuzz targets (`fuzz/`, `make fuzz`) found: each input, kept
//! small, with the behaviour it must have. Inputs found by the differential target
//! (`reference_differential`) are ones where oci-spec's reference parser disagrees with ours;
//! these pin our side of the disagreement.
// A test may unwrap: a failing assertion is what a test is for.
#![allow(clippy::unwrap_used)]

use custody_sdk::image::{ImageRef, ReferenceError};

/// reference_differential: oci-spec takes `a_b.c` as the registry of `a_b.c/d`; a host name has no
/// `_`, so the reference is refused for its registry domain (not read as a Docker Hub path).
#[test]
fn underscore_in_registry_is_an_invalid_domain() {
    match ImageRef::parse("a_b.c/d") {
        Err(ReferenceError::InvalidDomain { domain, .. }) => assert_eq!(domain, "a_b.c"),
        other => panic!("expected an invalid domain, got {other:?}"),
    }
    // Without a `.`, `:` or upper case the first component is a path component, where `_` is fine.
    assert_eq!(ImageRef::parse("a_b/d").unwrap().name(), "docker.io/a_b/d");
}

/// reference_differential: oci-spec's tag pattern takes Unicode word characters (`a:é`); tags are
/// ASCII, and so is a whole reference.
#[test]
fn non_ascii_tag_is_an_invalid_character() {
    assert_eq!(
        ImageRef::parse("a:\u{e9}"),
        Err(ReferenceError::InvalidCharacter {
            character: '\u{e9}',
            position: 2
        })
    );
    // The combining character of the input the fuzzer found (`...:\u{313}...`).
    assert!(matches!(
        ImageRef::parse("in/nginx:\u{313}x"),
        Err(ReferenceError::InvalidCharacter {
            character: '\u{313}',
            position: 9
        })
    ));
}
