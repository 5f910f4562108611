//! `custody push`, `custody pull`, `custody sign` and `custody generate-key-pair`: annotated policy
//! modules published as OCI artifacts (as Kubewarden's tooling writes them), their CycloneDX SBOMs
//! attached as cosign does (`sha256-<hex>.sbom`), key-based cosign signatures (`sha256-<hex>.sig`),
//! and modules pulled back, checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use custody_registry::{Artifact, Blob, Client, CYCLONEDX_JSON_MEDIA_TYPE};
use custody_sdk::image::{validate_tag, ImageRef};
use custody_sigstore::cosign::{SimpleSigning, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE};
use custody_sigstore::Timestamp;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde_json::Value;

use crate::artifacthub_spec::is_rfc3339;
use crate::oci::RegistryArgs;

/// Exit status when a push, pull or signature fails.
pub const EXIT_FAILURE: u8 = 1;

/// Push annotated policy modules (`custody annotate`, dist/*.wasm) to a registry as OCI
/// artifacts: config `application/vnd.wasm.config.v1+json`, the module as the one
/// `application/vnd.wasm.content.layer.v1+wasm` layer, the metadata's single-line annotations and
/// `org.opencontainers.image.{source,version,revision,created}` on the manifest.
///
/// Each module goes to `<repository>:v<version>`, its version being the metadata's
/// `io.kubewarden.policy.version`, its repository `--registry`/`<policy>` (default: the
/// metadata's `io.kubewarden.policy.ociUrl`), with `-gatekeeper` appended for a Gatekeeper-mode
/// build. Prints each pushed artifact's immutable reference (`<repository>@sha256:<hex>`) on
/// stdout, one a line, and the progress on stderr.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The annotated modules.
    #[arg(required = true, value_name = "MODULE")]
    modules: Vec<PathBuf>,
    /// The registry and path under which each policy's repository is made, e.g.
    /// `ghcr.io/my-org/policies` or `127.0.0.1:5000/custody`.
    #[arg(long, value_name = "REGISTRY/PATH", conflicts_with = "reference")]
    registry: Option<String>,
    /// The exact reference (`repository:tag`) to push the one MODULE to.
    #[arg(long, value_name = "REFERENCE")]
    reference: Option<String>,
    /// Attach each module's CycloneDX SBOM, the JSON file `DIR/<module file stem>.cdx.json`, at
    /// cosign's `sha256-<hex>.sbom` tag of the pushed artifact.
    #[arg(long, value_name = "DIR")]
    sbom_dir: Option<PathBuf>,
    /// The source revision (`org.opencontainers.image.revision`), e.g. the git commit.
    #[arg(long, value_name = "REVISION")]
    revision: Option<String>,
    /// The creation time (`org.opencontainers.image.created`, RFC 3339); default: now.
    #[arg(long, value_name = "RFC3339")]
    created: Option<String>,
    #[command(flatten)]
    registry_args: RegistryArgs,
}

/// Pull a policy module from a registry: refused unless it is an OCI artifact with a
/// `application/vnd.wasm.config.v1+json` config and one `application/vnd.wasm.content.layer.v1+wasm`
/// layer holding a WebAssembly module, every byte checked against its digest (and the manifest's
/// against the reference's, when it names one). Prints the manifest's digest.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// The module's reference: `repository:tag`, or better `repository@sha256:<hex>`
    /// (a `registry://` prefix is accepted).
    reference: String,
    /// Where to write the module.
    #[arg(long, short)]
    output: PathBuf,
    #[command(flatten)]
    registry_args: RegistryArgs,
}

/// Sign images or artifacts with a key, as `cosign sign --key` does: a simple-signing payload
/// naming the digest, signed with ECDSA P-256 / SHA-256, appended to the `sha256-<hex>.sig`
/// manifest of the repository (signatures already there are kept).
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The private key: a PKCS#8 PEM P-256 key (`custody generate-key-pair`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// An annotation in the payload's `optional` (`key=value`, repeatable), as `cosign sign -a`.
    #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    /// The images to sign, by digest (`repository@sha256:<hex>`: a tag could move).
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
    #[command(flatten)]
    registry_args: RegistryArgs,
}

