//! `ImageRef::parse`, `Digest::parse` and `validate_tag` on any string: no panic, errors render,
//! and what parses is normalised consistently:
//! - the canonical form (`Display`: `domain/path[:tag][@digest]`) parses again to the same parts,
//!   and is its own canonical form;
//! - a digest's string form is the input, and parses to the same digest;
//! - a reference without a digest, with `@<digest>` appended (what a pinning mutation writes),
//!   parses to the same name and tag with that digest (within the length limit);
//! - a valid tag is the tag of `a:<tag>`.
#![no_main]

use custody_sdk::image::{self, Digest, DigestAlgorithm, ImageRef};
use libfuzzer_sys::fuzz_target;

fn parts(r: &ImageRef) -> (&str, &str, Option<&str>, Option<&Digest>) {
    (r.domain(), r.path(), r.tag(), r.digest())
}

fn check_digest(d: &Digest) {
    let text = d.to_string();
    assert_eq!(
        Digest::parse(&text).as_ref(),
        Ok(d),
        "digest {text} does not round-trip"
    );
    assert_eq!(d.encoded().len(), d.algorithm().hex_len());
    assert!(d
        .encoded()
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    match d.sha256_bytes() {
        Some(bytes) => {
            assert_eq!(d.algorithm(), DigestAlgorithm::Sha256);
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, d.encoded());
        }
        None => assert_ne!(d.algorithm(), DigestAlgorithm::Sha256),
    }
}

fn check_reference(s: &str, r: &ImageRef) {
    assert_eq!(r.original(), s);
    assert!(
        !r.domain().is_empty() && !r.path().is_empty(),
        "{s:?}: {r:?}"
    );
    assert_ne!(
        r.domain(),
        "index.docker.io",
        "{s:?}: legacy Docker Hub name kept"
    );
    if r.domain() == image::DEFAULT_DOMAIN {
        assert!(
            r.path().contains('/'),
            "{s:?}: Docker Hub path without namespace: {r:?}"
        );
    }
    assert!(
        !r.path().bytes().any(|b| b.is_ascii_uppercase()),
        "{s:?}: {r:?}"
    );
    assert!(r.name().len() <= image::MAX_NAME_LENGTH, "{s:?}: {r:?}");
    assert_eq!(r.name(), format!("{}/{}", r.domain(), r.path()));
    if let Some(tag) = r.tag() {
        assert_eq!(image::validate_tag(tag), Ok(()), "{s:?}: tag {tag:?}");
    }
    if let Some(d) = r.digest() {
        check_digest(d);
    }
    let canonical = r.to_string();
    assert!(canonical.starts_with(&r.name()));
    let again = ImageRef::parse(&canonical)
        .unwrap_or_else(|e| panic!("{s:?}: canonical form {canonical:?} does not parse: {e}"));
    assert_eq!(
        parts(&again),
        parts(r),
        "{s:?}: canonical form {canonical:?} parses differently"
    );
    assert_eq!(
        again.to_string(),
        canonical,
        "{s:?}: canonical form not stable"
    );

    let digest = Digest::parse(&format!("sha256:{}", "ab".repeat(32))).expect("valid digest");
    let written = format!("{s}@{digest}");
    if r.digest().is_none() && written.len() <= image::MAX_REFERENCE_LENGTH {
        let pinned = ImageRef::parse(&written)
            .unwrap_or_else(|e| panic!("{s:?}: pinned form {written:?} does not parse: {e}"));
        assert_eq!(pinned.digest(), Some(&digest));
        assert_eq!(
            (pinned.domain(), pinned.path(), pinned.tag()),
            (r.domain(), r.path(), r.tag())
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();

    match ImageRef::parse(s) {
        Ok(r) => check_reference(s, &r),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    match s.parse::<Digest>() {
        Ok(d) => {
            assert_eq!(d.to_string(), s, "a digest is not normalised");
            check_digest(&d);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    match image::validate_tag(s) {
        Ok(()) => {
            let r = ImageRef::parse(&format!("a:{s}"))
                .unwrap_or_else(|e| panic!("valid tag {s:?}, but a:{s} does not parse: {e}"));
            assert_eq!(r.tag(), Some(s));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
