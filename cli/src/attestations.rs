//! `custody attestations export`: an image's attestations and signatures, from its registry, as
//! the ConfigMap the `verify-slsa` policy reads through Kubewarden's `kubernetes` host capability.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use custody_attestors::{AttestationsConfigMap, DEFAULT_NAMESPACE};
use custody_registry::Client;
use custody_sdk::settings::NamespaceName;
use custody_sdk::Digest;

use crate::oci::RegistryArgs;

/// Exit status when nothing could be exported (nothing found, too large, registry error...).
pub const EXIT_FAILURE: u8 = 1;

/// Work with the attestations and signatures of container images (SLSA provenance and other
/// in-toto statements, cosign image signatures).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Subcommand,
}

#[derive(Debug, clap::Subcommand)]
enum Subcommand {
    Export(ExportArgs),
}

/// Fetch an image's attestations and signatures from its registry and print them as a Kubernetes
/// ConfigMap.
///
/// The ConfigMap is what the verify-slsa policy reads in the cluster: run this after the build
/// (e.g. after slsa-github-generator) and apply the output (`... | kubectl apply -f -`).
///
/// A tag is resolved to the image's manifest digest (a digest is used as given). Looked at:
///   - the cosign attestation tag sha256-<hex>.att: each application/vnd.dsse.envelope.v1+json
///     layer (a DSSE envelope, with its certificate, chain and Rekor bundle annotations) becomes
///     a Sigstore bundle, key att-<layer index>.sigstore.json;
///   - the cosign signature tag sha256-<hex>.sig: each
///     application/vnd.dev.cosign.simplesigning.v1+json layer (the signed payload, with its
///     signature, certificate, chain and Rekor bundle annotations) becomes a Sigstore bundle whose
///     message is the payload, key sig-<layer index>.sigstore.json;
///   - OCI 1.1 referrers of the digest (the referrers API, or the referrers tag sha256-<hex> on
///     registries without it) whose artifact type is a Sigstore bundle, attestations and cosign v3
///     image signatures alike: the bundle layer, as stored, key referrer-<first 16 hex of the
///     referrer manifest digest>.sigstore.json.
///
/// The ConfigMap: name sha256-<hex> (the digest), labels app.kubernetes.io/managed-by=custody and
/// custody.dev/attestations=v1, annotation custody.dev/image=<registry>/<repository>@<digest>.
///
/// Registry access: HTTPS (system roots); plain HTTP to loopback registries (localhost,
/// 127.0.0.0/8, ::1) unless --no-plain-http, and to every registry with --plain-http.
/// Credentials: those docker would use, from $DOCKER_CONFIG/config.json, else
/// ~/.docker/config.json: the registry's credential helper (credHelpers), its `auths` entry (as
/// `docker login` writes it), else the credential store (credsStore); a helper is
/// `docker-credential-<name>` on PATH. None: anonymous. A helper that cannot be run or fails, or a
/// malformed config, is an error. Identity tokens (OAuth2 refresh tokens) cannot be used: such a
/// registry is accessed anonymously, with a note. Bounds: every request has a deadline
/// (--registry-timeout), at most 100 layers per cosign tag and 100 bundle referrers, 4 MiB per
/// manifest or blob, each blob checked against its digest.
///
/// Exit status: 0 printed; 1 nothing exported: neither attestations nor signatures found, the
/// ConfigMap would exceed Kubernetes' 1 MiB, the image or registry could not be read.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ExportArgs {
    /// Namespace of the ConfigMap.
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    namespace: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "yaml")]
    output: Format,
    #[command(flatten)]
    registry: RegistryArgs,
    /// The image: REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:HEX (no registry:
    /// docker.io).
    #[arg(value_name = "IMAGE")]
    image: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Yaml,
    Json,
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Subcommand::Export(args) => export(args),
    }
}

