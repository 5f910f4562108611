//! `custody attestations export` end to end: a real registry (Debian's docker-registry, on
//! loopback) loaded with the slsa-github-generator layouts from `shared/testdata`, and the built
//! `target/release/custody` run against it. The printed ConfigMap must hold every attestation as a
//! Sigstore bundle whose in-toto statement names the image; cosign `.att` tags and OCI 1.1
//! referrers (through the referrers tag schema: distribution 2.8 has no referrers API) are both
//! read; an image without attestations and a ConfigMap over 1 MiB are refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use custody_host_tests::cosign_layout::{
    digest_beside, read_cosign_layout, slsa_github_generator_layout, SLSA_GITHUB_GENERATOR_VERSIONS,
};
use custody_host_tests::registry::{custody_binary, Registry, TEST_PASSWORD, TEST_USER};
use custody_sigstore::{Bundle, Content};
use serde_json::Value;

/// `shared/testdata/slsa-github-generator/<version>/container_workflow_dispatch`.
fn layout(version: &str) -> PathBuf {
    slsa_github_generator_layout(version)
}

/// The image digest the testdata records next to a layout.
fn recorded_digest(version: &str) -> String {
    digest_beside(&layout(version))
}

/// Runs `custody attestations export --plain-http ...` with the docker config in
/// `docker_config` (a directory; `None`: one that does not exist, so no credentials).
fn export_with(docker_config: Option<&Path>, args: &[&str]) -> Output {
    let no_config = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-docker-config");
    Command::new(custody_binary())
        .args([
            "attestations",
            "export",
            "--plain-http",
            "--registry-timeout",
            "20",
        ])
        .args(args)
        .env("DOCKER_CONFIG", docker_config.unwrap_or(&no_config))
        .output()
        .unwrap_or_else(|e| panic!("running custody: {e}"))
}

fn export(args: &[&str]) -> Output {
    export_with(None, args)
}

