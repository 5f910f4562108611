//! A cluster's objects, held in memory: what the host's `kubernetes` capabilities answer from
//! (Kubewarden's context-aware `get_resource`, `list_resources_by_namespace`,
//! `list_resources_all`), and the `data.inventory` document Gatekeeper-mode modules read.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

/// Kubernetes objects standing in for a cluster (read from files by the CLI, built by tests).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cluster {
    objects: Vec<Object>,
}

#[derive(Debug, Clone, PartialEq)]
struct Object {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    name: String,
    labels: BTreeMap<String, String>,
    value: Value,
}

/// The request of `get_resource`, `list_resources_by_namespace` and `list_resources_all`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    api_version: String,
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    label_selector: Option<String>,
    #[serde(default)]
    field_selector: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // Accepted as Kubewarden does; there is no cache to bypass.
    disable_cache: bool,
}

impl Cluster {
    /// The cluster holding `objects` (a `kind: List` is unpacked). Each needs `apiVersion`, `kind`
    /// and `metadata.name`; two objects with the same identity are refused.
    pub fn new(objects: impl IntoIterator<Item = Value>) -> Result<Self, String> {
        let mut cluster = Cluster::default();
        for value in objects {
            cluster.add(value)?;
        }
        Ok(cluster)
    }

    fn add(&mut self, value: Value) -> Result<(), String> {
        let text = |v: &Value, field: &str| v.get(field).and_then(Value::as_str).map(str::to_owned);
        let api_version = text(&value, "apiVersion").ok_or("an object has no apiVersion")?;
        let kind = text(&value, "kind").ok_or("an object has no kind")?;
        if kind == "List" {
            let items = value
                .get("items")
                .and_then(Value::as_array)
                .ok_or("a List has no items")?;
            for item in items {
                self.add(item.clone())?;
            }
            return Ok(());
        }
        let metadata = value.get("metadata").cloned().unwrap_or(Value::Null);
        let name =
            text(&metadata, "name").ok_or_else(|| format!("a {kind} has no metadata.name"))?;
        let namespace = text(&metadata, "namespace");
        let labels = match metadata.get("labels") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(labels) => serde_json::from_value(labels.clone())
                .map_err(|e| format!("{kind} {name:?}: metadata.labels: {e}"))?,
        };
        let object = Object {
            api_version,
            kind,
            namespace,
            name,
            labels,
            value,
        };
        if self.objects.iter().any(|o| o.same_identity(&object)) {
            return Err(format!(
                "{} {:?} is given twice{}",
                object.kind,
                object.name,
                object
                    .namespace
                    .as_deref()
                    .map(|ns| format!(" in namespace {ns:?}"))
                    .unwrap_or_default()
            ));
        }
        self.objects.push(object);
        Ok(())
    }

    /// How many objects it holds.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Answers a `kubernetes` capability call (the JSON answer, or the error a real host gives).
    pub fn answer(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        let request: Request = serde_json::from_slice(payload)
            .map_err(|e| format!("kubernetes/{operation}: bad request: {e}"))?;
        if request
            .field_selector
            .as_deref()
            .is_some_and(|s| !s.is_empty())
        {
            return Err(format!(
                "kubernetes/{operation}: field selectors are not supported by this host"
            ));
        }
        let answer = match operation {
            "get_resource" => {
                let name = request
                    .name
                    .as_deref()
                    .ok_or("kubernetes/get_resource: the request has no name")?;
                let object = self
                    .objects
                    .iter()
                    .find(|o| {
                        o.is(&request.api_version, &request.kind)
                            && o.name == name
                            && o.namespace == request.namespace
                    })
                    .ok_or_else(|| {
                        format!(
                            "{}/{} {name:?} not found{}",
                            request.api_version,
                            request.kind,
                            request
                                .namespace
                                .as_deref()
                                .map(|ns| format!(" in namespace {ns:?}"))
                                .unwrap_or_default()
                        )
                    })?;
                object.value.clone()
            }
            "list_resources_by_namespace" | "list_resources_all" => {
                let namespace =
                    match (operation, &request.namespace) {
                        ("list_resources_by_namespace", None) => return Err(
                            "kubernetes/list_resources_by_namespace: the request has no namespace"
                                .into(),
                        ),
                        (_, namespace) => namespace.as_deref(),
                    };
                let selector = Selector::parse(request.label_selector.as_deref().unwrap_or(""))?;
                let items: Vec<Value> = self
                    .objects
                    .iter()
                    .filter(|o| o.is(&request.api_version, &request.kind))
                    .filter(|o| namespace.is_none() || o.namespace.as_deref() == namespace)
                    .filter(|o| selector.matches(&o.labels))
                    .map(|o| o.value.clone())
                    .collect();
                json!({
                    "apiVersion": request.api_version,
                    "kind": format!("{}List", request.kind),
                    "metadata": {},
                    "items": items,
                })
            }
            other => return Err(format!("kubernetes/{other} is not supported by this host")),
        };
        serde_json::to_vec(&answer).map_err(|e| e.to_string())
    }

    /// The `data` document Gatekeeper gives its policies: `{"inventory": {"namespace": {<ns>:
    /// {<apiVersion>: {<kind>: {<name>: object}}}}, "cluster": {<apiVersion>: {<kind>: {<name>:
    /// object}}}}}`.
    pub fn data(&self) -> Value {
        type ByName = BTreeMap<String, Value>;
        type ByKind = BTreeMap<String, ByName>;
        type ByVersion = BTreeMap<String, ByKind>;
        let mut namespaced: BTreeMap<String, ByVersion> = BTreeMap::new();
        let mut cluster = ByVersion::new();
        for o in &self.objects {
            let scope = match &o.namespace {
                Some(ns) => namespaced.entry(ns.clone()).or_default(),
                None => &mut cluster,
            };
            scope
                .entry(o.api_version.clone())
                .or_default()
                .entry(o.kind.clone())
                .or_default()
                .insert(o.name.clone(), o.value.clone());
        }
        json!({"inventory": {"namespace": namespaced, "cluster": cluster}})
    }
}

