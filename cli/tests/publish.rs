//! Publishing against a real registry (Debian's docker-registry on loopback): `make publish` pushes
//! every policy module of dist/ (both builds) with its SBOM and a key-based cosign signature; each
//! is read back with clients we did not write (skopeo for the manifests, Python's `cryptography`
//! for the signatures) and with ours (`custody pull`, and verify-signature run by `custody eval`,
//! which answers its `oci/v2/verify` calls from the registry). `custody push`, `pull` and `sign`
//! refuse what they must.
//!
//! Needs `make modules` (dist/) and `make test-setup` (docker-registry, skopeo, cargo-cyclonedx,
//! python3-cryptography): `make test` does both first.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use custody_test_support::cosign::{generate_key, reference_verify, KeyKind};
use custody_test_support::registry::{sha256_digest, Registry};
use custody_test_support::requests::pod_request;
use serde_json::{json, Value};

mod common;

use common::{
    custody, dist, no_docker_config, path, repo_root as root, stderr, stdout, TestResult,
};

/// `make publish` runs cargo-cyclonedx in the source tree: one run at a time.
static PUBLISHING: Mutex<()> = Mutex::new(());

/// The policies (every directory under policies/), each with both modules built.
fn policies() -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut policies = Vec::new();
    for entry in std::fs::read_dir(root().join("policies"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        for module in [format!("{name}.wasm"), format!("{name}.gatekeeper.wasm")] {
            dist(&module)?;
        }
        policies.push(name);
    }
    policies.sort();
    Ok(policies)
}

/// `make publish` with the modules as built (`-o modules`: not rebuilt) and `vars`; its output.
fn make_publish(vars: &[(&str, &str)]) -> Result<Output, Box<dyn std::error::Error>> {
    let mut command = Command::new("make");
    command
        .current_dir(root())
        .args(["--no-print-directory", "-o", "modules", "publish"])
        .arg(format!("CUSTODY={}", env!("CARGO_BIN_EXE_custody")))
        .env("DOCKER_CONFIG", no_docker_config());
    for (name, value) in vars {
        command.arg(format!("{name}={value}"));
    }
    let output = command.output()?;
    if !output.status.success() {
        return Err(format!(
            "make publish: {}\n{}\n{}",
            output.status,
            stdout(&output),
            stderr(&output)
        )
        .into());
    }
    Ok(output)
}

/// `skopeo inspect --raw` of `image` (plain HTTP): the manifest's bytes as served.
fn skopeo_raw(image: &str) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let output = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{image}"))
        .env("DOCKER_CONFIG", no_docker_config())
        .output()
        .map_err(|e| format!("skopeo: {e} (Debian's skopeo: `make test-setup`)"))?;
    if !output.status.success() {
        return Err(format!("skopeo inspect --raw {image}: {}", stderr(&output)).into());
    }
    Ok(output.stdout)
}

