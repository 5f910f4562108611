//! Differential: custody's image reference parser (`ImageRef::parse`, "ours") against an
//! independent implementation of the same grammar, oci-spec 0.10.0's
//! `distribution::Reference` ("theirs", the `Reference` that oci-client 0.18.0, the CLI's registry
//! client, re-exports). Both must accept and reject the same strings and, after each side's
//! normalisation, agree on (registry, repository, tag, digest).
//!
//! Known, deliberate differences, mapped away here (each is custody's documented behaviour, see
//! `sdk/src/image.rs`):
//! 1. No tag: theirs fills in `latest` when a reference has neither tag nor digest; ours keeps
//!    "no tag" (ban-latest must tell an untagged image from `:latest`).
//! 2. Upper case in the first component: ours follows Docker (distribution's
//!    `splitDockerDomain`) and takes a first component with an upper-case letter as a registry
//!    (`Foo/bar` is registry `Foo`, repository `bar`); theirs only looks for `.`, `:` or
//!    `localhost` and makes it part of a Docker Hub repository (`docker.io/Foo/bar`).
//! 3. IPv6 registries: ours accepts a bracketed IPv6 address (`[::1]:5000/app`); theirs' grammar
//!    has no IPv6 literals.
//! 4. Digest hex: ours takes only lower-case hex (the OCI image spec's `[a-f0-9]` for sha256 and
//!    sha512); theirs takes either case.
//! 5. Length limits: ours limits the normalised name (`docker.io/library/...`, as Docker's
//!    `ParseNormalizedNamed` does) to 255 characters, and the whole input to 4096 bytes; theirs
//!    limits only the repository part to 255.
//! 6. The canonical registry (the README's "Canonical image references"): ours writes the host in
//!    lower case, drops the default port `:443` (but for a single-label host other than
//!    `localhost`, which keeps it so that it still reads as a registry) and a port's leading zeros,
//!    and refuses a port outside 1-65535; `index.docker.io` in any case is `docker.io`, whose
//!    single-component names take `library/`. Theirs keeps the registry as written. Theirs' parts
//!    are put in that canonical form before they are compared.
//!
//! Disagreements where theirs departs from the grammar (found by this target, reported; mapped
//! away too, so that fuzzing goes on):
//! A. `a_b.c/d`: theirs takes `a_b.c` as the registry (its regular expression matches it as a
//!    path component, then its domain split sees the `.`), though `_` is not allowed in a host
//!    name; ours rejects the invalid registry domain, as Docker refuses it.
//! B. `a:\u{e9}`: theirs' tag pattern `[\w][\w.-]{0,127}` is compiled by the `regex` crate, whose
//!    `\w` is Unicode-aware, so it takes non-ASCII tags; the grammar's (Go's RE2) `\w` is ASCII
//!    `[0-9A-Za-z_]`, and ours rejects any non-ASCII character.
#![no_main]

use custody_sdk::image::{ImageRef, ReferenceError};
use libfuzzer_sys::fuzz_target;
use oci_spec::distribution::Reference;

/// (registry, repository, tag, digest) after normalisation.
type Parts = (String, String, Option<String>, Option<String>);

fn ours_parts(r: &ImageRef) -> Parts {
    (
        r.domain().to_owned(),
        r.path().to_owned(),
        r.tag().map(str::to_owned),
        r.digest().map(ToString::to_string),
    )
}

fn theirs_parts(r: &Reference) -> Parts {
    (
        r.registry().to_owned(),
        r.repository().to_owned(),
        r.tag().map(str::to_owned),
        r.digest().map(str::to_owned),
    )
}

/// Difference 6: theirs' parts with the registry in custody's canonical form.
fn canonical(mut parts: Parts) -> Parts {
    let registry = parts.0.to_ascii_lowercase();
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => (
            host.to_owned(),
            Some(port.trim_start_matches('0').to_owned()),
        ),
        _ => (registry.clone(), None),
    };
    let single_label = !host.contains('.') && host != "localhost";
    let registry = match port {
        Some(port) if port == "443" && !single_label => host,
        Some(port) => format!("{host}:{port}"),
        None => host,
    };
    parts.0 = if registry == "index.docker.io" {
        "docker.io".to_owned()
    } else {
        registry
    };
    if parts.0 == "docker.io" && !parts.1.contains('/') {
        parts.1 = format!("library/{}", parts.1);
    }
    parts
}

/// Difference 2: the first of several components has an upper-case letter and no `.` or `:`.
fn first_component_is_upper_case_registry(s: &str) -> bool {
    match s.split_once('/') {
        Some((first, _)) => {
            !first.contains(['.', ':', '@'])
                && first != "localhost"
                && first.bytes().any(|b| b.is_ascii_uppercase())
        }
        None => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let ours = ImageRef::parse(s);
    let theirs = Reference::try_from(s);
    if first_component_is_upper_case_registry(s) {
        return; // difference 2
    }
    match (&ours, &theirs) {
        (Ok(o), Ok(t)) => {
            let mut want = ours_parts(o);
            if want.2.is_none() && want.3.is_none() {
                want.2 = Some("latest".to_owned()); // difference 1
            }
            assert_eq!(
                want,
                canonical(theirs_parts(t)),
                "{s:?}: parsed differently"
            );
        }
        (Err(_), Err(_)) => {}
        (Ok(o), Err(e)) => {
            if o.domain().starts_with('[') {
                return; // difference 3
            }
            panic!("{s:?}: ours accepts ({o:?}), theirs rejects: {e}");
        }
        (Err(e), Ok(t)) => {
            match e {
                ReferenceError::InvalidDigestCharacter {
                    character: 'A'..='F',
                    ..
                } => return, // 4
                ReferenceError::TooLong { .. } => return, // 5
                ReferenceError::PortOutOfRange { .. } => return, // 6
                ReferenceError::InvalidDomain { domain, .. }
                    if t.registry() == domain && domain.contains('_') =>
                {
                    return; // theirs' bug A
                }
                ReferenceError::InvalidCharacter { character, .. }
                    if !character.is_ascii()
                        && t.tag().is_some_and(|tag| tag.contains(*character)) =>
                {
                    return; // theirs' bug B
                }
                _ => {}
            }
            panic!("{s:?}: ours rejects ({e}), theirs accepts: {t:?}");
        }
    }
});
