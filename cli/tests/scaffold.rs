//! `custody scaffold` end to end: for every policy under policies/ and both builds, the output is
//! multi-document YAML whose documents are what metadata.yml and settings.example.yml say, with
//! the module pinned to the digest given or resolved from a real registry (Debian's
//! docker-registry on loopback); bad input fails with a clear error and prints nothing.

use std::path::Path;
use std::process::{Command, Output};

use custody_test_support::registry::Registry;
use serde::Deserialize;
use serde_json::{json, Value};

mod common;

use common::{no_docker_config, repo_root, stderr, TestResult};

const DIGEST: &str = "sha256:4a4b1c0e2f5d8e9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a";

/// Runs `custody scaffold ARGS` in the repository root, without a docker config.
fn scaffold(args: &[&str]) -> Result<Output, std::io::Error> {
    Command::new(env!("CARGO_BIN_EXE_custody"))
        .arg("scaffold")
        .args(args)
        .current_dir(repo_root())
        .env("DOCKER_CONFIG", no_docker_config())
        .output()
}

/// The documents of a successful run.
fn documents(output: &Output) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    assert!(output.status.success(), "{}", stderr(output));
    let text = String::from_utf8(output.stdout.clone())?;
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        documents.push(Value::deserialize(document)?);
    }
    Ok(documents)
}

/// A failed run: exit status 1, nothing on stdout, the error on stderr.
fn failure(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    assert!(output.stdout.is_empty(), "{:?}", output.stdout);
    stderr(output)
}

/// A policy directory: its name, metadata.yml and settings.example.yml (as text).
type PolicyFiles = (String, Value, String);

/// Every policy directory under policies/, with its metadata and settings example.
fn policies() -> Result<Vec<PolicyFiles>, Box<dyn std::error::Error>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("policies"))? {
        let dir = entry?.path();
        if !dir.join("metadata.yml").is_file() {
            continue;
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let metadata =
            serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("metadata.yml"))?)?;
        let settings = std::fs::read_to_string(dir.join("settings.example.yml"))?;
        found.push((name, metadata, settings));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!found.is_empty());
    Ok(found)
}

