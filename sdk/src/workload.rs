//! Finding every image a workload would run.
//!
//! The admission request is read through a narrow typed view: only the fields that hold containers are
//! deserialised, everything else is skipped. The kind named in the request decides where the pod spec
//! lives; a kind custody does not understand is an error, never silently allowed.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// The pod-spec lists that hold containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerList {
    /// `containers`
    Containers,
    /// `initContainers`
    InitContainers,
    /// `ephemeralContainers`
    EphemeralContainers,
}

impl ContainerList {
    /// The field name in the Kubernetes API.
    pub fn field(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::InitContainers => "initContainers",
            ContainerList::EphemeralContainers => "ephemeralContainers",
        }
    }
}

/// Where a container sits in the object, e.g. `spec.template.spec.initContainers[1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Path of the pod spec holding the list: `spec`, `spec.template.spec`, ... or empty for the
    /// top-level list of an `EphemeralContainers` object.
    pub pod_spec: PodSpecPath,
    /// Which list.
    pub list: ContainerList,
    /// Index in the list.
    pub index: usize,
}

impl Location {
    /// The RFC 6901 JSON pointer of the container's `image` field inside the object.
    pub fn image_pointer(&self) -> String {
        let mut pointer = String::new();
        for segment in self.pod_spec.segments() {
            pointer.push('/');
            pointer.push_str(segment);
        }
        pointer.push('/');
        pointer.push_str(self.list.field());
        pointer.push('/');
        pointer.push_str(&self.index.to_string());
        pointer.push_str("/image");
        pointer
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = self.pod_spec.dotted();
        if prefix.is_empty() {
            write!(f, "{}[{}]", self.list.field(), self.index)
        } else {
            write!(f, "{}.{}[{}]", prefix, self.list.field(), self.index)
        }
    }
}

/// Where the pod spec lives for each kind of workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodSpecPath {
    /// `spec` (Pod)
    Spec,
    /// `spec.template.spec` (Deployment, ReplicaSet, StatefulSet, DaemonSet, ReplicationController, Job)
    Template,
    /// `spec.jobTemplate.spec.template.spec` (CronJob)
    JobTemplate,
    /// The object itself (the legacy `EphemeralContainers` kind of the `pods/ephemeralcontainers`
    /// subresource, which has a top-level `ephemeralContainers` list).
    Root,
}

impl PodSpecPath {
    fn segments(self) -> &'static [&'static str] {
        match self {
            PodSpecPath::Spec => &["spec"],
            PodSpecPath::Template => &["spec", "template", "spec"],
            PodSpecPath::JobTemplate => &["spec", "jobTemplate", "spec", "template", "spec"],
            PodSpecPath::Root => &[],
        }
    }

    fn dotted(self) -> &'static str {
        match self {
            PodSpecPath::Spec => "spec",
            PodSpecPath::Template => "spec.template.spec",
            PodSpecPath::JobTemplate => "spec.jobTemplate.spec.template.spec",
            PodSpecPath::Root => "",
        }
    }

    /// The pod spec path for a workload kind, or `None` for a kind custody does not understand.
    pub fn for_kind(group: &str, kind: &str) -> Option<PodSpecPath> {
        match (group, kind) {
            ("", "Pod") => Some(PodSpecPath::Spec),
            ("", "EphemeralContainers") => Some(PodSpecPath::Root),
            ("", "ReplicationController") => Some(PodSpecPath::Template),
            ("apps" | "extensions", "Deployment" | "ReplicaSet" | "DaemonSet") => {
                Some(PodSpecPath::Template)
            }
            ("apps", "StatefulSet") => Some(PodSpecPath::Template),
            ("batch", "Job") => Some(PodSpecPath::Template),
            ("batch", "CronJob") => Some(PodSpecPath::JobTemplate),
            _ => None,
        }
    }
}

