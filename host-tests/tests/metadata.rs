//! The metadata `make` embeds in each module (custom section `io.kubewarden.metadata`, as
//! `kwctl annotate` writes it) is complete and agrees with the crate.

use std::fs;

use custody_host::Abi;
use custody_host_tests::{policies, repo_root, Loaded};
use serde_json::Value;

fn crate_version(policy: &str) -> String {
    let manifest = fs::read_to_string(repo_root().join("policies").join(policy).join("Cargo.toml"))
        .expect("Cargo.toml");
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("a version line")
        .to_string()
}

#[test]
fn embedded_metadata() {
    for &policy in policies() {
        let loaded = Loaded::policy(policy);
        assert_eq!(loaded.module.abi(), Abi::Wapc, "{policy}");
        let meta = loaded
            .module
            .metadata()
            .unwrap_or_else(|| panic!("{policy}: no metadata"));
        let version = crate_version(policy);
        let annotations = &meta["annotations"];
        assert_eq!(meta["protocolVersion"], "v1", "{policy}");
        assert_eq!(meta["executionMode"], "kubewarden-wapc", "{policy}");
        assert_eq!(meta["backgroundAudit"], true, "{policy}");
        assert_eq!(
            annotations["io.kubewarden.policy.version"],
            version.as_str(),
            "{policy}"
        );
        assert_eq!(
            annotations["io.kubewarden.policy.title"], policy,
            "{policy}"
        );
        assert_eq!(
            annotations["com.github.release.tag"],
            format!("{policy}/v{version}").as_str(),
            "{policy}"
        );
        let readme =
            fs::read_to_string(repo_root().join("policies").join(policy).join("README.md"))
                .expect("README");
        assert_eq!(
            annotations["io.kubewarden.policy.usage"],
            readme.as_str(),
            "{policy}"
        );
        for key in [
            "io.artifacthub.displayName",
            "io.artifacthub.resources",
            "io.artifacthub.keywords",
            "io.kubewarden.policy.description",
            "io.kubewarden.policy.ociUrl",
            "io.kubewarden.policy.source",
            "io.kubewarden.policy.license",
        ] {
            assert!(
                annotations[key].as_str().is_some_and(|v| !v.is_empty()),
                "{policy}: {key}"
            );
        }
        let resources: Vec<Value> = meta["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .flat_map(|r| r["resources"].as_array().cloned().unwrap_or_default())
            .collect();
        for kind in [
            "pods",
            "pods/ephemeralcontainers",
            "deployments",
            "replicasets",
            "statefulsets",
            "daemonsets",
            "replicationcontrollers",
            "jobs",
            "cronjobs",
        ] {
            assert!(
                resources.contains(&Value::from(kind)),
                "{policy}: rules miss {kind}"
            );
        }
        let caps: Vec<Value> = meta["hostCapabilities"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        match policy {
            "require-digest" => {
                assert_eq!(meta["mutating"], true);
                assert_eq!(caps, vec![Value::from("oci/v1/manifest_digest")]);
            }
            "ban-latest" => {
                assert_eq!(meta["mutating"], false);
                assert!(caps.is_empty());
            }
            "verify-slsa" => {
                // Pins a resolved tag by mutation; reads the attestation ConfigMaps.
                assert_eq!(meta["mutating"], true);
                assert_eq!(
                    caps,
                    vec![
                        Value::from("oci/v1/manifest_digest"),
                        Value::from("kubernetes/get_resource")
                    ]
                );
                assert_eq!(
                    meta["contextAwareResources"],
                    serde_json::json!([{"apiVersion": "v1", "kind": "ConfigMap"}])
                );
            }
            "verify-signature" => {
                // Pins a verified tag by mutation; asks the host to verify (source: host), or
                // resolves tags and reads the signature ConfigMaps (source: cluster).
                assert_eq!(meta["mutating"], true);
                assert_eq!(
                    caps,
                    vec![
                        Value::from("oci/v2/verify"),
                        Value::from("oci/v1/manifest_digest"),
                        Value::from("kubernetes/get_resource")
                    ]
                );
                assert_eq!(
                    meta["contextAwareResources"],
                    serde_json::json!([{"apiVersion": "v1", "kind": "ConfigMap"}])
                );
            }
            other => {
                panic!("{other}: say here whether it mutates and which host capabilities it uses")
            }
        }
    }
}