/// Generate a P-256 key pair for `custody sign`: PREFIX.key (PKCS#8 PEM, unencrypted, mode 0600)
/// and PREFIX.pub (SubjectPublicKeyInfo PEM: what verify-signature's `publicKey` attestors and
/// `cosign verify --key` take). Existing files are never overwritten.
#[derive(Debug, clap::Args)]
pub struct KeyPairArgs {
    /// Where to write: PREFIX.key and PREFIX.pub.
    #[arg(long, value_name = "PREFIX", default_value = "cosign")]
    output_prefix: PathBuf,
}

/// Where one module goes.
struct Target {
    module: PathBuf,
    bytes: Vec<u8>,
    reference: ImageRef,
    annotations: BTreeMap<String, String>,
}

pub fn push(args: PushArgs) -> Result<ExitCode> {
    if args.reference.is_some() && args.modules.len() != 1 {
        bail!(
            "--reference names where one module goes; {} were given",
            args.modules.len()
        );
    }
    let created = match &args.created {
        Some(created) => {
            if !is_rfc3339(created) {
                bail!(
                    "--created {created:?}: not an RFC 3339 date-time (e.g. 2026-11-27T22:45:00Z)"
                );
            }
            created.clone()
        }
        None => now_rfc3339()?,
    };
    // Every module is read and checked before anything is pushed.
    let targets = args
        .modules
        .iter()
        .map(|module| target(&args, module, &created))
        .collect::<Result<Vec<_>>>()?;
    let sboms = targets
        .iter()
        .map(|target| match &args.sbom_dir {
            Some(dir) => read_sbom(dir, &target.module).map(Some),
            None => Ok(None),
        })
        .collect::<Result<Vec<_>>>()?;

    let mut client = Client::new(args.registry_args.options())?;
    let count = targets.len();
    for (index, (target, sbom)) in targets.into_iter().zip(sboms).enumerate() {
        let repository = target.reference.name();
        eprintln!(
            "[{}/{count}] {} ({} bytes) -> {}",
            index + 1,
            target.module.display(),
            target.bytes.len(),
            target.reference
        );
        let artifact = Artifact::policy_module(target.bytes, target.annotations);
        let digest = client
            .push(&target.reference.to_string(), &artifact)
            .with_context(|| format!("pushing {}", target.module.display()))?;
        if let Some(sbom) = sbom {
            let tag = attachment_tag(&digest, "sbom")?;
            let sbom = Artifact::cosign(vec![Blob::new(CYCLONEDX_JSON_MEDIA_TYPE, sbom)]);
            client
                .push(&format!("{repository}:{tag}"), &sbom)
                .with_context(|| format!("attaching the SBOM of {}", target.module.display()))?;
            eprintln!("      SBOM attached at {repository}:{tag}");
        }
        println!("{repository}@{digest}");
    }
    print_notes(&mut client);
    Ok(ExitCode::SUCCESS)
}

