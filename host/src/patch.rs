//! RFC 6902 JSON patches from a mutated object, as Kubewarden builds them.

use serde_json::{json, Map, Value};

/// The RFC 6902 operations (`add`, `remove`, `replace`) that turn `original` into `mutated`.
///
/// Objects are diffed key by key (removals first, then changes and additions, in key order);
/// arrays of the same length element by element; anything else is replaced whole. Paths are
/// RFC 6901 JSON pointers (`~` written `~0`, `/` written `~1`). Equal values give no operation.
pub fn json_patch(original: &Value, mutated: &Value) -> Vec<Value> {
    let mut ops = Vec::new();
    let mut path = String::new();
    diff(&mut path, original, mutated, &mut ops);
    ops
}

fn diff(path: &mut String, original: &Value, mutated: &Value, ops: &mut Vec<Value>) {
    if original == mutated {
        return;
    }
    match (original, mutated) {
        (Value::Object(before), Value::Object(after)) => diff_objects(path, before, after, ops),
        (Value::Array(before), Value::Array(after)) if before.len() == after.len() => {
            for (index, (old, new)) in before.iter().zip(after).enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&index.to_string());
                diff(path, old, new, ops);
                path.truncate(len);
            }
        }
        _ => ops.push(json!({"op": "replace", "path": path.as_str(), "value": mutated})),
    }
}

fn diff_objects(
    path: &mut String,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    ops: &mut Vec<Value>,
) {
    for key in before.keys().filter(|key| !after.contains_key(*key)) {
        let len = push_token(path, key);
        ops.push(json!({"op": "remove", "path": path.as_str()}));
        path.truncate(len);
    }
    for (key, new) in after {
        let len = push_token(path, key);
        match before.get(key) {
            Some(old) => diff(path, old, new, ops),
            None => ops.push(json!({"op": "add", "path": path.as_str(), "value": new})),
        }
        path.truncate(len);
    }
}

/// Appends `/token` (escaped per RFC 6901) and returns the length to truncate back to.
fn push_token(path: &mut String, token: &str) -> usize {
    let len = path.len();
    path.push('/');
    for c in token.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_give_no_operation() {
        let v = json!({"a": [1, {"b": null}], "c": "d"});
        assert!(json_patch(&v, &v).is_empty());
    }

    #[test]
    fn object_keys_are_added_removed_and_replaced() {
        let before = json!({"keep": 1, "change": "x", "drop": true});
        let after = json!({"keep": 1, "change": "y", "new": {"n": 1}});
        assert_eq!(
            json_patch(&before, &after),
            vec![
                json!({"op": "remove", "path": "/drop"}),
                json!({"op": "replace", "path": "/change", "value": "y"}),
                json!({"op": "add", "path": "/new", "value": {"n": 1}}),
            ]
        );
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
            json_patch(&before, &after),
            vec![
                json!({"op": "replace", "path": "/spec/containers/0/image", "value": "nginx@sha256:00"})
            ]
        );
    }

    #[test]
    fn arrays_of_different_length_are_replaced_whole() {
        let before = json!({"args": ["a"]});
        let after = json!({"args": ["a", "b"]});
        assert_eq!(
            json_patch(&before, &after),
            vec![json!({"op": "replace", "path": "/args", "value": ["a", "b"]})]
        );
    }

    #[test]
    fn type_changes_are_replacements_and_the_root_has_an_empty_path() {
        assert_eq!(
            json_patch(&json!({"a": 1}), &json!({"a": [1]})),
            vec![json!({"op": "replace", "path": "/a", "value": [1]})]
        );
        assert_eq!(
            json_patch(&json!(null), &json!({"a": 1})),
            vec![json!({"op": "replace", "path": "", "value": {"a": 1}})]
        );
    }

    #[test]
    fn path_tokens_are_escaped() {
        let before = json!({"metadata": {"annotations": {}}});
        let after = json!({"metadata": {"annotations": {"example.com/a~b": "v"}}});
        assert_eq!(
            json_patch(&before, &after),
            vec![
                json!({"op": "add", "path": "/metadata/annotations/example.com~1a~0b", "value": "v"})
            ]
        );
    }
}