impl Object {
    fn is(&self, api_version: &str, kind: &str) -> bool {
        self.api_version == api_version && self.kind == kind
    }

    fn same_identity(&self, other: &Object) -> bool {
        self.is(&other.api_version, &other.kind)
            && self.name == other.name
            && self.namespace == other.namespace
    }
}

/// An equality-based label selector: `a=b,c==d,e!=f,g,!h`.
#[derive(Debug, Default)]
struct Selector(Vec<Requirement>);

#[derive(Debug)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

impl Selector {
    fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let requirement = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::Absent(k.trim().into())
            } else if part.contains([' ', '(']) {
                return Err(format!(
                    "label selector {text:?}: set-based requirements are not supported by this host"
                ));
            } else {
                Requirement::Exists(part.into())
            };
            requirements.push(requirement);
        }
        Ok(Selector(requirements))
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::Absent(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config_map(ns: &str, name: &str, labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": ns, "labels": labels},
               "data": {"k": name}})
    }

    fn cluster() -> Cluster {
        Cluster::new([
            config_map("a", "one", json!({"app": "x"})),
            json!({"apiVersion": "v1", "kind": "List", "items": [
                config_map("b", "one", json!({"app": "y"})),
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}},
            ]}),
        ])
        .unwrap()
    }

    fn ask(cluster: &Cluster, operation: &str, request: Value) -> Result<Value, String> {
        cluster
            .answer(operation, request.to_string().as_bytes())
            .map(|bytes| serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn get_resource_finds_by_identity() {
        let c = cluster();
        assert_eq!(c.len(), 3);
        let found = ask(
            &c,
            "get_resource",
            json!({"api_version": "v1", "kind": "ConfigMap",
            "name": "one", "namespace": "b", "disable_cache": true}),
        )
        .unwrap();
        assert_eq!(found["data"]["k"], "one");
        assert_eq!(found["metadata"]["namespace"], "b");
        let missing = ask(
            &c,
            "get_resource",
            json!({"api_version": "v1", "kind": "ConfigMap",
            "name": "two", "namespace": "b"}),
        )
        .unwrap_err();
        assert_eq!(missing, r#"v1/ConfigMap "two" not found in namespace "b""#);
        let ns = ask(
            &c,
            "get_resource",
            json!({"api_version": "v1", "kind": "Namespace", "name": "a"}),
        );
        assert_eq!(ns.unwrap()["metadata"]["name"], "a");
    }

    #[test]
    fn lists_filter_by_namespace_and_labels() {
        let c = cluster();
        let names = |v: Value| -> Vec<String> {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["metadata"]["namespace"].as_str().unwrap().to_owned())
                .collect()
        };
        let all = json!({"api_version": "v1", "kind": "ConfigMap"});
        assert_eq!(
            names(ask(&c, "list_resources_all", all).unwrap()),
            ["a", "b"]
        );
        let by_label = json!({"api_version": "v1", "kind": "ConfigMap", "label_selector": "app=y"});
        assert_eq!(
            names(ask(&c, "list_resources_all", by_label).unwrap()),
            ["b"]
        );
        let not = json!({"api_version": "v1", "kind": "ConfigMap", "label_selector": "app!=y,app"});
        assert_eq!(names(ask(&c, "list_resources_all", not).unwrap()), ["a"]);
        let in_ns = json!({"api_version": "v1", "kind": "ConfigMap", "namespace": "a"});
        assert_eq!(
            names(ask(&c, "list_resources_by_namespace", in_ns).unwrap()),
            ["a"]
        );
        let no_ns = json!({"api_version": "v1", "kind": "ConfigMap"});
        assert!(ask(&c, "list_resources_by_namespace", no_ns).is_err());
        let set = json!({"api_version": "v1", "kind": "ConfigMap", "label_selector": "app in (x)"});
        assert!(ask(&c, "list_resources_all", set)
            .unwrap_err()
            .contains("not supported"));
    }

    #[test]
    fn bad_objects_and_requests_are_refused() {
        assert!(Cluster::new([json!({"kind": "ConfigMap"})]).is_err());
        assert!(Cluster::new([json!({"apiVersion": "v1", "kind": "ConfigMap"})]).is_err());
        let twice = Cluster::new([
            config_map("a", "x", json!({})),
            config_map("a", "x", json!({})),
        ]);
        assert_eq!(
            twice.unwrap_err(),
            r#"ConfigMap "x" is given twice in namespace "a""#
        );
        let c = cluster();
        assert!(c
            .answer("get_resource", b"not json")
            .unwrap_err()
            .contains("bad request"));
        assert!(c.answer("can_i", b"{}").is_err());
    }

    #[test]
    fn data_is_gatekeepers_inventory() {
        let data = cluster().data();
        assert_eq!(
            data["inventory"]["namespace"]["b"]["v1"]["ConfigMap"]["one"]["data"]["k"],
            "one"
        );
        assert_eq!(
            data["inventory"]["cluster"]["v1"]["Namespace"]["a"]["kind"],
            "Namespace"
        );
    }
}