/// Reads `module` and decides where it goes.
fn target(args: &PushArgs, module: &Path, created: &str) -> Result<Target> {
    let bytes =
        std::fs::read(module).with_context(|| format!("cannot read {}", module.display()))?;
    let what = module.display();
    let metadata = custody_host::read_metadata(&bytes)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("{what}: not a WebAssembly module with valid metadata"))?
        .ok_or_else(|| {
            anyhow!("{what} has no io.kubewarden.metadata section: annotate it first (custody annotate)")
        })?;
    let given = metadata.get("annotations").and_then(Value::as_object);
    let annotation = |key: &str| {
        given
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| anyhow!("{what}: its metadata has no annotation {key}"))
    };
    let version = annotation("io.kubewarden.policy.version")?;
    let tag = format!("v{version}");
    validate_tag(&tag).map_err(|e| {
        anyhow!("{what}: io.kubewarden.policy.version {version:?} cannot be a tag: {e}")
    })?;
    let suffix = if metadata.get("executionMode").and_then(Value::as_str) == Some("gatekeeper") {
        "-gatekeeper"
    } else {
        ""
    };
    let reference = match (&args.reference, &args.registry) {
        (Some(reference), _) => reference.clone(),
        (None, registry) => {
            let oci_url = annotation("io.kubewarden.policy.ociUrl")?;
            let repository = match registry {
                Some(registry) => {
                    let policy = oci_url.rsplit('/').next().unwrap_or(oci_url);
                    format!("{}/{policy}", registry.trim_end_matches('/'))
                }
                None => oci_url.to_owned(),
            };
            format!("{repository}{suffix}:{tag}")
        }
    };
    let reference = parse_reference(&reference)?;
    if reference.tag().is_none() || reference.digest().is_some() {
        bail!("{reference}: push to a tag (repository:tag), not a digest");
    }

    // The metadata's single-line annotations, as `kwctl push` copies them, and the OCI ones.
    let mut annotations: BTreeMap<String, String> = given
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
        .filter(|(_, value)| !value.contains('\n'))
        .collect();
    if let Ok(source) = annotation("io.kubewarden.policy.source") {
        annotations.insert("org.opencontainers.image.source".into(), source.to_owned());
    }
    annotations.insert(
        "org.opencontainers.image.version".into(),
        version.to_owned(),
    );
    annotations.insert(
        "org.opencontainers.image.created".into(),
        created.to_owned(),
    );
    if let Some(revision) = &args.revision {
        annotations.insert("org.opencontainers.image.revision".into(), revision.clone());
    }
    Ok(Target {
        module: module.to_owned(),
        bytes,
        reference,
        annotations,
    })
}

/// The CycloneDX SBOM of `module` in `dir`, checked to be one.
fn read_sbom(dir: &Path, module: &Path) -> Result<Vec<u8>> {
    let stem = module
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| anyhow!("{}: no file name", module.display()))?;
    let path = dir.join(format!("{stem}.cdx.json"));
    let bytes =
        std::fs::read(&path).with_context(|| format!("cannot read the SBOM {}", path.display()))?;
    let sbom: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("the SBOM {} is not JSON", path.display()))?;
    if sbom.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
        bail!(
            "{} is not a CycloneDX SBOM (no bomFormat \"CycloneDX\")",
            path.display()
        );
    }
    Ok(bytes)
}

pub fn pull(args: PullArgs) -> Result<ExitCode> {
    let reference = args
        .reference
        .strip_prefix("registry://")
        .unwrap_or(&args.reference);
    let reference = parse_reference(reference)?;
    let mut client = Client::new(args.registry_args.options())?;
    let pulled = client.pull_module(&reference.to_string())?;
    print_notes(&mut client);
    let metadata = custody_host::read_metadata(&pulled.module)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("{reference}: its module's metadata"))?;
    std::fs::write(&args.output, &pulled.module)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let annotation = |key: &str| {
        metadata
            .as_ref()
            .and_then(|m| m.pointer(&format!("/annotations/{}", key.replace('/', "~1"))))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    eprintln!(
        "{} ({} {}, {} bytes) -> {}",
        reference.name(),
        annotation("io.kubewarden.policy.title"),
        annotation("io.kubewarden.policy.version"),
        pulled.module.len(),
        args.output.display()
    );
    println!("{}@{}", reference.name(), pulled.digest);
    Ok(ExitCode::SUCCESS)
}

