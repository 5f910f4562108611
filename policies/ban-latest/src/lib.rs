//! ban-latest: deny images tagged `:latest`, images with no tag at all (which means latest) and
//! any further banned tags. A digest-pinned image is allowed whatever its tag, unless `strict`.
#![deny(unsafe_code)] // `export_policy!` alone may allow it, for `#[no_mangle]`
#![deny(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use custody_sdk::settings::Tag;
use custody_sdk::{Check, Host, Image, PolicySettings, Rule};
use serde::Deserialize;

/// The policy's own settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BanLatestSettings {
    /// Tags denied besides `latest` (e.g. `main`, `dev`), matched exactly.
    #[serde(default)]
    pub banned_tags: Vec<Tag>,
    /// Deny a banned tag even when the image is also pinned to a digest.
    #[serde(default)]
    pub strict: bool,
}

// Every field checks itself when deserialised.
impl PolicySettings for BanLatestSettings {}

/// The rule.
#[derive(Debug)]
pub enum BanLatest {}

impl Rule for BanLatest {
    type Settings = BanLatestSettings;
    type State = ();

    fn check<H: Host + ?Sized>(
        settings: &BanLatestSettings,
        _state: &mut (),
        image: &Image<'_>,
        _host: &mut H,
    ) -> Check {
        let reference = &image.reference;
        let written = reference.original();
        let pinned = reference.digest().is_some();
        let problem = match reference.tag() {
            None if pinned => return Check::Allow,
            None => format!("image {written:?} has no tag, which means :latest"),
            Some("latest") => format!("image {written:?} uses the :latest tag"),
            Some(tag) if settings.banned_tags.iter().any(|b| b.as_str() == tag) => {
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
