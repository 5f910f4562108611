//! Admission requests the tests send.

use serde_json::{json, Value};

/// A Pod CREATE request (namespace `default`) with one container per image (`c0`, `c1`, ...) and
/// the pod annotations `annotations`.
pub fn pod_request(images: &[&str], annotations: Value) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    json!({
        "uid": "custody-test",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE",
        "namespace": "default",
        "object": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "app", "namespace": "default", "annotations": annotations},
            "spec": {"containers": containers},
        },
    })
}
