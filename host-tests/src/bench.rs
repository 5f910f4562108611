//! The benchmarks' requests, shared by `benches/`: realistic workloads for the simple rules, the
//! real signatures and attestations for the verifying ones, and, for any other policy, its largest
//! fixture ([`admission`]).

use custody_host::{Cluster, ScriptedCapabilities};
use serde_json::{json, Value};

use crate::real_signatures::{fulcio_2021_ca, real};
use crate::{fixtures, realistic_container, slsa};

/// The digest every image of the simple workloads is pinned to.
const DIGEST: &str = "sha256:4d4e8a3f0c0b8f3b9d4bbd1d5c6a1f2e9b7c3a5d8e6f1a2b3c4d5e6f7a8b9c0d";

/// One admission as a benchmark sends it: the request, the policy's settings, and the cluster
/// objects the policy may read (through the `kubernetes` capability in waPC; as Gatekeeper's
/// `data.inventory` in the Gatekeeper build).
#[derive(Debug, Clone)]
pub struct Admission {
    /// What the request is, for the tables.
    pub name: String,
    /// The AdmissionRequest.
    pub request: Value,
    /// The policy's settings (Gatekeeper's parameters).
    pub settings: Value,
    /// The host calls a waPC instance may make, answered from a script and [`Admission::cluster`].
    pub script: ScriptedCapabilities,
    /// The cluster objects.
    pub cluster: Cluster,
}

impl Admission {
    /// A request with its settings, no host calls and no cluster objects.
    pub fn plain(name: &str, request: Value, settings: Value) -> Self {
        Self {
            name: name.to_owned(),
            request,
            settings,
            script: ScriptedCapabilities::default(),
            cluster: Cluster::default(),
        }
    }

    /// The waPC `validate` payload.
    pub fn payload(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({"request": self.request, "settings": self.settings}))
            .unwrap_or_default()
    }

    /// The Gatekeeper input, `{"review": .., "parameters": ..}`.
    pub fn gatekeeper_input(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({"review": self.request, "parameters": self.settings}))
            .unwrap_or_default()
    }

    /// Fresh host capabilities for one waPC instance (the script and the cluster).
    pub fn capabilities(&self) -> ScriptedCapabilities {
        self.script.clone().with_cluster(self.cluster.clone())
    }
}

/// The admission each policy is benchmarked on: ban-latest and require-digest a Deployment with
/// 10 + 2 realistic containers; verify-slsa a Pod with one image and its real attestation in a
/// ConfigMap; verify-signature a Pod with the real keyless signature of 2021 (certificate, its
/// CA, a Rekor entry; `source: cluster`); any other policy its largest fixture (with that
/// fixture's settings and scripted host answers).
pub fn admission(policy: &str) -> Admission {
    match policy {
        "ban-latest" | "require-digest" => {
            let (name, payload) = deployment_with_containers();
            Admission::plain(name, payload, json!({}))
        }
        slsa::POLICY => {
            let (request, cluster) = slsa::attested_pod(1);
            Admission {
                cluster,
                ..Admission::plain("Pod, 1 attested image", request, slsa::settings())
            }
        }
        "verify-signature" => {
            let (name, request, settings) = verify_signature_cases()
                .pop()
                .unwrap_or_else(|| panic!("no verify-signature case"));
            Admission::plain(name, request, settings)
        }
        other => {
            let fixture = fixtures(other)
                .into_iter()
                .max_by_key(|f| f.payload().len())
                .unwrap_or_else(|| panic!("{other}: no fixture"));
            Admission {
                script: fixture.capabilities(),
                ..Admission::plain(
                    &format!("fixture {}", fixture.name),
                    fixture.request,
                    fixture.expected.settings,
                )
            }
        }
    }
}

fn container(name: &str, i: usize) -> Value {
    realistic_container(
        name,
        i,
        &format!("ghcr.io/acme/{name}-{i}:1.{i}.0@{DIGEST}"),
    )
}

