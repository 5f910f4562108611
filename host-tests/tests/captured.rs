//! Real AdmissionRequests captured from clusters (`shared/testdata/admission-reviews`) through every
//! policy, in both builds and natively. The verdict each must get is computed here from the images
//! in the request (not from the file's name): which containers the request has, and what their
//! images are.

use custody_host::NoCapabilities;
use custody_host_tests::{
    captured_requests, gatekeeper, gatekeeper_native, policies, test_settings, validate_native,
    validate_payload, Captured, Loaded, NativeHost,
};
use serde_json::{json, Value};

/// Each container of the request's object as (name, location, image), in the order custody lists
/// them (`containers`, `initContainers`, `ephemeralContainers`); found from the kind here, apart
/// from the SDK.
fn containers(request: &Value) -> Vec<(String, String, String)> {
    let object = &request["object"];
    let prefix = match request["kind"]["kind"].as_str().unwrap_or_default() {
        "Pod" => "spec",
        "CronJob" => "spec.jobTemplate.spec.template.spec",
        _ => "spec.template.spec",
    };
    let pointer = format!("/{}", prefix.replace('.', "/"));
    let spec = object.pointer(&pointer).cloned().unwrap_or(Value::Null);
    let mut found = Vec::new();
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for (i, c) in spec[list].as_array().into_iter().flatten().enumerate() {
            found.push((
                c["name"].as_str().unwrap_or_default().to_owned(),
                format!("{prefix}.{list}[{i}]"),
                c["image"].as_str().expect("an image").to_owned(),
            ));
        }
    }
    found
}

/// (has a digest, its tag) of an image reference, read plainly: the digest follows `@`, the tag
/// is what follows `:` in the last path component.
fn tag_and_digest(image: &str) -> (bool, Option<&str>) {
    let (name, digest) = match image.split_once('@') {
        Some((name, _)) => (name, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    (digest, last.split_once(':').map(|(_, tag)| tag))
}

/// The message lines `policy` must answer for `request` with `settings` (none: allowed).
fn expected_lines(policy: &str, settings: &Value, request: &Value) -> Vec<String> {
    if request["object"].is_null() {
        // A DELETE: nothing to judge, allowed (`policy::decide`).
        assert_eq!(request["operation"], "DELETE");
        return Vec::new();
    }
    let deny_unmatched = settings["unmatchedImages"] != "allow";
    containers(request)
        .into_iter()
        .filter_map(|(name, location, image)| {
            let (digest, tag) = tag_and_digest(&image);
            let reason = match policy {
                "ban-latest" => match tag {
                    _ if digest => None,
                    None => Some(
                        "has no tag, which means :latest; pin a version tag or a digest".to_owned(),
                    ),
                    Some("latest") => {
                        Some("uses the :latest tag; pin a version tag or a digest".to_owned())
                    }
                    Some(_) => None,
                },
                // The message then says how to write it; its start is checked.
                "require-digest" => (!digest).then(|| "is not pinned to a digest".to_owned()),
                "verify-slsa" | "verify-signature" => {
                    // The test settings have one entry, for ghcr.io/acme/*: none of these images.
                    assert!(!image.starts_with("ghcr.io/acme/"), "{image}");
                    deny_unmatched
                        .then(|| "matches no entry of `images` (unmatchedImages: deny)".to_owned())
                }
                other => panic!("{other}: say here what it must answer for a captured request"),
            };
            reason.map(|r| format!("container \"{name}\" ({location}): image \"{image}\" {r}"))
        })
        .collect()
}

/// Checks one answer (the message lines, empty when allowed) against the expected lines: exactly,
/// or by their start for require-digest.
fn check(what: &str, policy: &str, got: &[String], expected: &[String]) {
    assert_eq!(got.len(), expected.len(), "{what}: {got:#?}");
    for (line, want) in got.iter().zip(expected) {
        if policy == "require-digest" {
            assert!(
                line.starts_with(want.as_str()),
                "{what}: {line:?}, want {want:?}…"
            );
        } else {
            assert_eq!(line, want, "{what}");
        }
    }
}

fn run(policy: &str, captured: &Captured, settings: &Value) -> Vec<String> {
    let what = format!("{policy}/{} {settings}", captured.name);
    let request = &captured.request;
    let expected = expected_lines(policy, settings, request);
    let lines = |m: Option<&str>| -> Vec<String> {
        m.unwrap_or_default().lines().map(str::to_owned).collect()
    };

    let wapc = Loaded::policy(policy)
        .instance(Box::new(NoCapabilities))
        .validate(request, settings)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(wapc.accepted, expected.is_empty(), "{what}: {wapc:?}");
    assert_eq!(wapc.mutated_object, None, "{what}");
    check(
        &format!("{what} waPC"),
        policy,
        &lines(wapc.message.as_deref()),
        &expected,
    );

    let payload = validate_payload(request, settings);
    let native = validate_native(policy, &payload, &mut NativeHost(NoCapabilities));
    assert_eq!(
        (native.accepted, &native.message),
        (wapc.accepted, &wapc.message),
        "{what}: native"
    );

    let violations = Loaded::policy(&gatekeeper(policy))
        .instance(Box::new(NoCapabilities))
        .gatekeeper(request, settings)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let input =
        serde_json::to_vec(&json!({"review": request, "parameters": settings})).expect("input");
    assert_eq!(
        violations,
        gatekeeper_native(policy, &input),
        "{what}: Gatekeeper native"
    );
    let msgs: Vec<String> = violations.into_iter().map(|v| v.msg).collect();
    assert_eq!(msgs, lines(wapc.message.as_deref()), "{what}: Gatekeeper");
    msgs
}

#[test]
fn every_policy_on_every_captured_request() {
    let captured = captured_requests();
    assert!(captured.len() >= 6, "{} captured requests", captured.len());
    for &policy in policies() {
        for c in &captured {
            run(policy, c, &test_settings(policy));
        }
    }
}

#[test]
fn verify_slsa_allows_what_no_entry_matches_when_told_to() {
    let mut settings = test_settings("verify-slsa");
    settings["unmatchedImages"] = json!("allow");
    for c in captured_requests() {
        assert!(run("verify-slsa", &c, &settings).is_empty(), "{}", c.name);
    }
}

#[test]
fn what_the_captured_requests_hold() {
    // The expectations above are computed; this pins what they were computed from, so that a
    // changed file is noticed.
    let summary: Vec<(String, String, usize)> = captured_requests()
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                c.request["operation"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                containers(&c.request).len(),
            )
        })
        .collect();
    let denied = |policy: &str| -> usize {
        captured_requests()
            .iter()
            .map(|c| expected_lines(policy, &test_settings(policy), &c.request).len())
            .sum()
    };
    assert!(
        summary.iter().any(|(_, op, n)| op == "DELETE" && *n == 0),
        "{summary:?}"
    );
    assert!(
        summary.iter().any(|(_, op, _)| op == "UPDATE"),
        "{summary:?}"
    );
    // alpine, nginx, nginx (ephemeral), nginx:latest, nginx: untagged or :latest.
    assert_eq!(denied("ban-latest"), 5);
    // Those and two version tags: nothing is pinned by digest.
    assert_eq!(denied("require-digest"), 7);
    assert_eq!(denied("verify-slsa"), 7);
}
