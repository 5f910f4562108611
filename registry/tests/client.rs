//! The registry client against a real registry (Debian's docker-registry on loopback): manifests,
//! digests and configs as Kubewarden's `oci` capabilities answer them, an image's cosign `.sig`
//! and `.att` layers and its bundle referrers (attestations and signatures told apart), the plain
//! HTTP rule and the bounds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Once;

use base64::Engine as _;
use custody_registry::{
    platform, Client, ManifestKind, Options, PlainHttp, ReferrerKind, MAX_ITEMS,
    PREDICATE_TYPE_ANNOTATION,
};
use custody_test_support::cosign_layout::{read_cosign_layout, slsa_github_generator_layout};
use custody_test_support::registry::{Registry, OCI_INDEX, OCI_MANIFEST};
use serde_json::{json, Value};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// No docker config: every test reads the registry anonymously, whatever the machine has.
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let none = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-docker-config");
        std::env::set_var("DOCKER_CONFIG", none);
    });
}

fn client() -> Client {
    setup();
    Client::new(Options::default()).unwrap_or_else(|e| panic!("client: {e:#}"))
}

fn error_text<T: std::fmt::Debug>(result: anyhow::Result<T>) -> String {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(e) => format!("{e:#}"),
    }
}

/// `shared/testdata/cosign-signatures/<name>`.
fn cosign_signature(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/cosign-signatures")
        .join(name)
}

/// A real cosign signature layer: its payload and annotations.
fn real_signature(name: &str) -> (Vec<u8>, BTreeMap<String, String>) {
    let dir = cosign_signature(name);
    let payload = std::fs::read(dir.join("payload.json")).unwrap_or_else(|e| panic!("{e}"));
    let layer: Value = serde_json::from_slice(
        &std::fs::read(dir.join("signature-layer.json")).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let annotations = serde_json::from_value(layer["layer"]["annotations"].clone())
        .unwrap_or_else(|e| panic!("{e}"));
    (payload, annotations)
}

/// Pushes a cosign-style manifest (config `{}`, the given layers) at `tag` of `repo`.
fn push_cosign_manifest(
    registry: &Registry,
    repo: &str,
    tag: &str,
    layers: &[(&[u8], &str, &BTreeMap<String, String>)],
) -> String {
    let config = b"{}";
    let layers: Vec<Value> = layers
        .iter()
        .map(|(blob, media_type, annotations)| {
            json!({
                "mediaType": media_type,
                "digest": registry.push_blob(repo, blob),
                "size": blob.len(),
                "annotations": annotations,
            })
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": registry.push_blob(repo, config),
            "size": config.len(),
        },
        "layers": layers,
    });
    registry.push_manifest(repo, tag, OCI_MANIFEST, manifest.to_string().as_bytes())
}

fn tag_of(digest: &str, suffix: &str) -> String {
    format!("{}.{suffix}", digest.replacen(':', "-", 1))
}

#[test]
fn answers_manifest_digest_manifest_and_config() -> TestResult {
    let registry = Registry::start();
    let digest = registry.push_test_image("app", "v1", "layer one");
    let mut client = client();
    for reference in ["v1", digest.as_str()] {
        let image = registry.image("app", reference);
        assert_eq!(client.manifest_digest(&image)?, digest, "{image}");

        let manifest = client.manifest(&image)?;
        let (_, served) = registry.manifest("app", &digest).ok_or("no manifest")?;
        assert_eq!(manifest.digest, digest);
        assert_eq!(manifest.kind, ManifestKind::Image);
        assert_eq!(manifest.json, serde_json::from_slice::<Value>(&served)?);

        let answer = client.manifest_and_config(&image)?;
        assert_eq!(answer.digest, digest);
        assert_eq!(answer.manifest, manifest.json);
        assert_eq!(
            answer.config,
            json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
        );
    }
    Ok(())
}

