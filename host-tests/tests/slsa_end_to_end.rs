//! verify-slsa end to end, as a cluster operator runs it: real images with real SLSA provenance
//! (slsa-github-generator) in a real registry (Debian's docker-registry on loopback); `custody
//! attestations export` makes the ConfigMap; `custody eval --cluster <that ConfigMap>` runs the
//! policy modules in the CLI's host, which answers the waPC build's `kubernetes/get_resource` from
//! the object and gives the Gatekeeper build the object as `data.inventory`.

use std::path::{Path, PathBuf};
use std::process::Command;

use custody_host_tests::registry::{custody_binary, Registry};
use custody_host_tests::slsa::{self, layouts, pod_request};
use custody_host_tests::{module_path, repo_root};
use serde_json::{json, Value};

const REPO: &str = "slsa/example-package";

fn write(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// `custody attestations export <image>`: the ConfigMap YAML.
fn export(image: &str) -> Vec<u8> {
    let output = Command::new(custody_binary())
        .args([
            "attestations",
            "export",
            "--plain-http",
            "--timeout",
            "20",
            image,
        ])
        .env("DOCKER_CONFIG", repo_root().join("target/no-docker-config"))
        .output()
        .expect("run custody");
    assert!(
        output.status.success(),
        "export {image}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// `custody eval --policy <module> --request <request> --settings <settings> --cluster <files>`:
/// the printed answer.
fn eval(module: &str, request: &Path, settings: &Path, cluster: &[PathBuf]) -> Value {
    let mut command = Command::new(custody_binary());
    command
        .args(["eval", "--policy"])
        .arg(module_path(module))
        .arg("--request")
        .arg(request)
        .arg("--settings")
        .arg(settings);
    for file in cluster {
        command.arg("--cluster").arg(file);
    }
    let output = command.output().expect("run custody");
    assert!(
        output.status.success(),
        "eval {module}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("eval prints JSON")
}

#[test]
fn exported_attestations_admit_their_image_and_no_other() {
    let registry = Registry::start();
    let dir = tempdir();
    // The settings of the real images, for the images of this registry.
    let mut settings = slsa::settings();
    settings["images"][0]["patterns"] = json!([format!("{}/{REPO}*", registry.host())]);
    let settings = write(&dir, "settings.json", settings.to_string().as_bytes());

    let mut exported = Vec::new();
    let mut requests = Vec::new();
    for layout in layouts() {
        let pushed = registry.push_oci_layout(&layout.dir, REPO, layout.version);
        assert_eq!(pushed.image_digest, layout.digest.to_string());
        // Exported by tag: the CLI resolves it to the digest.
        let yaml = export(&registry.image(REPO, layout.version));
        exported.push(write(&dir, &format!("att-{}.yaml", layout.version), &yaml));
        let image = registry.image(REPO, &layout.digest.to_string());
        let request = pod_request(&[&image], json!({}));
        requests.push((
            image,
            write(
                &dir,
                &format!("pod-{}.json", layout.version),
                request.to_string().as_bytes(),
            ),
        ));
    }

    for module in ["verify-slsa", "verify-slsa.gatekeeper"] {
        // Each image with its own ConfigMap, and with both in the cluster: allowed.
        for (i, (image, request)) in requests.iter().enumerate() {
            for cluster in [vec![exported[i].clone()], exported.clone()] {
                let answer = eval(module, request, &settings, &cluster);
                assert_eq!(answer["accepted"], true, "{module} {image}: {answer}");
            }
        }
        // An image with only the other image's ConfigMap: nothing for its digest.
        let (image, request) = &requests[0];
        let answer = eval(module, request, &settings, &[exported[1].clone()]);
        assert_eq!(answer["accepted"], false, "{module}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("image {image:?}: no attestation found for ")),
            "{module}: {message}"
        );
        // No cluster objects at all.
        let answer = eval(module, request, &settings, &[]);
        assert_eq!(answer["accepted"], false, "{module}: {answer}");
    }
}

/// A fresh directory under the target dir's test scratch space.
fn tempdir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("slsa-end-to-end-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