#[test]
fn every_policy_and_build_gets_its_manifests() -> TestResult {
    for (name, metadata, settings_text) in policies()? {
        let settings: Value = serde_yaml_ng::from_str(&settings_text)?;
        let annotations = &metadata["annotations"];
        let oci_url = annotations["io.kubewarden.policy.ociUrl"]
            .as_str()
            .unwrap_or_default();
        let context_aware = metadata["contextAwareResources"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for gatekeeper in [false, true] {
            let mut args = vec![name.as_str(), "--digest", DIGEST];
            if gatekeeper {
                args.push("--gatekeeper");
            }
            let output = scaffold(&args)?;
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            let docs = documents(&output)?;
            let what = format!("{name} (gatekeeper: {gatekeeper})");
            let policy = &docs[0];
            assert_eq!(policy["apiVersion"], "policies.kubewarden.io/v1", "{what}");
            assert_eq!(policy["kind"], "ClusterAdmissionPolicy", "{what}");
            let suffix = if gatekeeper { "-gatekeeper" } else { "" };
            assert_eq!(
                policy["metadata"]["name"],
                json!(format!("{name}{suffix}")),
                "{what}"
            );
            assert_eq!(
                policy["metadata"]["annotations"]["io.kubewarden.policy.severity"],
                annotations["io.kubewarden.policy.severity"],
                "{what}"
            );
            let spec = &policy["spec"];
            assert_eq!(
                spec["module"],
                json!(format!("registry://{oci_url}{suffix}@{DIGEST}")),
                "{what}"
            );
            let version = annotations["io.kubewarden.policy.version"]
                .as_str()
                .unwrap_or_default();
            assert!(
                text.contains(&format!("# {oci_url}{suffix}:v{version}, pinned")),
                "{what}: the tag it stands for"
            );
            assert_eq!(spec["rules"], metadata["rules"], "{what}");
            let mutating = metadata["mutating"].as_bool().unwrap_or_default() && !gatekeeper;
            assert_eq!(spec["mutating"], json!(mutating), "{what}");
            assert_eq!(
                spec["backgroundAudit"], metadata["backgroundAudit"],
                "{what}"
            );
            assert_eq!(spec["policyServer"], "default", "{what}");
            assert_eq!(spec["mode"], "protect", "{what}");
            assert_eq!(spec["settings"], settings, "{what}");
            // Every setting keeps the comments that explain it.
            for line in settings_text.lines() {
                assert!(text.contains(&format!("    {line}")), "{what}: {line:?}");
            }

            if context_aware.is_empty() {
                assert_eq!(spec.get("contextAwareResources"), None, "{what}");
                assert_eq!(docs.len(), 1, "{what}");
                continue;
            }
            assert_eq!(
                spec["contextAwareResources"],
                json!(context_aware),
                "{what}"
            );
            let namespace = settings["attestationsNamespace"]
                .as_str()
                .unwrap_or("custody-attestations");
            let (role, binding) = (&docs[1], &docs[2]);
            assert_eq!(role["kind"], "Role", "{what}");
            assert_eq!(role["metadata"]["namespace"], namespace, "{what}");
            assert_eq!(
                role["rules"],
                json!([{"apiGroups": [""], "resources": ["configmaps"],
                        "verbs": ["get", "list", "watch"]}]),
                "{what}"
            );
            assert_eq!(binding["kind"], "RoleBinding", "{what}");
            assert_eq!(binding["metadata"]["namespace"], namespace, "{what}");
            assert_eq!(
                binding["subjects"],
                json!([{"kind": "ServiceAccount", "name": "policy-server", "namespace": "kubewarden"}]),
                "{what}"
            );
            assert_eq!(
                binding["roleRef"],
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                       "name": role["metadata"]["name"]}),
                "{what}"
            );
            if gatekeeper {
                let config = &docs[3];
                assert_eq!(
                    config["apiVersion"], "config.gatekeeper.sh/v1alpha1",
                    "{what}"
                );
                assert_eq!(config["kind"], "Config", "{what}");
                assert_eq!(config["metadata"]["name"], "config", "{what}");
                assert_eq!(
                    config["spec"]["sync"]["syncOnly"],
                    json!([{"group": "", "version": "v1", "kind": "ConfigMap"}]),
                    "{what}"
                );
                assert_eq!(docs.len(), 4, "{what}");
            } else {
                assert_eq!(docs.len(), 3, "{what}");
            }
        }
    }
    Ok(())
}

#[test]
fn the_service_account_and_policy_server_can_be_named() -> TestResult {
    let docs = documents(&scaffold(&[
        "verify-slsa",
        "--digest",
        DIGEST,
        "--policy-server",
        "secure",
        "--service-account",
        "ps-secure",
        "--policy-server-namespace",
        "kw",
    ])?)?;
    assert_eq!(docs[0]["spec"]["policyServer"], "secure");
    assert_eq!(
        docs[2]["subjects"],
        json!([{"kind": "ServiceAccount", "name": "ps-secure", "namespace": "kw"}])
    );
    Ok(())
}

#[test]
fn a_digest_in_the_image_is_used_as_given() -> TestResult {
    // registry.invalid cannot be reached: nothing is resolved when the digest is known.
    for image in [
        format!("registry.invalid/acme/ban-latest:v9@{DIGEST}"),
        format!("registry://registry.invalid/acme/ban-latest@{DIGEST}"),
    ] {
        let docs = documents(&scaffold(&["ban-latest", "--image", &image])?)?;
        assert_eq!(
            docs[0]["spec"]["module"],
            json!(format!(
                "registry://registry.invalid/acme/ban-latest@{DIGEST}"
            )),
            "{image}"
        );
    }
    // A policy given by its path.
    let dir = repo_root().join("policies/ban-latest");
    let dir = dir.to_str().ok_or("path is not UTF-8")?;
    let docs = documents(&scaffold(&[dir, "--digest", DIGEST])?)?;
    assert_eq!(docs[0]["metadata"]["name"], "ban-latest");
    Ok(())
}

