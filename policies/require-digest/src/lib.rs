//! require-digest: every image must be pinned to a content digest (`@sha256:<64 hex>`). Optionally,
//! images matching `pinTags` patterns are pinned by mutation to the digest their tag resolves to now.
#![deny(unsafe_code)] // `export_policy!` alone may allow it, for `#[no_mangle]`
#![deny(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use custody_sdk::host::manifest_digest;
use custody_sdk::settings::ImagePatterns;
use custody_sdk::{Check, DigestAlgorithm, Host, Image, PolicySettings, Rule};
use serde::Deserialize;

/// The policy's own settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequireDigestSettings {
    /// Digest algorithms accepted; empty means all supported (sha256, sha384, sha512).
    #[serde(default)]
    pub allowed_algorithms: Vec<DigestAlgorithm>,
    /// Images whose tags are resolved through the host and pinned by mutation instead of denied.
    #[serde(default)]
    pub pin_tags: ImagePatterns,
}

impl RequireDigestSettings {
    fn allows(&self, algorithm: DigestAlgorithm) -> bool {
        self.allowed_algorithms.is_empty() || self.allowed_algorithms.contains(&algorithm)
    }

    fn allowed_list(&self) -> String {
        self.allowed_algorithms
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

// Every field checks itself when deserialised.
impl PolicySettings for RequireDigestSettings {}

/// The rule.
#[derive(Debug)]
pub enum RequireDigest {}

impl Rule for RequireDigest {
    type Settings = RequireDigestSettings;
    type State = ();

    fn check<H: Host + ?Sized>(
        settings: &RequireDigestSettings,
        _state: &mut (),
        image: &Image<'_>,
        host: &mut H,
    ) -> Check {
        let reference = &image.reference;
        let written = reference.original();
        if let Some(digest) = reference.digest() {
            return if settings.allows(digest.algorithm()) {
                Check::Allow
            } else {
                Check::Deny(format!(
                    "image {written:?} is pinned with {}, but only {} is allowed",
                    digest.algorithm().as_str(),
                    settings.allowed_list()
                ))
            };
        }
        if !settings.pin_tags.matches(reference) {
            return Check::Deny(format!(
                "image {written:?} is not pinned to a digest (write it as {}@sha256:<64 hex>)",
                reference.name()
            ));
        }
        match manifest_digest(host, reference) {
            Ok(digest) if settings.allows(digest.algorithm()) => Check::Pin(digest),
            Ok(digest) => Check::Deny(format!(
                "image {written:?} resolves to {digest}, but only {} is allowed",
                settings.allowed_list()
            )),
            Err(e) => Check::Deny(format!(
                "image {written:?} is not pinned to a digest and its tag could not be resolved: {e}"
            )),
        }
    }
}

custody_sdk::export_policy!(RequireDigest);