#[test]
fn an_index_is_served_as_is_and_resolved_for_this_platform() -> TestResult {
    let registry = Registry::start();
    let ours = registry.push_test_image("multi", "ours", "this platform");
    let other = registry.push_test_image("multi", "other", "another platform");
    let size = |digest: &str| {
        registry
            .manifest("multi", digest)
            .map_or(0, |(_, b)| b.len())
    };
    let (os, architecture) = platform();
    let entry = |digest: &str, os: &str, architecture: &str| {
        json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": size(digest),
               "platform": {"os": os, "architecture": architecture}})
    };
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        entry(&other, "plan9", "mips"),
        entry(&ours, os, architecture),
    ]})
    .to_string();
    let index_digest = registry.push_manifest("multi", "v1", OCI_INDEX, index.as_bytes());

    let mut client = client();
    let image = registry.image("multi", "v1");
    assert_eq!(client.manifest_digest(&image)?, index_digest);
    let manifest = client.manifest(&image)?;
    assert_eq!(manifest.kind, ManifestKind::Index);
    assert_eq!(manifest.digest, index_digest);
    assert_eq!(manifest.json, serde_json::from_str::<Value>(&index)?);
    // As Kubewarden's own type reads it.
    let kubewarden: kubewarden_policy_sdk::host_capabilities::oci::OciManifestResponse =
        serde_json::from_value(manifest.json.clone())?;
    assert!(matches!(
        kubewarden,
        kubewarden_policy_sdk::host_capabilities::oci::OciManifestResponse::ImageIndex(_)
    ));
    let answer = client.manifest_and_config(&image)?;
    assert_eq!(answer.digest, ours);
    assert_eq!(answer.config["os"], "linux");

    // No entry for this platform.
    let foreign = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                         "manifests": [entry(&other, "plan9", "mips")]})
    .to_string();
    registry.push_manifest("multi", "foreign", OCI_INDEX, foreign.as_bytes());
    let error = error_text(client.manifest_and_config(&registry.image("multi", "foreign")));
    assert!(
        error.contains(&format!("no manifest for {os}/{architecture}")),
        "{error}"
    );
    Ok(())
}

#[test]
fn missing_images_and_bad_references_are_errors() {
    let registry = Registry::start();
    registry.push_test_image("app", "v1", "x");
    let mut client = client();
    let missing = registry.image("app", "v2");
    let error = error_text(client.manifest_digest(&missing));
    assert!(
        error.contains(&format!("image {missing} not found")),
        "{error}"
    );
    let error = error_text(client.manifest(&registry.image("nothing", "v1")));
    assert!(error.contains("not found"), "{error}");
    let absent = format!("sha256:{}", "0".repeat(64));
    let error = error_text(client.manifest_and_config(&registry.image("app", &absent)));
    assert!(error.contains("not found"), "{error}");
    let error = error_text(client.manifest_digest("Not A Reference"));
    assert!(error.contains("not an image reference"), "{error}");
}

#[test]
fn plain_http_only_where_allowed() -> TestResult {
    let registry = Registry::start();
    let digest = registry.push_test_image("app", "v1", "x");
    let image = registry.image("app", "v1");
    // Loopback: plain HTTP by default, and with Always.
    for plain_http in [PlainHttp::Loopback, PlainHttp::Always] {
        setup();
        let mut client = Client::new(Options {
            plain_http,
            ..Options::default()
        })?;
        assert_eq!(client.manifest_digest(&image)?, digest);
    }
    // Never: HTTPS even on loopback, which this registry does not speak; no fallback.
    setup();
    let mut client = Client::new(Options {
        plain_http: PlainHttp::Never,
        ..Options::default()
    })?;
    let error = error_text(client.manifest_digest(&image));
    assert!(
        error.contains(&format!("no HTTPS answer from {}", registry.host()))
            && error.contains("--no-plain-http"),
        "{error}"
    );
    Ok(())
}

/// The v1.10.0 slsa-github-generator attestation as a Sigstore bundle (JSON text).
fn attestation_bundle() -> String {
    let layout = read_cosign_layout(&slsa_github_generator_layout("v1.10.0"));
    let layer = layout
        .attestations
        .iter()
        .find(|layer| layer.media_type == DSSE)
        .unwrap_or_else(|| panic!("no attestation layer"));
    let bundle = custody_sigstore::cosign::attestation_bundle(&layer.envelope, &layer.annotations)
        .unwrap_or_else(|e| panic!("{e}"));
    bundle.to_string()
}