fn bare_container(name: &str, i: usize) -> Value {
    json!({"name": format!("{name}-{i}"), "image": format!("ghcr.io/acme/{name}-{i}:1.{i}.0@{DIGEST}")})
}

/// A CREATE AdmissionRequest of `object`, a `kind` of API `group`.
fn create_request((group, kind): (&str, &str), object: Value) -> Value {
    json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": group, "version": "v1", "kind": kind},
        "resource": {"group": group, "version": "v1", "resource": format!("{}s", kind.to_lowercase())},
        "name": "web", "namespace": "team-a", "operation": "CREATE",
        "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
        "object": object, "oldObject": null, "dryRun": false,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
    })
}

fn metadata() -> Value {
    json!({"name": "web", "namespace": "team-a", "labels": {"app": "web", "tier": "frontend"},
           "annotations": {"team": "payments"}})
}

/// A Deployment with 10 containers and 2 init containers, realistic ones (ports, env, resources,
/// security context; 5 KB), every image tagged and pinned by digest.
pub fn deployment_with_containers() -> (&'static str, Value) {
    let containers: Vec<Value> = (0..10).map(|i| container("app", i)).collect();
    let init: Vec<Value> = (0..2).map(|i| container("init", i)).collect();
    (
        "Deployment, 10 + 2 containers",
        create_request(
            ("apps", "Deployment"),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(),
               "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": containers, "initContainers": init}}}}),
        ),
    )
}

/// The simple rules' requests (settings `{}`): a Pod with one container, the Deployment of
/// [`deployment_with_containers`], and the same with bare containers (name and image only;
/// 2 KB), to show how much of the cost is reading JSON.
pub fn simple_requests() -> Vec<(&'static str, Value)> {
    let pod = create_request(
        ("", "Pod"),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata(),
               "spec": {"containers": [container("app", 0)], "restartPolicy": "Always"}}),
    );
    let containers: Vec<Value> = (0..10).map(|i| bare_container("app", i)).collect();
    let init: Vec<Value> = (0..2).map(|i| bare_container("init", i)).collect();
    let bare_deployment = create_request(
        ("apps", "Deployment"),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"template": {"spec": {"containers": containers, "initContainers": init}}}}),
    );
    let (_, deployment) = deployment_with_containers();
    vec![
        ("pod-1", pod),
        ("deployment-10+2", deployment),
        ("deployment-10+2-bare", bare_deployment),
    ]
}

/// verify-signature on the real cosign signatures of 2021, one image each, the signature in the
/// pod annotation, `source: cluster`: a key signature (ECDSA P-256, no log entry), and a keyless
/// one (the certificate and its 2021 Fulcio CA, a Rekor `rekord` entry). (name, request,
/// settings.)
pub fn verify_signature_cases() -> Vec<(&'static str, Value, Value)> {
    let key = real("key-2021");
    let pem = std::fs::read_to_string(
        crate::repo_root().join("../shared/testdata/cosign-signatures/key-2021/pub.pem"),
    )
    .unwrap_or_else(|e| panic!("key-2021/pub.pem: {e}"));
    let keyless = real("keyless-2021");
    let cert = keyless
        .annotations
        .get("dev.sigstore.cosign/certificate")
        .cloned()
        .unwrap_or_else(|| panic!("keyless-2021: no certificate annotation"));
    let settings = |attestor: Value| {
        json!({"images": [{
            "patterns": ["registry-testing.svc.lan/*"],
            "source": "cluster",
            "attestors": {"entries": [attestor]},
        }]})
    };
    vec![
        (
            "key P-256, no log",
            key.request(&key.payload, &key.annotations),
            settings(json!({"publicKey": pem, "requireRekorBundle": false})),
        ),
        (
            "certificate + Rekor entry",
            keyless.request(&keyless.payload, &keyless.annotations),
            settings(
                json!({"certificate": {"certificate": cert, "certificateChain": [fulcio_2021_ca()]}}),
            ),
        ),
    ]
}