/// verify-signature (waPC build, host mode) on a Pod running `images`, requiring a signature by
/// `public_key` on everything in `registry`: the ValidationResponse.
fn verify_signature(
    dir: &Path,
    registry: &Registry,
    images: &[&str],
    public_key: &Path,
) -> Result<Value, Box<dyn std::error::Error>> {
    let settings = json!({
        "images": [{
            "patterns": [format!("{}/*", registry.host())],
            "attestors": {"entries": [{
                "publicKey": std::fs::read_to_string(public_key)?,
                "requireRekorBundle": false,
            }]},
        }],
    });
    let settings_path = dir.join("verify-signature.settings.json");
    let request_path = dir.join("verify-signature.request.json");
    std::fs::write(&settings_path, settings.to_string())?;
    std::fs::write(&request_path, pod_request(images, json!({})).to_string())?;
    let policy = root().join("dist/verify-signature.wasm");
    let output = custody(&[
        "eval",
        "--policy",
        path(&policy)?,
        "--request",
        path(&request_path)?,
        "--settings",
        path(&settings_path)?,
    ])?;
    if !output.status.success() {
        return Err(format!("custody eval: {}", stderr(&output)).into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// `repository@sha256:<hex>` split, with the repository's path in the registry.
fn split(pushed: &str, registry: &Registry) -> Result<(String, String), String> {
    let (repository, digest) = pushed
        .split_once('@')
        .ok_or_else(|| format!("{pushed}: not an immutable reference"))?;
    let path = repository
        .strip_prefix(&format!("{}/", registry.host()))
        .ok_or_else(|| format!("{pushed}: not in the test registry"))?;
    Ok((path.to_owned(), digest.to_owned()))
}

#[test]
fn make_publish_pushes_signs_and_attaches_an_sbom_to_every_policy() -> TestResult {
    let _one_at_a_time = PUBLISHING.lock().unwrap_or_else(|e| e.into_inner());
    let policies = policies()?;
    let dir = common::workdir("custody-cli-publish", "make-publish")?;
    let registry = Registry::start();
    let key = dir.join("release.key");
    let public_key = dir.join("release.pub");
    let prefix = dir.join("release");
    let generated = custody(&["generate-key-pair", "--output-prefix", path(&prefix)?])?;
    assert!(generated.status.success(), "{}", stderr(&generated));
    let target = format!("{}/custody", registry.host());
    let publish_dir = dir.join("publish");
    make_publish(&[
        ("REGISTRY", &target),
        ("SIGNING_KEY", path(&key)?),
        ("PUBLISH_DIR", path(&publish_dir)?),
    ])?;

    let pushed = std::fs::read_to_string(publish_dir.join("pushed.txt"))?;
    let pushed: Vec<&str> = pushed.lines().collect();
    let expected: Vec<String> = policies
        .iter()
        .flat_map(|p| [p.clone(), format!("{p}-gatekeeper")])
        .map(|repository| format!("{target}/{repository}@sha256:"))
        .collect();
    assert_eq!(pushed.len(), expected.len(), "{pushed:?}");
    let revision = Command::new("git")
        .current_dir(root())
        .args(["rev-parse", "HEAD"])
        .output()
        .map(|o| stdout(&o).trim().to_owned())
        .unwrap_or_default();
    let other_key = generate_key(KeyKind::P256);

    for (reference, prefix) in pushed.iter().zip(&expected) {
        assert!(
            reference.starts_with(prefix.as_str()),
            "{reference} (wanted {prefix}...)"
        );
        let (repository, digest) = split(reference, &registry)?;
        let module_name = repository
            .trim_start_matches("custody/")
            .replace("-gatekeeper", ".gatekeeper");
        let module = std::fs::read(root().join("dist").join(format!("{module_name}.wasm")))?;
        let metadata = custody_host::read_metadata(&module)?.ok_or("no metadata")?;
        let version = metadata["annotations"]["io.kubewarden.policy.version"]
            .as_str()
            .ok_or("no version")?;

        // The manifest as skopeo reads it: what Kubewarden's tooling writes.
        let raw = skopeo_raw(reference)?;
        assert_eq!(
            sha256_digest(&raw),
            digest,
            "{reference}: the manifest's digest"
        );
        let manifest: Value = serde_json::from_slice(&raw)?;
        assert_eq!(
            manifest["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.wasm.config.v1+json"
        );
        let layers = manifest["layers"].as_array().ok_or("no layers")?;
        assert_eq!(layers.len(), 1, "{reference}: {manifest}");
        assert_eq!(
            layers[0]["mediaType"],
            "application/vnd.wasm.content.layer.v1+wasm"
        );
        assert_eq!(layers[0]["digest"], sha256_digest(&module));
        assert_eq!(layers[0]["size"], module.len());
        let annotations = manifest["annotations"]
            .as_object()
            .ok_or("no annotations")?;
        for (key, value) in metadata["annotations"].as_object().ok_or("annotations")? {
            let value = value.as_str().ok_or("a non-string annotation")?;
            if value.contains('\n') {
                assert!(
                    !annotations.contains_key(key),
                    "{key}: multi-line, not copied"
                );
            } else {
                assert_eq!(
                    annotations.get(key),
                    Some(&json!(value)),
                    "{reference}: {key}"
                );
            }
        }
        assert_eq!(
            annotations["org.opencontainers.image.source"],
            metadata["annotations"]["io.kubewarden.policy.source"]
        );
        assert_eq!(annotations["org.opencontainers.image.version"], version);
        assert_eq!(annotations["org.opencontainers.image.revision"], revision);
        let created = annotations["org.opencontainers.image.created"]
            .as_str()
            .ok_or("no created")?;
        custody_sigstore::parse_rfc3339(created)?;

        // Pulled back by digest: the very module.
        let out = dir.join(format!("{module_name}.pulled.wasm"));
        let pulled = custody(&["pull", reference, "-o", path(&out)?])?;
        assert!(pulled.status.success(), "{}", stderr(&pulled));
        assert_eq!(stdout(&pulled).trim(), *reference);
        assert!(
            std::fs::read(&out)? == module,
            "{reference}: pulled bytes differ"
        );

        // The SBOM, attached as `cosign attach sbom` does.
        let hex = digest.trim_start_matches("sha256:");
        let sbom_manifest: Value = serde_json::from_slice(&skopeo_raw(&format!(
            "{target}/{}:sha256-{hex}.sbom",
            repository.trim_start_matches("custody/")
        ))?)?;
        let sbom_layer = &sbom_manifest["layers"][0];
        assert_eq!(sbom_layer["mediaType"], "application/vnd.cyclonedx+json");
        let blob = registry.get(&format!(
            "/v2/{repository}/blobs/{}",
            sbom_layer["digest"].as_str().ok_or("no digest")?
        ));
        assert_eq!(blob.status, 200);
        assert_eq!(sha256_digest(&blob.body), sbom_layer["digest"]);
        let sbom: Value = serde_json::from_slice(&blob.body)?;
        assert_eq!(sbom["bomFormat"], "CycloneDX");
        let policy = module_name.trim_end_matches(".gatekeeper");
        assert_eq!(sbom["metadata"]["component"]["name"], policy);
        assert_eq!(sbom["metadata"]["component"]["version"], version);
        let components = sbom["components"].as_array().ok_or("no components")?;
        assert!(
            components.iter().any(|c| c["name"] == "custody-sdk"),
            "{reference}: the SBOM lists the SDK"
        );
        assert!(
            components.iter().all(|c| c["version"].is_string()),
            "{reference}: every component has its locked version"
        );

        // The signature, verified by an implementation we did not write: with the key, and not
        // with another.
        let verified = reference_verify(&registry.host(), &repository, &digest, &public_key)?;
        assert_eq!(verified.trim(), "verified 1 of 1");
        let refused = reference_verify(
            &registry.host(),
            &repository,
            &digest,
            &other_key.public_key,
        );
        assert!(refused.is_err_and(|e| e.contains("does not verify")));
    }

    // Our own verify-signature, in our host, answering oci/v2/verify from the registry: every
    // published module is signed by the release key, and by no other.
    let answer = verify_signature(&dir, &registry, &pushed, &public_key)?;
    assert_eq!(answer["accepted"], true, "{answer}");
    let answer = verify_signature(&dir, &registry, &pushed, &other_key.public_key)?;
    assert_eq!(answer["accepted"], false, "{answer}");
    // A tag resolves to a signed module (and is pinned to its digest).
    let tagged = format!("{target}/ban-latest:v{}", env!("CARGO_PKG_VERSION"));
    let answer = verify_signature(&dir, &registry, &[&tagged], &public_key)?;
    assert_eq!(answer["accepted"], true, "{answer}");
    Ok(())
}

/// Kills the registry `make publish` left running, whatever the test's outcome.
struct Kill(Option<u32>);

impl Drop for Kill {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

#[test]
fn make_publish_without_a_registry_starts_one_on_loopback() -> TestResult {
    let _one_at_a_time = PUBLISHING.lock().unwrap_or_else(|e| e.into_inner());
    policies()?;
    let dir = common::workdir("custody-cli-publish", "embedded-registry")?;
    let output = make_publish(&[("PUBLISH_DIR", path(&dir)?)])?;
    let stdout = stdout(&output);
    let pid = std::fs::read_to_string(dir.join("registry/pid"))?;
    let _kill = Kill(pid.trim().parse().ok());
    assert!(
        stdout.contains(&format!("Stop the registry: kill {}", pid.trim())),
        "{stdout}"
    );
    let pushed = std::fs::read_to_string(dir.join("pushed.txt"))?;
    let first = pushed.lines().next().ok_or("nothing pushed")?;
    assert!(first.starts_with("127.0.0.1:"), "{first}");
    assert!(stdout.contains(&format!("pull {first} -o")), "{stdout}");
    // The key was made, and what was pushed pulls back.
    assert!(dir.join("cosign.key").is_file() && dir.join("cosign.pub").is_file());
    let out = dir.join("pulled.wasm");
    let pulled = custody(&["pull", first, "-o", path(&out)?])?;
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    Ok(())
}

#[test]
fn pull_refuses_what_is_not_a_policy_module() -> TestResult {
    let registry = Registry::start();
    let dir = common::workdir("custody-cli-publish", "pull-refuses")?;
    let out = dir.join("module.wasm");
    let pull = |image: &str| custody(&["pull", image, "-o", path(&out).unwrap_or_default()]);
    let refused = |image: &str, expected: &str| -> TestResult {
        let output = pull(image)?;
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{image}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{image}: {stderr} (wanted {expected:?})"
        );
        assert!(!out.exists(), "{image}: nothing is written");
        Ok(())
    };

    // A container image.
    registry.push_test_image("app", "v1", "not a policy");
    refused(&registry.image("app", "v1"), "config's media type")?;

    // Artifacts that look like policies, but are not.
    let config = registry.push_blob("bad", b"{}");
    let module = registry.push_blob("bad", b"\0asm\x01\0\0\0");
    let not_wasm = registry.push_blob("bad", b"#!/bin/sh\necho hi\n");
    let descriptor = |digest: &str, media_type: &str, size: usize| json!({"mediaType": media_type, "digest": digest, "size": size});
    let wasm_config = descriptor(&config, "application/vnd.wasm.config.v1+json", 2);
    let wasm_layer = descriptor(&module, "application/vnd.wasm.content.layer.v1+wasm", 8);
    let manifest = |layers: Value| {
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": wasm_config,
            "layers": layers,
        })
    };
    let push = |tag: &str, manifest: &Value| {
        registry.push_manifest(
            "bad",
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            manifest.to_string().as_bytes(),
        )
    };
    let good = push("good", &manifest(json!([wasm_layer])));
    push("two-layers", &manifest(json!([wasm_layer, wasm_layer])));
    push("no-layer", &manifest(json!([])));
    push(
        "script",
        &manifest(json!([descriptor(
            &not_wasm,
            "application/vnd.wasm.content.layer.v1+wasm",
            18
        )])),
    );
    push(
        "tar",
        &manifest(json!([descriptor(
            &module,
            "application/vnd.oci.image.layer.v1.tar",
            8
        )])),
    );
    refused(&registry.image("bad", "two-layers"), "2 layers")?;
    refused(&registry.image("bad", "no-layer"), "0 layers")?;
    refused(&registry.image("bad", "script"), "not a WebAssembly module")?;
    refused(&registry.image("bad", "tar"), "layer's media type")?;
    refused(&registry.image("bad", "missing"), "not found")?;
    // A digest the registry does not have.
    let other = format!("sha256:{}", "0".repeat(64));
    refused(&registry.image("bad", &other), "not found")?;
    refused("not a reference!", "not a reference")?;

    // The good one pulls, by tag and by digest.
    for image in [registry.image("bad", "good"), registry.image("bad", &good)] {
        let output = pull(&image)?;
        assert!(output.status.success(), "{image}: {}", stderr(&output));
        assert_eq!(std::fs::read(&out)?, b"\0asm\x01\0\0\0");
        assert_eq!(
            stdout(&output).trim(),
            format!("{}/bad@{good}", registry.host())
        );
        std::fs::remove_file(&out)?;
    }
    Ok(())
}

#[test]
fn push_and_sign_refuse_bad_input() -> TestResult {
    let registry = Registry::start();
    let dir = common::workdir("custody-cli-publish", "push-refuses")?;
    let target = format!("{}/custody", registry.host());
    let module = dist("ban-latest.wasm")?;
    let refused = |args: &[&str], expected: &str| -> TestResult {
        let output = custody(args)?;
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: {stderr} (wanted {expected:?})"
        );
        assert!(
            output.stdout.is_empty(),
            "{args:?}: nothing pushed is printed"
        );
        Ok(())
    };

    // A module without metadata, a bad time, a digest as destination, a missing SBOM.
    let bare = dir.join("bare.wasm");
    std::fs::write(&bare, b"\0asm\x01\0\0\0")?;
    refused(
        &["push", "--registry", &target, path(&bare)?],
        "annotate it first",
    )?;
    let text_file = dir.join("text.wasm");
    std::fs::write(&text_file, b"hello")?;
    refused(
        &["push", "--registry", &target, path(&text_file)?],
        "not a WebAssembly module",
    )?;
    let module = path(&module)?;
    refused(
        &[
            "push",
            "--registry",
            &target,
            "--created",
            "yesterday",
            module,
        ],
        "--created",
    )?;
    let by_digest = format!("{target}/x@sha256:{}", "a".repeat(64));
    refused(&["push", "--reference", &by_digest, module], "not a digest")?;
    refused(
        &[
            "push",
            "--reference",
            &format!("{target}/x:v1"),
            module,
            module,
        ],
        "one module",
    )?;
    refused(
        &[
            "push",
            "--registry",
            &target,
            "--sbom-dir",
            path(&dir)?,
            module,
        ],
        "cannot read the SBOM",
    )?;
    assert!(
        registry.manifest("custody/ban-latest", "v0.1.0").is_none()
            && registry.manifest("x", "v1").is_none(),
        "nothing was pushed"
    );

    // Signing: by digest only, with a P-256 PKCS#8 key, an image that is there.
    let pushed = custody(&["push", "--registry", &target, module])?;
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    let reference = stdout(&pushed).trim().to_owned();
    let prefix = dir.join("k");
    let made = custody(&["generate-key-pair", "--output-prefix", path(&prefix)?])?;
    assert!(made.status.success(), "{}", stderr(&made));
    refused(
        &["generate-key-pair", "--output-prefix", path(&prefix)?],
        "not overwritten",
    )?;
    let key = dir.join("k.key");
    let key = path(&key)?;
    refused(
        &["sign", "--key", key, &format!("{target}/ban-latest:v0.1.0")],
        "by digest",
    )?;
    let ed25519 = generate_key(KeyKind::Ed25519);
    refused(
        &["sign", "--key", path(&ed25519.private_key)?, &reference],
        "not a PKCS#8 PEM P-256 private key",
    )?;
    refused(
        &["sign", "--key", path(&dir.join("k.pub"))?, &reference],
        "P-256",
    )?;
    let absent = format!("{target}/ban-latest@sha256:{}", "b".repeat(64));
    refused(&["sign", "--key", key, &absent], "not found")?;
    refused(
        &["sign", "--key", key, "-a", "novalue", &reference],
        "KEY=VALUE",
    )?;
    Ok(())
}

#[test]
fn signatures_accumulate_and_each_verifies_with_its_own_key() -> TestResult {
    let registry = Registry::start();
    let dir = common::workdir("custody-cli-publish", "sign-twice")?;
    let target = format!("{}/custody", registry.host());
    let module = dist("require-digest.wasm")?;
    let pushed = custody(&["push", "--registry", &target, path(&module)?])?;
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    let reference = stdout(&pushed).trim().to_owned();
    let (repository, digest) = split(&reference, &registry)?;

    let mut public_keys = Vec::new();
    for name in ["first", "second"] {
        let prefix = dir.join(name);
        let made = custody(&["generate-key-pair", "--output-prefix", path(&prefix)?])?;
        assert!(made.status.success(), "{}", stderr(&made));
        let key = dir.join(format!("{name}.key"));
        let signed = custody(&["sign", "--key", path(&key)?, "-a", "env=prod", &reference])?;
        assert!(signed.status.success(), "{}", stderr(&signed));
        public_keys.push(dir.join(format!("{name}.pub")));
    }
    // Signing again with the same key adds nothing (ECDSA per RFC 6979: the same signature).
    let again = custody(&[
        "sign",
        "--key",
        path(&dir.join("first.key"))?,
        "-a",
        "env=prod",
        &reference,
    ])?;
    assert!(again.status.success(), "{}", stderr(&again));

    let (_, manifest) = registry
        .manifest(
            &repository,
            &format!("{}.sig", digest.replacen(':', "-", 1)),
        )
        .ok_or("no signature manifest")?;
    let manifest: Value = serde_json::from_slice(&manifest)?;
    assert_eq!(
        manifest["layers"].as_array().map(Vec::len),
        Some(2),
        "{manifest}"
    );
    for public_key in &public_keys {
        let verified = reference_verify(&registry.host(), &repository, &digest, public_key)?;
        // The other key's signature is reported as not verifying; this key's verifies.
        assert_eq!(
            verified.lines().last(),
            Some("verified 1 of 2"),
            "{verified}"
        );
    }
    // The payload says what cosign's does: the repository, the digest and the annotation.
    let payload = registry.get(&format!(
        "/v2/{repository}/blobs/{}",
        manifest["layers"][0]["digest"].as_str().ok_or("digest")?
    ));
    let payload: Value = serde_json::from_slice(&payload.body)?;
    assert_eq!(
        payload,
        json!({
            "critical": {
                "identity": {"docker-reference": format!("{}/{repository}", registry.host())},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature",
            },
            "optional": {"env": "prod"},
        })
    );
    Ok(())
}

#[test]
fn push_pull_and_sign_use_the_docker_configs_credentials() -> TestResult {
    use base64::Engine as _;
    use custody_test_support::registry::{TEST_PASSWORD, TEST_USER};
    let registry = Registry::start_with_auth();
    let dir = common::workdir("custody-cli-publish", "credentials")?;
    let module = dist("ban-latest.wasm")?;
    let module = path(&module)?;
    let target = format!("{}/private", registry.host());
    let with_config = |config: Option<&Path>, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_custody"))
            .args(args)
            .env(
                "DOCKER_CONFIG",
                config.map_or_else(no_docker_config, Path::to_path_buf),
            )
            .output()
    };
    let config = |name: &str, password: &str| -> Result<PathBuf, std::io::Error> {
        let config_dir = dir.join(name);
        std::fs::create_dir_all(&config_dir)?;
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{TEST_USER}:{password}"));
        let config = json!({"auths": {registry.host(): {"auth": auth}}});
        std::fs::write(config_dir.join("config.json"), config.to_string())?;
        Ok(config_dir)
    };

    // Anonymous, or with a wrong password: refused, nothing pushed.
    let push = ["push", "--registry", &target, module];
    for config_dir in [None, Some(config("wrong", "not-the-password")?)] {
        let output = with_config(config_dir.as_deref(), &push)?;
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(output.stdout.is_empty());
    }

    // With the docker config's credentials: pushed, signed and pulled back.
    let good = config("good", TEST_PASSWORD)?;
    let output = with_config(Some(&good), &push)?;
    assert!(output.status.success(), "{}", stderr(&output));
    let reference = stdout(&output).trim().to_owned();
    let prefix = dir.join("key");
    let made = custody(&["generate-key-pair", "--output-prefix", path(&prefix)?])?;
    assert!(made.status.success(), "{}", stderr(&made));
    let key = dir.join("key.key");
    let signed = with_config(Some(&good), &["sign", "--key", path(&key)?, &reference])?;
    assert!(signed.status.success(), "{}", stderr(&signed));
    let out = dir.join("pulled.wasm");
    let pull = ["pull", &reference, "-o", path(&out)?];
    let anonymous = with_config(None, &pull)?;
    assert_eq!(anonymous.status.code(), Some(1), "{}", stderr(&anonymous));
    let pulled = with_config(Some(&good), &pull)?;
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    assert!(std::fs::read(&out)? == std::fs::read(module)?);
    Ok(())
}