pub fn sign(args: SignArgs) -> Result<ExitCode> {
    let pem = std::fs::read_to_string(&args.key)
        .with_context(|| format!("cannot read the key {}", args.key.display()))?;
    let key = p256::SecretKey::from_pkcs8_pem(&pem).map_err(|e| {
        anyhow!(
            "{}: not a PKCS#8 PEM P-256 private key ({e}); custody generate-key-pair makes one",
            args.key.display()
        )
    })?;
    let signer = p256::ecdsa::SigningKey::from(&key);
    let mut optional = serde_json::Map::new();
    for annotation in &args.annotations {
        let (name, value) = annotation
            .split_once('=')
            .filter(|(name, _)| !name.is_empty())
            .ok_or_else(|| anyhow!("--annotation {annotation:?}: expected KEY=VALUE"))?;
        optional.insert(name.to_owned(), Value::String(value.to_owned()));
    }
    let images = args
        .images
        .iter()
        .map(|image| {
            let reference = parse_reference(image)?;
            match reference.digest() {
                Some(_) if reference.tag().is_none() => Ok(reference),
                _ => {
                    bail!("{image}: sign an image by digest (repository@sha256:<hex>), not by tag")
                }
            }
        })
        .collect::<Result<Vec<_>>>()?;

    let mut client = Client::new(args.registry_args.options())?;
    for image in images {
        let repository = image.name();
        let digest = image
            .digest()
            .map(ToString::to_string)
            .ok_or_else(|| anyhow!("{image}: no digest"))?;
        // The image must be there: a signature of nothing is refused.
        client.manifest_digest(&image.to_string())?;
        let payload = SimpleSigning {
            docker_reference: repository.clone(),
            docker_manifest_digest: digest.clone(),
            optional: optional.clone(),
        }
        .to_json();
        let signature: p256::ecdsa::Signature = signer.sign(&payload);
        let mut layer = Blob::new(SIMPLE_SIGNING_MEDIA_TYPE, payload);
        layer.annotations.insert(
            SIGNATURE_ANNOTATION.to_owned(),
            base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes()),
        );
        let tag = format!("{repository}:{}", attachment_tag(&digest, "sig")?);
        let mut layers = match client.pull_artifact(&tag)? {
            Some((_, existing)) => existing.layers,
            None => Vec::new(),
        };
        if !layers.contains(&layer) {
            layers.push(layer);
        }
        let pushed = client.push(&tag, &Artifact::cosign(layers))?;
        eprintln!("signed {image}: {tag} ({pushed})");
    }
    print_notes(&mut client);
    Ok(ExitCode::SUCCESS)
}

pub fn generate_key_pair(args: KeyPairArgs) -> Result<ExitCode> {
    let prefix = args.output_prefix.display();
    let private_path = PathBuf::from(format!("{prefix}.key"));
    let public_path = PathBuf::from(format!("{prefix}.pub"));
    for path in [&private_path, &public_path] {
        if path.exists() {
            bail!("{} exists: not overwritten", path.display());
        }
    }
    let key = loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| anyhow!("no randomness from the system: {e}"))?;
        // Out of range (not below the group order, or zero): about one in 2^32; draw again.
        if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
            break key;
        }
    };
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow!("encoding the private key: {e}"))?;
    let public = key
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| anyhow!("encoding the public key: {e}"))?;
    write_new(&private_path, private.as_bytes(), 0o600)?;
    write_new(&public_path, public.as_bytes(), 0o644)?;
    eprintln!(
        "wrote {} (private: keep it secret) and {}",
        private_path.display(),
        public_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Creates `path` (never overwriting) with `mode` on Unix.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// cosign's tag for an attachment of the artifact `digest`: `sha256-<hex>.<kind>`.
fn attachment_tag(digest: &str, kind: &str) -> Result<String> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| anyhow!("{digest} is not a sha256 digest"))?;
    Ok(format!("sha256-{hex}.{kind}"))
}

fn parse_reference(reference: &str) -> Result<ImageRef> {
    ImageRef::parse(reference).map_err(|e| anyhow!("{reference:?} is not a reference: {e}"))
}

fn print_notes(client: &mut Client) {
    for note in client.take_notes() {
        eprintln!("note: {note}");
    }
}

/// Now in UTC, as RFC 3339 (`2026-11-27T22:45:00Z`).
fn now_rfc3339() -> Result<String> {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let seconds = i64::try_from(seconds).context("the clock is out of range")?;
    Ok(Timestamp::from_unix(seconds).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_rfc3339() {
        let now = now_rfc3339().expect("now");
        assert!(is_rfc3339(&now), "{now}");
        assert!(now.ends_with('Z') && now.starts_with("20"), "{now}");
    }

    #[test]
    fn attachments_are_tagged_as_cosign_tags_them() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            attachment_tag(&digest, "sig").expect("tag"),
            format!("sha256-{}.sig", "ab".repeat(32))
        );
        assert!(attachment_tag("md5:00", "sig").is_err());
    }
}