/// `bundle` with its DSSE statement's predicate type replaced (the signature no longer verifies;
/// only the classification reads it).
fn with_predicate_type(bundle: &str, predicate_type: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bundle: Value = serde_json::from_str(bundle).unwrap_or_else(|e| panic!("{e}"));
    let payload = bundle["dsseEnvelope"]["payload"]
        .as_str()
        .unwrap_or_default();
    let mut statement: Value =
        serde_json::from_slice(&b64.decode(payload).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    statement["predicateType"] = json!(predicate_type);
    bundle["dsseEnvelope"]["payload"] = json!(b64.encode(statement.to_string()));
    bundle.to_string()
}

#[test]
fn reads_signatures_attestations_and_referrers() -> TestResult {
    let registry = Registry::start();
    let digest = registry.push_test_image("signed", "v1", "signed image");
    let (payload, annotations) = real_signature("key-2021");
    let (keyless_payload, keyless_annotations) = real_signature("keyless-2021");
    let none = BTreeMap::new();
    push_cosign_manifest(
        &registry,
        "signed",
        &tag_of(&digest, "sig"),
        &[
            (&payload, SIMPLE_SIGNING, &annotations),
            (b"not a signature", "application/octet-stream", &none),
            (&keyless_payload, SIMPLE_SIGNING, &keyless_annotations),
        ],
    );
    let envelope =
        br#"{"payloadType": "application/vnd.in-toto+json", "payload": "", "signatures": []}"#;
    push_cosign_manifest(
        &registry,
        "signed",
        &tag_of(&digest, "att"),
        &[(envelope, DSSE, &none)],
    );
    let attestation = attestation_bundle();
    let by_content = with_predicate_type(&attestation, SIGN_PREDICATE);
    let attestation_ref = registry.push_bundle_referrer("signed", &digest, attestation.as_bytes());
    // Annotated: the annotation decides (the same attestation bundle, called a signature).
    let annotated_ref = registry.push_bundle_referrer_annotated(
        "signed",
        &digest,
        format!("{attestation} ").as_bytes(),
        &[(PREDICATE_TYPE_ANNOTATION, SIGN_PREDICATE)],
    );
    let content_ref = registry.push_bundle_referrer("signed", &digest, by_content.as_bytes());

    let mut client = client();
    let found = client.artifacts(&registry.image("signed", "v1"))?;
    assert_eq!(found.digest, digest);
    assert_eq!(found.repository, format!("{}/signed", registry.host()));
    let signatures: Vec<_> = found
        .signatures
        .iter()
        .map(|s| (s.index, s.payload.clone(), s.annotations.clone()))
        .collect();
    assert_eq!(
        signatures,
        vec![
            (0, payload.clone(), annotations.clone()),
            (2, keyless_payload, keyless_annotations)
        ]
    );
    assert_eq!(found.attestations.len(), 1);
    assert_eq!(found.attestations[0].envelope, envelope);
    let kinds: BTreeMap<_, _> = found
        .referrers
        .iter()
        .map(|r| (r.manifest_digest.clone(), (r.kind, r.bundle.clone())))
        .collect();
    assert_eq!(
        kinds,
        BTreeMap::from([
            (
                attestation_ref,
                (ReferrerKind::Attestation, attestation.clone().into_bytes())
            ),
            (
                annotated_ref,
                (
                    ReferrerKind::Signature,
                    format!("{attestation} ").into_bytes()
                )
            ),
            (
                content_ref,
                (ReferrerKind::Signature, by_content.into_bytes())
            ),
        ])
    );
    let looked = found.looked.join("; ");
    assert!(looked.contains("3 layer(s), 2 of them"), "{looked}");

    // The signatures alone, by digest.
    let signatures = client.signatures(&registry.image("signed", &digest))?;
    assert_eq!(signatures.digest, digest);
    assert_eq!(
        signatures
            .layers
            .iter()
            .map(|l| l.index)
            .collect::<Vec<_>>(),
        [0, 2]
    );
    assert_eq!(signatures.layers[0].payload, payload);

    // An image without any.
    let bare = registry.push_test_image("signed", "bare", "no signatures");
    let signatures = client.signatures(&registry.image("signed", "bare"))?;
    assert_eq!(signatures.digest, bare);
    assert!(signatures.layers.is_empty());
    assert!(
        signatures
            .looked
            .contains(&format!("{}: not found", tag_of(&bare, "sig"))),
        "{}",
        signatures.looked
    );
    Ok(())
}

#[test]
fn too_many_signature_layers_are_refused() {
    let registry = Registry::start();
    let digest = registry.push_test_image("many", "v1", "x");
    let (payload, annotations) = real_signature("key-2021");
    let layers: Vec<_> = (0..=MAX_ITEMS)
        .map(|_| (payload.as_slice(), SIMPLE_SIGNING, &annotations))
        .collect();
    push_cosign_manifest(&registry, "many", &tag_of(&digest, "sig"), &layers);
    let mut client = client();
    let error = error_text(client.signatures(&registry.image("many", "v1")));
    assert!(
        error.contains(&format!(
            "{} layers, more than the {MAX_ITEMS} read",
            MAX_ITEMS + 1
        )),
        "{error}"
    );
}
