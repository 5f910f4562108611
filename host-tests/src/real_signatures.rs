//! The real cosign image signatures of 2021 in `../shared/testdata/cosign-signatures` (see its
//! SOURCE): a keyless one (Fulcio certificate without an issuer extension, Rekor `rekord` entry)
//! and a key-based one, as verify-signature's tests and benchmark use them.

use std::collections::BTreeMap;

use custody_sigstore::cosign::signature_bundle;
use serde_json::{json, Value};

use crate::slsa::pod_request;

/// The real signatures of 2021 (see `../shared/testdata/cosign-signatures/SOURCE`).
#[derive(Debug, Clone)]
pub struct Real {
    /// The signed image, by digest.
    pub image: String,
    /// The simple-signing payload.
    pub payload: Vec<u8>,
    /// The `.sig` layer's annotations.
    pub annotations: BTreeMap<String, String>,
}

pub fn real(name: &str) -> Real {
    let dir = crate::repo_root()
        .join("../shared/testdata/cosign-signatures")
        .join(name);
    let layer: Value = serde_json::from_slice(
        &std::fs::read(dir.join("signature-layer.json")).expect("signature-layer.json"),
    )
    .expect("json");
    Real {
        image: layer["image"].as_str().expect("image").to_owned(),
        payload: std::fs::read(dir.join("payload.json")).expect("payload.json"),
        annotations: serde_json::from_value(layer["layer"]["annotations"].clone())
            .expect("annotations"),
    }
}

impl Real {
    /// The pod with `payload` and `annotations` as its signature bundle in the annotation.
    pub fn request(&self, payload: &[u8], annotations: &BTreeMap<String, String>) -> Value {
        let bundle = signature_bundle(payload, annotations).expect("a bundle");
        pod_request(
            &[&self.image],
            json!({"custody.dev/attestations": json!([bundle]).to_string()}),
        )
    }
}

/// The 2021 "sigstore" CA, the first certificate authority of the public-good trusted root, as
/// PEM.
pub fn fulcio_2021_ca() -> String {
    let root: Value = serde_json::from_slice(
        &std::fs::read(
            crate::repo_root().join("../shared/testdata/sigstore-public-good/trusted_root.json"),
        )
        .expect("trusted_root.json"),
    )
    .expect("json");
    let der = root["certificateAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"]
        .as_str()
        .expect("rawBytes");
    let body = der
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned());
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        body.collect::<Vec<_>>().join("\n")
    )
}