fn export(args: ExportArgs) -> Result<ExitCode> {
    let namespace = NamespaceName::new(&args.namespace)
        .map_err(|e| anyhow!("--namespace {:?}: {e}", args.namespace))?;
    let mut client = Client::new(args.registry.options())?;
    let found = client.artifacts(&args.image);
    for note in client.take_notes() {
        eprintln!("note: {note}");
    }
    let found = found?;
    let image = format!("{}@{}", found.repository, found.digest);

    let mut data = BTreeMap::new();
    for layer in &found.attestations {
        let bundle =
            custody_sigstore::cosign::attestation_bundle(&layer.envelope, &layer.annotations)
                .map_err(|e| {
                    anyhow!(
                        "{image}: cosign attestation layer {} is not a Sigstore attestation: {e}",
                        layer.index
                    )
                })?;
        let text = serde_json::to_string(&bundle)?;
        insert(&mut data, att_key(layer.index), text)?;
    }
    for layer in &found.signatures {
        let bundle = custody_sigstore::cosign::signature_bundle(&layer.payload, &layer.annotations)
            .map_err(|e| {
                anyhow!(
                    "{image}: cosign signature layer {} is not a Sigstore signature: {e}",
                    layer.index
                )
            })?;
        let text = serde_json::to_string(&bundle)?;
        insert(&mut data, sig_key(layer.index), text)?;
    }
    for referrer in &found.referrers {
        let text = bundle_text(&referrer.bundle)
            .with_context(|| format!("{image}: referrer {}", referrer.manifest_digest))?;
        insert(&mut data, referrer_key(&referrer.manifest_digest)?, text)?;
    }
    if data.is_empty() {
        bail!(
            "no attestations or signatures found for {} ({image}): looked at {}",
            args.image,
            found.looked.join("; ")
        );
    }

    let digest = sha256_digest(&found.digest)?;
    let configmap = AttestationsConfigMap::new(&digest, &namespace, &image, data)
        .map_err(anyhow::Error::msg)?;
    let text = match args.output {
        Format::Yaml => serde_yaml_ng::to_string(&configmap)?,
        Format::Json => serde_json::to_string_pretty(&configmap)? + "\n",
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// A referrer's bundle layer as ConfigMap text: UTF-8 JSON, kept byte for byte.
fn bundle_text(bundle: &[u8]) -> Result<String> {
    let text = std::str::from_utf8(bundle).map_err(|_| anyhow!("the bundle is not UTF-8 text"))?;
    serde_json::from_str::<serde::de::IgnoredAny>(text).context("the bundle is not JSON")?;
    Ok(text.to_owned())
}

fn insert(data: &mut BTreeMap<String, String>, key: String, value: String) -> Result<()> {
    if data.contains_key(&key) {
        bail!("two bundles would be stored under the key {key}");
    }
    data.insert(key, value);
    Ok(())
}

/// The data key of the cosign attestation layer at `index`.
pub fn att_key(index: usize) -> String {
    format!("att-{index}.sigstore.json")
}

/// The data key of the cosign signature layer at `index`.
pub fn sig_key(index: usize) -> String {
    format!("sig-{index}.sigstore.json")
}

/// The data key of the referrer whose manifest digest is `digest` (`sha256:<64 hex>`).
pub fn referrer_key(digest: &str) -> Result<String> {
    let digest = sha256_digest(digest)?;
    Ok(format!(
        "referrer-{}.sigstore.json",
        digest.encoded().get(..16).unwrap_or_default()
    ))
}

/// A `sha256:<64 lowercase hex>` digest (what attestations are filed under).
pub fn sha256_digest(text: &str) -> Result<Digest> {
    Digest::parse(text)
        .ok()
        .filter(|d| d.sha256_bytes().is_some())
        .ok_or_else(|| anyhow!("{text:?} is not a sha256 digest (sha256:<64 lowercase hex>)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use custody_attestors::MAX_CONFIG_MAP_DATA_BYTES;

    const DIGEST: &str = "sha256:e0a0a765d690a5104331cfbac88ebbbf01736c1f87aaa3cd455c516a5ea586a5";

    fn config_map(
        digest: &str,
        namespace: &str,
        data: BTreeMap<String, String>,
    ) -> Result<AttestationsConfigMap> {
        let digest = Digest::parse(digest).map_err(|e| anyhow!("{e}"))?;
        let namespace = NamespaceName::new(namespace).map_err(anyhow::Error::msg)?;
        let image = format!("ghcr.io/acme/app@{digest}");
        AttestationsConfigMap::new(&digest, &namespace, &image, data).map_err(anyhow::Error::msg)
    }

    #[test]
    fn keys() -> Result<()> {
        assert_eq!(att_key(0), "att-0.sigstore.json");
        assert_eq!(att_key(12), "att-12.sigstore.json");
        assert_eq!(sig_key(0), "sig-0.sigstore.json");
        assert_eq!(sig_key(3), "sig-3.sigstore.json");
        assert_eq!(
            referrer_key(
                "sha256:31cc4fb663c8d34e2e6a0bd5f183d576c2811ee286e0998b4c2965e3b35a0d86"
            )?,
            "referrer-31cc4fb663c8d34e.sigstore.json"
        );
        for bad in [
            "sha512:e0a0a765d690a5104331cfbac88ebbbf01736c1f87aaa3cd455c516a5ea586a5",
            "sha256:E0A0A765D690A5104331CFBAC88EBBBF01736C1F87AAA3CD455C516A5EA586A5",
            "sha256:e0a0a765",
            "e0a0a765d690a5104331cfbac88ebbbf01736c1f87aaa3cd455c516a5ea586a5",
            "",
        ] {
            assert!(referrer_key(bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn the_configmap_is_the_contract() -> Result<()> {
        let data = BTreeMap::from([(att_key(0), r#"{"mediaType":"x"}"#.to_owned())]);
        let configmap = config_map(DIGEST, "custody-attestations", data)?;
        assert_eq!(
            serde_json::to_value(&configmap)?,
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "sha256-e0a0a765d690a5104331cfbac88ebbbf01736c1f87aaa3cd455c516a5ea586a5",
                    "namespace": "custody-attestations",
                    "labels": {
                        "app.kubernetes.io/managed-by": "custody",
                        "custody.dev/attestations": "v1"
                    },
                    "annotations": {"custody.dev/image": format!("ghcr.io/acme/app@{DIGEST}")}
                },
                "data": {"att-0.sigstore.json": "{\"mediaType\":\"x\"}"}
            })
        );
        // YAML: the same object, fields in the usual order.
        let yaml = serde_yaml_ng::to_string(&configmap)?;
        assert!(
            yaml.starts_with("apiVersion: v1\nkind: ConfigMap\nmetadata:\n"),
            "{yaml}"
        );
        let back: serde_json::Value = serde_yaml_ng::from_str(&yaml)?;
        assert_eq!(back, serde_json::to_value(&configmap)?);
        // Only sha256 digests name attestations; namespaces are checked.
        let sha512 = format!("sha512:{}", "a".repeat(128));
        assert!(config_map(&sha512, "ns", BTreeMap::new()).is_err());
        assert!(config_map(DIGEST, "Not_A_Namespace", BTreeMap::new()).is_err());
        Ok(())
    }

    #[test]
    fn size_limit_counts_keys_and_values() -> Result<()> {
        let key = att_key(0);
        let fits = "x".repeat(MAX_CONFIG_MAP_DATA_BYTES - key.len());
        config_map(DIGEST, "ns", BTreeMap::from([(key.clone(), fits)]))?;

        let too_big = "x".repeat(MAX_CONFIG_MAP_DATA_BYTES - key.len() + 1);
        let error = match config_map(DIGEST, "ns", BTreeMap::from([(key, too_big)])) {
            Ok(_) => panic!("a ConfigMap over 1 MiB was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(error.contains("1048577 bytes"), "{error}");
        assert!(error.contains("1 MiB"), "{error}");
        assert!(error.contains("att-0.sigstore.json"), "{error}");

        // Several entries add up.
        let half = "y".repeat(MAX_CONFIG_MAP_DATA_BYTES / 2);
        let data = BTreeMap::from([(att_key(0), half.clone()), (att_key(1), half)]);
        assert!(config_map(DIGEST, "ns", data).is_err());
        Ok(())
    }

    #[test]
    fn duplicate_keys_and_bad_bundles_are_refused() {
        let mut data = BTreeMap::new();
        assert!(insert(&mut data, att_key(0), "{}".into()).is_ok());
        assert!(insert(&mut data, att_key(0), "{}".into()).is_err());
        assert!(
            bundle_text(br#"{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}"#)
                .is_ok()
        );
        assert!(bundle_text(b"\xff\xfe").is_err());
        assert!(bundle_text(b"{not json").is_err());
    }
}