#[test]
fn a_tag_is_resolved_in_the_registry() -> TestResult {
    let registry = Registry::start();
    let digest = registry.push_test_image("custody/ban-latest", "v0.1.0", "not really wasm");
    let image = registry.image("custody/ban-latest", "v0.1.0");
    let docs = documents(&scaffold(&["ban-latest", "--image", &image])?)?;
    assert_eq!(
        docs[0]["spec"]["module"],
        json!(format!(
            "registry://{}/custody/ban-latest@{digest}",
            registry.host()
        ))
    );
    // The same digest given explicitly agrees; another one is refused.
    let pinned = format!("{}@{digest}", image);
    assert!(
        scaffold(&["ban-latest", "--image", &pinned, "--digest", &digest])?
            .status
            .success()
    );

    let missing = registry.image("custody/ban-latest", "v9.9.9");
    let error = failure(&scaffold(&["ban-latest", "--image", &missing])?);
    assert!(
        error.contains(&format!("cannot resolve {missing} to a digest")),
        "{error}"
    );
    assert!(error.contains("--digest"), "{error}");
    let error = failure(&scaffold(&[
        "ban-latest",
        "--gatekeeper",
        "--image",
        &registry.image("custody/nothing-here", "v1"),
    ])?);
    assert!(error.contains("cannot resolve"), "{error}");
    Ok(())
}

#[test]
fn bad_input_fails_clearly() -> TestResult {
    let sha512 = format!("sha512:{}", "ab".repeat(64));
    let conflicting = format!("ghcr.io/acme/app@{}", DIGEST.replace('4', "5"));
    let cases: [(Vec<&str>, &str); 9] = [
        (
            vec!["no-such-policy", "--digest", DIGEST],
            "unknown policy \"no-such-policy\"",
        ),
        (
            vec!["../etc", "--digest", DIGEST],
            "unknown policy \"../etc\"",
        ),
        (
            vec![
                "ban-latest",
                "--image",
                "ghcr.io/Acme/App:v1",
                "--digest",
                DIGEST,
            ],
            "--image \"ghcr.io/Acme/App:v1\" is not an image reference",
        ),
        (
            vec![
                "ban-latest",
                "--image",
                "ghcr.io/acme/app:",
                "--digest",
                DIGEST,
            ],
            "--image \"ghcr.io/acme/app:\" is not an image reference",
        ),
        (
            vec!["ban-latest", "--image", "ghcr.io/acme/app"],
            "has neither a tag nor a digest",
        ),
        (
            vec!["ban-latest", "--digest", "sha256:abc"],
            "--digest \"sha256:abc\" is not a digest",
        ),
        (
            vec!["ban-latest", "--digest", &sha512],
            "only sha256 digests are supported",
        ),
        (
            vec!["ban-latest", "--image", &conflicting, "--digest", DIGEST],
            "and --digest says",
        ),
        (
            vec!["ban-latest", "--image", "ghcr.io/acme/app:v1@md5:abc"],
            "is not an image reference",
        ),
    ];
    for (args, expected) in cases {
        let error = failure(&scaffold(&args)?);
        assert!(error.starts_with("error: "), "{args:?}: {error}");
        assert!(error.contains(expected), "{args:?}: {error}");
    }
    Ok(())
}

#[test]
fn a_policy_without_a_settings_example_is_refused() -> TestResult {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold-no-settings");
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(
        repo_root().join("policies/ban-latest/metadata.yml"),
        dir.join("metadata.yml"),
    )?;
    let _ = std::fs::remove_file(dir.join("settings.example.yml"));
    let path = dir.to_str().ok_or("path is not UTF-8")?;
    let error = failure(&scaffold(&[path, "--digest", DIGEST])?);
    assert!(error.contains("settings.example.yml"), "{error}");
    std::fs::write(dir.join("settings.example.yml"), "- a list\n")?;
    let error = failure(&scaffold(&[path, "--digest", DIGEST])?);
    assert!(error.contains("settings must be a mapping"), "{error}");
    Ok(())
}
