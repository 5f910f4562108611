//! custody-registry: custody's side of OCI registries.
//!
//! - [`Client`]: a blocking registry client (oci-client on a current-thread tokio runtime): one
//!   session per registry, credentials as docker finds them ([`docker_config`]), plain HTTP only
//!   where [`PlainHttp`] allows it, a deadline on every request, every manifest and blob bounded
//!   ([`MAX_BLOB_BYTES`]) and checked against its digest;
//! - [`Client::artifacts`]: an image's attestations and signatures, for `custody attestations
//!   export`: cosign's `sha256-<hex>.att` and `.sig` tags, and OCI 1.1 referrers holding Sigstore
//!   bundles ([`ReferrerKind`]: attestations, or cosign v3 image signatures);
//! - [`RegistryCapabilities`]: Kubewarden's `oci` host capabilities answered from the real
//!   registries (`v1/manifest_digest`, `v1/oci_manifest`, `v1/oci_manifest_config`, `v2/verify`
//!   with cosign's signatures verified natively), every other call passed to an inner
//!   [`custody_host::Capabilities`];
//! - [`Client::push`] and [`Client::pull_module`]: policy modules published as Kubewarden's
//!   tooling writes them ([`Artifact::policy_module`]), and cosign's signature and SBOM manifests.

mod artifacts;
mod capabilities;
pub mod docker_config;
mod oci;
mod publish;
mod verify;

pub use artifacts::{
    is_sigstore_bundle_type, kind_of_bundle, AttLayer, BundleReferrer, Found, ReferrerKind,
    SigLayer, Signatures, DSSE_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION,
};
pub use capabilities::{RegistryCapabilities, VERIFY_CACHE_TTL};
pub use oci::{
    is_loopback, platform, Client, Manifest, ManifestAndConfig, ManifestKind, Options, PlainHttp,
    DEFAULT_TIMEOUT, MAX_BLOB_BYTES, MAX_ITEMS,
};
pub use publish::{
    Artifact, Blob, PulledModule, CYCLONEDX_JSON_MEDIA_TYPE, MAX_MODULE_BYTES,
    OCI_IMAGE_CONFIG_MEDIA_TYPE, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE,
};

/// The 64 lower-case hex digits of a `sha256:<hex>` digest; `None` for anything else.
pub(crate) fn sha256_hex(digest: &str) -> Option<&str> {
    digest.strip_prefix("sha256:").filter(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}