/// One container of a workload, as found in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Where it is.
    pub location: Location,
    /// Its `name` (empty when the object has none).
    pub name: String,
    /// Its `image` exactly as written, `None` when the field is missing.
    pub image: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerView {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    image: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodSpecView {
    #[serde(default)]
    containers: Option<Vec<ContainerView>>,
    #[serde(default)]
    init_containers: Option<Vec<ContainerView>>,
    #[serde(default)]
    ephemeral_containers: Option<Vec<ContainerView>>,
}

/// `metadata`: only the annotations are read.
#[derive(Debug, Default, Deserialize)]
struct MetadataView {
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
struct TemplateView {
    #[serde(default)]
    metadata: Option<MetadataView>,
    #[serde(default)]
    spec: Option<PodSpecView>,
}

#[derive(Debug, Default, Deserialize)]
struct JobSpecView {
    #[serde(default)]
    template: Option<TemplateView>,
}

#[derive(Debug, Default, Deserialize)]
struct JobTemplateView {
    #[serde(default)]
    spec: Option<JobSpecView>,
}

/// The `spec` of any supported kind: a pod spec, or a spec holding a (job) template. (Not
/// `#[serde(flatten)]`: that would buffer every unknown field of the spec.)
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecView {
    #[serde(default)]
    containers: Option<Vec<ContainerView>>,
    #[serde(default)]
    init_containers: Option<Vec<ContainerView>>,
    #[serde(default)]
    ephemeral_containers: Option<Vec<ContainerView>>,
    #[serde(default)]
    template: Option<TemplateView>,
    #[serde(default)]
    job_template: Option<JobTemplateView>,
}

/// The parts of a Kubernetes object that hold containers.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadView {
    #[serde(default)]
    metadata: Option<MetadataView>,
    #[serde(default)]
    spec: Option<SpecView>,
    #[serde(default)]
    ephemeral_containers: Option<Vec<ContainerView>>,
}

impl WorkloadView {
    /// Takes the annotations of the pods the object makes (for a Pod, its own; for the other
    /// kinds, their pod template's), which are empty if there are none.
    pub fn take_pod_annotations(&mut self, path: PodSpecPath) -> BTreeMap<String, String> {
        let metadata = match path {
            PodSpecPath::Spec | PodSpecPath::Root => self.metadata.as_mut(),
            PodSpecPath::Template => self
                .spec
                .as_mut()
                .and_then(|s| s.template.as_mut())
                .and_then(|t| t.metadata.as_mut()),
            PodSpecPath::JobTemplate => self
                .spec
                .as_mut()
                .and_then(|s| s.job_template.as_mut())
                .and_then(|j| j.spec.as_mut())
                .and_then(|j| j.template.as_mut())
                .and_then(|t| t.metadata.as_mut()),
        };
        metadata
            .and_then(|m| m.annotations.take())
            .unwrap_or_default()
    }

    /// Every container of the object, in the order `containers`, `initContainers`,
    /// `ephemeralContainers`, for the given pod spec path.
    pub fn containers(self, path: PodSpecPath) -> Vec<Container> {
        let pod = match path {
            PodSpecPath::Spec => self.spec.map(|s| PodSpecView {
                containers: s.containers,
                init_containers: s.init_containers,
                ephemeral_containers: s.ephemeral_containers,
            }),
            PodSpecPath::Template => self.spec.and_then(|s| s.template).and_then(|t| t.spec),
            PodSpecPath::JobTemplate => self
                .spec
                .and_then(|s| s.job_template)
                .and_then(|j| j.spec)
                .and_then(|j| j.template)
                .and_then(|t| t.spec),
            PodSpecPath::Root => Some(PodSpecView {
                ephemeral_containers: self.ephemeral_containers,
                ..PodSpecView::default()
            }),
        };
        let Some(pod) = pod else {
            return Vec::new();
        };
        let lists = [
            (ContainerList::Containers, pod.containers),
            (ContainerList::InitContainers, pod.init_containers),
            (ContainerList::EphemeralContainers, pod.ephemeral_containers),
        ];
        let mut found = Vec::new();
        for (list, containers) in lists {
            for (index, c) in containers.unwrap_or_default().into_iter().enumerate() {
                found.push(Container {
                    location: Location {
                        pod_spec: path,
                        list,
                        index,
                    },
                    name: c.name.unwrap_or_default(),
                    image: c.image,
                });
            }
        }
        found
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::json;

    fn discover(
        group: &str,
        kind: &str,
        object: serde_json::Value,
    ) -> Vec<(String, String, String)> {
        let path = PodSpecPath::for_kind(group, kind).unwrap();
        let view: WorkloadView = serde_json::from_value(object).unwrap();
        view.containers(path)
            .into_iter()
            .map(|c| (c.location.to_string(), c.name, c.image.unwrap_or_default()))
            .collect()
    }

    fn pod_spec() -> serde_json::Value {
        json!({
            "containers": [{"name": "app", "image": "a:1"}, {"name": "side", "image": "b:1"}],
            "initContainers": [{"name": "init", "image": "c:1"}],
            "ephemeralContainers": [{"name": "debug", "image": "d:1"}]
        })
    }

    fn expected(prefix: &str) -> Vec<(String, String, String)> {
        [
            ("containers[0]", "app", "a:1"),
            ("containers[1]", "side", "b:1"),
            ("initContainers[0]", "init", "c:1"),
            ("ephemeralContainers[0]", "debug", "d:1"),
        ]
        .iter()
        .map(|(l, n, i)| (format!("{prefix}{l}"), n.to_string(), i.to_string()))
        .collect()
    }

    #[test]
    fn pod() {
        let got = discover("", "Pod", json!({"kind": "Pod", "spec": pod_spec()}));
        assert_eq!(got, expected("spec."));
    }

    #[test]
    fn pod_annotations_come_from_the_pod_template() {
        let annotations = || json!({"a": "1"});
        let cases = [
            (
                "",
                "Pod",
                json!({"metadata": {"annotations": annotations()}}),
            ),
            (
                "apps",
                "Deployment",
                json!({"metadata": {"annotations": {"outer": "x"}},
                       "spec": {"template": {"metadata": {"annotations": annotations()}}}}),
            ),
            (
                "batch",
                "CronJob",
                json!({"spec": {"jobTemplate": {"spec": {"template": {"metadata": {"annotations": annotations()}}}}}}),
            ),
        ];
        for (group, kind, object) in cases {
            let path = PodSpecPath::for_kind(group, kind).unwrap();
            let mut view: WorkloadView = serde_json::from_value(object).unwrap();
            let found = view.take_pod_annotations(path);
            assert_eq!(found.get("a").map(String::as_str), Some("1"), "{kind}");
            assert_eq!(found.len(), 1, "{kind}");
        }
        let mut bare: WorkloadView = serde_json::from_value(json!({})).unwrap();
        assert!(bare.take_pod_annotations(PodSpecPath::Template).is_empty());
        assert!(serde_json::from_value::<WorkloadView>(
            json!({"metadata": {"annotations": {"a": 1}}})
        )
        .is_err());
    }

    #[test]
    fn template_kinds() {
        for (group, kind) in [
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("", "ReplicationController"),
            ("batch", "Job"),
        ] {
            let object = json!({"spec": {"replicas": 2, "template": {"spec": pod_spec()}}});
            assert_eq!(
                discover(group, kind, object),
                expected("spec.template.spec."),
                "{kind}"
            );
        }
    }

    #[test]
    fn cronjob() {
        let object = json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": pod_spec()}}}}});
        assert_eq!(
            discover("batch", "CronJob", object),
            expected("spec.jobTemplate.spec.template.spec.")
        );
    }

    #[test]
    fn legacy_ephemeral_containers_kind() {
        let object = json!({"ephemeralContainers": [{"name": "dbg", "image": "busybox"}]});
        assert_eq!(
            discover("", "EphemeralContainers", object),
            vec![(
                "ephemeralContainers[0]".to_string(),
                "dbg".to_string(),
                "busybox".to_string()
            )]
        );
    }

    #[test]
    fn a_deployment_is_not_read_as_a_pod() {
        // Containers at the wrong place for the kind are not the workload's containers.
        let object = json!({"spec": {"containers": [{"name": "x", "image": "x"}]}});
        assert!(discover("apps", "Deployment", object).is_empty());
    }

    #[test]
    fn missing_lists_and_images() {
        let got = discover(
            "",
            "Pod",
            json!({"spec": {"containers": [{"name": "noimage"}]}}),
        );
        assert_eq!(
            got,
            vec![("spec.containers[0]".into(), "noimage".into(), "".into())]
        );
        assert!(discover("", "Pod", json!({})).is_empty());
        assert!(discover("batch", "CronJob", json!({"spec": {}})).is_empty());
    }

    #[test]
    fn wrong_types_are_errors() {
        for object in [
            json!({"spec": {"containers": "nginx"}}),
            json!({"spec": {"containers": [{"image": 5}]}}),
            json!({"spec": "x"}),
        ] {
            assert!(serde_json::from_value::<WorkloadView>(object).is_err());
        }
    }

    #[test]
    fn unknown_kinds() {
        assert_eq!(PodSpecPath::for_kind("", "ConfigMap"), None);
        assert_eq!(PodSpecPath::for_kind("example.com", "Deployment"), None);
        assert_eq!(PodSpecPath::for_kind("apps", "CronJob"), None);
    }

    #[test]
    fn image_pointers() {
        let loc = Location {
            pod_spec: PodSpecPath::JobTemplate,
            list: ContainerList::InitContainers,
            index: 3,
        };
        assert_eq!(
            loc.image_pointer(),
            "/spec/jobTemplate/spec/template/spec/initContainers/3/image"
        );
        let root = Location {
            pod_spec: PodSpecPath::Root,
            list: ContainerList::EphemeralContainers,
            index: 0,
        };
        assert_eq!(root.image_pointer(), "/ephemeralContainers/0/image");
        assert_eq!(root.to_string(), "ephemeralContainers[0]");
    }
}
