//! The workload kinds custody reads, built from the Kubernetes API types (`k8s-openapi`) and sent
//! in requests built from Kubewarden's own types (`kubewarden-policy-sdk`): the SDK must find every
//! container (`containers`, `initContainers`, `ephemeralContainers`) where the API puts it, for
//! each kind, and every policy's modules must judge each of them there.

use custody_host::NoCapabilities;
use custody_host_tests::{
    kubewarden, policies, test_settings, validate_native, Loaded, NativeHost,
};
use custody_sdk::workload::{PodSpecPath, WorkloadView};
use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec, StatefulSet,
    StatefulSetSpec,
};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Container, EphemeralContainer, Pod, PodSpec, PodTemplateSpec, ReplicationController,
    ReplicationControllerSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Resource;
use kubewarden_policy_sdk::request::{
    GroupVersionKind, KubernetesAdmissionRequest, ValidationRequest,
};
use serde_json::Value;

/// The image of a container: unique, untagged (so every policy denies it), naming its place.
fn image(list: &str, index: usize) -> String {
    format!("registry.local:5000/{}/c{index}", list.to_ascii_lowercase())
}

/// A pod spec with two containers, one init container and one ephemeral container.
fn pod_spec() -> PodSpec {
    let container = |list: &str, index: usize| Container {
        name: format!("{list}-{index}"),
        image: Some(image(list, index)),
        ..Container::default()
    };
    PodSpec {
        containers: vec![container("containers", 0), container("containers", 1)],
        init_containers: Some(vec![container("initContainers", 0)]),
        ephemeral_containers: Some(vec![EphemeralContainer {
            name: "ephemeralContainers-0".into(),
            image: Some(image("ephemeralContainers", 0)),
            target_container_name: Some("containers-0".into()),
            ..EphemeralContainer::default()
        }]),
        ..PodSpec::default()
    }
}

fn template() -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta::default()),
        spec: Some(pod_spec()),
    }
}

fn meta() -> ObjectMeta {
    ObjectMeta {
        name: Some("workload".into()),
        namespace: Some("team-a".into()),
        ..ObjectMeta::default()
    }
}

/// A workload of kind `R`, serialized as the API server sends it, with where its pod spec is.
fn workload<R: Resource + serde::Serialize>(object: &R, pod_spec: &str) -> (Workload, Value) {
    let value = serde_json::to_value(object).expect("JSON");
    assert_eq!(value["kind"], R::KIND);
    assert_eq!(value["apiVersion"], R::API_VERSION);
    (
        Workload {
            group: R::GROUP,
            version: R::VERSION,
            kind: R::KIND,
            pod_spec: pod_spec.to_owned(),
        },
        value,
    )
}

struct Workload {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    pod_spec: String,
}

/// Every kind custody reads, from the API types.
fn workloads() -> Vec<(Workload, Value)> {
    vec![
        workload(
            &Pod {
                metadata: meta(),
                spec: Some(pod_spec()),
                status: None,
            },
            "spec",
        ),
        workload(
            &Deployment {
                metadata: meta(),
                spec: DeploymentSpec {
                    template: template(),
                    ..DeploymentSpec::default()
                },
                status: None,
            },
            "spec.template.spec",
        ),
        workload(
            &ReplicaSet {
                metadata: meta(),
                spec: ReplicaSetSpec {
                    template: Some(template()),
                    ..ReplicaSetSpec::default()
                },
                status: None,
            },
            "spec.template.spec",
        ),
        workload(
            &StatefulSet {
                metadata: meta(),
                spec: StatefulSetSpec {
                    template: template(),
                    ..StatefulSetSpec::default()
                },
                status: None,
            },
            "spec.template.spec",
        ),
        workload(
            &DaemonSet {
                metadata: meta(),
                spec: DaemonSetSpec {
                    template: template(),
                    ..DaemonSetSpec::default()
                },
                status: None,
            },
            "spec.template.spec",
        ),
        workload(
            &ReplicationController {
                metadata: meta(),
                spec: Some(ReplicationControllerSpec {
                    template: Some(template()),
                    ..ReplicationControllerSpec::default()
                }),
                status: None,
            },
            "spec.template.spec",
        ),
        workload(
            &Job {
                metadata: meta(),
                spec: Some(JobSpec {
                    template: template(),
                    ..JobSpec::default()
                }),
                status: None,
            },
            "spec.template.spec",
        ),
        workload(
            &CronJob {
                metadata: meta(),
                spec: CronJobSpec {
                    schedule: "*/5 * * * *".into(),
                    job_template: JobTemplateSpec {
                        metadata: None,
                        spec: Some(JobSpec {
                            template: template(),
                            ..JobSpec::default()
                        }),
                    },
                    ..CronJobSpec::default()
                },
                status: None,
            },
            "spec.jobTemplate.spec.template.spec",
        ),
    ]
}