/// Runs an export that must succeed; its ConfigMap (parsed) and text.
fn export_ok(args: &[&str]) -> (Value, String) {
    let output = export(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "custody attestations export {args:?}: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let configmap: Value = serde_yaml_ng::from_str(&stdout)
        .unwrap_or_else(|e| panic!("the output is not YAML: {e}\n{stdout}"));
    (configmap, stdout)
}

/// Checks the metadata of an exported ConfigMap.
fn check_metadata(configmap: &Value, namespace: &str, image: &str, digest: &str) {
    let hex = digest.strip_prefix("sha256:").unwrap_or_default();
    assert_eq!(configmap["apiVersion"], "v1");
    assert_eq!(configmap["kind"], "ConfigMap");
    let metadata = &configmap["metadata"];
    assert_eq!(metadata["name"], format!("sha256-{hex}"));
    assert_eq!(metadata["namespace"], namespace);
    assert_eq!(
        metadata["labels"],
        serde_json::json!({"app.kubernetes.io/managed-by": "custody", "custody.dev/attestations": "v1"})
    );
    assert_eq!(
        metadata["annotations"],
        serde_json::json!({"custody.dev/image": image})
    );
}

/// The data entries of a ConfigMap.
fn data(configmap: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(configmap["data"].clone())
        .unwrap_or_else(|e| panic!("data: {e}\n{configmap}"))
}

/// Checks that `text` is a Sigstore bundle holding a DSSE envelope whose in-toto statement has
/// `digest` among its subjects.
fn check_bundle_for(key: &str, text: &str, digest: &str) {
    let bundle = Bundle::from_json(text.as_bytes())
        .unwrap_or_else(|e| panic!("{key}: not a Sigstore bundle: {e}\n{text}"));
    let Content::Dsse(envelope) = &bundle.content else {
        panic!("{key}: not a DSSE bundle");
    };
    assert_eq!(
        envelope.payload_type, "application/vnd.in-toto+json",
        "{key}"
    );
    let statement: Value = serde_json::from_slice(envelope.payload())
        .unwrap_or_else(|e| panic!("{key}: payload: {e}"));
    assert!(
        statement["_type"]
            .as_str()
            .is_some_and(|t| t.starts_with("https://in-toto.io/Statement/")),
        "{key}: {statement}"
    );
    let hex = digest.strip_prefix("sha256:").unwrap_or_default();
    let subjects = statement["subject"].as_array().cloned().unwrap_or_default();
    assert!(
        subjects.iter().any(|s| s["digest"]["sha256"] == hex),
        "{key}: {digest} is not a subject: {subjects:?}"
    );
}

#[test]
fn exports_the_slsa_github_generator_attestations_by_tag_and_by_digest() {
    let registry = Registry::start();
    for version in SLSA_GITHUB_GENERATOR_VERSIONS {
        let repo = format!("slsa-github-generator/{version}");
        let dir = layout(version);
        let pushed = registry.push_oci_layout(&dir, &repo, "v1");
        let digest = recorded_digest(version);
        assert_eq!(pushed.image_digest, digest, "{version}: image digest");
        let hex = digest.strip_prefix("sha256:").unwrap_or_default();
        assert!(
            pushed.tags.contains(&format!("sha256-{hex}.att")),
            "{pushed:?}"
        );
        let layers = read_cosign_layout(&dir).attestations;
        let dsse: Vec<usize> = (0..layers.len())
            .filter(|&i| layers[i].media_type == "application/vnd.dsse.envelope.v1+json")
            .collect();
        assert!(
            !dsse.is_empty(),
            "{version}: no attestation layer in the testdata"
        );

        let image = format!("{}/{repo}@{digest}", registry.host());
        let (by_tag, by_tag_text) = export_ok(&[&registry.image(&repo, "v1")]);
        check_metadata(&by_tag, "custody-attestations", &image, &digest);
        let entries = data(&by_tag);
        let expected_keys: Vec<String> = dsse
            .iter()
            .map(|i| format!("att-{i}.sigstore.json"))
            .collect();
        assert_eq!(
            entries.keys().cloned().collect::<Vec<_>>(),
            expected_keys,
            "{version}: one entry per attestation layer"
        );
        for (key, text) in &entries {
            check_bundle_for(key, text, &digest);
        }

        // By digest: the very same ConfigMap.
        let (_, by_digest_text) = export_ok(&[&registry.image(&repo, &digest)]);
        assert_eq!(
            by_digest_text, by_tag_text,
            "{version}: by digest and by tag"
        );

        // JSON, in another namespace: the same object otherwise.
        let (json_configmap, json_text) = export_ok(&[
            "--output",
            "json",
            "--namespace",
            "supply-chain",
            &registry.image(&repo, "v1"),
        ]);
        let parsed: Value = serde_json::from_str(&json_text)
            .unwrap_or_else(|e| panic!("--output json is not JSON: {e}"));
        assert_eq!(parsed, json_configmap);
        check_metadata(&parsed, "supply-chain", &image, &digest);
        assert_eq!(
            parsed["data"], by_tag["data"],
            "{version}: JSON and YAML data"
        );
    }
}

#[test]
fn refuses_an_image_without_attestations_or_signatures() {
    let registry = Registry::start();
    let digest = registry.push_test_image("plain/app", "v1", "no attestations here");
    for reference in ["v1", digest.as_str()] {
        let image = registry.image("plain/app", reference);
        let output = export(&[&image]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{image}: {stderr}");
        assert!(output.stdout.is_empty(), "{image}: printed something");
        let hex = digest.strip_prefix("sha256:").unwrap_or_default();
        for needle in [
            "no attestations or signatures found",
            image.as_str(),
            digest.as_str(),
            &format!("sha256-{hex}.att"),
            &format!("sha256-{hex}.sig"),
            "referrers",
        ] {
            assert!(
                stderr.contains(needle),
                "{image}: {needle:?} not in: {stderr}"
            );
        }
    }
    // An image that is not there at all.
    let missing = registry.image("plain/app", "v2");
    let output = export(&[&missing]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&missing), "{stderr}");
}

/// The v1.10.0 attestation as a Sigstore bundle (what cosign v3 would attach as a referrer).
fn sample_bundle() -> (String, String) {
    let dir = layout("v1.10.0");
    let layer = read_cosign_layout(&dir)
        .attestations
        .into_iter()
        .find(|layer| layer.media_type == "application/vnd.dsse.envelope.v1+json")
        .unwrap_or_else(|| panic!("no attestation layer"));
    let bundle = custody_sigstore::cosign::attestation_bundle(&layer.envelope, &layer.annotations)
        .unwrap_or_else(|e| panic!("cosign attestation to bundle: {e}"));
    (
        serde_json::to_string_pretty(&bundle).unwrap_or_default(),
        recorded_digest("v1.10.0"),
    )
}

#[test]
fn exports_oci_referrers_holding_sigstore_bundles() {
    let registry = Registry::start();
    let (bundle, statement_digest) = sample_bundle();

    // The generator's image, with its .att tag, and a bundle referrer besides.
    let repo = "generator/app";
    let pushed = registry.push_oci_layout(&layout("v1.10.0"), repo, "v1");
    let digest = pushed.image_digest;
    // Distribution 2.8 has no referrers API: the export must use the referrers tag schema.
    let api = registry.get(&format!("/v2/{repo}/referrers/{digest}"));
    assert_eq!(
        api.status, 404,
        "the registry has a referrers API after all"
    );
    let referrer = registry.push_bundle_referrer(repo, &digest, bundle.as_bytes());
    let referrer_key = format!(
        "referrer-{}.sigstore.json",
        &referrer.strip_prefix("sha256:").unwrap_or_default()[..16]
    );
    let (configmap, _) = export_ok(&[&registry.image(repo, "v1")]);
    let entries = data(&configmap);
    assert_eq!(
        entries.keys().cloned().collect::<Vec<_>>(),
        vec!["att-0.sigstore.json".to_owned(), referrer_key.clone()]
    );
    // Stored as pushed, byte for byte.
    assert_eq!(entries[&referrer_key], bundle);
    for (key, text) in &entries {
        check_bundle_for(key, text, &digest);
    }

    // An image whose only attestation is a referrer.
    let plain = registry.push_test_image("plain/app", "v1", "referrer only");
    let referrer = registry.push_bundle_referrer("plain/app", &plain, bundle.as_bytes());
    let key = format!(
        "referrer-{}.sigstore.json",
        &referrer.strip_prefix("sha256:").unwrap_or_default()[..16]
    );
    let (configmap, _) = export_ok(&[&registry.image("plain/app", &plain)]);
    check_metadata(
        &configmap,
        "custody-attestations",
        &format!("{}/plain/app@{plain}", registry.host()),
        &plain,
    );
    let entries = data(&configmap);
    assert_eq!(
        entries.keys().cloned().collect::<Vec<_>>(),
        vec![key.clone()]
    );
    assert_eq!(entries[&key], bundle);
    // (The statement is about the generator's image, not this one: export does not verify.)
    check_bundle_for(&key, &entries[&key], &statement_digest);
}

#[test]
fn refuses_a_configmap_over_one_mebibyte() {
    let registry = Registry::start();
    let digest = registry.push_test_image("big/app", "v1", "big attestations");
    // A JSON document of 1.1 MiB (under the 4 MiB read per blob).
    let padding = "x".repeat(1024 * 1024 + 100 * 1024);
    let bundle = format!(
        r#"{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","pad":"{padding}"}}"#
    );
    registry.push_bundle_referrer("big/app", &digest, bundle.as_bytes());
    let output = export(&[&registry.image("big/app", "v1")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.contains("1 MiB"), "{stderr}");
    assert!(stderr.contains(&digest), "{stderr}");
}

#[test]
fn reads_credentials_from_the_docker_config() {
    use base64::Engine as _;
    let registry = Registry::start_with_auth();
    let pushed = registry.push_oci_layout(&layout("v2.1.0"), "private/app", "v1");
    let image = registry.image("private/app", "v1");

    // Anonymous: refused, saying how to log in.
    let output = export(&[&image]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused access"), "{stderr}");

    let config_dir = |name: &str, user: &str, password: &str| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let config = serde_json::json!({
            "auths": {
                "ghcr.io": {"auth": base64::engine::general_purpose::STANDARD.encode("x:y")},
                registry.host(): {"auth": auth},
            },
        });
        std::fs::write(dir.join("config.json"), config.to_string())
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        dir
    };

    // `auths.<registry>.auth` from $DOCKER_CONFIG/config.json.
    let good = config_dir("docker-config-good", TEST_USER, TEST_PASSWORD);
    let output = export_with(Some(&good), &[&image]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let configmap: Value = serde_yaml_ng::from_str(&stdout).unwrap_or_else(|e| panic!("{e}"));
    check_metadata(
        &configmap,
        "custody-attestations",
        &format!("{}/private/app@{}", registry.host(), pushed.image_digest),
        &pushed.image_digest,
    );
    assert_eq!(
        data(&configmap).keys().cloned().collect::<Vec<_>>(),
        vec!["att-0.sigstore.json".to_owned()]
    );

    // A wrong password is refused too.
    let bad = config_dir("docker-config-bad", TEST_USER, "wrong");
    let output = export_with(Some(&bad), &[&image]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
