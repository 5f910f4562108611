//! RFC 6902 JSON patches from a mutated object, as Kubewarden builds them (both use the
//! `json-patch` crate's `diff`).

use serde_json::{json, Value};

/// The RFC 6902 operations (`add`, `remove`, `replace`) that turn `original` into `mutated`.
///
/// Objects are diffed key by key, arrays index by index (elements past the shorter array's end
/// are added or removed), anything else is replaced whole. Paths are RFC 6901 JSON pointers
/// (`~` written `~0`, `/` written `~1`). Equal values give no operation.
pub fn json_patch(original: &Value, mutated: &Value) -> Vec<Value> {
    match serde_json::to_value(json_patch::diff(original, mutated)) {
        Ok(Value::Array(operations)) => operations,
        // Not reached: a patch is a sequence of operations with string keys, which always
        // serialises. Should it not, replacing the whole document is still a correct patch.
        _ => vec![json!({"op": "replace", "path": "", "value": mutated})],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The patch from `before` to `after`, after checking that it is well-formed RFC 6902 and
    /// that applying it to `before` gives `after`.
    fn checked_patch(before: &Value, after: &Value) -> Vec<Value> {
        let operations = json_patch(before, after);
        let patch: json_patch::Patch =
            match serde_json::from_value(Value::Array(operations.clone())) {
                Ok(patch) => patch,
                Err(e) => panic!("not an RFC 6902 patch ({e}): {operations:#?}"),
            };
        let mut patched = before.clone();
        if let Err(e) = json_patch::patch(&mut patched, &patch) {
            panic!("the patch does not apply ({e}): {operations:#?}");
        }
        assert_eq!(&patched, after, "{operations:#?}");
        operations
    }

    /// `op path` of each operation, sorted: what a patch does, whatever its order.
    fn summary(operations: &[Value]) -> Vec<String> {
        let mut summary: Vec<String> = operations
            .iter()
            .map(|op| {
                format!(
                    "{} {}",
                    op["op"].as_str().unwrap_or("?"),
                    op["path"].as_str().unwrap_or("?")
                )
            })
            .collect();
        summary.sort();
        summary
    }

    #[test]
    fn equal_values_give_no_operation() {
        let v = json!({"a": [1, {"b": null}], "c": "d"});
        assert!(checked_patch(&v, &v).is_empty());
    }

    #[test]
    fn object_keys_are_added_removed_and_replaced() {
        let before = json!({"keep": 1, "change": "x", "drop": true});
        let after = json!({"keep": 1, "change": "y", "new": {"n": 1}});
        let operations = checked_patch(&before, &after);
        assert_eq!(
            summary(&operations),
            ["add /new", "remove /drop", "replace /change"]
        );
        assert!(operations.contains(&json!({"op": "add", "path": "/new", "value": {"n": 1}})));
    }

    #[test]
    fn nested_objects_and_same_length_arrays_are_diffed_in_place() {
        let before = json!({"spec": {"containers": [
            {"name": "a", "image": "nginx"},
            {"name": "b", "image": "redis"}
        ]}});
        let after = json!({"spec": {"containers": [
            {"name": "a", "image": "nginx@sha256:00"},
            {"name": "b", "image": "redis"}
        ]}});
        assert_eq!(
            checked_patch(&before, &after),
            vec![
                json!({"op": "replace", "path": "/spec/containers/0/image", "value": "nginx@sha256:00"})
            ]
        );
    }

    #[test]
    fn arrays_of_different_length_are_diffed_index_by_index() {
        let grown = checked_patch(&json!({"args": ["a"]}), &json!({"args": ["a", "b"]}));
        assert_eq!(
            grown,
            vec![json!({"op": "add", "path": "/args/1", "value": "b"})]
        );
        // Several trailing elements removed: each removal applies to the array as the
        // previous one left it.
        let shrunk = checked_patch(&json!({"args": ["a", "b", "c"]}), &json!({"args": ["z"]}));
        assert_eq!(
            summary(&shrunk),
            ["remove /args/1", "remove /args/1", "replace /args/0"]
        );
        checked_patch(&json!([{"a": 1}, 2]), &json!([{"a": 2}, 2, [3]]));
        checked_patch(&json!({"args": ["a", "b"]}), &json!({"args": []}));
    }

    #[test]
    fn type_changes_are_replacements_and_the_root_has_an_empty_path() {
        assert_eq!(
            checked_patch(&json!({"a": 1}), &json!({"a": [1]})),
            vec![json!({"op": "replace", "path": "/a", "value": [1]})]
        );
        assert_eq!(
            checked_patch(&json!(null), &json!({"a": 1})),
            vec![json!({"op": "replace", "path": "", "value": {"a": 1}})]
        );
    }

    #[test]
    fn path_tokens_are_escaped() {
        let before = json!({"metadata": {"annotations": {"old/x~y": "1"}}});
        let after = json!({"metadata": {"annotations": {"example.com/a~b": "v"}}});
        let operations = checked_patch(&before, &after);
        assert_eq!(
            summary(&operations),
            [
                "add /metadata/annotations/example.com~1a~0b",
                "remove /metadata/annotations/old~1x~0y"
            ]
        );
    }
}
