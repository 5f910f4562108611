//! ban-latest: deny images tagged `:latest`, images with no tag at all (which means latest) and
//! any further banned tags. A digest-pinned image is allowed whatever its tag, unless `strict`.
#![deny(unsafe_code)] // `export_policy!` alone may allow it, for `#[no_mangle]`
#![deny(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use custody_sdk::{Check, Host, Image, ImageRef, PolicySettings, Rule, SettingsError};
use serde::Deserialize;

/// The policy's own settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BanLatestSettings {
    /// Tags denied besides `latest` (e.g. `main`, `dev`), matched exactly.
    #[serde(default)]
    pub banned_tags: Vec<String>,
    /// Deny a banned tag even when the image is also pinned to a digest.
    #[serde(default)]
    pub strict: bool,
}

impl PolicySettings for BanLatestSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        for (i, tag) in self.banned_tags.iter().enumerate() {
            // A tag is valid when `x:<tag>` parses with exactly that tag.
            let valid = ImageRef::parse(&format!("x:{tag}"))
                .map(|r| r.tag() == Some(tag.as_str()))
                .unwrap_or(false);
            if !valid {
                return Err(SettingsError::new(
                    format!("bannedTags[{i}]"),
                    format!(
                        "{tag:?} is not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]*, at most 128)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The rule.
#[derive(Debug)]
pub enum BanLatest {}

impl Rule for BanLatest {
    type Settings = BanLatestSettings;

    fn check(settings: &BanLatestSettings, image: &Image<'_>, _host: &mut dyn Host) -> Check {
        let reference = &image.reference;
        let written = reference.original();
        let pinned = reference.digest().is_some();
        let problem = match reference.tag() {
            None if pinned => return Check::Allow,
            None => format!("image {written:?} has no tag, which means :latest"),
            Some("latest") => format!("image {written:?} uses the :latest tag"),
            Some(tag) if settings.banned_tags.iter().any(|b| b == tag) => {
                format!("image {written:?} uses the banned tag :{tag}")
            }
            Some(_) => return Check::Allow,
        };
        if pinned && !settings.strict {
            return Check::Allow;
        }
        let advice = if pinned {
            "; strict mode denies it even with a digest"
        } else {
            "; pin a version tag or a digest"
        };
        Check::Deny(format!("{problem}{advice}"))
    }
}

custody_sdk::export_policy!(BanLatest);