/// Where each container is, as the API types put it: (location, image).
fn expected(pod_spec: &str) -> Vec<(String, String)> {
    [
        ("containers", 0),
        ("containers", 1),
        ("initContainers", 0),
        ("ephemeralContainers", 0),
    ]
    .into_iter()
    .map(|(list, i)| (format!("{pod_spec}.{list}[{i}]"), image(list, i)))
    .collect()
}

#[test]
fn the_sdk_finds_every_container_of_every_kind_where_the_api_puts_it() {
    let workloads = workloads();
    assert_eq!(workloads.len(), 8);
    for (w, object) in &workloads {
        let path = PodSpecPath::for_kind(w.group, w.kind)
            .unwrap_or_else(|| panic!("{}/{}: not a workload to the SDK", w.group, w.kind));
        let view: WorkloadView = serde_json::from_value(object.clone()).expect("the SDK reads it");
        let found = view.containers(path);
        let got: Vec<(String, String)> = found
            .iter()
            .map(|c| (c.location.to_string(), c.image.clone().unwrap_or_default()))
            .collect();
        assert_eq!(got, expected(&w.pod_spec), "{}", w.kind);
        for c in &found {
            // The JSON pointer a mutation would patch is the image's, in the serialized object.
            assert_eq!(
                object
                    .pointer(&c.location.image_pointer())
                    .and_then(Value::as_str),
                c.image.as_deref(),
                "{}: {}",
                w.kind,
                c.location
            );
            assert!(
                c.name.starts_with(c.location.list.field()),
                "{}: {}",
                w.kind,
                c.name
            );
        }
    }
}

#[test]
fn every_policy_judges_every_container_of_requests_built_from_kubewardens_types() {
    for (w, object) in workloads() {
        let request = KubernetesAdmissionRequest {
            uid: format!("{}-create", w.kind),
            kind: GroupVersionKind {
                group: w.group.to_owned(),
                version: w.version.to_owned(),
                kind: w.kind.to_owned(),
            },
            request_kind: GroupVersionKind {
                group: w.group.to_owned(),
                version: w.version.to_owned(),
                kind: w.kind.to_owned(),
            },
            name: "workload".into(),
            namespace: "team-a".into(),
            operation: "CREATE".into(),
            object,
            ..KubernetesAdmissionRequest::default()
        };
        for &policy in policies() {
            let payload = ValidationRequest {
                settings: test_settings(policy),
                request: request.clone(),
            };
            let payload = serde_json::to_value(&payload).expect("JSON");
            kubewarden::check_request(&payload);
            let bytes = serde_json::to_vec(&payload).expect("JSON");
            let wasm = Loaded::policy(policy)
                .instance(Box::new(NoCapabilities))
                .validate_raw(&bytes)
                .unwrap_or_else(|e| panic!("{policy} {}: {e}", w.kind));
            let native = validate_native(policy, &bytes, &mut NativeHost(NoCapabilities));
            assert_eq!(
                (&wasm.accepted, &wasm.message),
                (&native.accepted, &native.message),
                "{policy} {}: wasm and native",
                w.kind
            );
            // Every image is untagged and unpinned, at a registry no test settings name: each
            // policy denies every container, at its place.
            assert!(!wasm.accepted, "{policy} {}", w.kind);
            let lines: Vec<&str> = wasm
                .message
                .as_deref()
                .unwrap_or_default()
                .lines()
                .collect();
            let expected = expected(&w.pod_spec);
            assert_eq!(
                lines.len(),
                expected.len(),
                "{policy} {}: {lines:#?}",
                w.kind
            );
            for (line, (location, image)) in lines.iter().zip(&expected) {
                let start = format!("({location}): image \"{image}\" ");
                assert!(
                    line.contains(&start),
                    "{policy} {}: {line:?} lacks {start:?}",
                    w.kind
                );
            }
        }
    }
}
