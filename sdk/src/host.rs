//! Host capabilities: what a policy may ask of the host that runs it (Kubewarden's binding
//! `kubewarden`). In wasm the waPC adapter answers through `__host_call`; natively a test supplies its
//! own implementation.

use serde::Deserialize;

use crate::image::{Digest, ImageRef};

/// Something that answers host capability calls: `namespace` (`oci`, `kubernetes`, ...),
/// `operation` (`v1/manifest_digest`, ...) and a JSON payload; the answer is JSON too.
pub trait Host {
    /// Performs one call. The error is the host's message.
    fn call(&mut self, namespace: &str, operation: &str, payload: &[u8])
        -> Result<Vec<u8>, String>;
}

/// A host without capabilities: every call fails (the native evaluation of rules that need none).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHost;

impl Host for NoHost {
    fn call(&mut self, namespace: &str, operation: &str, _: &[u8]) -> Result<Vec<u8>, String> {
        Err(format!(
            "host capability {namespace}/{operation} is not available"
        ))
    }
}

/// `oci` / `v1/manifest_digest`: the digest of the manifest (or index) a reference points at now.
pub const MANIFEST_DIGEST: (&str, &str) = ("oci", "v1/manifest_digest");

/// Resolves `image` to the digest of its manifest through the host, checking the answer.
pub fn manifest_digest(host: &mut dyn Host, image: &ImageRef) -> Result<Digest, String> {
    #[derive(Deserialize)]
    struct Answer {
        digest: String,
    }
    let (namespace, operation) = MANIFEST_DIGEST;
    let payload = serde_json::to_vec(&image.to_string()).map_err(|e| e.to_string())?;
    let answer = host.call(namespace, operation, &payload)?;
    let answer: Answer = serde_json::from_slice(&answer)
        .map_err(|e| format!("the host's answer to {namespace}/{operation} is malformed: {e}"))?;
    Digest::parse(&answer.digest)
        .map_err(|e| format!("the host answered {namespace}/{operation} with a bad digest: {e}"))
}
